// Scalar reference for the element-wise and reduction ops between matmuls, written to follow
// ggml's CPU numerics (double where ggml sums in ggml_float) since logits are compared with it.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/fp16.h"
#include "kernels/scalar_impl.h"

namespace lingua::kernels {

const float* rope_angles(int64_t n_rot, int64_t pos, const RopeFreqs& freqs) {
  thread_local std::vector<float> cache;
  if (static_cast<int64_t>(cache.size()) < n_rot) cache.resize(static_cast<size_t>(n_rot));
  const int64_t half = n_rot / 2;
  // ggml advances theta by repeated multiplication in float instead of calling powf per
  // dimension; the angles (and so the rotated values) only agree to the last bit this way. It
  // divides by the factor before scaling, and rounds cos and sin before the magnitude multiplies.
  const float theta_scale = std::pow(freqs.base, -2.0f / static_cast<float>(n_rot));
  float theta = static_cast<float>(pos);
  for (int64_t i = 0; i < half; ++i) {
    const float factor = freqs.factors ? freqs.factors[i] : 1.0f;
    const float angle = freqs.scale * (theta / factor);
    cache[static_cast<size_t>(i)] = std::cos(angle) * freqs.mscale;
    cache[static_cast<size_t>(half + i)] = std::sin(angle) * freqs.mscale;
    theta *= theta_scale;
  }
  return cache.data();
}

namespace scalar {

void rms_norm(const float* x, const float* w, float eps, int64_t n, float* out) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  // Two roundings (x*scale, then *w) as ggml's separate rms_norm and mul ops do.
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] * scale) * w[i];
}

void layer_norm(const float* x, const float* w, const float* b, float eps, int64_t n, float* out) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]);
  const auto mean = static_cast<float>(sum / static_cast<double>(n));
  double sum2 = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i] - mean;
    out[i] = v;
    sum2 += static_cast<double>(v * v);
  }
  const auto variance = static_cast<float>(sum2 / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(variance + eps);
  // Three roundings (normalize, *w, +b) as ggml's separate norm, mul and add ops do.
  for (int64_t i = 0; i < n; ++i) {
    out[i] = (out[i] * scale) * w[i];
    if (b) out[i] += b[i];
  }
}

namespace {
float gelu_tanh(float x) {
  constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
  constexpr float kCoef = 0.044715f;
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + kCoef * x * x)));
}

// gelu of every f16 value, rounded to f16 and widened back: a 256 KiB table built once.
const std::vector<float>& gelu_f16_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t h = 0; h < 65536; ++h)
      t[h] = fp16_to_fp32(fp32_to_fp16(gelu_tanh(fp16_to_fp32(static_cast<uint16_t>(h)))));
    return t;
  }();
  return table;
}
}  // namespace

void gelu(const float* x, int64_t n, float* out) {
  const float* table = gelu_f16_table().data();
  for (int64_t i = 0; i < n; ++i) {
    if (x[i] <= -10.0f) out[i] = 0.0f;
    else if (x[i] >= 10.0f) out[i] = x[i];
    else out[i] = table[fp32_to_fp16(x[i])];
  }
}

void geglu(const float* gate, const float* up, int64_t n, float* out) {
  gelu(gate, n, out);
  for (int64_t i = 0; i < n; ++i) out[i] *= up[i];
}

void scale(const float* x, float factor, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * factor;
}

void softcap(const float* x, float cap, int64_t n, float* out) {
  const float inv = 1.0f / cap;  // as llama.cpp: scale by 1/cap, tanh, scale by cap
  for (int64_t i = 0; i < n; ++i) out[i] = std::tanh(x[i] * inv) * cap;
}

void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, int64_t pos, const RopeFreqs& freqs,
          bool neox) {
  const int64_t half = n_rot / 2;
  const float* cs = rope_angles(n_rot, pos, freqs);
  const float* sn = cs + half;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const int64_t a = neox ? i : 2 * i;
      const int64_t b = neox ? i + half : 2 * i + 1;
      const float x0 = v[a], x1 = v[b];
      v[a] = x0 * cs[i] - x1 * sn[i];
      v[b] = x0 * sn[i] + x1 * cs[i];
    }
  }
}

void softmax(float* x, int64_t n) {
  float max = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) max = std::max(max, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void swiglu(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void add(const float* a, const float* b, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

float dot_f32(const float* a, const float* b, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(a[i] * b[i]);
  return static_cast<float>(sum);
}

void axpy_f32(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace scalar
}  // namespace lingua::kernels
