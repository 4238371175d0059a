// Scalar reference row-range matmul kernels: one plain dot product per (row, token) with ggml's
// per-type numerics. The AVX2 kernels must agree with these up to float summation order.
#include <cstring>

#include "core/fp16.h"
#include "kernels/scalar_impl.h"

namespace lingua::kernels::scalar {
namespace {

// Four partial sums, so the reference is not needlessly slow on CPUs without AVX2.
template <class Load>
float dot_converted(int64_t n, Load load) {
  float s[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; ++k) s[k] += load(i + k);
  for (; i < n; ++i) s[0] += load(i);
  return (s[0] + s[1]) + (s[2] + s[3]);
}

uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

float load_f32(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, 4);
  return v;
}

template <class RowTokenDot>
void for_each_output(const MatmulArgs& a, int64_t r0, int64_t r1, RowTokenDot dot) {
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* w = a.w + static_cast<size_t>(r) * a.w_row_bytes;
    for (int64_t t = 0; t < a.n_tokens; ++t)
      a.y[t * a.ldy + r] = dot(w, a.x + static_cast<size_t>(t) * a.x_row_bytes);
  }
}

}  // namespace

void matmul_f32(const MatmulArgs& a, int64_t r0, int64_t r1) {
  for_each_output(a, r0, r1, [&](const uint8_t* w, const uint8_t* x) {
    return dot_converted(a.cols, [&](int64_t i) { return load_f32(w + 4 * i) * load_f32(x + 4 * i); });
  });
}

void matmul_f16(const MatmulArgs& a, int64_t r0, int64_t r1) {
  for_each_output(a, r0, r1, [&](const uint8_t* w, const uint8_t* x) {
    return dot_converted(a.cols, [&](int64_t i) {
      return fp16_to_fp32(load_u16(w + 2 * i)) * fp16_to_fp32(load_u16(x + 2 * i));
    });
  });
}

void matmul_bf16(const MatmulArgs& a, int64_t r0, int64_t r1) {
  for_each_output(a, r0, r1, [&](const uint8_t* w, const uint8_t* x) {
    return dot_converted(a.cols, [&](int64_t i) {
      return bf16_to_fp32(load_u16(w + 2 * i)) * bf16_to_fp32(load_u16(x + 2 * i));
    });
  });
}

// Integer dot per block, scaled by d_w * d_x and summed in float: ggml's order of operations.
void matmul_q8_0(const MatmulArgs& a, int64_t r0, int64_t r1) {
  const int64_t nb = a.cols / kQK;
  for_each_output(a, r0, r1, [&](const uint8_t* w, const uint8_t* x) {
    const int8_t* xq = reinterpret_cast<const int8_t*>(x);
    const float* xd = act_q8_scales(x, a.cols);
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      BlockQ8_0 blk;
      std::memcpy(&blk, w + b * sizeof(BlockQ8_0), sizeof blk);
      int32_t isum = 0;
      for (int j = 0; j < kQK; ++j) isum += blk.qs[j] * xq[b * kQK + j];
      sum += static_cast<float>(isum) * (fp16_to_fp32(blk.d) * xd[b]);
    }
    return sum;
  });
}

void matmul_q4_0(const MatmulArgs& a, int64_t r0, int64_t r1) {
  const int64_t nb = a.cols / kQK;
  for_each_output(a, r0, r1, [&](const uint8_t* w, const uint8_t* x) {
    const int8_t* xq = reinterpret_cast<const int8_t*>(x);
    const float* xd = act_q8_scales(x, a.cols);
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      BlockQ4_0 blk;
      std::memcpy(&blk, w + b * sizeof(BlockQ4_0), sizeof blk);
      const int8_t* xb = xq + b * kQK;
      int32_t isum = 0;
      for (int j = 0; j < kQK / 2; ++j) {
        isum += ((blk.qs[j] & 0x0f) - 8) * xb[j];
        isum += ((blk.qs[j] >> 4) - 8) * xb[j + kQK / 2];
      }
      sum += static_cast<float>(isum) * (fp16_to_fp32(blk.d) * xd[b]);
    }
    return sum;
  });
}

}  // namespace lingua::kernels::scalar
