// Scalar conversions for Q5_0 and the K-quants (Q4_K, Q5_K, Q6_K, and Q8_K activations), kept
// apart from scalar_quant.cpp because the K-quant scale searches are long. Shared by both tables.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/fp16.h"
#include "kernels/scalar_impl.h"

// The quantizers reproduce ggml's quantize_row_{q5_0,q4_K,q5_K,q6_K}_ref step for step: the same
// searches, the same float operation order (no FMA contraction: this library is built with
// -ffp-contract=off) and round half to even where ggml uses nearest_int. Output was byte-identical
// to libggml's on the data tried (see kernel_table.h); a libggml built with FMA contraction of
// these loops could still differ in rare last-bit ties, which only moves a level by one step.
namespace lingua::kernels::scalar {
namespace {

// Round half to even, the rounding ggml's reference K-quantizers use (for |v| < 2^22).
int round_even(float v) { return static_cast<int>(std::nearbyint(v)); }

constexpr float kGroupEps = 1e-15f;  // below this a group's largest magnitude counts as zero

// Asymmetric fit of n values to q in [0, nmax] with x ~ scale * q - min_out (min_out >= 0), the
// search of ggml's make_qkx2_quants: start from the min/max grid, then try nstep + 1 grids with
// (nmax + rmin + rdelta * is) levels over the range, solving the weighted least-squares scale and
// offset for each candidate assignment, and keep the lowest weighted squared error. Returns the
// scale; q receives the levels.
float fit_scale_min(int n, int nmax, const float* x, const float* w, uint8_t* q, float* min_out, float rmin,
                    float rdelta, int nstep) {
  float lo = x[0], hi = x[0];
  float sum_w = w[0], sum_x = w[0] * x[0];
  for (int i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (lo > 0) lo = 0;
  if (hi == lo) {
    std::fill(q, q + n, uint8_t{0});
    *min_out = -lo;
    return 0.0f;
  }
  float iscale = static_cast<float>(nmax) / (hi - lo);
  float scale = 1 / iscale;
  float best_err = 0;
  for (int i = 0; i < n; ++i) {
    q[i] = static_cast<uint8_t>(std::clamp(round_even(iscale * (x[i] - lo)), 0, nmax));
    const float diff = scale * q[i] + lo - x[i];
    best_err += w[i] * (diff * diff);
  }
  uint8_t cand[32];
  for (int step = 0; step <= nstep; ++step) {
    iscale = (rmin + rdelta * static_cast<float>(step) + static_cast<float>(nmax)) / (hi - lo);
    float sl = 0, sl2 = 0, sxl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(round_even(iscale * (x[i] - lo)), 0, nmax);
      cand[i] = static_cast<uint8_t>(l);
      const float fl = static_cast<float>(l);
      sl += w[i] * fl;
      sl2 += w[i] * fl * fl;
      sxl += w[i] * fl * x[i];
    }
    const float det = sum_w * sl2 - sl * sl;
    if (det <= 0) continue;
    float s = (sum_w * sxl - sum_x * sl) / det;
    float m = (sl2 * sum_x - sl * sxl) / det;
    if (m > 0) {  // the offset may only lower values: refit the scale alone through zero
      m = 0;
      s = sxl / sl2;
    }
    float err = 0;
    for (int i = 0; i < n; ++i) {
      const float diff = s * cand[i] + m - x[i];
      err += w[i] * (diff * diff);
    }
    if (err < best_err) {
      std::copy(cand, cand + n, q);
      best_err = err;
      scale = s;
      lo = m;
    }
  }
  *min_out = -lo;
  return scale;
}

// Symmetric fit of n values to q in [-nmax, nmax - 1] weighted by x^2, ggml's make_qx_quants with
// rmse_type 1: the grid through the signed extreme, then 18 nearby grids (nmax +- 0.1 * k levels),
// keeping the one with the best weighted least-squares fit. q receives level + nmax.
float fit_symmetric(int n, int nmax, const float* x, int8_t* q) {
  float amax = 0, max = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  if (amax < kGroupEps) {
    std::fill(q, q + n, int8_t{0});
    return 0.0f;
  }
  auto level = [&](float iscale, int i) { return std::clamp(round_even(iscale * x[i]), -nmax, nmax - 1); };
  auto sums = [&](float iscale, float& sxl, float& sl2) {
    sxl = sl2 = 0;
    for (int i = 0; i < n; ++i) {
      const float l = static_cast<float>(level(iscale, i));
      const float w = x[i] * x[i];
      sxl += w * x[i] * l;
      sl2 += w * l * l;
    }
  };
  float iscale = static_cast<float>(-nmax) / max;
  for (int i = 0; i < n; ++i) q[i] = static_cast<int8_t>(level(iscale, i) + nmax);
  float sxl, sl2;
  sums(iscale, sxl, sl2);
  float scale = sl2 != 0 ? sxl / sl2 : 0.0f;
  float best = scale * sxl;
  for (int k = -9; k <= 9; ++k) {
    if (k == 0) continue;
    iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(k)) / max;
    sums(iscale, sxl, sl2);
    if (sl2 > 0 && sxl * sxl > best * sl2) {
      for (int i = 0; i < n; ++i) q[i] = static_cast<int8_t>(level(iscale, i) + nmax);
      scale = sxl / sl2;
      best = scale * sxl;
    }
  }
  return scale;
}

// Q4_K / Q5_K share everything but the level count and the packing of q: per sub-block of 32 a
// scale/min fit weighted by (rms + |x|), both quantized to 6 bits against the block's largest
// (super-scales d = max / 63), then every element re-rounded against the stored scales.
template <int kMax>
void quantize_scale_min_block(const float* x, uint16_t& d_out, uint16_t& dmin_out, uint8_t* packed, uint8_t* L) {
  constexpr float kRmin = kMax == 15 ? -1.0f : -0.5f;
  constexpr int kSteps = kMax == 15 ? 20 : 15;
  float scales[8], mins[8], w[32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float rms = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) w[l] = rms + std::fabs(xs[l]);
    scales[j] = fit_scale_min(32, kMax, xs, w, L + 32 * j, &mins[j], kRmin, 0.1f, kSteps);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
  std::memset(packed, 0, 12);
  for (int j = 0; j < 8; ++j) {
    // ggml stores these through uint8_t before the clamp; values stay far below 256 here.
    const int ls = std::min(63, round_even(inv_scale * scales[j]) & 0xff);
    const int lm = std::min(63, round_even(inv_min * mins[j]) & 0xff);
    if (j < 4) {
      packed[j] = static_cast<uint8_t>(ls);
      packed[j + 4] = static_cast<uint8_t>(lm);
    } else {
      packed[j + 4] = static_cast<uint8_t>((ls & 15) | ((lm & 15) << 4));
      packed[j - 4] = static_cast<uint8_t>(packed[j - 4] | ((ls >> 4) << 6));
      packed[j] = static_cast<uint8_t>(packed[j] | ((lm >> 4) << 6));
    }
  }
  d_out = fp32_to_fp16(max_scale / 63.0f);
  dmin_out = fp32_to_fp16(max_min / 63.0f);
  for (int j = 0; j < 8; ++j) {
    int sc, m;
    kquant_scale_min(j, packed, sc, m);
    const float d = fp16_to_fp32(d_out) * static_cast<float>(sc);
    if (d == 0.0f) continue;  // keep the fit's levels, as ggml does
    const float dm = fp16_to_fp32(dmin_out) * static_cast<float>(m);
    for (int l = 0; l < 32; ++l) L[32 * j + l] = static_cast<uint8_t>(std::clamp(round_even((x[32 * j + l] + dm) / d), 0, kMax));
  }
}

}  // namespace

void quantize_act_q8k(const float* x, uint8_t* y, int64_t n) {
  BlockQ8_K* out = reinterpret_cast<BlockQ8_K*>(y);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float* xb = x + b * kQK_K;
    BlockQ8_K& o = out[b];
    float amax = 0, max = 0;
    for (int j = 0; j < kQK_K; ++j) {
      if (std::fabs(xb[j]) > amax) {
        amax = std::fabs(xb[j]);
        max = xb[j];
      }
    }
    if (amax == 0.0f) {
      std::memset(&o, 0, sizeof o);
      continue;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < kQK_K; ++j) o.qs[j] = static_cast<int8_t>(std::min(127, round_even(iscale * xb[j])));
    for (int g = 0; g < kQK_K / 16; ++g) {
      int s = 0;
      for (int j = 0; j < 16; ++j) s += o.qs[16 * g + j];
      o.bsums[g] = static_cast<int16_t>(s);
    }
    o.d = 1 / iscale;
  }
}

void dequantize_q5_0(const BlockQ5_0* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    uint32_t qh;
    std::memcpy(&qh, x[b].qh, 4);
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = (x[b].qs[j] & 15) | static_cast<int>(((qh >> j) & 1) << 4);
      const int hi = (x[b].qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
      y[b * kQK + j] = static_cast<float>(lo - 16) * d;
      y[b * kQK + j + kQK / 2] = static_cast<float>(hi - 16) * d;
    }
  }
}

void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b) {
    const float* xb = x + b * kQK;
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK; ++j) {
      if (amax < std::fabs(xb[j])) {  // first of equal magnitudes wins, as in Q4_0
        amax = std::fabs(xb[j]);
        max = xb[j];
      }
    }
    const float d = max / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = std::min(31, static_cast<int>(static_cast<int8_t>(xb[j] * id + 16.5f)));
      const int hi = std::min(31, static_cast<int>(static_cast<int8_t>(xb[j + kQK / 2] * id + 16.5f)));
      y[b].qs[j] = static_cast<uint8_t>((lo & 15) | ((hi & 15) << 4));
      qh |= static_cast<uint32_t>((lo >> 4) & 1) << j;
      qh |= static_cast<uint32_t>((hi >> 4) & 1) << (j + 16);
    }
    std::memcpy(y[b].qh, &qh, 4);
  }
}

void dequantize_q4_k(const BlockQ4_K* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, y += kQK_K) {
    const float d = fp16_to_fp32(x[b].d), dmin = fp16_to_fp32(x[b].dmin);
    for (int j = 0; j < 8; ++j) {
      int sc, m;
      kquant_scale_min(j, x[b].scales, sc, m);
      const float dj = d * static_cast<float>(sc), mj = dmin * static_cast<float>(m);
      const uint8_t* q = x[b].qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      for (int l = 0; l < 32; ++l) y[32 * j + l] = dj * static_cast<float>((q[l] >> shift) & 15) - mj;
    }
  }
}

void dequantize_q5_k(const BlockQ5_K* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, y += kQK_K) {
    const float d = fp16_to_fp32(x[b].d), dmin = fp16_to_fp32(x[b].dmin);
    for (int j = 0; j < 8; ++j) {
      int sc, m;
      kquant_scale_min(j, x[b].scales, sc, m);
      const float dj = d * static_cast<float>(sc), mj = dmin * static_cast<float>(m);
      const uint8_t* q = x[b].qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      for (int l = 0; l < 32; ++l) {
        const int v = ((q[l] >> shift) & 15) | (((x[b].qh[l] >> j) & 1) << 4);
        y[32 * j + l] = dj * static_cast<float>(v) - mj;
      }
    }
  }
}

void dequantize_q6_k(const BlockQ6_K* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, y += kQK_K) {
    const float d = fp16_to_fp32(x[b].d);
    for (int i = 0; i < kQK_K; ++i) {
      const int half = i / 128, k = (i % 128) / 32, l = i % 32;
      const uint8_t ql = x[b].ql[64 * half + 32 * (k % 2) + l];
      const int lo = k < 2 ? ql & 15 : ql >> 4;
      const int hi = (x[b].qh[32 * half + l] >> (2 * k)) & 3;
      y[i] = d * static_cast<float>(x[b].scales[i / 16]) * static_cast<float>((lo | (hi << 4)) - 32);
    }
  }
}

void quantize_q4_k(const float* x, BlockQ4_K* y, int64_t n) {
  uint8_t L[kQK_K];
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    quantize_scale_min_block<15>(x, y[b].d, y[b].dmin, y[b].scales, L);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) y[b].qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
  }
}

void quantize_q5_k(const float* x, BlockQ5_K* y, int64_t n) {
  uint8_t L[kQK_K];
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    quantize_scale_min_block<31>(x, y[b].d, y[b].dmin, y[b].scales, L);
    std::memset(y[b].qh, 0, sizeof y[b].qh);
    for (int j = 0; j < 8; ++j)
      for (int l = 0; l < 32; ++l) y[b].qh[l] = static_cast<uint8_t>(y[b].qh[l] | ((L[32 * j + l] >> 4) << j));
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l)
        y[b].qs[32 * c + l] = static_cast<uint8_t>((L[64 * c + l] & 15) | ((L[64 * c + 32 + l] & 15) << 4));
  }
}

// Per sub-block of 16 a symmetric fit; the 16 scales are then quantized to int8 against the one
// of largest magnitude (d = -max / 128, so that one maps to -128) and every element re-rounded.
void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t n) {
  int8_t L[kQK_K];
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    BlockQ6_K& o = y[b];
    float scales[16], max_scale = 0, max_abs = 0;
    for (int g = 0; g < 16; ++g) {
      scales[g] = fit_symmetric(16, 32, x + 16 * g, L + 16 * g);
      if (std::fabs(scales[g]) > max_abs) {
        max_abs = std::fabs(scales[g]);
        max_scale = scales[g];
      }
    }
    if (max_abs < kGroupEps) {
      std::memset(&o, 0, sizeof o);
      continue;
    }
    const float iscale = -128.0f / max_scale;
    o.d = fp32_to_fp16(1 / iscale);
    for (int g = 0; g < 16; ++g) o.scales[g] = static_cast<int8_t>(std::min(127, round_even(iscale * scales[g])));
    for (int g = 0; g < 16; ++g) {
      const float d = fp16_to_fp32(o.d) * static_cast<float>(o.scales[g]);
      if (d == 0.0f) continue;
      for (int l = 0; l < 16; ++l)
        L[16 * g + l] = static_cast<int8_t>(std::clamp(round_even(x[16 * g + l] / d), -32, 31) + 32);
    }
    for (int half = 0; half < 2; ++half) {
      const int8_t* Lh = L + 128 * half;
      for (int l = 0; l < 32; ++l) {
        o.ql[64 * half + l] = static_cast<uint8_t>((Lh[l] & 15) | ((Lh[l + 64] & 15) << 4));
        o.ql[64 * half + 32 + l] = static_cast<uint8_t>((Lh[l + 32] & 15) | ((Lh[l + 96] & 15) << 4));
        o.qh[32 * half + l] = static_cast<uint8_t>((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) | ((Lh[l + 64] >> 4) << 4) |
                                                   ((Lh[l + 96] >> 4) << 6));
      }
    }
  }
}

}  // namespace lingua::kernels::scalar
