// Sampler behaviour that generation relies on: greedy is exact, seeds reproduce, each filter
// removes what it should, and random draws follow the softmax.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "model/sampler.h"

namespace lingua {
namespace {

SamplerConfig greedy() {
  SamplerConfig c;
  c.temperature = 0;
  return c;
}

// Plain softmax sampling: every filter off.
SamplerConfig unfiltered(uint64_t seed) {
  SamplerConfig c;
  c.temperature = 1.0f;
  c.top_k = 0;
  c.top_p = 1.0f;
  c.min_p = 0.0f;
  c.seed = seed;
  return c;
}

std::vector<float> random_logits(int n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, 3.0f);
  std::vector<float> l(n);
  for (float& x : l) x = d(g);
  return l;
}

TokenId argmax(const std::vector<float>& l) {
  TokenId best = 0;
  for (size_t i = 1; i < l.size(); ++i) {
    if (l[i] > l[best]) best = static_cast<TokenId>(i);
  }
  return best;
}

TEST(Sampler, GreedyPicksTheMaximum) {
  Sampler s(greedy());
  const std::vector<float> l = {0.1f, -2.0f, 3.5f, 3.4f, -7.0f};
  EXPECT_EQ(s.sample(l.data(), static_cast<int32_t>(l.size())), 2);
  const auto big = random_logits(32000, 7);
  EXPECT_EQ(s.sample(big.data(), 32000), argmax(big));
}

TEST(Sampler, GreedyTieGoesToTheLowestId) {
  Sampler s(greedy());
  const std::vector<float> l = {1.0f, 4.0f, 2.0f, 4.0f, 4.0f};
  EXPECT_EQ(s.sample(l.data(), 5), 1);
}

TEST(Sampler, EmptyVocabularyGivesMinusOne) {
  Sampler s(greedy());
  EXPECT_EQ(s.sample(nullptr, 0), -1);
}

TEST(Sampler, SameSeedSameChoices) {
  const auto l = random_logits(500, 3);
  SamplerConfig c;
  c.seed = 1234;
  Sampler a(c), b(c);
  std::vector<TokenId> first, second;
  for (int i = 0; i < 200; ++i) {
    first.push_back(a.sample(l.data(), 500));
    second.push_back(b.sample(l.data(), 500));
  }
  EXPECT_EQ(first, second);

  a.reset();
  std::vector<TokenId> again;
  for (int i = 0; i < 200; ++i) again.push_back(a.sample(l.data(), 500));
  EXPECT_EQ(first, again);

  c.seed = 4321;
  Sampler other(c);
  std::vector<TokenId> different;
  for (int i = 0; i < 200; ++i) different.push_back(other.sample(l.data(), 500));
  EXPECT_NE(first, different);
}

TEST(Sampler, TopKOneIsGreedy) {
  for (uint32_t trial = 0; trial < 20; ++trial) {
    const auto l = random_logits(1000, trial);
    SamplerConfig c = unfiltered(trial);
    c.top_k = 1;
    c.temperature = 2.0f;
    Sampler s(c);
    EXPECT_EQ(s.sample(l.data(), 1000), argmax(l));
  }
}

TEST(Sampler, TinyTopPIsGreedy) {
  for (uint32_t trial = 0; trial < 20; ++trial) {
    const auto l = random_logits(1000, 100 + trial);
    SamplerConfig c = unfiltered(trial);
    c.top_p = 1e-6f;
    Sampler s(c);
    EXPECT_EQ(s.sample(l.data(), 1000), argmax(l));
  }
}

TEST(Sampler, TopKKeepsOnlyTheBest) {
  const std::vector<float> l = {1.0f, 3.0f, 0.0f, 2.9f, 2.8f};
  SamplerConfig c = unfiltered(5);
  c.top_k = 2;
  c.temperature = 5.0f;  // flat, so the filter is what keeps ids 0, 2 and 4 out
  Sampler s(c);
  for (int i = 0; i < 2000; ++i) {
    const TokenId t = s.sample(l.data(), 5);
    EXPECT_TRUE(t == 1 || t == 3) << t;
  }
}

TEST(Sampler, MinPDropsUnlikelyTokens) {
  // Probabilities about 0.63, 0.23, 0.09, 0.03, 0.01: min_p 0.1 keeps those above 0.063.
  const std::vector<float> l = {4.0f, 3.0f, 2.0f, 1.0f, 0.0f};
  SamplerConfig c = unfiltered(9);
  c.min_p = 0.1f;
  Sampler s(c);
  std::vector<int> seen(5, 0);
  for (int i = 0; i < 5000; ++i) ++seen[s.sample(l.data(), 5)];
  EXPECT_GT(seen[2], 0);
  EXPECT_EQ(seen[3], 0);
  EXPECT_EQ(seen[4], 0);
}

TEST(Sampler, RepetitionPenaltyChangesTheChoice) {
  SamplerConfig c = greedy();
  c.repeat_penalty = 1.2f;
  Sampler s(c);
  const std::vector<float> positive = {2.0f, 1.9f, 0.0f};
  EXPECT_EQ(s.sample(positive.data(), 3), 0);
  s.accept(0);
  EXPECT_EQ(s.sample(positive.data(), 3), 1);  // 2.0 / 1.2 < 1.9

  const std::vector<float> negative = {-1.0f, -1.1f, -5.0f};
  EXPECT_EQ(s.sample(negative.data(), 3), 1);  // -1.0 * 1.2 < -1.1

  // Outside the window the token is no longer penalised.
  for (int i = 0; i < c.repeat_last_n; ++i) s.accept(2);
  EXPECT_EQ(s.sample(positive.data(), 3), 0);
}

TEST(Sampler, PenaltyAppliesOncePerDistinctToken) {
  SamplerConfig c = greedy();
  c.repeat_penalty = 1.1f;
  Sampler s(c);
  for (int i = 0; i < 5; ++i) s.accept(0);
  const std::vector<float> l = {2.0f, 1.85f};  // 2.0 / 1.1 = 1.82 but 2.0 / 1.1^5 = 1.24
  EXPECT_EQ(s.sample(l.data(), 2), 1);
  const std::vector<float> l2 = {2.0f, 1.8f};
  EXPECT_EQ(s.sample(l2.data(), 2), 0);
}

TEST(Sampler, DrawsFollowTheSoftmax) {
  const std::vector<float> l = {1.0f, 2.0f, 0.5f, 1.5f, -1.0f};
  for (float temperature : {1.0f, 0.5f}) {
    SamplerConfig c = unfiltered(42);
    c.temperature = temperature;
    Sampler s(c);
    const int n = 20000;
    std::vector<int> count(l.size(), 0);
    for (int i = 0; i < n; ++i) ++count[s.sample(l.data(), static_cast<int32_t>(l.size()))];
    double z = 0;
    for (float x : l) z += std::exp(x / temperature);
    for (size_t i = 0; i < l.size(); ++i) {
      const double expected = std::exp(l[i] / temperature) / z;
      EXPECT_NEAR(static_cast<double>(count[i]) / n, expected, 0.02)
          << "token " << i << " at temperature " << temperature;
    }
  }
}

TEST(Sampler, ValidateNamesTheBadSetting) {
  EXPECT_TRUE(validate(SamplerConfig{}).is_ok());
  EXPECT_TRUE(validate(greedy()).is_ok());
  auto fails_on = [](SamplerConfig c, const std::string& name) {
    const Status s = validate(c);
    ASSERT_FALSE(s.is_ok()) << name;
    EXPECT_NE(s.message().find(name), std::string::npos) << s.message();
  };
  SamplerConfig c;
  c.temperature = -0.1f;
  fails_on(c, "temperature");
  c = {};
  c.temperature = NAN;
  fails_on(c, "temperature");
  c = {};
  c.top_k = -1;
  fails_on(c, "top_k");
  c = {};
  c.top_p = 0.0f;
  fails_on(c, "top_p");
  c.top_p = 1.5f;
  fails_on(c, "top_p");
  c = {};
  c.min_p = -0.5f;
  fails_on(c, "min_p");
  c = {};
  c.repeat_penalty = 0.0f;
  fails_on(c, "repeat_penalty");
  c = {};
  c.repeat_last_n = -1;
  fails_on(c, "repeat_last_n");
}

}  // namespace
}  // namespace lingua
