// Block layouts, quantizers and converters: hand-computed blocks pin ggml's exact rules, round
// trips bound the error, and every AVX2 converter must equal its scalar twin bit for bit.
#include <cmath>
#include <cstring>

#include "core/fp16.h"
#include "kernel_test_util.h"

namespace lingua::kernels {
namespace {

using testing::random_floats;

TEST(QuantBlocks, DequantizeHandBuiltQ4_0Block) {
  BlockQ4_0 b{};
  b.d = 0x3400;  // 0.25 in IEEE half
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float out[32];
  const MatrixView w{DType::Q4_0, &b, 1, 32, sizeof b};
  dequantize_row(w, 0, out);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(out[j], (j - 8) * 0.25f) << j;            // low nibble: element j
    EXPECT_EQ(out[j + 16], (7 - j) * 0.25f) << j + 16;  // high nibble: element j + 16
  }
}

TEST(QuantBlocks, DequantizeHandBuiltQ8_0Block) {
  BlockQ8_0 b{};
  b.d = 0xb800;  // -0.5
  for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j * 8 - 127);
  float out[32];
  dequantize_row(MatrixView{DType::Q8_0, &b, 1, 32, sizeof b}, 0, out);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(out[j], (j * 8 - 127) * -0.5f) << j;
}

TEST(QuantBlocks, Q4_0ScaleComesFromSignedExtreme) {
  // Largest magnitude is -2 (first element): d = -2 / -8 = 0.25, so -2 maps to nibble 0 exactly and
  // the top of the range, +1.75, to 15; 0.125 is half way between nibbles 8 and 9 and rounds up.
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = 0.0f;
  x[0] = -2.0f, x[1] = 1.75f, x[2] = 0.125f, x[3] = -0.125f, x[16] = 0.3f, x[31] = -1.0f;
  BlockQ4_0 b{};
  quantize_row(DType::Q4_0, x, &b, 32);
  EXPECT_EQ(b.d, 0x3400);
  EXPECT_EQ(b.qs[0] & 0x0f, 0);
  EXPECT_EQ(b.qs[1] & 0x0f, 15);
  EXPECT_EQ(b.qs[2] & 0x0f, 9);   // 0.5 + 8.5 = 9.0
  EXPECT_EQ(b.qs[3] & 0x0f, 8);   // -0.5 + 8.5 = 8.0
  EXPECT_EQ(b.qs[0] >> 4, 9);     // x[16]: 1.2 + 8.5 -> 9
  EXPECT_EQ(b.qs[15] >> 4, 4);    // x[31]: -4 + 8.5 -> 4
  EXPECT_EQ(b.qs[5], 0x88);       // zeros sit on nibble 8
}

TEST(QuantBlocks, Q4_0PositiveExtremeFlipsScaleAndClipsOtherEnd) {
  // Largest magnitude +2: d = -0.25, +2 -> nibble 0; -2 would need nibble 16 and clips to 15.
  float x[32] = {};
  x[0] = 2.0f, x[1] = -2.0f, x[2] = -1.75f;
  BlockQ4_0 b{};
  quantize_row(DType::Q4_0, x, &b, 32);
  EXPECT_EQ(b.d, 0xb400);  // -0.25
  EXPECT_EQ(b.qs[0] & 0x0f, 0);
  EXPECT_EQ(b.qs[1] & 0x0f, 15);
  EXPECT_EQ(b.qs[2] & 0x0f, 15);
  float back[32];
  dequantize_row(MatrixView{DType::Q4_0, &b, 1, 32, sizeof b}, 0, back);
  EXPECT_EQ(back[0], 2.0f);
  EXPECT_EQ(back[1], -1.75f);
}

TEST(QuantBlocks, Q8_0FileQuantRoundsHalfAwayActivationsHalfEven) {
  // amax 127 gives d = 1 exactly, so x * id is x itself and the tie rules are visible.
  float x[32] = {};
  x[0] = 127.0f, x[1] = 2.5f, x[2] = -2.5f, x[3] = 3.5f, x[4] = -0.5f, x[5] = 0.49f;
  BlockQ8_0 b{};
  quantize_row(DType::Q8_0, x, &b, 32);
  EXPECT_EQ(b.d, 0x3c00);
  const int8_t want_file[6] = {127, 3, -3, 4, -1, 0};  // ggml's reference: roundf
  for (int j = 0; j < 6; ++j) EXPECT_EQ(b.qs[j], want_file[j]) << j;

  // ggml's x86 activation quantizer rounds half to even; both of ours must.
  const int8_t want_act[6] = {127, 2, -2, 4, 0, 0};
  for (const KernelTable* k : testing::tables()) {
    alignas(64) uint8_t act[128] = {};
    k->quantize_act_q8(x, act, 32);
    for (int j = 0; j < 6; ++j) EXPECT_EQ(static_cast<int8_t>(act[j]), want_act[j]) << k->name << " " << j;
    EXPECT_EQ(act_q8_scales(act, 32)[0], 1.0f);
  }
}

TEST(QuantBlocks, ZeroBlocksQuantizeToZeroScale) {
  const float x[32] = {};
  BlockQ8_0 q8{};
  BlockQ4_0 q4{};
  quantize_row(DType::Q8_0, x, &q8, 32);
  quantize_row(DType::Q4_0, x, &q4, 32);
  EXPECT_EQ(q8.d, 0);
  EXPECT_EQ(q4.d, 0x8000);  // 0 / -8 is -0.0 in ggml's formula too
  for (int j = 0; j < 32; ++j) EXPECT_EQ(q8.qs[j], 0);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(q4.qs[j], 0x88);
}

// Round trips: every element within half a quantization step of its block (plus the f16 rounding
// of d, at most 2^-11 relative, over the full range).
TEST(QuantRoundTrip, ErrorWithinHalfStep) {
  for (DType type : {DType::Q8_0, DType::Q4_0}) {
    const int64_t n = 32 * 37;
    const auto x = random_floats(static_cast<size_t>(n), 11, -3.0f, 3.0f);
    std::vector<uint8_t> q(static_cast<size_t>(n / 32) * dtype_info(type).block_bytes);
    quantize_row(type, x.data(), q.data(), n);
    std::vector<float> back(static_cast<size_t>(n));
    const size_t row_bytes = static_cast<size_t>(n / 32) * dtype_info(type).block_bytes;
    dequantize_row(MatrixView{type, q.data(), 1, n, row_bytes}, 0, back.data());
    for (int64_t b = 0; b < n / 32; ++b) {
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
      const float step = type == DType::Q8_0 ? amax / 127 : amax / 8;
      // Q4_0 clips the end opposite the extreme by one full step.
      const float bound = (type == DType::Q8_0 ? 0.5f : 1.0f) * step + amax * 0.001f;
      for (int j = 0; j < 32; ++j) ASSERT_LE(std::fabs(back[b * 32 + j] - x[b * 32 + j]), bound) << dtype_name(type);
    }
  }
}

TEST(QuantRoundTrip, HalfAndBFloatRoundToNearestEven) {
  const float x[6] = {1.0f, 1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 65504.0f, 1e-7f, -2.5f};
  uint16_t h[6];
  quantize_row(DType::F16, x, h, 6);
  EXPECT_EQ(h[0], 0x3c00);
  EXPECT_EQ(h[1], 0x3c00);  // tie, rounds to even mantissa
  EXPECT_EQ(h[2], 0x3c02);  // tie, rounds up to even
  EXPECT_EQ(h[3], 0x7bff);
  EXPECT_EQ(h[4], 0x0002);  // subnormal half
  EXPECT_EQ(h[5], 0xc100);
  const float y[3] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, -3.0f};
  uint16_t bf[3];
  quantize_row(DType::BF16, y, bf, 3);
  EXPECT_EQ(bf[0], 0x3f80);
  EXPECT_EQ(bf[1], 0x3f82);
  EXPECT_EQ(bf[2], 0xc040);
  float back[3];
  dequantize_row(MatrixView{DType::BF16, bf, 1, 3, 6}, 0, back);
  EXPECT_EQ(back[2], -3.0f);
}

TEST(QuantRoundTrip, F32RowsCopyExactly) {
  const auto x = random_floats(19, 5);
  std::vector<float> q(19), back(19);
  quantize_row(DType::F32, x.data(), q.data(), 19);
  dequantize_row(MatrixView{DType::F32, q.data(), 1, 19, 19 * 4}, 0, back.data());
  EXPECT_EQ(std::memcmp(x.data(), back.data(), 19 * 4), 0);
}

// Inputs that stress ties and block extremes as well as plain random values.
std::vector<float> tricky_floats(size_t n, uint32_t seed) {
  auto v = random_floats(n, seed, -4.0f, 4.0f);
  for (size_t i = 0; i < n; i += 7) v[i] = std::round(v[i] * 4) / 4;  // quarter steps: ties
  for (size_t i = 3; i < n; i += 64) v[i] = 0.0f;
  if (n >= 64) for (size_t i = 32; i < 64; ++i) v[i] = 0.0f;          // an all-zero block
  return v;
}

TEST(QuantAvx2, ConvertersMatchScalarBitwise) {
  LINGUA_REQUIRE_AVX2();
  const KernelTable& s = scalar_kernels();
  const KernelTable& v = avx2_kernels();
  for (int64_t n : {1, 7, 8, 15, 16, 17, 33, 100, 1027}) {
    SCOPED_TRACE(n);
    auto x = tricky_floats(static_cast<size_t>(n), 3);
    x[0] = 70000.0f;  // overflows half
    if (n > 1) x[1] = 3e-6f;  // half subnormal
    std::vector<uint16_t> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
    s.f32_to_f16(x.data(), a.data(), n);
    v.f32_to_f16(x.data(), b.data(), n);
    EXPECT_EQ(a, b);
    std::vector<float> fa(static_cast<size_t>(n)), fb(static_cast<size_t>(n));
    s.f16_to_f32(a.data(), fa.data(), n);
    v.f16_to_f32(a.data(), fb.data(), n);
    EXPECT_EQ(std::memcmp(fa.data(), fb.data(), fa.size() * 4), 0);
    x[n / 2] = std::nanf("");
    s.f32_to_bf16(x.data(), a.data(), n);
    v.f32_to_bf16(x.data(), b.data(), n);
    EXPECT_EQ(a, b);
    s.bf16_to_f32(a.data(), fa.data(), n);
    v.bf16_to_f32(a.data(), fb.data(), n);
    EXPECT_EQ(std::memcmp(fa.data(), fb.data(), fa.size() * 4), 0);
  }
}

TEST(QuantAvx2, QuantizersMatchScalarBitwise) {
  LINGUA_REQUIRE_AVX2();
  const KernelTable& s = scalar_kernels();
  const KernelTable& v = avx2_kernels();
  for (int64_t nb : {1, 2, 3, 7, 64}) {
    SCOPED_TRACE(nb);
    const int64_t n = nb * 32;
    const auto x = tricky_floats(static_cast<size_t>(n), static_cast<uint32_t>(nb));
    std::vector<BlockQ8_0> a8(static_cast<size_t>(nb)), b8(static_cast<size_t>(nb));
    s.quantize_q8_0(x.data(), a8.data(), n);
    v.quantize_q8_0(x.data(), b8.data(), n);
    EXPECT_EQ(std::memcmp(a8.data(), b8.data(), a8.size() * sizeof(BlockQ8_0)), 0);
    std::vector<BlockQ4_0> a4(static_cast<size_t>(nb)), b4(static_cast<size_t>(nb));
    s.quantize_q4_0(x.data(), a4.data(), n);
    v.quantize_q4_0(x.data(), b4.data(), n);
    EXPECT_EQ(std::memcmp(a4.data(), b4.data(), a4.size() * sizeof(BlockQ4_0)), 0);

    std::vector<float> da(static_cast<size_t>(n)), db(static_cast<size_t>(n));
    s.dequantize_q8_0(a8.data(), da.data(), n);
    v.dequantize_q8_0(a8.data(), db.data(), n);
    EXPECT_EQ(std::memcmp(da.data(), db.data(), da.size() * 4), 0);
    s.dequantize_q4_0(a4.data(), da.data(), n);
    v.dequantize_q4_0(a4.data(), db.data(), n);
    EXPECT_EQ(std::memcmp(da.data(), db.data(), da.size() * 4), 0);

    const size_t row = act_q8_row_bytes(n);
    std::vector<uint8_t> qa(row + 64), qb(row + 64);
    uint8_t* pa = qa.data() + ((64 - reinterpret_cast<uintptr_t>(qa.data()) % 64) % 64);
    uint8_t* pb = qb.data() + ((64 - reinterpret_cast<uintptr_t>(qb.data()) % 64) % 64);
    s.quantize_act_q8(x.data(), pa, n);
    v.quantize_act_q8(x.data(), pb, n);
    EXPECT_EQ(std::memcmp(pa, pb, static_cast<size_t>(n) + static_cast<size_t>(nb) * 4), 0);
  }
}

TEST(QuantActivations, ScalesAreHalfRoundedAndQuantsBounded) {
  const int64_t n = 32 * 5;
  const auto x = random_floats(static_cast<size_t>(n), 8, -10.0f, 10.0f);
  alignas(64) uint8_t buf[512];
  ASSERT_LE(act_q8_row_bytes(n), sizeof buf);
  scalar_kernels().quantize_act_q8(x.data(), buf, n);
  const float* d = act_q8_scales(buf, n);
  for (int64_t b = 0; b < n / 32; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    EXPECT_EQ(d[b], fp16_to_fp32(fp32_to_fp16(amax / 127)));
    for (int j = 0; j < 32; ++j) {
      const int q = static_cast<int8_t>(buf[b * 32 + j]);
      EXPECT_LE(std::abs(q), 127);
      EXPECT_NEAR(q * d[b], x[b * 32 + j], 0.51f * amax / 127 + amax * 0.0005f);
    }
  }
}

}  // namespace
}  // namespace lingua::kernels
