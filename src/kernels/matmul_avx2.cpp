// AVX2 row-range matmul kernels. Decode (one token) is a matrix-vector product bound by how fast
// weight bytes stream from memory, so the per-block work is kept small; prompt processing
// computes a tile of rows x tokens per pass so each weight block loaded is used several times.
#include <algorithm>
#include <cstring>

#include "kernels/avx2_impl.h"
#include "kernels/simd_avx2.h"

namespace lingua::kernels::avx2 {
namespace {

// Tokens whose prepared activations are kept hot while a thread sweeps its rows: this many bytes
// stay in L2 next to the weight tile being reused.
constexpr size_t kTokenChunkBytes = 256 * 1024;

// Q4_0 weights against act_q8 activations. The nibbles are used unsigned (0..15) as maddubs'
// unsigned operand, which removes ggml's two sign fix-ups per block; the -8 offset comes back as
// 8 * (y[2k] + y[2k+1]), computed once per token block and shared by all rows of the tile.
struct Q4Kernel {
  static constexpr size_t kBlockBytes = sizeof(BlockQ4_0);

  template <int RM, int RN>
  static void tile(const MatmulArgs& a, int64_t r, int64_t t) {
    const int64_t nb = a.cols / kQK;
    const uint8_t* w[RM];
    for (int i = 0; i < RM; ++i) w[i] = a.w + static_cast<size_t>(r + i) * a.w_row_bytes;
    const uint8_t* xq[RN];
    const float* xd[RN];
    for (int j = 0; j < RN; ++j) {
      xq[j] = a.x + static_cast<size_t>(t + j) * a.x_row_bytes;
      xd[j] = act_q8_scales(xq[j], a.cols);
    }
    __m256 acc[RM][RN];
    for (auto& row : acc)
      for (auto& v : row) v = _mm256_setzero_ps();
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i eights = _mm256_set1_epi8(8);
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nb; ++b) {
      __m256i y[RN], corr[RN];
      for (int j = 0; j < RN; ++j) {
        y[j] = _mm256_load_si256(reinterpret_cast<const __m256i*>(xq[j] + b * kQK));
        corr[j] = _mm256_maddubs_epi16(eights, y[j]);
      }
      for (int i = 0; i < RM; ++i) {
        const uint8_t* blk = w[i] + b * kBlockBytes;
        const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
        const __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), low4);
        const float dw = half_at(blk);
        for (int j = 0; j < RN; ++j) {
          const __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(q, y[j]), corr[j]);
          const __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones));
          acc[i][j] = _mm256_fmadd_ps(_mm256_set1_ps(dw * xd[j][b]), p, acc[i][j]);
        }
      }
    }
    for (int i = 0; i < RM; ++i)
      for (int j = 0; j < RN; ++j) a.y[(t + j) * a.ldy + r + i] = hsum(acc[i][j]);
  }
};

// Q8_0 weights against act_q8 activations: maddubs needs one unsigned operand, so use |w| and
// move w's sign onto y (ggml's trick). |w| is computed once per row block for all tokens.
struct Q8Kernel {
  static constexpr size_t kBlockBytes = sizeof(BlockQ8_0);

  template <int RM, int RN>
  static void tile(const MatmulArgs& a, int64_t r, int64_t t) {
    const int64_t nb = a.cols / kQK;
    const uint8_t* w[RM];
    for (int i = 0; i < RM; ++i) w[i] = a.w + static_cast<size_t>(r + i) * a.w_row_bytes;
    const uint8_t* xq[RN];
    const float* xd[RN];
    for (int j = 0; j < RN; ++j) {
      xq[j] = a.x + static_cast<size_t>(t + j) * a.x_row_bytes;
      xd[j] = act_q8_scales(xq[j], a.cols);
    }
    __m256 acc[RM][RN];
    for (auto& row : acc)
      for (auto& v : row) v = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nb; ++b) {
      __m256i y[RN];
      for (int j = 0; j < RN; ++j) y[j] = _mm256_load_si256(reinterpret_cast<const __m256i*>(xq[j] + b * kQK));
      for (int i = 0; i < RM; ++i) {
        const uint8_t* blk = w[i] + b * kBlockBytes;
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
        const __m256i aq = _mm256_sign_epi8(q, q);
        const float dw = half_at(blk);
        for (int j = 0; j < RN; ++j) {
          const __m256i p16 = _mm256_maddubs_epi16(aq, _mm256_sign_epi8(y[j], q));
          const __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones));
          acc[i][j] = _mm256_fmadd_ps(_mm256_set1_ps(dw * xd[j][b]), p, acc[i][j]);
        }
      }
    }
    for (int i = 0; i < RM; ++i)
      for (int j = 0; j < RN; ++j) a.y[(t + j) * a.ldy + r + i] = hsum(acc[i][j]);
  }
};

// Float-like weights (f32, f16, bf16): activations were converted to the weight's type, both
// sides widen to f32 in registers and accumulate with FMA, as ggml's vec_dot_f16 / _bf16 do.
struct F32Load {
  static constexpr size_t kElem = 4;
  static __m256 vec(const uint8_t* p) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p)); }
  static float one(const uint8_t* p) {
    float v;
    std::memcpy(&v, p, 4);
    return v;
  }
};
struct F16Load {
  static constexpr size_t kElem = 2;
  static __m256 vec(const uint8_t* p) { return load_f16x8(p); }
  static float one(const uint8_t* p) { return half_at(p); }
};
struct BF16Load {
  static constexpr size_t kElem = 2;
  static __m256 vec(const uint8_t* p) { return load_bf16x8(p); }
  static float one(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    const uint32_t bits = static_cast<uint32_t>(h) << 16;
    float v;
    std::memcpy(&v, &bits, 4);
    return v;
  }
};

template <class L>
struct FloatKernel {
  template <int RM, int RN>
  static void tile(const MatmulArgs& a, int64_t r, int64_t t) {
    const uint8_t* w[RM];
    for (int i = 0; i < RM; ++i) w[i] = a.w + static_cast<size_t>(r + i) * a.w_row_bytes;
    const uint8_t* x[RN];
    for (int j = 0; j < RN; ++j) x[j] = a.x + static_cast<size_t>(t + j) * a.x_row_bytes;
    __m256 acc[RM][RN];
    for (auto& row : acc)
      for (auto& v : row) v = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= a.cols; k += 8) {
      const size_t off = static_cast<size_t>(k) * L::kElem;
      __m256 xv[RN];
      for (int j = 0; j < RN; ++j) xv[j] = L::vec(x[j] + off);
      for (int i = 0; i < RM; ++i) {
        const __m256 wv = L::vec(w[i] + off);
        for (int j = 0; j < RN; ++j) acc[i][j] = _mm256_fmadd_ps(wv, xv[j], acc[i][j]);
      }
    }
    for (int i = 0; i < RM; ++i)
      for (int j = 0; j < RN; ++j) {
        float s = hsum(acc[i][j]);
        for (int64_t kk = k; kk < a.cols; ++kk) {
          const size_t off = static_cast<size_t>(kk) * L::kElem;
          s += L::one(w[i] + off) * L::one(x[j] + off);
        }
        a.y[(t + j) * a.ldy + r + i] = s;
      }
  }
};

// Tile shapes: RM rows x RN tokens. Decode wants several rows in flight (independent
// accumulators, one activation load shared); prompt processing wants weight reuse across tokens
// within the 16 vector registers.
template <class K>
struct Shape {
#ifndef TRM
#define TRM 4
#define TRN 2
#define TDR 4
#endif
  static constexpr int kDecodeRows = TDR;
  static constexpr int kRows = TRM;
  static constexpr int kTokens = TRN;
};

template <class K, int RM, int RN>
void tile_any(const MatmulArgs& a, int64_t r, int rm, int64_t t, int rn) {
  if (rm == RM) {
    if (rn == RN) return K::template tile<RM, RN>(a, r, t);
    for (int j = 0; j < rn; ++j) K::template tile<RM, 1>(a, r, t + j);
    return;
  }
  for (int i = 0; i < rm; ++i) {
    if (rn == RN) {
      K::template tile<1, RN>(a, r + i, t);
    } else {
      for (int j = 0; j < rn; ++j) K::template tile<1, 1>(a, r + i, t + j);
    }
  }
}

template <class K, int RM, int RN>
void sweep(const MatmulArgs& a, int64_t r0, int64_t r1) {
  // Chunks of tokens small enough to stay in L2 while every row tile of this range passes over
  // them; weights are then re-read once per chunk, mostly from L3.
  const int64_t chunk = std::max<int64_t>(RN, static_cast<int64_t>(kTokenChunkBytes / a.x_row_bytes) / RN * RN);
  for (int64_t t0 = 0; t0 < a.n_tokens; t0 += chunk) {
    const int64_t t1 = std::min(a.n_tokens, t0 + chunk);
    for (int64_t r = r0; r < r1; r += RM) {
      const int rm = static_cast<int>(std::min<int64_t>(RM, r1 - r));
      for (int64_t t = t0; t < t1; t += RN)
        tile_any<K, RM, RN>(a, r, rm, t, static_cast<int>(std::min<int64_t>(RN, t1 - t)));
    }
  }
}

template <class K>
void run(const MatmulArgs& a, int64_t r0, int64_t r1) {
  if (a.n_tokens == 1) {
    sweep<K, Shape<K>::kDecodeRows, 1>(a, r0, r1);
  } else {
    sweep<K, Shape<K>::kRows, Shape<K>::kTokens>(a, r0, r1);
  }
}

}  // namespace

void matmul_f32(const MatmulArgs& a, int64_t r0, int64_t r1) { run<FloatKernel<F32Load>>(a, r0, r1); }
void matmul_f16(const MatmulArgs& a, int64_t r0, int64_t r1) { run<FloatKernel<F16Load>>(a, r0, r1); }
void matmul_bf16(const MatmulArgs& a, int64_t r0, int64_t r1) { run<FloatKernel<BF16Load>>(a, r0, r1); }
void matmul_q8_0(const MatmulArgs& a, int64_t r0, int64_t r1) { run<Q8Kernel>(a, r0, r1); }
void matmul_q4_0(const MatmulArgs& a, int64_t r0, int64_t r1) { run<Q4Kernel>(a, r0, r1); }

}  // namespace lingua::kernels::avx2
