// matmul for every weight type: hand-computed outputs, agreement with a double-precision product
// of the dequantized operands, SIMD vs scalar, thread-count independence, and no allocation once
// warmed up.
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/fp16.h"
#include "kernel_test_util.h"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

// Counting replacements of the global allocation functions for the no-allocation test. GCC 12
// cannot see that malloc/free pair up through a replaced operator new/delete.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace lingua::kernels {
namespace {

using testing::make_matrix;
using testing::random_floats;
using testing::tables;

const DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0,
                        DType::Q5_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};

bool is_kquant(DType t) { return t == DType::Q4_K || t == DType::Q5_K || t == DType::Q6_K; }
bool is_quant(DType t) { return t == DType::Q8_0 || t == DType::Q4_0 || t == DType::Q5_0 || is_kquant(t); }

// X as the kernels see it after preparation for `type`, back in f32.
std::vector<float> effective_x(DType type, const std::vector<float>& x, int64_t cols) {
  std::vector<float> out(x.size());
  const int64_t n_tokens = static_cast<int64_t>(x.size()) / cols;
  std::vector<uint8_t> buf(act_q8_row_bytes(cols) + 64);
  uint8_t* q = buf.data() + ((64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64);
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* src = x.data() + t * cols;
    float* dst = out.data() + t * cols;
    for (int64_t c = 0; c < cols; ++c) {
      if (type == DType::F16) dst[c] = fp16_to_fp32(fp32_to_fp16(src[c]));
      else if (type == DType::BF16) dst[c] = bf16_to_fp32(fp32_to_bf16(src[c]));
      else dst[c] = src[c];
    }
    if (is_kquant(type)) {
      std::vector<BlockQ8_K> blocks(static_cast<size_t>(cols / kQK_K));
      scalar_kernels().quantize_act_q8k(src, reinterpret_cast<uint8_t*>(blocks.data()), cols);
      for (int64_t c = 0; c < cols; ++c) {
        const BlockQ8_K& b = blocks[static_cast<size_t>(c / kQK_K)];
        dst[c] = static_cast<float>(b.qs[c % kQK_K]) * b.d;
      }
    } else if (is_quant(type)) {
      scalar_kernels().quantize_act_q8(src, q, cols);
      for (int64_t c = 0; c < cols; ++c)
        dst[c] = static_cast<float>(static_cast<int8_t>(q[c])) * act_q8_scales(q, cols)[c / kQK];
    }
  }
  return out;
}

// Worst-case float summation error for the kernels' accumulation of ~cols/4 terms per partial sum,
// relative to sum |w*x|; plus 2 roundings per block scale for the quantized types.
double sum_tolerance(int64_t cols, double sum_abs) { return (static_cast<double>(cols) / 4 + 16) * 0x1p-23 * sum_abs; }

struct Case {
  int64_t rows, cols, n_tokens;
};

std::vector<Case> cases_for(DType type) {
  const std::vector<int64_t> cols = is_kquant(type)  ? std::vector<int64_t>{256, 768, 2304}
                                    : is_quant(type) ? std::vector<int64_t>{32, 96, 224, 2208}
                                                     : std::vector<int64_t>{1, 7, 33, 257};
  std::vector<Case> out;
  for (int64_t c : cols)
    for (int64_t r : {1, 5, 37, 48})  // 48: three groups of a packed layout
      for (int64_t t : {1, 3, 7, 16}) out.push_back({r, c, t});
  return out;
}

TEST(Matmul, MatchesDoubleReferenceOnDequantizedOperands) {
  ThreadPool pool(1);
  const auto ks = tables();
  for (DType type : kTypes) {
    for (const Case& cs : cases_for(type)) {
      SCOPED_TRACE(::testing::Message() << dtype_name(type) << " rows=" << cs.rows << " cols=" << cs.cols
                                        << " tokens=" << cs.n_tokens);
      const auto wv = random_floats(static_cast<size_t>(cs.rows * cs.cols), 1);
      const auto x = random_floats(static_cast<size_t>(cs.n_tokens * cs.cols), 2);
      const auto w = make_matrix(type, cs.rows, cs.cols, wv);
      const auto xe = effective_x(type, x, cs.cols);
      std::vector<float> wd(static_cast<size_t>(cs.cols));
      std::vector<std::vector<float>> y;
      for (const KernelTable* k : ks) {
        y.emplace_back(static_cast<size_t>(cs.rows * cs.n_tokens), -1.0f);
        testing::matmul_any(*k, w.view, x.data(), cs.n_tokens, y.back().data(), pool);
      }
      for (int64_t r = 0; r < cs.rows; ++r) {
        dequantize_row(w.view, r, wd.data());
        for (int64_t t = 0; t < cs.n_tokens; ++t) {
          double ref = 0, ref_exact_x = 0, sum_abs = 0, x_err = 0;
          for (int64_t c = 0; c < cs.cols; ++c) {
            const double wc = wd[static_cast<size_t>(c)], xc = xe[static_cast<size_t>(t * cs.cols + c)];
            const double x0 = x[static_cast<size_t>(t * cs.cols + c)];
            ref += wc * xc;
            ref_exact_x += wc * x0;
            sum_abs += std::fabs(wc * xc);
            x_err += std::fabs(wc) * std::fabs(xc - x0);
          }
          const double tol = sum_tolerance(cs.cols, sum_abs) + 1e-30;
          for (size_t k = 0; k < y.size(); ++k) {
            const double got = y[k][static_cast<size_t>(t * cs.rows + r)];
            ASSERT_NEAR(got, ref, tol) << ks[k]->name << " r=" << r << " t=" << t;
            // Against the unprepared activations the only extra error is X's own rounding.
            ASSERT_NEAR(got, ref_exact_x, tol + x_err) << ks[k]->name;
          }
          for (size_t k = 1; k < y.size(); ++k)  // and every family agrees with the scalar reference
            ASSERT_NEAR(y[0][static_cast<size_t>(t * cs.rows + r)], y[k][static_cast<size_t>(t * cs.rows + r)], 2 * tol)
                << ks[k]->name;
        }
      }
    }
  }
}

TEST(Matmul, LongPromptsSpanSeveralTokenChunksAndTiles) {
  // 4096 columns and 70 tokens: the AVX2 kernels walk the tokens in several L2-sized chunks and
  // every tile shape (full, partial rows, partial tokens) occurs.
  LINGUA_REQUIRE_AVX2();
  ThreadPool pool(2);
  const int64_t rows = 48, cols = 4096, n_tokens = 70;
  for (DType type : kTypes) {
    SCOPED_TRACE(dtype_name(type));
    const auto w = make_matrix(type, rows, cols, random_floats(static_cast<size_t>(rows * cols), 12));
    const auto x = random_floats(static_cast<size_t>(n_tokens * cols), 13);
    std::vector<float> ys(static_cast<size_t>(rows * n_tokens)), yv(ys.size());
    matmul_with(scalar_kernels(), w.view, x.data(), n_tokens, ys.data(), pool);
    // |w|, |x| < 1: the sum of |products| is at most cols.
    for (const KernelTable* k : tables()) {
      testing::matmul_any(*k, w.view, x.data(), n_tokens, yv.data(), pool);
      for (size_t i = 0; i < ys.size(); ++i) ASSERT_NEAR(ys[i], yv[i], 2 * sum_tolerance(cols, cols)) << k->name << " " << i;
    }
  }
}

TEST(Matmul, ActivationRoundingErrorIsBoundedForQuantizedTypes) {
  // The |X - X_prepared| term above must itself be small: half a Q8 step per element.
  const int64_t cols = 256;
  const auto x = random_floats(static_cast<size_t>(cols), 9);
  const auto xe = effective_x(DType::Q8_0, x, cols);
  for (int64_t b = 0; b < cols / 32; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[static_cast<size_t>(b * 32 + j)]));
    for (int j = 0; j < 32; ++j)
      EXPECT_LE(std::fabs(xe[static_cast<size_t>(b * 32 + j)] - x[static_cast<size_t>(b * 32 + j)]),
                0.51f * amax / 127 + amax * 0x1p-11f);
  }
}

TEST(Matmul, HandComputedQ4_0) {
  // Weights 0.5 everywhere (d = 0.5, nibble 9), X = 1: activations quantize to 127 with
  // d_x = half(1/127), so each output is 127 * 32 * nb * 0.5 * d_x.
  const int64_t nb = 3;
  std::vector<BlockQ4_0> w(static_cast<size_t>(2 * nb));
  for (auto& b : w) {
    b.d = 0x3800;
    std::memset(b.qs, 0x99, sizeof b.qs);
  }
  const MatrixView view{DType::Q4_0, w.data(), 2, nb * 32, static_cast<size_t>(nb) * sizeof(BlockQ4_0)};
  const std::vector<float> x(static_cast<size_t>(nb * 32), 1.0f);
  const float dx = fp16_to_fp32(fp32_to_fp16(1.0f / 127));
  ThreadPool pool(1);
  for (const KernelTable* k : tables()) {
    float y[2] = {0, 0};
    matmul_with(*k, view, x.data(), 1, y, pool);
    EXPECT_FLOAT_EQ(y[0], static_cast<float>(127 * 32 * nb) * (0.5f * dx)) << k->name;
    EXPECT_EQ(y[0], y[1]) << k->name;
  }
}

TEST(Matmul, HandComputedQ8_0) {
  // X has amax 127, so d_x = 1 and X quantizes to itself; W = (j - 16) / 4: every product is exact.
  BlockQ8_0 b{};
  b.d = 0x3400;  // 0.25
  for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j - 16);
  float x[32];
  int64_t want = 0;
  for (int j = 0; j < 32; ++j) {
    x[j] = j == 5 ? 127.0f : static_cast<float>((j * 37) % 21 - 10);
    want += (j - 16) * static_cast<int64_t>(x[j]);
  }
  ThreadPool pool(1);
  for (const KernelTable* k : tables()) {
    float y = 0;
    matmul_with(*k, MatrixView{DType::Q8_0, &b, 1, 32, sizeof b}, x, 1, &y, pool);
    EXPECT_EQ(y, static_cast<float>(want) * 0.25f) << k->name;
  }
}

TEST(Matmul, ThreadCountDoesNotChangeResults) {
  ThreadPool p1(1), p2(2), p3(3);
  for (DType type : kTypes) {
    // 2048 x 48 tokens triggers the parallel activation preparation; 83 rows split unevenly.
    for (int64_t n_tokens : {1, 7, 48}) {
      SCOPED_TRACE(::testing::Message() << dtype_name(type) << " tokens=" << n_tokens);
      for (const int64_t rows : {83, 96}) {  // 96: packed groups split unevenly between threads
        const int64_t cols = 2048;
        const auto w = make_matrix(type, rows, cols, random_floats(static_cast<size_t>(rows * cols), 4));
        const auto x = random_floats(static_cast<size_t>(n_tokens * cols), 5);
        for (const KernelTable* k : tables()) {
          std::vector<float> y1(static_cast<size_t>(rows * n_tokens)), y2(y1.size()), y3(y1.size());
          testing::matmul_any(*k, w.view, x.data(), n_tokens, y1.data(), p1);
          testing::matmul_any(*k, w.view, x.data(), n_tokens, y2.data(), p2);
          testing::matmul_any(*k, w.view, x.data(), n_tokens, y3.data(), p3);
          EXPECT_EQ(std::memcmp(y1.data(), y2.data(), y1.size() * 4), 0) << k->name;
          EXPECT_EQ(std::memcmp(y1.data(), y3.data(), y1.size() * 4), 0) << k->name;
        }
      }
    }
  }
}

TEST(Matmul, PublicEntryUsesActiveFamily) {
  const std::string isa = active_isa();
  const char* env = std::getenv("LINGUA_SIMD");
  const std::string best = runnable_kernel_tables().back()->name;
  bool env_names_one = false;
  for (const KernelTable* k : runnable_kernel_tables()) env_names_one |= env && isa == env && std::string(env) == k->name;
  if (env_names_one) EXPECT_EQ(isa, env);
  else EXPECT_EQ(isa, best);  // no LINGUA_SIMD, or one this CPU cannot run: the best family
  const auto w = make_matrix(DType::Q4_0, 9, 64, random_floats(9 * 64, 6));
  const auto x = random_floats(64 * 2, 7);
  ThreadPool pool(2);
  std::vector<float> a(18), b(18);
  matmul(w.view, x.data(), 2, a.data(), pool);
  matmul_with(active_kernels(), w.view, x.data(), 2, b.data(), pool);
  EXPECT_EQ(a, b);
}

TEST(Matmul, SteadyStateAllocatesNothing) {
  ThreadPool pool(2);
  const int64_t rows = 64, cols = 1024;
  for (DType type : kTypes) {
    SCOPED_TRACE(dtype_name(type));
    const auto w = make_matrix(type, rows, cols, random_floats(static_cast<size_t>(rows * cols), 8));
    const auto x = random_floats(static_cast<size_t>(80 * cols), 9);
    std::vector<float> y(static_cast<size_t>(rows * 80));
    matmul(w.view, x.data(), 80, y.data(), pool);  // grows the scratch to its largest size
    const long before = g_allocations.load();
    for (int64_t n_tokens : {1, 80, 3, 1})
      for (int rep = 0; rep < 3; ++rep) matmul(w.view, x.data(), n_tokens, y.data(), pool);
    EXPECT_EQ(g_allocations.load() - before, 0);
  }
}

}  // namespace
}  // namespace lingua::kernels
