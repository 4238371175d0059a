// One head's attention with and without a sliding window: every kernel family against a double
// reference that masks the full score row as llama.cpp does, the window rule itself, and the
// element-wise gemma3 kernels (geglu, scale, softcap).
#include <cmath>
#include <limits>
#include <vector>

#include "kernel_test_util.h"

namespace lingua::kernels {
namespace {

using testing::random_floats;
using testing::tables;

// Query at position `pos` over keys 0..pos, with keys outside the window masked to -inf before
// the softmax (llama.cpp's is_masked_swa: pos - p0 >= window), in double.
std::vector<double> masked_reference(const float* q, const std::vector<float>& keys, const std::vector<float>& values,
                                     int64_t pos, int64_t row_width, int64_t column, int64_t head_dim, float scale,
                                     float slope, int64_t window) {
  std::vector<double> scores(static_cast<size_t>(pos + 1));
  double max = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j <= pos; ++j) {
    double s = 0;
    for (int64_t i = 0; i < head_dim; ++i) s += static_cast<double>(q[i]) * keys[static_cast<size_t>(j * row_width + column + i)];
    s = s * scale - static_cast<double>(slope) * static_cast<double>(pos - j);
    if (window > 0 && pos - j >= window) s = -std::numeric_limits<double>::infinity();
    scores[static_cast<size_t>(j)] = s;
    max = std::max(max, s);
  }
  double sum = 0;
  for (double& s : scores) sum += (s = std::exp(s - max));
  std::vector<double> out(static_cast<size_t>(head_dim), 0.0);
  for (int64_t j = 0; j <= pos; ++j)
    for (int64_t i = 0; i < head_dim; ++i)
      out[static_cast<size_t>(i)] += scores[static_cast<size_t>(j)] / sum * values[static_cast<size_t>(j * row_width + column + i)];
  return out;
}

TEST(SlidingWindow, FirstVisibleKeyFollowsLlamaCppsRule) {
  EXPECT_EQ(first_visible_key(0, 0), 0);
  EXPECT_EQ(first_visible_key(100, 0), 0);
  EXPECT_EQ(first_visible_key(3, 4), 0);   // positions 0..3: 4 keys, all inside a window of 4
  EXPECT_EQ(first_visible_key(4, 4), 1);   // 4 - 0 >= 4: position 0 drops out
  EXPECT_EQ(first_visible_key(10, 1), 10);  // a window of 1 sees only itself
  EXPECT_EQ(first_visible_key(10, 512), 0);
}

TEST(AttendHead, EveryFamilyMatchesMaskedReference) {
  const int64_t head_dim = 40, row_width = 3 * head_dim, positions = 37;
  const auto keys = random_floats(static_cast<size_t>(positions * row_width), 11);
  const auto values = random_floats(static_cast<size_t>(positions * row_width), 12);
  const auto q = random_floats(static_cast<size_t>(head_dim), 13, -2.0f, 2.0f);
  for (const KernelTable* table : tables())
    for (int64_t window : {0, 1, 5, 16, 36, 37, 100})
      for (float slope : {0.0f, 0.25f})
        for (int64_t pos : {0, 4, 15, 36}) {
          const int64_t column = head_dim;  // the middle KV head of each row
          const int64_t first = first_visible_key(pos, window);
          std::vector<const float*> k_rows, v_rows;
          for (int64_t j = first; j <= pos; ++j) {
            k_rows.push_back(keys.data() + j * row_width);
            v_rows.push_back(values.data() + j * row_width);
          }
          std::vector<float> scores(k_rows.size()), out(static_cast<size_t>(head_dim), 99.0f);
          AttendArgs args;
          args.q = q.data();
          args.keys = k_rows.data();
          args.values = v_rows.data();
          args.n_keys = static_cast<int64_t>(k_rows.size());
          args.column = column;
          args.head_dim = head_dim;
          args.scale = 0.3f;
          args.alibi_slope = slope;
          args.scores = scores.data();
          args.out = out.data();
          attend_head_with(*table, args);
          const auto want = masked_reference(q.data(), keys, values, pos, row_width, column, head_dim, 0.3f, slope, window);
          for (int64_t i = 0; i < head_dim; ++i)
            ASSERT_NEAR(out[static_cast<size_t>(i)], want[static_cast<size_t>(i)], 2e-5)
                << table->name << " window " << window << " pos " << pos << " slope " << slope << " dim " << i;
        }
}

TEST(AttendHead, Avx2MatchesScalarWithWindows) {
  LINGUA_REQUIRE_AVX2();
  const int64_t head_dim = 256, positions = 64;
  const auto keys = random_floats(static_cast<size_t>(positions * head_dim), 21);
  const auto values = random_floats(static_cast<size_t>(positions * head_dim), 22);
  const auto q = random_floats(static_cast<size_t>(head_dim), 23);
  for (int64_t window : {0, 8, 63}) {
    const int64_t pos = positions - 1, first = first_visible_key(pos, window);
    std::vector<const float*> k_rows, v_rows;
    for (int64_t j = first; j <= pos; ++j) {
      k_rows.push_back(keys.data() + j * head_dim);
      v_rows.push_back(values.data() + j * head_dim);
    }
    std::vector<float> s1(k_rows.size()), s2(k_rows.size()), o1(head_dim), o2(head_dim);
    AttendArgs a;
    a.q = q.data();
    a.keys = k_rows.data();
    a.values = v_rows.data();
    a.n_keys = static_cast<int64_t>(k_rows.size());
    a.head_dim = head_dim;
    a.scale = 1.0f / 16.0f;
    AttendArgs b = a;
    a.scores = s1.data(), a.out = o1.data();
    b.scores = s2.data(), b.out = o2.data();
    attend_head_with(scalar_kernels(), a);
    attend_head_with(avx2_kernels(), b);
    for (int64_t i = 0; i < head_dim; ++i) EXPECT_NEAR(o1[static_cast<size_t>(i)], o2[static_cast<size_t>(i)], 1e-5) << window;
  }
}

TEST(Geglu, IsGeluOfGateTimesUp) {
  const auto gate = random_floats(1000, 31, -12.0f, 12.0f);
  const auto up = random_floats(1000, 32, -3.0f, 3.0f);
  std::vector<float> g(1000), out(1000);
  gelu(gate.data(), 1000, g.data());
  geglu(gate.data(), up.data(), 1000, out.data());
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i], g[i] * up[i]) << i;
    // And near the exact tanh formula (gelu rounds through f16, as ggml does).
    const double x = gate[i];
    const double exact = 0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))) * up[i];
    EXPECT_NEAR(out[i], exact, 2e-3 * std::max(1.0, std::abs(exact))) << "gate " << x;
  }
}

TEST(ScaleAndSoftcap, MatchFormulas) {
  const auto x = random_floats(500, 41, -200.0f, 200.0f);
  std::vector<float> scaled(500), capped(500);
  scale(x.data(), 33.941125f, 500, scaled.data());
  softcap(x.data(), 30.0f, 500, capped.data());
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_FLOAT_EQ(scaled[i], x[i] * 33.941125f);
    EXPECT_NEAR(capped[i], std::tanh(static_cast<double>(x[i]) / 30.0) * 30.0, 1e-5);
    EXPECT_LE(std::abs(capped[i]), 30.0f);
  }
}

}  // namespace
}  // namespace lingua::kernels
