// AVX2 matmul kernels for K-quant weights (Q4_K, Q5_K, Q6_K) against Q8_K activations, plus the
// AVX2 Q8_K activation quantizer. Same integers as scalar_kmatmul.cpp; only float order differs.
#include <algorithm>
#include <cstring>

#include "kernels/avx2_impl.h"
#include "kernels/simd_avx2.h"

namespace lingua::kernels::avx2 {
namespace {

// As in matmul_avx2.cpp: activations kept hot per token chunk, and the decode stream prefetched
// this far ahead.
constexpr size_t kTokenChunkBytes = 256 * 1024;
constexpr size_t kPrefetchBytes = 2048;

inline void prefetch(const uint8_t* p) { _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0); }

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

inline float hsum128(__m128 s) {
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The 8 scales and 8 mins of a Q4_K/Q5_K block as bytes (layout in quant_blocks.h), unpacked with
// 32-bit masks: bytes 0-3 and 4-7 give scales/mins 0-3 directly, bytes 8-11 plus the spare top
// bits give 4-7.
struct ScaleMin {
  __m128i scales16;  // 8 x int16
  __m128i mins16;    // 8 x int16
};
inline ScaleMin unpack_scale_min(const uint8_t* packed) {
  uint32_t u[3];
  std::memcpy(u, packed, 12);
  const uint32_t s_lo = u[0] & 0x3f3f3f3f, m_lo = u[1] & 0x3f3f3f3f;
  const uint32_t s_hi = (u[2] & 0x0f0f0f0f) | ((u[0] >> 2) & 0x30303030);
  const uint32_t m_hi = ((u[2] >> 4) & 0x0f0f0f0f) | ((u[1] >> 2) & 0x30303030);
  const __m128i s = _mm_cvtepu8_epi16(_mm_setr_epi32(static_cast<int>(s_lo), static_cast<int>(s_hi), 0, 0));
  const __m128i m = _mm_cvtepu8_epi16(_mm_setr_epi32(static_cast<int>(m_lo), static_cast<int>(m_hi), 0, 0));
  return {s, m};
}

// int16 lane j of v broadcast to all 16 lanes of a ymm (v = the 8 scales in both halves).
inline __m256i broadcast_i16(__m256i v, int j) {
  return _mm256_shuffle_epi8(v, _mm256_set1_epi16(static_cast<int16_t>(0x0100 + 0x0202 * j)));
}

// Sum_j min_j * (y sub-sum j), the dmin term: 8 mins against the pairwise sums of the 16 bsums.
inline __m128i min_products(const __m128i& mins16, const BlockQ8_K& y) {
  const __m256i bs = load256(y.bsums);
  const __m128i pairs = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
  return _mm_madd_epi16(mins16, pairs);
}

// One 64-element chunk of Q4_K/Q5_K: q_lo/q_hi are sub-blocks 2c, 2c+1 as unsigned bytes.
inline __m256i chunk_dot(__m256i q_lo, __m256i q_hi, const int8_t* y, __m256i sc_lo, __m256i sc_hi) {
  const __m256i p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(q_lo, load256(y)), sc_lo);
  const __m256i p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(q_hi, load256(y + 32)), sc_hi);
  return _mm256_add_epi32(p_lo, p_hi);
}

struct Q4K {
  static constexpr size_t kBlockBytes = sizeof(BlockQ4_K);
  static constexpr bool kHasMin = true;
  static void block(const uint8_t* blk, const BlockQ8_K& y, __m256& acc, __m128& acc_m) {
    const ScaleMin sm = unpack_scale_min(blk + 4);
    const __m256i sc = _mm256_broadcastsi128_si256(sm.scales16);
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256i sumi = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      const __m256i q = load256(blk + 16 + 32 * c);
      sumi = _mm256_add_epi32(sumi, chunk_dot(_mm256_and_si256(q, m4), _mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                                              y.qs + 64 * c, broadcast_i16(sc, 2 * c), broadcast_i16(sc, 2 * c + 1)));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(y.d * half_at(blk)), _mm256_cvtepi32_ps(sumi), acc);
    acc_m = _mm_fmadd_ps(_mm_set1_ps(y.d * half_at(blk + 2)), _mm_cvtepi32_ps(min_products(sm.mins16, y)), acc_m);
  }
};

struct Q5K {
  static constexpr size_t kBlockBytes = sizeof(BlockQ5_K);
  static constexpr bool kHasMin = true;
  static void block(const uint8_t* blk, const BlockQ8_K& y, __m256& acc, __m128& acc_m) {
    const ScaleMin sm = unpack_scale_min(blk + 4);
    const __m256i sc = _mm256_broadcastsi128_si256(sm.scales16);
    const __m256i m4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
    // Bit j of qh[l] belongs to sub-block j: consume one bit per sub-block, shifting as we go (a
    // 16-bit shift by < 8 keeps each byte's own bit 0 in place of the one consumed).
    __m256i hb = load256(blk + 16);
    __m256i sumi = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      const __m256i q = load256(blk + 48 + 32 * c);
      const __m256i h_lo = _mm256_slli_epi16(_mm256_and_si256(hb, one), 4);
      const __m256i h_hi = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 1), one), 4);
      hb = _mm256_srli_epi16(hb, 2);
      const __m256i q_lo = _mm256_or_si256(_mm256_and_si256(q, m4), h_lo);
      const __m256i q_hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), h_hi);
      sumi = _mm256_add_epi32(sumi, chunk_dot(q_lo, q_hi, y.qs + 64 * c, broadcast_i16(sc, 2 * c), broadcast_i16(sc, 2 * c + 1)));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(y.d * half_at(blk)), _mm256_cvtepi32_ps(sumi), acc);
    acc_m = _mm_fmadd_ps(_mm_set1_ps(y.d * half_at(blk + 2)), _mm_cvtepi32_ps(min_products(sm.mins16, y)), acc_m);
  }
};

// Q6_K: the levels 0..63 go unsigned into maddubs; the -32 offset comes back once per block as
// 32 * sum_g scale_g * bsums_g.
struct Q6K {
  static constexpr size_t kBlockBytes = sizeof(BlockQ6_K);
  static constexpr bool kHasMin = false;
  static void block(const uint8_t* blk, const BlockQ8_K& y, __m256& acc, __m128&) {
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 192)));
    const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    // Picks int16 0 of each 32-bit pair in the low half and int16 1 in the high half.
    const __m256i pick = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
                                          2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(),
                                    _mm256_slli_epi32(_mm256_madd_epi16(sc16, load256(y.bsums)), 5));
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = load256(blk + 64 * h), ql1 = load256(blk + 64 * h + 32);
      const __m256i qh = load256(blk + 128 + 32 * h);
      const __m256i q[4] = {
          _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30)),
          _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30)),
      };
      for (int k = 0; k < 4; ++k) {
        // Sub-blocks 8h + 2k (first 16 elements) and 8h + 2k + 1 (last 16): their scales as one
        // int32 pair, spread so each 128-bit half gets its own.
        const __m256i pair = _mm256_permutevar8x32_epi32(sc16, _mm256_set1_epi32(4 * h + k));
        const __m256i scl = _mm256_shuffle_epi8(pair, pick);
        const __m256i p = _mm256_maddubs_epi16(q[k], load256(y.qs + 128 * h + 32 * k));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scl));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(y.d * half_at(blk + 208)), _mm256_cvtepi32_ps(sumi), acc);
  }
};

template <class K>
float row_dot(const uint8_t* w, const BlockQ8_K* y, int64_t nb) {
  __m256 acc = _mm256_setzero_ps();
  __m128 acc_m = _mm_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = w + b * K::kBlockBytes;
    // A block spans up to four cache lines: keep every line of the stream requested ahead.
    prefetch(blk + kPrefetchBytes);
    prefetch(blk + kPrefetchBytes + 64);
    prefetch(blk + kPrefetchBytes + 128);
    if (K::kBlockBytes > 192) prefetch(blk + kPrefetchBytes + 192);
    K::block(blk, y[b], acc, acc_m);
  }
  return K::kHasMin ? hsum(acc) - hsum128(acc_m) : hsum(acc);
}

template <class K>
void run(const MatmulArgs& a, int64_t r0, int64_t r1) {
  const int64_t nb = a.cols / kQK_K;
  auto act = [&](int64_t t) { return reinterpret_cast<const BlockQ8_K*>(a.x + static_cast<size_t>(t) * a.x_row_bytes); };
  if (a.n_tokens == 1) {
    const BlockQ8_K* y = act(0);
    for (int64_t r = r0; r < r1; ++r) a.y[r] = row_dot<K>(a.w + static_cast<size_t>(r) * a.w_row_bytes, y, nb);
    return;
  }
  // Prompts: per chunk of tokens whose activations fit in L2, each weight row (in L1 after the
  // first token) against every token of the chunk.
  const int64_t chunk = std::max<int64_t>(1, static_cast<int64_t>(kTokenChunkBytes / a.x_row_bytes));
  for (int64_t t0 = 0; t0 < a.n_tokens; t0 += chunk) {
    const int64_t t1 = std::min(a.n_tokens, t0 + chunk);
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* w = a.w + static_cast<size_t>(r) * a.w_row_bytes;
      for (int64_t t = t0; t < t1; ++t) a.y[t * a.ldy + r] = row_dot<K>(w, act(t), nb);
    }
  }
}

}  // namespace

// Bit-identical to scalar::quantize_act_q8k: same signed extreme (first of equal magnitudes), the
// product x * iscale rounded half to even by cvtps, min 127.
void quantize_act_q8k(const float* x, uint8_t* y, int64_t n) {
  BlockQ8_K* out = reinterpret_cast<BlockQ8_K*>(y);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float* xb = x + b * kQK_K;
    BlockQ8_K& o = out[b];
    __m256 m = _mm256_setzero_ps();
    for (int k = 0; k < kQK_K; k += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + k)));
    const float amax = hmax(m);
    if (amax == 0.0f) {
      std::memset(&o, 0, sizeof o);
      continue;
    }
    float max = 0.0f;
    const __m256 va = _mm256_set1_ps(amax);
    for (int k = 0; k < kQK_K; k += 8) {
      const int hits = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(xb + k)), va, _CMP_EQ_OQ));
      if (hits) {
        max = xb[k + __builtin_ctz(static_cast<unsigned>(hits))];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const __m256 vs = _mm256_set1_ps(iscale);
    const __m256i top = _mm256_set1_epi32(127);
    for (int k = 0; k < kQK_K; k += 32) {
      __m256i q[4];
      for (int i = 0; i < 4; ++i)
        q[i] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + k + 8 * i), vs)), top);
      const __m256i bytes = pack_i32_to_i8(q[0], q[1], q[2], q[3]);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.qs + k), bytes);
      // Sums of 16: pairs (maddubs with 1), then quads (madd), then the 4 quads of each half.
      const __m256i quads = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), bytes), _mm256_set1_epi16(1));
      const __m256i s2 = _mm256_hadd_epi32(quads, quads);
      const __m256i s4 = _mm256_hadd_epi32(s2, s2);
      o.bsums[k / 16] = static_cast<int16_t>(_mm256_extract_epi32(s4, 0));
      o.bsums[k / 16 + 1] = static_cast<int16_t>(_mm256_extract_epi32(s4, 4));
    }
    o.d = 1 / iscale;
  }
}

void matmul_q4_k(const MatmulArgs& a, int64_t r0, int64_t r1) { run<Q4K>(a, r0, r1); }
void matmul_q5_k(const MatmulArgs& a, int64_t r0, int64_t r1) { run<Q5K>(a, r0, r1); }
void matmul_q6_k(const MatmulArgs& a, int64_t r0, int64_t r1) { run<Q6K>(a, r0, r1); }

}  // namespace lingua::kernels::avx2
