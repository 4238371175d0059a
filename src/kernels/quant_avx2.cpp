// AVX2/F16C conversions between f32 and the stored types. Each produces bit-identical output to
// its scalar twin in scalar_quant.cpp (tests check that), only faster.
#include <algorithm>

#include "kernels/avx2_impl.h"
#include "kernels/scalar_impl.h"
#include "kernels/simd_avx2.h"

namespace lingua::kernels::avx2 {
namespace {

float block_amax(const float* x, __m256 v[4]) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_setzero_ps();
  for (int k = 0; k < 4; ++k) {
    v[k] = _mm256_loadu_ps(x + 8 * k);
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
  }
  return hmax(m);
}

// C's roundf (half away from zero), which ggml's reference quantizer uses: the SIMD rounding
// modes only offer half to even.
__m256 round_half_away(__m256 x) {
  const __m256 t = _mm256_round_ps(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.0f));
  const __m256 frac = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(x, t));
  const __m256 bump = _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ),
                                    _mm256_or_ps(sign, _mm256_set1_ps(1.0f)));
  return _mm256_add_ps(t, bump);
}

}  // namespace

void f32_to_f16(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  scalar::f32_to_f16(x + i, y + i, n - i);
}

void f32_to_bf16(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  const __m256i inf = _mm256_set1_epi32(0x7f800000);
  for (; i + 16 <= n; i += 16) {
    __m256i h[2];
    for (int k = 0; k < 2; ++k) {
      const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i + 8 * k));
      const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
      const __m256i rounded = _mm256_srli_epi32(
          _mm256_add_epi32(b, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), odd)), 16);
      const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(0x40));
      const __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(b, abs_mask), inf);
      h[k] = _mm256_blendv_epi8(rounded, quiet, is_nan);
    }
    // Values are < 2^16, so unsigned saturation is a plain narrowing.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(h[0], h[1]), 0xd8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), packed);
  }
  scalar::f32_to_bf16(x + i, y + i, n - i);
}

void f16_to_f32(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, load_f16x8(x + i));
  scalar::f16_to_f32(x + i, y + i, n - i);
}

void bf16_to_f32(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, load_bf16x8(x + i));
  scalar::bf16_to_f32(x + i, y + i, n - i);
}

void quantize_act_q8(const float* x, uint8_t* y, int64_t n) {
  const int64_t nb = n / kQK;
  float* scales = reinterpret_cast<float*>(y + n);
  for (int64_t b = 0; b < nb; ++b) {
    __m256 v[4];
    const float amax = block_amax(x + b * kQK, v);
    scales[b] = _cvtsh_ss(_cvtss_sh(amax / 127.0f, _MM_FROUND_TO_NEAREST_INT));
    const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    __m256i q[4];
    for (int k = 0; k < 4; ++k)
      q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + b * kQK), pack_i32_to_i8(q[0], q[1], q[2], q[3]));
  }
}

void dequantize_q8_0(const BlockQ8_0* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b) {
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(x[b].d));
    for (int k = 0; k < 4; ++k) {
      const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(x[b].qs + 8 * k)));
      _mm256_storeu_ps(y + b * kQK + 8 * k, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
    }
  }
}

void dequantize_q4_0(const BlockQ4_0* x, float* y, int64_t n) {
  const __m128i low4 = _mm_set1_epi8(0x0f);
  const __m256i eight = _mm256_set1_epi32(8);
  for (int64_t b = 0; b < n / kQK; ++b) {
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(x[b].d));
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].qs));
    const __m128i nib[2] = {_mm_and_si128(raw, low4), _mm_and_si128(_mm_srli_epi16(raw, 4), low4)};
    for (int k = 0; k < 4; ++k) {
      const __m128i bytes = k % 2 == 0 ? nib[k / 2] : _mm_srli_si128(nib[k / 2], 8);
      const __m256i q = _mm256_sub_epi32(_mm256_cvtepu8_epi32(bytes), eight);
      _mm256_storeu_ps(y + b * kQK + 8 * k, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
    }
  }
}

void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b) {
    __m256 v[4];
    const float amax = block_amax(x + b * kQK, v);
    const float d = amax / 127.0f;
    y[b].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    __m256i q[4];
    for (int k = 0; k < 4; ++k) q[k] = _mm256_cvttps_epi32(round_half_away(_mm256_mul_ps(v[k], id)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs), pack_i32_to_i8(q[0], q[1], q[2], q[3]));
  }
}

void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b) {
    const float* xb = x + b * kQK;
    // The signed extreme (first of equal magnitudes) decides the scale; a scalar scan keeps that
    // tie rule identical to the reference and is a small part of the work.
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK; ++j) {
      const float a = xb[j] < 0 ? -xb[j] : xb[j];
      if (amax < a) {
        amax = a;
        max = xb[j];
      }
    }
    const float d = max / -8.0f;
    y[b].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    const __m256 half8 = _mm256_set1_ps(8.5f);
    const __m256i fifteen = _mm256_set1_epi32(15);
    __m256i q[4];
    for (int k = 0; k < 4; ++k) {
      // Separate mul and add (no FMA): the reference rounds x*id before adding 8.5.
      const __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(xb + 8 * k), id), half8);
      q[k] = _mm256_min_epi32(_mm256_cvttps_epi32(v), fifteen);
    }
    const __m256i bytes = pack_i32_to_i8(q[0], q[1], q[2], q[3]);
    const __m128i lo = _mm256_castsi256_si128(bytes);
    const __m128i hi = _mm256_extracti128_si256(bytes, 1);
    // Nibbles are <= 15, so a 16-bit shift cannot carry into the neighbouring byte.
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs), _mm_or_si128(lo, _mm_slli_epi16(hi, 4)));
  }
}

}  // namespace lingua::kernels::avx2
