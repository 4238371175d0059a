// Scalar reference matmul kernels for Q5_0 (against act_q8) and the K-quants (against Q8_K
// activations), with ggml's integer-dot-then-scale numerics; the AVX2 versions are tested on them.
#include <cstring>

#include "core/fp16.h"
#include "kernels/scalar_impl.h"

namespace lingua::kernels::scalar {
namespace {

template <class RowTokenDot>
void for_each_output(const MatmulArgs& a, int64_t r0, int64_t r1, RowTokenDot dot) {
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* w = a.w + static_cast<size_t>(r) * a.w_row_bytes;
    for (int64_t t = 0; t < a.n_tokens; ++t)
      a.y[t * a.ldy + r] = dot(w, a.x + static_cast<size_t>(t) * a.x_row_bytes);
  }
}

template <class Block>
Block load_block(const uint8_t* p) {
  Block b;
  std::memcpy(&b, p, sizeof b);
  return b;
}

// Shared by Q4_K and Q5_K: per block, sum_j scale_j * <q_j, y_j> and sum_j min_j * (sum of y_j, from
// the Q8_K sub-sums), both exact in int32, then d_x * d and d_x * dmin apply once each.
template <class Block, class Level>
float dot_scale_min(const uint8_t* w, const uint8_t* x, int64_t nb, Level level) {
  float sum = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    const Block blk = load_block<Block>(w + b * sizeof(Block));
    const BlockQ8_K& xb = reinterpret_cast<const BlockQ8_K*>(x)[b];
    int32_t sumi = 0, summ = 0;
    for (int j = 0; j < 8; ++j) {
      int sc, m;
      kquant_scale_min(j, blk.scales, sc, m);
      int32_t s = 0;
      for (int l = 0; l < 32; ++l) s += level(blk, j, l) * xb.qs[32 * j + l];
      sumi += sc * s;
      summ += m * (xb.bsums[2 * j] + xb.bsums[2 * j + 1]);
    }
    sum += xb.d * fp16_to_fp32(blk.d) * static_cast<float>(sumi) - xb.d * fp16_to_fp32(blk.dmin) * static_cast<float>(summ);
  }
  return sum;
}

}  // namespace

void matmul_q5_0(const MatmulArgs& a, int64_t r0, int64_t r1) {
  const int64_t nb = a.cols / kQK;
  for_each_output(a, r0, r1, [&](const uint8_t* w, const uint8_t* x) {
    const int8_t* xq = reinterpret_cast<const int8_t*>(x);
    const float* xd = act_q8_scales(x, a.cols);
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ5_0 blk = load_block<BlockQ5_0>(w + b * sizeof(BlockQ5_0));
      uint32_t qh;
      std::memcpy(&qh, blk.qh, 4);
      const int8_t* xb = xq + b * kQK;
      int32_t isum = 0;
      for (int j = 0; j < kQK / 2; ++j) {
        isum += (((blk.qs[j] & 15) | static_cast<int>(((qh >> j) & 1) << 4)) - 16) * xb[j];
        isum += (((blk.qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4)) - 16) * xb[j + kQK / 2];
      }
      sum += static_cast<float>(isum) * (fp16_to_fp32(blk.d) * xd[b]);
    }
    return sum;
  });
}

void matmul_q4_k(const MatmulArgs& a, int64_t r0, int64_t r1) {
  const int64_t nb = a.cols / kQK_K;
  for_each_output(a, r0, r1, [&](const uint8_t* w, const uint8_t* x) {
    return dot_scale_min<BlockQ4_K>(w, x, nb, [](const BlockQ4_K& blk, int j, int l) {
      return (blk.qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 15;
    });
  });
}

void matmul_q5_k(const MatmulArgs& a, int64_t r0, int64_t r1) {
  const int64_t nb = a.cols / kQK_K;
  for_each_output(a, r0, r1, [&](const uint8_t* w, const uint8_t* x) {
    return dot_scale_min<BlockQ5_K>(w, x, nb, [](const BlockQ5_K& blk, int j, int l) {
      return ((blk.qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 15) | (((blk.qh[l] >> j) & 1) << 4);
    });
  });
}

// Q6_K: sum_g scale_g * <q_g - 32, y_g> over the 16 sub-blocks, exact in int32, times d_x * d.
void matmul_q6_k(const MatmulArgs& a, int64_t r0, int64_t r1) {
  const int64_t nb = a.cols / kQK_K;
  for_each_output(a, r0, r1, [&](const uint8_t* w, const uint8_t* x) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ6_K blk = load_block<BlockQ6_K>(w + b * sizeof(BlockQ6_K));
      const BlockQ8_K& xb = reinterpret_cast<const BlockQ8_K*>(x)[b];
      int32_t sumi = 0;
      for (int g = 0; g < 16; ++g) {
        int32_t s = 0;
        for (int e = 0; e < 16; ++e) {
          const int i = 16 * g + e;
          const int half = i / 128, k = (i % 128) / 32, l = i % 32;
          const uint8_t ql = blk.ql[64 * half + 32 * (k % 2) + l];
          const int lo = k < 2 ? ql & 15 : ql >> 4;
          const int hi = (blk.qh[32 * half + l] >> (2 * k)) & 3;
          s += ((lo | (hi << 4)) - 32) * xb.qs[i];
        }
        sumi += blk.scales[g] * s;
      }
      sum += xb.d * fp16_to_fp32(blk.d) * static_cast<float>(sumi);
    }
    return sum;
  });
}

}  // namespace lingua::kernels::scalar
