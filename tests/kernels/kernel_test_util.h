// Shared helpers for the kernel tests: seeded random data, the kernel families to compare, and
// weight matrices built through the public quantizer.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "kernels/kernel_table.h"
#include "kernels/kernels.h"

namespace lingua::kernels::testing {

inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Every kernel family this CPU can run, the scalar reference first. The families it cannot run
// are named once on stderr, so a log says what a pass did not cover.
inline std::vector<const KernelTable*> tables() {
  static const bool said = [] {
    if (!cpu_has_avx2()) std::fprintf(stderr, "[ skipped  ] the avx2 kernels: this CPU has no AVX2/FMA/F16C\n");
    if (!cpu_has_avx512()) std::fprintf(stderr, "[ skipped  ] the avx512 kernels: this CPU has no AVX-512 F/BW/VL/DQ/VNNI\n");
    return true;
  }();
  (void)said;
  return runnable_kernel_tables();
}

// matmul_with(k, ...) through k's packed layout when it has one for W (as Model::keep_in_huge_pages
// would pack it), otherwise on W as stored.
inline void matmul_any(const KernelTable& k, const MatrixView& W, const float* X, int64_t n_tokens, float* Y,
                       ThreadPool& pool) {
  const size_t bytes = k.packed_bytes ? k.packed_bytes(W.type, W.rows, W.cols) : 0;
  if (bytes == 0) return matmul_with(k, W, X, n_tokens, Y, pool);
  std::vector<uint8_t> buf(bytes + 64);
  uint8_t* dst = buf.data() + ((64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64);
  k.pack(W, dst);
  MatrixView packed = W;
  packed.data = dst;
  packed.packed = true;
  matmul_with(k, packed, X, n_tokens, Y, pool);
}

// Tests that compare against the AVX2 table skip on CPUs without it.
#define LINGUA_REQUIRE_AVX2()                                          \
  do {                                                                 \
    if (!::lingua::kernels::cpu_has_avx2()) GTEST_SKIP() << "no AVX2"; \
  } while (0)

// A weight matrix owning its bytes, filled by quantizing `values` row by row with `type`.
struct OwnedMatrix {
  std::vector<uint8_t> bytes;
  MatrixView view;
};

inline OwnedMatrix make_matrix(DType type, int64_t rows, int64_t cols, const std::vector<float>& values) {
  OwnedMatrix m;
  const DTypeInfo& info = dtype_info(type);
  const size_t row_bytes = static_cast<size_t>(cols / info.block_size) * info.block_bytes;
  m.bytes.resize(row_bytes * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r)
    quantize_row(type, values.data() + r * cols, m.bytes.data() + static_cast<size_t>(r) * row_bytes, cols);
  m.view = MatrixView{type, m.bytes.data(), rows, cols, row_bytes};
  return m;
}

}  // namespace lingua::kernels::testing
