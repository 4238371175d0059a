// The ISA-independent half of matmul: converts the activations once per call into what the
// weight type's dot product wants (reusing a per-thread scratch), then splits rows over the pool.
#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "kernels/kernel_table.h"

namespace lingua::kernels {
namespace {

// Rows per scheduling unit: 16 floats of each token's Y row make one 64-byte line, so two threads
// never write the same line; also a multiple of every kernel's row tile.
constexpr int64_t kRowGrain = 16;
// The least work worth another thread, in weight bytes times tokens: about 2 us of streaming.
// Smaller matrices (a 3M-parameter model's) run on fewer threads or the caller alone, where
// waking a worker (and, on a busy machine, waiting for it to get a core) would cost more.
constexpr int64_t kMinChunkWork = 32 * 1024;
// Below this many activation values preparing them costs less than waking the pool.
constexpr int64_t kParallelPrepElements = 64 * 1024;

// Grows, never shrinks: after the first calls with the largest shapes, matmul allocates nothing.
// Per calling thread, because the graph may run several independent sequences on their own pools.
uint8_t* scratch(size_t bytes) {
  thread_local std::vector<uint8_t> buf;
  if (buf.size() < bytes + 64) buf.resize(bytes + 64);
  const uintptr_t p = reinterpret_cast<uintptr_t>(buf.data());
  return buf.data() + ((64 - (p & 63)) & 63);
}

size_t round64(size_t n) { return (n + 63) & ~size_t{63}; }

// The per-block quant sums of the act_q8 layout, for every family (the packed kernels need them;
// n additions per token cost nothing beside the matmul).
void add_block_sums(uint8_t* row, int64_t n) {
  int32_t* sums = const_cast<int32_t*>(act_q8_sums(row, n));
  const auto* q = reinterpret_cast<const int8_t*>(row);
  for (int64_t b = 0; b < n / kQK; ++b) {
    int32_t s = 0;
    for (int j = 0; j < kQK; ++j) s += q[b * kQK + j];
    sums[b] = s;
  }
}

struct PrepJob {
  const KernelTable* k;
  DType type;
  const float* x;
  int64_t cols;
  uint8_t* dst;
  size_t dst_row_bytes;

  void run(int64_t t0, int64_t t1) const {
    for (int64_t t = t0; t < t1; ++t) {
      const float* src = x + t * cols;
      uint8_t* out = dst + static_cast<size_t>(t) * dst_row_bytes;
      switch (type) {
        case DType::F16: k->f32_to_f16(src, reinterpret_cast<uint16_t*>(out), cols); break;
        case DType::BF16: k->f32_to_bf16(src, reinterpret_cast<uint16_t*>(out), cols); break;
        case DType::Q4_K:
        case DType::Q5_K:
        case DType::Q6_K: k->quantize_act_q8k(src, out, cols); break;
        default:
          k->quantize_act_q8(src, out, cols);
          add_block_sums(out, cols);
          break;
      }
    }
  }
};

struct RowJob {
  MatmulRowsFn fn;
  MatmulArgs args;
};

[[noreturn]] void unsupported(DType type) {
  std::fprintf(stderr, "lingua: matmul with %s weights is not implemented\n", dtype_name(type));
  std::abort();
}

}  // namespace

void matmul_with(const KernelTable& k, const MatrixView& W, const float* X, int64_t n_tokens, float* Y,
                 ThreadPool& pool) {
  if (n_tokens <= 0 || W.rows <= 0) return;
  RowJob job{};
  size_t x_row_bytes = 0;
  switch (W.type) {
    case DType::F32: job.fn = k.matmul_f32; break;
    case DType::F16: job.fn = k.matmul_f16; x_row_bytes = round64(static_cast<size_t>(W.cols) * 2); break;
    case DType::BF16: job.fn = k.matmul_bf16; x_row_bytes = round64(static_cast<size_t>(W.cols) * 2); break;
    case DType::Q8_0: job.fn = W.packed ? k.matmul_q8_0_packed : k.matmul_q8_0; x_row_bytes = act_q8_row_bytes(W.cols); break;
    case DType::Q4_0: job.fn = W.packed ? k.matmul_q4_0_packed : k.matmul_q4_0; x_row_bytes = act_q8_row_bytes(W.cols); break;
    case DType::Q5_0: job.fn = k.matmul_q5_0; x_row_bytes = act_q8_row_bytes(W.cols); break;
    case DType::Q4_K: job.fn = k.matmul_q4_k; x_row_bytes = act_q8k_row_bytes(W.cols); break;
    case DType::Q5_K: job.fn = k.matmul_q5_k; x_row_bytes = act_q8k_row_bytes(W.cols); break;
    case DType::Q6_K: job.fn = k.matmul_q6_k; x_row_bytes = act_q8k_row_bytes(W.cols); break;
    default: unsupported(W.type);
  }
  assert(W.cols % dtype_info(W.type).block_size == 0);
  // A packed matrix is multiplied only by the family that packed it (the active one, or a test's).
  if (W.packed && !job.fn) {
    std::fprintf(stderr, "lingua: the %s kernels cannot multiply a packed %s matrix\n", k.name, dtype_name(W.type));
    std::abort();
  }

  const uint8_t* xs = reinterpret_cast<const uint8_t*>(X);
  if (W.type == DType::F32) {
    x_row_bytes = static_cast<size_t>(W.cols) * sizeof(float);
  } else {
    uint8_t* dst = scratch(x_row_bytes * static_cast<size_t>(n_tokens));
    const PrepJob prep{&k, W.type, X, W.cols, dst, x_row_bytes};
    if (n_tokens > 1 && n_tokens * W.cols >= kParallelPrepElements && pool.size() > 1) {
      // Capturing one pointer keeps std::function from allocating.
      const PrepJob* p = &prep;
      pool.parallel_for(n_tokens, [p](int64_t b, int64_t e, int) { p->run(b, e); });
    } else {
      prep.run(0, n_tokens);
    }
    xs = dst;
  }

  job.args = MatmulArgs{static_cast<const uint8_t*>(W.data), W.row_bytes, W.cols, xs, x_row_bytes,
                        n_tokens, Y, W.rows};
  const RowJob* j = &job;
  const int64_t row_work = std::max<int64_t>(1, static_cast<int64_t>(W.row_bytes) * n_tokens);
  const int64_t min_rows = (kMinChunkWork + row_work - 1) / row_work;
  const int64_t grain = std::max<int64_t>(1, (min_rows + kRowGrain - 1) / kRowGrain) * kRowGrain;
  pool.parallel_for(W.rows, [j](int64_t b, int64_t e, int) { j->fn(j->args, b, e); }, grain);
}

}  // namespace lingua::kernels
