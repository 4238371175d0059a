// The ops between matmuls, for both kernel families: against direct double-precision formulas,
// against each other, and on the edge inputs attention produces (-inf scores, large logits).
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/fp16.h"
#include "kernel_test_util.h"
#include "kernels/kernels.h"

namespace lingua::kernels {
namespace {

using testing::random_floats;
using testing::tables;

const int64_t kSizes[] = {1, 7, 8, 9, 31, 64, 100, 1000};

TEST(Rope, AnglesFollowGgmlIterativeFloatRecurrence) {
  const int64_t n_rot = 64, pos = 1234;
  const float base = 10000.0f, scale = 0.5f;
  const float* got = rope_angles(n_rot, pos, RopeFreqs{base, scale});
  const float theta_scale = std::pow(base, -2.0f / n_rot);
  float theta = static_cast<float>(pos);
  for (int64_t i = 0; i < n_rot / 2; ++i) {
    EXPECT_EQ(got[i], std::cos(scale * theta)) << i;
    EXPECT_EQ(got[n_rot / 2 + i], std::sin(scale * theta)) << i;
    theta *= theta_scale;
  }
}

TEST(Rope, MatchesDirectFormula) {
  const int64_t n_heads = 3;
  for (const KernelTable* k : tables()) {
    for (bool neox : {false, true}) {
      for (int64_t head_dim : {8, 64, 72}) {
        for (int64_t n_rot : {head_dim, head_dim / 2 + (head_dim / 2) % 2, int64_t{8}}) {
          for (int64_t pos : {0, 1, 17, 1000}) {
            SCOPED_TRACE(::testing::Message() << k->name << " neox=" << neox << " hd=" << head_dim
                                              << " n_rot=" << n_rot << " pos=" << pos);
            const float base = 10000.0f, fscale = pos == 17 ? 0.25f : 1.0f;
            const auto orig = random_floats(static_cast<size_t>(n_heads * head_dim), 3);
            auto x = orig;
            k->rope(x.data(), n_heads, head_dim, n_rot, pos, RopeFreqs{base, fscale}, neox);
            // Float angles drift from the exact ones by ~n_rot ulps of theta (ggml's recurrence).
            const double tol = static_cast<double>(pos) * fscale * static_cast<double>(n_rot + 2) * 0x1p-23 + 2e-6;
            for (int64_t h = 0; h < n_heads; ++h) {
              const float* o = orig.data() + h * head_dim;
              const float* v = x.data() + h * head_dim;
              for (int64_t i = 0; i < n_rot / 2; ++i) {
                const double theta = static_cast<double>(pos) * fscale *
                                     std::pow(static_cast<double>(base), -2.0 * static_cast<double>(i) / static_cast<double>(n_rot));
                const int64_t a = neox ? i : 2 * i, b = neox ? i + n_rot / 2 : 2 * i + 1;
                EXPECT_NEAR(v[a], o[a] * std::cos(theta) - o[b] * std::sin(theta), tol) << "dim " << a;
                EXPECT_NEAR(v[b], o[a] * std::sin(theta) + o[b] * std::cos(theta), tol) << "dim " << b;
              }
              for (int64_t d = n_rot; d < head_dim; ++d) EXPECT_EQ(v[d], o[d]) << "unrotated dim " << d;
            }
            if (pos == 0) {
              EXPECT_EQ(x, orig);
            }
          }
        }
      }
    }
  }
}

// Per-pair factors divide theta before the linear scale multiplies it, and the magnitude scales
// cos and sin after they are rounded: ggml's order, so the angles agree to the last bit.
TEST(Rope, AnglesWithFactorsAndMagnitudeFollowGgml) {
  const int64_t n_rot = 64, pos = 777;
  const auto factors = random_floats(n_rot / 2, 9, 1.0f, 32.0f);
  const RopeFreqs freqs{500000.0f, 0.25f, factors.data(), 1.19f};
  const float* got = rope_angles(n_rot, pos, freqs);
  const float theta_scale = std::pow(freqs.base, -2.0f / n_rot);
  float theta = static_cast<float>(pos);
  for (int64_t i = 0; i < n_rot / 2; ++i) {
    const float angle = freqs.scale * (theta / factors[static_cast<size_t>(i)]);
    EXPECT_EQ(got[i], std::cos(angle) * freqs.mscale) << i;
    EXPECT_EQ(got[n_rot / 2 + i], std::sin(angle) * freqs.mscale) << i;
    theta *= theta_scale;
  }
}

// Factors of 1 and a magnitude of 1 are no change at all; a factor f on pair i rotates it as the
// position pos/f would, and the magnitude scales the rotated pair, in both kernel families.
TEST(Rope, FactorsSlowEachPairAndMagnitudeScales) {
  const int64_t n_heads = 2, head_dim = 32, n_rot = 32, pos = 640;
  for (const KernelTable* k : tables()) {
    for (bool neox : {false, true}) {
      SCOPED_TRACE(::testing::Message() << k->name << " neox=" << neox);
      const auto orig = random_floats(static_cast<size_t>(n_heads * head_dim), 4);
      const std::vector<float> ones(n_rot / 2, 1.0f);
      auto plain = orig, unit = orig;
      k->rope(plain.data(), n_heads, head_dim, n_rot, pos, RopeFreqs{10000.0f, 1.0f}, neox);
      k->rope(unit.data(), n_heads, head_dim, n_rot, pos, RopeFreqs{10000.0f, 1.0f, ones.data(), 1.0f}, neox);
      EXPECT_EQ(unit, plain);

      std::vector<float> factors(n_rot / 2);
      for (size_t i = 0; i < factors.size(); ++i) factors[i] = 1.0f + static_cast<float>(i);
      auto x = orig;
      k->rope(x.data(), n_heads, head_dim, n_rot, pos, RopeFreqs{10000.0f, 1.0f, factors.data(), 1.5f}, neox);
      const double tol = 1.5 * (pos * (n_rot + 2) * 0x1p-23 + 2e-6);  // ggml's float recurrence, as above
      for (int64_t h = 0; h < n_heads; ++h)
        for (int64_t i = 0; i < n_rot / 2; ++i) {
          const double theta = pos / static_cast<double>(factors[static_cast<size_t>(i)]) *
                               std::pow(10000.0, -2.0 * static_cast<double>(i) / n_rot);
          const int64_t a = h * head_dim + (neox ? i : 2 * i), b = h * head_dim + (neox ? i + n_rot / 2 : 2 * i + 1);
          const double xa = orig[static_cast<size_t>(a)], xb = orig[static_cast<size_t>(b)];
          EXPECT_NEAR(x[static_cast<size_t>(a)], 1.5 * (xa * std::cos(theta) - xb * std::sin(theta)), tol) << a;
          EXPECT_NEAR(x[static_cast<size_t>(b)], 1.5 * (xa * std::sin(theta) + xb * std::cos(theta)), tol) << b;
        }
    }
  }
}

TEST(Rope, Avx2MatchesScalar) {
  LINGUA_REQUIRE_AVX2();
  const auto factors = random_floats(64, 8, 1.0f, 32.0f);
  for (bool with_factors : {false, true}) {
    const RopeFreqs freqs = with_factors ? RopeFreqs{500000.0f, 1.0f, factors.data(), 1.2f} : RopeFreqs{500000.0f, 1.0f};
    for (bool neox : {false, true}) {
      for (int64_t n_rot : {6, 16, 64, 128}) {
        auto a = random_floats(4 * 128, 21);
        auto b = a;
        scalar_kernels().rope(a.data(), 4, 128, n_rot, 4321, freqs, neox);
        avx2_kernels().rope(b.data(), 4, 128, n_rot, 4321, freqs, neox);
        for (size_t i = 0; i < a.size(); ++i)
          ASSERT_NEAR(a[i], b[i], 2e-6) << with_factors << " " << neox << " " << n_rot << " " << i;
      }
    }
  }
}

TEST(RmsNorm, MatchesDoubleFormula) {
  for (const KernelTable* k : tables()) {
    for (int64_t n : kSizes) {
      const auto x = random_floats(static_cast<size_t>(n), 1, -3, 3);
      const auto w = random_floats(static_cast<size_t>(n), 2);
      std::vector<float> out(static_cast<size_t>(n));
      k->rms_norm(x.data(), w.data(), 1e-5f, n, out.data());
      double ss = 0;
      for (float v : x) ss += static_cast<double>(v) * v;
      const double s = 1.0 / std::sqrt(ss / static_cast<double>(n) + 1e-5);
      for (int64_t i = 0; i < n; ++i) {
        const double want = x[static_cast<size_t>(i)] * s * w[static_cast<size_t>(i)];
        ASSERT_NEAR(out[static_cast<size_t>(i)], want, 4e-7 * (std::fabs(want) + 1e-3)) << k->name << " n=" << n;
      }
    }
  }
}

TEST(Softmax, MatchesDoubleFormulaAndSumsToOne) {
  for (const KernelTable* k : tables()) {
    for (int64_t n : kSizes) {
      auto x = random_floats(static_cast<size_t>(n), 3, -20, 20);
      const auto orig = x;
      k->softmax(x.data(), n);
      double mx = -1e300, sum = 0, got_sum = 0;
      for (float v : orig) mx = std::max(mx, static_cast<double>(v));
      for (float v : orig) sum += std::exp(v - mx);
      for (int64_t i = 0; i < n; ++i) {
        const double want = std::exp(orig[static_cast<size_t>(i)] - mx) / sum;
        // x - max itself rounds in float: relative error |x - max| ulps on top of exp's own.
        const double rel = 1e-6 + std::fabs(orig[static_cast<size_t>(i)] - mx) * 0x1p-23;
        ASSERT_NEAR(x[static_cast<size_t>(i)], want, rel * want + 1e-30) << k->name << " n=" << n << " i=" << i;
        got_sum += x[static_cast<size_t>(i)];
      }
      EXPECT_NEAR(got_sum, 1.0, 1e-5);
    }
  }
}

TEST(Softmax, MaskedAndLargeScores) {
  const float inf = std::numeric_limits<float>::infinity();
  for (const KernelTable* k : tables()) {
    std::vector<float> x(19, -inf);
    x[0] = 1000.0f, x[9] = 999.0f, x[17] = -200.0f;
    k->softmax(x.data(), 19);
    const double e = std::exp(-1.0);
    EXPECT_NEAR(x[0], 1 / (1 + e), 1e-6) << k->name;
    EXPECT_NEAR(x[9], e / (1 + e), 1e-6) << k->name;
    for (int i = 0; i < 19; ++i)
      if (i != 0 && i != 9) {
        EXPECT_EQ(x[static_cast<size_t>(i)], 0.0f) << k->name << " " << i;
      }
  }
}

TEST(Swiglu, MatchesDoubleFormula) {
  for (const KernelTable* k : tables()) {
    for (int64_t n : kSizes) {
      const auto g = random_floats(static_cast<size_t>(n), 4, -30, 30);
      const auto u = random_floats(static_cast<size_t>(n), 5, -2, 2);
      std::vector<float> out(static_cast<size_t>(n));
      k->swiglu(g.data(), u.data(), n, out.data());
      for (int64_t i = 0; i < n; ++i) {
        const double gi = g[static_cast<size_t>(i)];
        const double want = gi / (1 + std::exp(-gi)) * u[static_cast<size_t>(i)];
        ASSERT_NEAR(out[static_cast<size_t>(i)], want, 5e-7 * std::fabs(want) + 1e-30) << k->name << " g=" << gi;
      }
    }
  }
}

TEST(Swiglu, ExtremeGates) {
  const float g[9] = {-200, -88, -87.5f, -50, 0, 50, 88, 89, 200};
  const float u[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  for (const KernelTable* k : tables()) {
    float out[9];
    k->swiglu(g, u, 9, out);
    for (int i = 0; i < 9; ++i) {
      const double want = g[i] / (1 + std::exp(-static_cast<double>(g[i])));
      EXPECT_TRUE(std::isfinite(out[i])) << k->name << " " << g[i];
      EXPECT_NEAR(out[i], want, 1e-6 * std::fabs(want) + 1e-35) << k->name << " " << g[i];
    }
  }
}

TEST(Elementwise, AddDotAxpy) {
  for (const KernelTable* k : tables()) {
    for (int64_t n : kSizes) {
      SCOPED_TRACE(::testing::Message() << k->name << " n=" << n);
      const auto a = random_floats(static_cast<size_t>(n), 6);
      const auto b = random_floats(static_cast<size_t>(n), 7);
      std::vector<float> out(static_cast<size_t>(n));
      k->add(a.data(), b.data(), n, out.data());
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(out[static_cast<size_t>(i)], a[static_cast<size_t>(i)] + b[static_cast<size_t>(i)]);

      double dot = 0, abs = 0;
      for (int64_t i = 0; i < n; ++i) {
        dot += static_cast<double>(a[static_cast<size_t>(i)]) * b[static_cast<size_t>(i)];
        abs += std::fabs(static_cast<double>(a[static_cast<size_t>(i)]) * b[static_cast<size_t>(i)]);
      }
      EXPECT_NEAR(k->dot_f32(a.data(), b.data(), n), dot, (static_cast<double>(n) / 4 + 8) * 0x1p-23 * abs);

      auto y = b;
      k->axpy_f32(-0.75f, a.data(), y.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        const double want = b[static_cast<size_t>(i)] - 0.75 * a[static_cast<size_t>(i)];
        ASSERT_NEAR(y[static_cast<size_t>(i)], want, 0x1p-23 * (std::fabs(want) + 1.0));
      }
    }
  }
}

TEST(LayerNorm, MatchesDirectFormula) {
  for (int64_t n : kSizes) {
    auto x = random_floats(n, 20);
    for (auto& v : x) v = v * 3.0f + 1.5f;  // a mean far from zero
    const auto w = random_floats(n, 21), b = random_floats(n, 22);
    std::vector<float> out(static_cast<size_t>(n)), no_bias(static_cast<size_t>(n));
    layer_norm(x.data(), w.data(), b.data(), 1e-5f, n, out.data());
    layer_norm(x.data(), w.data(), nullptr, 1e-5f, n, no_bias.data());
    double mean = 0, var = 0;
    for (float v : x) mean += v;
    mean /= static_cast<double>(n);
    for (float v : x) var += (v - mean) * (v - mean);
    var /= static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) {
      const auto s = static_cast<size_t>(i);
      const double normalized = (x[s] - mean) / std::sqrt(var + 1e-5) * w[s];
      ASSERT_NEAR(no_bias[s], normalized, 1e-5 * (std::fabs(normalized) + 1.0)) << n << " " << i;
      ASSERT_NEAR(out[s], normalized + b[s], 1e-5 * (std::fabs(normalized) + 1.0)) << n << " " << i;
    }
  }
}

TEST(Gelu, TanhApproximationRoundedThroughF16) {
  std::vector<float> x;
  for (float v = -12.0f; v <= 12.0f; v += 0.0137f) x.push_back(v);
  x.push_back(-10.0f);
  x.push_back(10.0f);
  std::vector<float> out(x.size());
  gelu(x.data(), static_cast<int64_t>(x.size()), out.data());
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    if (v <= -10.0) {
      ASSERT_EQ(out[i], 0.0f) << v;
      continue;
    }
    if (v >= 10.0) {
      ASSERT_EQ(out[i], x[i]) << v;
      continue;
    }
    const double h = fp16_to_fp32(fp32_to_fp16(x[i]));  // the table is indexed by the f16 input
    const double want = 0.5 * h * (1.0 + std::tanh(0.7978845608028654 * h * (1.0 + 0.044715 * h * h)));
    // f16 output: half an ulp of 2^-11 relative, plus subnormal slack near zero.
    ASSERT_NEAR(out[i], want, std::fabs(want) * 0x1p-11 + 1e-7) << v;
    ASSERT_EQ(out[i], fp16_to_fp32(fp32_to_fp16(out[i]))) << "result is an f16 value: " << v;
  }
}

TEST(Dispatch, PublicOpsRouteToActiveTable) {
  const auto x = random_floats(37, 10);
  const auto w = random_floats(37, 11);
  std::vector<float> a(37), b(37);
  rms_norm(x.data(), w.data(), 1e-6f, 37, a.data());
  active_kernels().rms_norm(x.data(), w.data(), 1e-6f, 37, b.data());
  EXPECT_EQ(a, b);
  swiglu(x.data(), w.data(), 37, a.data());
  active_kernels().swiglu(x.data(), w.data(), 37, b.data());
  EXPECT_EQ(a, b);
  EXPECT_EQ(dot_f32(x.data(), w.data(), 37), active_kernels().dot_f32(x.data(), w.data(), 37));
}

}  // namespace
}  // namespace lingua::kernels
