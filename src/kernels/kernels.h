// The numeric kernels the graph executor calls. Each has a scalar reference and, where it pays,
// an AVX2/FMA version chosen at run time (see dispatch.cpp); LINGUA_SIMD=scalar forces the
// reference everywhere. Activations are always f32 rows; weights are MatrixViews of any
// computable dtype.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/matrix_view.h"
#include "core/thread_pool.h"
#include "kernels/rope_freqs.h"

namespace lingua::kernels {

// Which implementation family is active ("avx512", "avx2" or "scalar").
const char* active_isa();

// Y[t][r] = sum_c W[r][c] * X[t][c] for t < n_tokens, r < W.rows.
// X is [n_tokens][W.cols] f32, Y is [n_tokens][W.rows] f32 (row stride W.rows).
// Numerics follow llama.cpp so results can be compared with it: F32 weights use f32 dots; F16
// weights round X to f16; Q8_0 / Q4_0 / Q5_0 weights quantize X to Q8_0 blocks per row and
// Q4_K / Q5_K / Q6_K weights to Q8_K blocks, and use integer dots. Work is split over the pool
// by output rows.
void matmul(const MatrixView& W, const float* X, int64_t n_tokens, float* Y, ThreadPool& pool);

// Dequantizes row `r` of W into out[W.cols] (embedding lookup, tests, tools).
void dequantize_row(const MatrixView& W, int64_t r, float* out);

// Quantizes n f32 values (n a multiple of the type's block size) into `type` blocks at dst.
// For f32/f16/bf16 this is a conversion. Used by `lingua synth` and `lingua quantize`.
void quantize_row(DType type, const float* src, void* dst, int64_t n);

// out[i] = x[i] / sqrt(mean(x^2) + eps) * w[i]
void rms_norm(const float* x, const float* w, float eps, int64_t n, float* out);

// LayerNorm: out[i] = (x[i] - mean) / sqrt(var + eps) * w[i] + b[i]   (b may be null)
void layer_norm(const float* x, const float* w, const float* b, float eps, int64_t n, float* out);

// GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). Like ggml's CPU
// backend, the input and the result are rounded to f16 (a 64K-entry table), and |x| >= 10
// passes through (x or 0), so logits agree with llama.cpp's.
void gelu(const float* x, int64_t n, float* out);

// Rotary position embedding in place on x = [n_heads][head_dim] for position `pos`. The first
// n_rot dims of each head rotate by the angles `freqs` describes (rope_freqs.h).
// neox = false: pairs (x[2i], x[2i+1]) (llama.cpp "normal"); neox = true: pairs (x[i], x[i+n_rot/2]).
void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, int64_t pos, const RopeFreqs& freqs,
          bool neox);

// In place: x = exp(x - max) / sum.
void softmax(float* x, int64_t n);

// out[i] = silu(gate[i]) * up[i]   (silu(g) = g / (1 + exp(-g)))
void swiglu(const float* gate, const float* up, int64_t n, float* out);

// out[i] = a[i] + b[i]
void add(const float* a, const float* b, int64_t n, float* out);

// The first key position a query at `pos` sees: 0, or with a sliding window of `window` positions
// (> 0) pos - window + 1, as llama.cpp's standard SWA mask (key p0 is masked when pos - p0 >= window).
inline int64_t first_visible_key(int64_t pos, int64_t window) {
  return window > 0 && pos >= window ? pos - window + 1 : 0;
}

// One query head attending to the n_keys rows it may see (oldest first; the last is the query's own
// position): scores_j = q . (keys[j] + column) * scale - alibi_slope * (n_keys - 1 - j), softmax,
// out = sum_j p_j (values[j] + column). `scores` is n_keys floats of scratch.
struct AttendArgs {
  const float* q = nullptr;
  const float* const* keys = nullptr;
  const float* const* values = nullptr;
  int64_t n_keys = 0;
  int64_t column = 0;    // the KV head's first column in every key and value row
  int64_t head_dim = 0;
  float scale = 1.0f;
  float alibi_slope = 0.0f;
  float* scores = nullptr;
  float* out = nullptr;  // head_dim floats
};
void attend_head(const AttendArgs& args);

// out[i] = gelu(gate[i]) * up[i], GELU as gelu() computes it (ggml's geglu).
void geglu(const float* gate, const float* up, int64_t n, float* out);

// out[i] = x[i] * factor
void scale(const float* x, float factor, int64_t n, float* out);

// Logit soft-capping: out[i] = tanh(x[i] / cap) * cap.
void softcap(const float* x, float cap, int64_t n, float* out);

// sum_i a[i] * b[i]
float dot_f32(const float* a, const float* b, int64_t n);

// y[i] += alpha * x[i]
void axpy_f32(float alpha, const float* x, float* y, int64_t n);

}  // namespace lingua::kernels
