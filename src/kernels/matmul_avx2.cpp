// AVX2 row-range matmul kernels. Decode (one token) is a matrix-vector product bound by how fast
// weight bytes stream from memory: rows are walked one after another as a single sequential stream
// with software prefetch ahead of it. Prompt processing computes a tile of rows x tokens per pass so
// each weight block loaded is used several times.
#include <algorithm>
#include <cstring>

#include "kernels/avx2_impl.h"
#include "kernels/simd_avx2.h"

namespace lingua::kernels::avx2 {
namespace {

// Tokens whose prepared activations are kept hot while a thread sweeps its rows: this many bytes
// stay in L2 next to the weight tile being reused.
constexpr size_t kTokenChunkBytes = 256 * 1024;
// How far ahead of the decode stream to prefetch: with it a single thread streams ~12 GB/s of
// Q4_0 from DRAM on Zen 3 (vs ~8 without); 1-4 KiB all work, 2 KiB measured best.
constexpr size_t kPrefetchBytes = 2048;

inline void prefetch(const uint8_t* p) { _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0); }

// Q4_0 weights against act_q8 activations. The nibbles are used unsigned (0..15) as maddubs'
// unsigned operand, which removes ggml's two sign fix-ups per block; the -8 offset comes back as
// 8 * (y[2k] + y[2k+1]) (`corr`), computed once per activation block and shared by all rows.
struct Q4Kernel {
  static constexpr size_t kBlockBytes = sizeof(BlockQ4_0);

  struct Act {
    __m256i y, corr;
  };
  static Act act(const uint8_t* xq, int64_t b) {
    const __m256i y = _mm256_load_si256(reinterpret_cast<const __m256i*>(xq + b * kQK));
    return {y, _mm256_maddubs_epi16(_mm256_set1_epi8(8), y)};
  }
  // Integer dot of one weight block with one activation block, as 8 partial sums in float lanes.
  static __m256 dot(const uint8_t* blk, const Act& x) {
    // Both halves of the ymm get the 16 packed bytes; shifting the upper half by 4 brings the high
    // nibbles (elements 16..31) down, and the mask drops what the other nibble left behind.
    const __m256i raw = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2)));
    const __m256i q = _mm256_and_si256(_mm256_srlv_epi32(raw, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)),
                                       _mm256_set1_epi8(0x0f));
    const __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(q, x.y), x.corr);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
  }
};

// Q5_0 weights against act_q8 activations: as Q4Kernel with the fifth bit ORed in (levels 0..31)
// and a -16 offset, returned as 16 * (y[2k] + y[2k+1]).
struct Q5Kernel {
  static constexpr size_t kBlockBytes = sizeof(BlockQ5_0);

  struct Act {
    __m256i y, corr;
  };
  static Act act(const uint8_t* xq, int64_t b) {
    const __m256i y = _mm256_load_si256(reinterpret_cast<const __m256i*>(xq + b * kQK));
    return {y, _mm256_maddubs_epi16(_mm256_set1_epi8(16), y)};
  }
  static __m256 dot(const uint8_t* blk, const Act& x) {
    const __m256i raw = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 6)));
    const __m256i lo4 = _mm256_and_si256(_mm256_srlv_epi32(raw, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)),
                                         _mm256_set1_epi8(0x0f));
    // Byte i takes qh byte i / 8 and keeps bit i % 8 of it: 0xff where element i has its high bit.
    uint32_t qh;
    std::memcpy(&qh, blk + 2, 4);
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(static_cast<int>(qh)),
        _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
    const __m256i has = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
    const __m256i q = _mm256_or_si256(lo4, _mm256_and_si256(has, _mm256_set1_epi8(0x10)));
    const __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(q, x.y), x.corr);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
  }
};

// Q8_0 weights against act_q8 activations: maddubs needs one unsigned operand, so use |w| and
// move w's sign onto y (ggml's trick).
struct Q8Kernel {
  static constexpr size_t kBlockBytes = sizeof(BlockQ8_0);

  struct Act {
    __m256i y;
  };
  static Act act(const uint8_t* xq, int64_t b) {
    return {_mm256_load_si256(reinterpret_cast<const __m256i*>(xq + b * kQK))};
  }
  static __m256 dot(const uint8_t* blk, const Act& x) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
    const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(x.y, q));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
  }
};

// Everything shared by the 32-element block-quantized weight types: per block, scale the integer dot
// by d_w * d_x (the product rounded as ggml rounds it) and accumulate.
template <class B>
struct BlockKernel {
  // One row against one token: two accumulators so consecutive blocks do not wait on each other's
  // FMA, and a prefetch per pair of blocks.
  static float row(const uint8_t* w, const uint8_t* xq, const float* xd, int64_t nb) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
      const uint8_t* blk = w + b * B::kBlockBytes;
      prefetch(blk + kPrefetchBytes);
      const __m256 p0 = B::dot(blk, B::act(xq, b));
      const __m256 p1 = B::dot(blk + B::kBlockBytes, B::act(xq, b + 1));
      acc0 = _mm256_fmadd_ps(_mm256_set1_ps(half_at(blk) * xd[b]), p0, acc0);
      acc1 = _mm256_fmadd_ps(_mm256_set1_ps(half_at(blk + B::kBlockBytes) * xd[b + 1]), p1, acc1);
    }
    if (b < nb) {
      const uint8_t* blk = w + b * B::kBlockBytes;
      acc0 = _mm256_fmadd_ps(_mm256_set1_ps(half_at(blk) * xd[b]), B::dot(blk, B::act(xq, b)), acc0);
    }
    return hsum(_mm256_add_ps(acc0, acc1));
  }

  static void decode(const MatmulArgs& a, int64_t r0, int64_t r1) {
    const int64_t nb = a.cols / kQK;
    const float* xd = act_q8_scales(a.x, a.cols);
    for (int64_t r = r0; r < r1; ++r) a.y[r] = row(a.w + static_cast<size_t>(r) * a.w_row_bytes, a.x, xd, nb);
  }

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
    for (auto& row_acc : acc)
      for (auto& v : row_acc) v = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      typename B::Act x[RN];
      __m256 dx[RN];
      for (int j = 0; j < RN; ++j) {
        x[j] = B::act(xq[j], b);
        dx[j] = _mm256_set1_ps(xd[j][b]);
      }
      for (int i = 0; i < RM; ++i) {
        const uint8_t* blk = w[i] + b * B::kBlockBytes;
        // Broadcast both scales once and multiply per pair: same float product as the scalar
        // dw * dx, one vector op instead of a scalar multiply plus a broadcast.
        const __m256 dw = _mm256_set1_ps(half_at(blk));
        for (int j = 0; j < RN; ++j)
          acc[i][j] = _mm256_fmadd_ps(_mm256_mul_ps(dw, dx[j]), B::dot(blk, x[j]), acc[i][j]);
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
  static float tail(const uint8_t* w, const uint8_t* x, int64_t k, int64_t cols) {
    float s = 0.0f;
    for (; k < cols; ++k) s += L::one(w + static_cast<size_t>(k) * L::kElem) * L::one(x + static_cast<size_t>(k) * L::kElem);
    return s;
  }

  // Four accumulators: one FMA chain would stall on its latency long before memory runs dry.
  static void decode(const MatmulArgs& a, int64_t r0, int64_t r1) {
    constexpr size_t kStep = 32 * L::kElem;
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* w = a.w + static_cast<size_t>(r) * a.w_row_bytes;
      __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
      int64_t k = 0;
      for (; k + 32 <= a.cols; k += 32) {
        const size_t off = static_cast<size_t>(k) * L::kElem;
        prefetch(w + off + kPrefetchBytes);
        if (kStep > 64) prefetch(w + off + kPrefetchBytes + 64);
        for (int u = 0; u < 4; ++u)
          acc[u] = _mm256_fmadd_ps(L::vec(w + off + 8 * u * L::kElem), L::vec(a.x + off + 8 * u * L::kElem), acc[u]);
      }
      for (; k + 8 <= a.cols; k += 8) {
        const size_t off = static_cast<size_t>(k) * L::kElem;
        acc[0] = _mm256_fmadd_ps(L::vec(w + off), L::vec(a.x + off), acc[0]);
      }
      const __m256 sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
      a.y[r] = hsum(sum) + tail(w, a.x, k, a.cols);
    }
  }

  template <int RM, int RN>
  static void tile(const MatmulArgs& a, int64_t r, int64_t t) {
    const uint8_t* w[RM];
    for (int i = 0; i < RM; ++i) w[i] = a.w + static_cast<size_t>(r + i) * a.w_row_bytes;
    const uint8_t* x[RN];
    for (int j = 0; j < RN; ++j) x[j] = a.x + static_cast<size_t>(t + j) * a.x_row_bytes;
    __m256 acc[RM][RN];
    for (auto& row_acc : acc)
      for (auto& v : row_acc) v = _mm256_setzero_ps();
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
      for (int j = 0; j < RN; ++j) a.y[(t + j) * a.ldy + r + i] = hsum(acc[i][j]) + tail(w[i], x[j], k, a.cols);
  }
};

// Prompt-processing tile shapes (rows x tokens), the best measured within 16 vector registers
// (4x3 reaches ~60 GFLOP/s per core on the integer kernels); the f16/bf16 widening needs more
// temporaries, and at 4x3 it spills.
template <class K>
struct Shape {
  static constexpr int kRows = 4, kTokens = 3;
};
template <>
struct Shape<FloatKernel<F16Load>> {
  static constexpr int kRows = 2, kTokens = 4;
};
template <>
struct Shape<FloatKernel<BF16Load>> {
  static constexpr int kRows = 2, kTokens = 4;
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

template <class K>
void run(const MatmulArgs& a, int64_t r0, int64_t r1) {
  if (a.n_tokens == 1) return K::decode(a, r0, r1);
  constexpr int RM = Shape<K>::kRows, RN = Shape<K>::kTokens;
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

}  // namespace

void matmul_f32(const MatmulArgs& a, int64_t r0, int64_t r1) { run<FloatKernel<F32Load>>(a, r0, r1); }
void matmul_f16(const MatmulArgs& a, int64_t r0, int64_t r1) { run<FloatKernel<F16Load>>(a, r0, r1); }
void matmul_bf16(const MatmulArgs& a, int64_t r0, int64_t r1) { run<FloatKernel<BF16Load>>(a, r0, r1); }
void matmul_q8_0(const MatmulArgs& a, int64_t r0, int64_t r1) { run<BlockKernel<Q8Kernel>>(a, r0, r1); }
void matmul_q4_0(const MatmulArgs& a, int64_t r0, int64_t r1) { run<BlockKernel<Q4Kernel>>(a, r0, r1); }
void matmul_q5_0(const MatmulArgs& a, int64_t r0, int64_t r1) { run<BlockKernel<Q5Kernel>>(a, r0, r1); }

}  // namespace lingua::kernels::avx2
