// AVX-512 VNNI matmuls over the packed Q4_0x16 / Q8_0x16 layouts (packing.h). One register
// holds 4 bytes of each of 16 rows, so a dpbusd against 4 broadcast activation bytes advances
// all 16 row sums at once and a block's 16 scales arrive in one load: per 32-element block of a
// row group, Q4_0 needs 4 loads, 12 unpacking ops, 8 dpbusd and 3 ops of scaling.
// GCC 12's AVX-512 conversion intrinsics pass an _mm512_undefined_*() operand that it then
// reports as maybe uninitialized when inlined (a false positive of that compiler).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/avx512_impl.h"

namespace lingua::kernels::avx512 {
namespace {

// Decode streams each group's weights once: prefetch this far ahead of the stream (as the AVX2
// decode does; a group of a 2048-column Q4_0 matrix is 18 KiB, so this stays inside it).
constexpr size_t kPrefetchBytes = 2048;
// Prompt tiles: tokens per pass over a group's block column. Each token keeps a float sum and an
// integer sum register; with the 8 unpacked weight registers and the scales, 8 tokens use 27 of
// the 32 registers.
constexpr int kTileTokens = 8;
// Token chunks whose prepared activations stay in L2 while every group of the range passes over
// them (as in the AVX2 prompt path).
constexpr size_t kTokenChunkBytes = 256 * 1024;

inline void prefetch(const uint8_t* p) { _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0); }

inline __m512i bcast32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// One token's prepared activations (act_q8 layout).
struct Act {
  const uint8_t* q;
  const float* d;
  const int32_t* sum;
};
inline Act act_at(const uint8_t* row, int64_t cols) { return {row, act_q8_scales(row, cols), act_q8_sums(row, cols)}; }

// Q4_0x16: nibbles 0..15 as dpbusd's unsigned operand; the -8 offset returns as -8 * sum(x).
struct Q4Packed {
  static constexpr size_t kColumnBytes = kQ4_0x16ColumnBytes;
  static constexpr int kZero = 8;
  struct Weights {
    __m512i lo[4], hi[4];
  };
  static Weights load(const uint8_t* col) {
    const __m512i mask = _mm512_set1_epi8(0x0f);
    Weights w;
    for (int c = 0; c < 4; ++c) {
      const __m512i v = _mm512_loadu_si512(col + 32 + 64 * c);
      w.lo[c] = _mm512_and_si512(v, mask);
      w.hi[c] = _mm512_and_si512(_mm512_srli_epi16(v, 4), mask);
    }
    return w;
  }
  // 16 lanes of sum_j q_ij * x_j - 8 * sum_j x_j for block b of one token. Two chains of four
  // dpbusd rather than one of eight: the chain's latency, not the ports, would bound decode.
  static __m512i dot(const Weights& w, const uint8_t* xq, int32_t xsum) {
    __m512i a = _mm512_set1_epi32(-kZero * xsum), b = _mm512_setzero_si512();
    for (int c = 0; c < 4; ++c) {
      a = _mm512_dpbusd_epi32(a, w.lo[c], bcast32(xq + 4 * c));
      b = _mm512_dpbusd_epi32(b, w.hi[c], bcast32(xq + 16 + 4 * c));
    }
    return _mm512_add_epi32(a, b);
  }
};

// Q8_0x16: the quants stored + 128 (unsigned); the offset returns as -128 * sum(x).
struct Q8Packed {
  static constexpr size_t kColumnBytes = kQ8_0x16ColumnBytes;
  static constexpr int kZero = 128;
  struct Weights {
    __m512i q[8];
  };
  static Weights load(const uint8_t* col) {
    Weights w;
    for (int c = 0; c < 8; ++c) w.q[c] = _mm512_loadu_si512(col + 32 + 64 * c);
    return w;
  }
  static __m512i dot(const Weights& w, const uint8_t* xq, int32_t xsum) {
    __m512i a = _mm512_set1_epi32(-kZero * xsum), b = _mm512_setzero_si512();
    for (int c = 0; c < 8; c += 2) {
      a = _mm512_dpbusd_epi32(a, w.q[c], bcast32(xq + 4 * c));
      b = _mm512_dpbusd_epi32(b, w.q[c + 1], bcast32(xq + 4 * c + 4));
    }
    return _mm512_add_epi32(a, b);
  }
};

inline __m512 scales(const uint8_t* col) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(col)));
}

template <class P>
struct PackedKernel {
  // acc += (d_w * d_x) * isum: the scale product rounded as the other families round it.
  static __m512 scaled(__m512 acc, __m512 dw, float dx, __m512i isum) {
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw, _mm512_set1_ps(dx)), acc);
  }

  // One token: each group is one sequential stream; two block columns in flight.
  static void decode(const MatmulArgs& a, int64_t r0, int64_t r1) {
    const int64_t nb = a.cols / kQK;
    const size_t group_bytes = static_cast<size_t>(nb) * P::kColumnBytes;
    const Act x = act_at(a.x, a.cols);
    for (int64_t r = r0; r < r1; r += kPackRows) {
      const uint8_t* g = a.w + static_cast<size_t>(r / kPackRows) * group_bytes;
      __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
      int64_t b = 0;
      for (; b + 2 <= nb; b += 2) {
        const uint8_t* col = g + static_cast<size_t>(b) * P::kColumnBytes;
        for (size_t off = 0; off < 2 * P::kColumnBytes; off += 64) prefetch(col + kPrefetchBytes + off);
        acc0 = scaled(acc0, scales(col), x.d[b], P::dot(P::load(col), x.q + b * kQK, x.sum[b]));
        const uint8_t* next = col + P::kColumnBytes;
        acc1 = scaled(acc1, scales(next), x.d[b + 1], P::dot(P::load(next), x.q + (b + 1) * kQK, x.sum[b + 1]));
      }
      if (b < nb) {
        const uint8_t* col = g + static_cast<size_t>(b) * P::kColumnBytes;
        acc0 = scaled(acc0, scales(col), x.d[b], P::dot(P::load(col), x.q + b * kQK, x.sum[b]));
      }
      _mm512_storeu_ps(a.y + r, _mm512_add_ps(acc0, acc1));
    }
  }

  // RN tokens against one row group: each block column is unpacked once for all of them.
  template <int RN>
  static void tile(const MatmulArgs& a, const uint8_t* g, int64_t r, int64_t t) {
    const int64_t nb = a.cols / kQK;
    Act xs[RN];
    for (int j = 0; j < RN; ++j) xs[j] = act_at(a.x + static_cast<size_t>(t + j) * a.x_row_bytes, a.cols);
    __m512 acc[RN];
    for (auto& v : acc) v = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* col = g + static_cast<size_t>(b) * P::kColumnBytes;
      const auto w = P::load(col);
      const __m512 dw = scales(col);
      for (int j = 0; j < RN; ++j) acc[j] = scaled(acc[j], dw, xs[j].d[b], P::dot(w, xs[j].q + b * kQK, xs[j].sum[b]));
    }
    for (int j = 0; j < RN; ++j) _mm512_storeu_ps(a.y + (t + j) * a.ldy + r, acc[j]);
  }

  static void run(const MatmulArgs& a, int64_t r0, int64_t r1) {
    if (a.n_tokens == 1) return decode(a, r0, r1);
    const size_t group_bytes = static_cast<size_t>(a.cols / kQK) * P::kColumnBytes;
    const int64_t chunk =
        std::max<int64_t>(kTileTokens, static_cast<int64_t>(kTokenChunkBytes / a.x_row_bytes) / kTileTokens * kTileTokens);
    for (int64_t t0 = 0; t0 < a.n_tokens; t0 += chunk) {
      const int64_t t1 = std::min(a.n_tokens, t0 + chunk);
      for (int64_t r = r0; r < r1; r += kPackRows) {
        const uint8_t* g = a.w + static_cast<size_t>(r / kPackRows) * group_bytes;
        int64_t t = t0;
        for (; t + kTileTokens <= t1; t += kTileTokens) tile<kTileTokens>(a, g, r, t);
        for (; t + 4 <= t1; t += 4) tile<4>(a, g, r, t);
        for (; t < t1; ++t) tile<1>(a, g, r, t);
      }
    }
  }
};

}  // namespace

size_t packed_bytes(DType type, int64_t rows, int64_t cols) {
  if (rows <= 0 || rows % kPackRows != 0 || cols <= 0 || cols % kQK != 0) return 0;
  const size_t groups = static_cast<size_t>(rows / kPackRows), nb = static_cast<size_t>(cols / kQK);
  switch (type) {
    case DType::Q4_0: return groups * nb * kQ4_0x16ColumnBytes;
    case DType::Q8_0: return groups * nb * kQ8_0x16ColumnBytes;
    default: return 0;
  }
}

void pack(const MatrixView& w, uint8_t* dst) {
  const int64_t nb = w.cols / kQK;
  const bool q4 = w.type == DType::Q4_0;
  const size_t block_bytes = q4 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0);
  const int chunks = q4 ? 4 : 8;
  uint8_t* out = dst;
  for (int64_t g = 0; g < w.rows / kPackRows; ++g) {
    for (int64_t b = 0; b < nb; ++b) {
      for (int64_t i = 0; i < kPackRows; ++i) {
        const uint8_t* blk = w.row(g * kPackRows + i) + static_cast<size_t>(b) * block_bytes;
        std::memcpy(out + 2 * i, blk, 2);  // d
        for (int c = 0; c < chunks; ++c) {
          uint8_t* lane = out + 32 + 64 * c + 4 * i;
          std::memcpy(lane, blk + 2 + 4 * c, 4);
          if (!q4)
            for (int k = 0; k < 4; ++k) lane[k] = static_cast<uint8_t>(lane[k] ^ 0x80);  // int8 + 128
        }
      }
      out += q4 ? kQ4_0x16ColumnBytes : kQ8_0x16ColumnBytes;
    }
  }
}

void matmul_q4_0_packed(const MatmulArgs& a, int64_t r0, int64_t r1) { PackedKernel<Q4Packed>::run(a, r0, r1); }
void matmul_q8_0_packed(const MatmulArgs& a, int64_t r0, int64_t r1) { PackedKernel<Q8Packed>::run(a, r0, r1); }

}  // namespace lingua::kernels::avx512
