// Q5_0 and the K-quants: hand-built blocks pin the documented layouts, round trips bound the
// quantizers' error on N(0,1) data, and every AVX2 kernel is checked against its scalar reference.
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/fp16.h"
#include "kernel_test_util.h"

namespace lingua::kernels {
namespace {

using testing::random_floats;

std::vector<float> dequant(DType type, const void* blocks, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  const DTypeInfo& info = dtype_info(type);
  dequantize_row(MatrixView{type, blocks, 1, n, static_cast<size_t>(n / info.block_size) * info.block_bytes}, 0, out.data());
  return out;
}

TEST(KQuantBlocks, DequantizeHandBuiltQ5_0Block) {
  BlockQ5_0 b{};
  b.d = 0xb800;  // -0.5
  uint32_t qh = 0;
  int q[32];
  for (int j = 0; j < 32; ++j) {
    q[j] = (j * 11 + 3) % 32;
    qh |= static_cast<uint32_t>(q[j] >> 4) << j;  // bit j: high bit of element j
  }
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>((q[j] & 15) | ((q[j + 16] & 15) << 4));
  std::memcpy(b.qh, &qh, 4);
  const auto y = dequant(DType::Q5_0, &b, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[static_cast<size_t>(j)], (q[j] - 16) * -0.5f) << j;
}

// Scales and mins chosen so 4-7 use their top two bits (>= 16).
const int kSc[8] = {1, 2, 3, 4, 17, 33, 49, 63};
const int kMin[8] = {5, 6, 7, 8, 18, 34, 50, 62};

void pack_scales(uint8_t* s) {
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<uint8_t>(kSc[j] | ((kSc[j + 4] >> 4) << 6));
    s[j + 4] = static_cast<uint8_t>(kMin[j] | ((kMin[j + 4] >> 4) << 6));
    s[j + 8] = static_cast<uint8_t>((kSc[j + 4] & 15) | ((kMin[j + 4] & 15) << 4));
  }
}

TEST(KQuantBlocks, DequantizeHandBuiltQ4_KBlock) {
  BlockQ4_K b{};
  b.d = 0x3800;     // 0.5
  b.dmin = 0x3400;  // 0.25
  pack_scales(b.scales);
  for (int j = 0; j < 8; ++j)
    for (int l = 0; l < 32; ++l) {
      const int q = (l + 3 * j) % 16;  // sub-block j element l: chunk j/2, nibble j%2
      b.qs[32 * (j / 2) + l] = static_cast<uint8_t>(b.qs[32 * (j / 2) + l] | (q << (4 * (j % 2))));
    }
  const auto y = dequant(DType::Q4_K, &b, 256);
  for (int j = 0; j < 8; ++j) {
    int sc, m;
    kquant_scale_min(j, b.scales, sc, m);
    EXPECT_EQ(sc, kSc[j]);
    EXPECT_EQ(m, kMin[j]);
    for (int l = 0; l < 32; ++l)
      ASSERT_EQ(y[static_cast<size_t>(32 * j + l)], 0.5f * kSc[j] * ((l + 3 * j) % 16) - 0.25f * kMin[j]) << j << " " << l;
  }
}

TEST(KQuantBlocks, DequantizeHandBuiltQ5_KBlock) {
  BlockQ5_K b{};
  b.d = 0x3800;
  b.dmin = 0x3400;
  pack_scales(b.scales);
  auto level = [](int j, int l) { return (l * 7 + 5 * j) % 32; };
  for (int j = 0; j < 8; ++j)
    for (int l = 0; l < 32; ++l) {
      const int q = level(j, l);
      b.qs[32 * (j / 2) + l] = static_cast<uint8_t>(b.qs[32 * (j / 2) + l] | ((q & 15) << (4 * (j % 2))));
      b.qh[l] = static_cast<uint8_t>(b.qh[l] | ((q >> 4) << j));  // bit j of qh[l]
    }
  const auto y = dequant(DType::Q5_K, &b, 256);
  for (int j = 0; j < 8; ++j)
    for (int l = 0; l < 32; ++l)
      ASSERT_EQ(y[static_cast<size_t>(32 * j + l)], 0.5f * kSc[j] * level(j, l) - 0.25f * kMin[j]) << j << " " << l;
}

TEST(KQuantBlocks, DequantizeHandBuiltQ6_KBlock) {
  BlockQ6_K b{};
  b.d = 0x3400;  // 0.25
  for (int g = 0; g < 16; ++g) b.scales[g] = static_cast<int8_t>(g * 9 - 70);
  auto level = [](int i) { return (i * 13 + 7) % 64; };
  for (int i = 0; i < 256; ++i) {
    const int h = i / 128, k = (i % 128) / 32, l = i % 32, q = level(i);
    uint8_t& ql = b.ql[64 * h + 32 * (k % 2) + l];
    ql = static_cast<uint8_t>(ql | ((q & 15) << (k < 2 ? 0 : 4)));
    b.qh[32 * h + l] = static_cast<uint8_t>(b.qh[32 * h + l] | ((q >> 4) << (2 * k)));
  }
  const auto y = dequant(DType::Q6_K, &b, 256);
  for (int i = 0; i < 256; ++i)
    ASSERT_EQ(y[static_cast<size_t>(i)], 0.25f * static_cast<float>(b.scales[i / 16]) * (level(i) - 32)) << i;
}

TEST(KQuantBlocks, Q5_0QuantizerFollowsSignedExtreme) {
  // Largest magnitude -4 (first): d = 0.25, -4 -> level 0; 3.75 -> 31; 0.125 is a tie, rounds up.
  float x[32] = {};
  x[0] = -4.0f, x[1] = 3.75f, x[2] = 0.125f, x[3] = 4.0f, x[17] = -1.0f;
  BlockQ5_0 b{};
  quantize_row(DType::Q5_0, x, &b, 32);
  EXPECT_EQ(b.d, 0x3400);
  const auto y = dequant(DType::Q5_0, &b, 32);
  EXPECT_EQ(y[0], -4.0f);
  EXPECT_EQ(y[1], 3.75f);
  EXPECT_EQ(y[2], 0.25f);   // 0.5 + 16.5 = 17 -> (17 - 16) * 0.25
  EXPECT_EQ(y[3], 3.75f);   // 32 clips to 31
  EXPECT_EQ(y[17], -1.0f);
  EXPECT_EQ(y[5], 0.0f);
}

TEST(KQuantBlocks, Q8_KActivationsUseSignedExtremeAndSums) {
  float x[256];
  for (int i = 0; i < 256; ++i) x[i] = static_cast<float>((i * 37) % 101 - 50) / 50.0f;
  x[9] = -2.0f;  // extreme: iscale = 63.5, so -2 -> -127
  x[10] = 1.0f / 127;  // 0.5 exactly after scaling: half to even gives 0
  x[11] = 3.0f / 127;  // 1.5 -> 2
  for (const KernelTable* k : testing::tables()) {
    BlockQ8_K b{};
    k->quantize_act_q8k(x, reinterpret_cast<uint8_t*>(&b), 256);
    EXPECT_EQ(b.d, 1 / (-127.0f / -2.0f)) << k->name;
    EXPECT_EQ(b.qs[9], -127);
    EXPECT_EQ(b.qs[10], 0);
    EXPECT_EQ(b.qs[11], 2);
    for (int g = 0; g < 16; ++g) {
      int s = 0;
      for (int j = 0; j < 16; ++j) s += b.qs[16 * g + j];
      EXPECT_EQ(b.bsums[g], s) << k->name << " " << g;
    }
  }
}

// Integer activations whose first extreme in every block is -127 quantize to Q8_K exactly (iscale = 1, d = 1), so
// a K-quant matmul is sum_j (d * scale_j * <q_j, x_j> - dmin * min_j * sum x_j), every partial sum
// an integer below 2^24 times a power of two: exact in float whatever the summation order.
std::vector<float> small_int_x(int64_t n) {
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = static_cast<float>((i * 7) % 13 - 6);
  for (int64_t b = 0; b < n / 256; ++b) x[static_cast<size_t>(b * 256 + 5)] = -127.0f;
  return x;
}

TEST(KQuantMatmul, HandComputedQ4_KAndQ6_K) {
  const int64_t nb = 2, cols = nb * 256;
  const auto x = small_int_x(cols);
  ThreadPool pool(1);
  // Q4_K: d = 0.5, dmin = 0.25, the kSc / kMin scales, q = (l + 3j + b) % 16.
  std::vector<BlockQ4_K> w4(static_cast<size_t>(nb));
  double want4 = 0;
  for (int64_t b = 0; b < nb; ++b) {
    BlockQ4_K& blk = w4[static_cast<size_t>(b)];
    blk.d = 0x3800;
    blk.dmin = 0x3400;
    pack_scales(blk.scales);
    for (int j = 0; j < 8; ++j)
      for (int l = 0; l < 32; ++l) {
        const int q = static_cast<int>((l + 3 * j + b) % 16);
        blk.qs[32 * (j / 2) + l] = static_cast<uint8_t>(blk.qs[32 * (j / 2) + l] | (q << (4 * (j % 2))));
        want4 += (0.5 * kSc[j] * q - 0.25 * kMin[j]) * x[static_cast<size_t>(b * 256 + 32 * j + l)];
      }
  }
  // Q6_K: d = 0.25, scales g * 9 - 70, q = (i * 13 + 7 + b) % 64.
  std::vector<BlockQ6_K> w6(static_cast<size_t>(nb));
  double want6 = 0;
  for (int64_t b = 0; b < nb; ++b) {
    BlockQ6_K& blk = w6[static_cast<size_t>(b)];
    blk.d = 0x3400;
    for (int g = 0; g < 16; ++g) blk.scales[g] = static_cast<int8_t>(g * 9 - 70);
    for (int i = 0; i < 256; ++i) {
      const int h = i / 128, k = (i % 128) / 32, l = i % 32, q = static_cast<int>((i * 13 + 7 + b) % 64);
      uint8_t& ql = blk.ql[64 * h + 32 * (k % 2) + l];
      ql = static_cast<uint8_t>(ql | ((q & 15) << (k < 2 ? 0 : 4)));
      blk.qh[32 * h + l] = static_cast<uint8_t>(blk.qh[32 * h + l] | ((q >> 4) << (2 * k)));
      want6 += 0.25 * blk.scales[i / 16] * (q - 32) * x[static_cast<size_t>(b * 256 + i)];
    }
  }
  for (const KernelTable* k : testing::tables()) {
    float y4 = 0, y6 = 0;
    matmul_with(*k, MatrixView{DType::Q4_K, w4.data(), 1, cols, w4.size() * sizeof(BlockQ4_K)}, x.data(), 1, &y4, pool);
    matmul_with(*k, MatrixView{DType::Q6_K, w6.data(), 1, cols, w6.size() * sizeof(BlockQ6_K)}, x.data(), 1, &y6, pool);
    EXPECT_EQ(y4, static_cast<float>(want4)) << k->name;
    EXPECT_EQ(y6, static_cast<float>(want6)) << k->name;
  }
}

// Quantize -> dequantize on N(0,1) data. Measured RMS errors (seed 21, 64 blocks of 256) are
// printed; bounds sit ~15% above them so a regression in the scale search shows.
TEST(KQuantRoundTrip, RmsErrorOnNormalData) {
  struct Bound {
    DType type;
    double max_rms;
  };
  const Bound bounds[] = {{DType::Q5_0, 0.049}, {DType::Q4_K, 0.083}, {DType::Q5_K, 0.042}, {DType::Q6_K, 0.0205}};
  const int64_t n = 256 * 64;
  std::mt19937 rng(21);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = dist(rng);
  for (const Bound& bd : bounds) {
    const DTypeInfo& info = dtype_info(bd.type);
    std::vector<uint8_t> q(static_cast<size_t>(n / info.block_size) * info.block_bytes);
    quantize_row(bd.type, x.data(), q.data(), n);
    const auto y = dequant(bd.type, q.data(), n);
    double se = 0;
    for (size_t i = 0; i < x.size(); ++i) se += (static_cast<double>(y[i]) - x[i]) * (static_cast<double>(y[i]) - x[i]);
    const double rms = std::sqrt(se / static_cast<double>(n));
    std::printf("[ rms      ] %s %.5f\n", info.name, rms);
    EXPECT_LT(rms, bd.max_rms) << info.name;
  }
}

// Random weight blocks: any bit pattern for the quants and packed scales, sane half scales.
std::vector<uint8_t> random_blocks(DType type, int64_t rows, int64_t nb, uint32_t seed) {
  const DTypeInfo& info = dtype_info(type);
  std::vector<uint8_t> bytes(static_cast<size_t>(rows * nb) * info.block_bytes);
  std::mt19937 rng(seed);
  for (auto& v : bytes) v = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  for (size_t off = 0; off < bytes.size(); off += info.block_bytes) {
    auto put = [&](size_t at, float v) {
      const uint16_t h = fp32_to_fp16(v);
      std::memcpy(&bytes[off + at], &h, 2);
    };
    if (type == DType::Q6_K) {
      put(208, scale(rng));
    } else {
      put(0, scale(rng));
      if (type != DType::Q5_0) put(2, std::fabs(scale(rng)));
    }
  }
  return bytes;
}

TEST(KQuantAvx2, MatmulMatchesScalar) {
  LINGUA_REQUIRE_AVX2();
  ThreadPool pool(1);
  for (DType type : {DType::Q5_0, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    const int64_t bs = dtype_info(type).block_size;
    for (int64_t nb : {1, 2, 3, 8, 11}) {
      for (int64_t n_tokens : {1, 3, 7}) {
        SCOPED_TRACE(::testing::Message() << dtype_name(type) << " blocks=" << nb << " tokens=" << n_tokens);
        const int64_t rows = 9, cols = nb * bs;
        auto w = random_blocks(type, rows, nb, static_cast<uint32_t>(nb * 31 + n_tokens));
        const MatrixView view{type, w.data(), rows, cols, w.size() / static_cast<size_t>(rows)};
        const auto x = random_floats(static_cast<size_t>(n_tokens * cols), static_cast<uint32_t>(nb), -2.0f, 2.0f);
        std::vector<float> ys(static_cast<size_t>(rows * n_tokens)), yv(ys.size());
        matmul_with(scalar_kernels(), view, x.data(), n_tokens, ys.data(), pool);
        matmul_with(avx2_kernels(), view, x.data(), n_tokens, yv.data(), pool);
        // Same integers; the float sums differ only in order: bound by the sum of |w * x| terms.
        std::vector<float> wd(static_cast<size_t>(cols));
        for (int64_t r = 0; r < rows; ++r) {
          dequantize_row(view, r, wd.data());
          for (int64_t t = 0; t < n_tokens; ++t) {
            double sum_abs = 0;
            for (int64_t c = 0; c < cols; ++c) sum_abs += std::fabs(wd[static_cast<size_t>(c)] * x[static_cast<size_t>(t * cols + c)]);
            const size_t i = static_cast<size_t>(t * rows + r);
            ASSERT_NEAR(ys[i], yv[i], 1e-5 * sum_abs + 1e-6) << "r=" << r << " t=" << t;
          }
        }
      }
    }
  }
}

TEST(KQuantAvx2, ActivationQuantizerMatchesScalarBitwise) {
  LINGUA_REQUIRE_AVX2();
  for (int64_t nb : {1, 2, 5}) {
    const int64_t n = nb * 256;
    auto x = random_floats(static_cast<size_t>(n), static_cast<uint32_t>(nb + 40), -3.0f, 3.0f);
    for (size_t i = 0; i < x.size(); i += 5) x[i] = std::round(x[i] * 8) / 8;  // ties after scaling
    x[7] = 3.5f;
    x[100] = -3.5f;  // equal magnitudes: the first (positive) decides the sign
    if (nb > 1) std::fill(x.begin() + 256, x.begin() + 512, 0.0f);  // all-zero block
    std::vector<BlockQ8_K> a(static_cast<size_t>(nb)), b(a.size());
    scalar_kernels().quantize_act_q8k(x.data(), reinterpret_cast<uint8_t*>(a.data()), n);
    avx2_kernels().quantize_act_q8k(x.data(), reinterpret_cast<uint8_t*>(b.data()), n);
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(BlockQ8_K)), 0) << nb;
    EXPECT_LT(a[0].d, 0.0f);  // 3.5 came first, so iscale = -127 / 3.5
  }
}

}  // namespace
}  // namespace lingua::kernels
