// Reads llama.cpp reference logits ("LGTS" files in tests/data, format in tests/data/README.md) and
// checks a model against them: logits at every position within a tolerance, and the greedy
// choices equal. Shared by the shipped-model and the per-architecture golden tests.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "graph/executor.h"
#include "model/model.h"

namespace lingua::testing {

// Version 1 keeps every logit; version 2 (real vocabularies, 100k+ ids) keeps the columns of a
// sample: every ceil(vocab/4096)-th id and each row's 8 largest, so the greedy choice and its
// runner-up are always among them.
struct LlamaCppLogits {
  uint32_t n_prompt = 0, vocab = 0;
  std::vector<int32_t> tokens;   // prompt ids, then the greedy ids
  std::vector<int32_t> columns;  // the token ids whose logits are kept, ascending (v1: all)
  std::vector<float> logits;     // [tokens.size()][columns.size()]
};

inline ::testing::AssertionResult read_llamacpp_logits(const std::string& path, LlamaCppLogits& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ::testing::AssertionFailure() << "golden logits file missing: " << path;
  char magic[4];
  uint32_t header[4];
  in.read(magic, 4);
  in.read(reinterpret_cast<char*>(header), sizeof header);
  if (!in || std::string(magic, 4) != "LGTS" || (header[0] != 1 && header[0] != 2))
    return ::testing::AssertionFailure() << path << " is not an LGTS version 1 or 2 file";
  const uint32_t positions = header[1];
  out.vocab = header[2];
  out.n_prompt = header[3];
  uint32_t n_columns = out.vocab;
  if (header[0] == 2) in.read(reinterpret_cast<char*>(&n_columns), 4);
  if (!in || n_columns == 0 || n_columns > out.vocab || positions == 0 || positions > 1u << 16)
    return ::testing::AssertionFailure() << path << " has an impossible header";
  out.tokens.resize(positions);
  in.read(reinterpret_cast<char*>(out.tokens.data()), static_cast<std::streamsize>(out.tokens.size() * 4));
  out.columns.resize(n_columns);
  if (header[0] == 2) {
    in.read(reinterpret_cast<char*>(out.columns.data()), static_cast<std::streamsize>(out.columns.size() * 4));
    for (size_t j = 0; j < out.columns.size(); ++j)
      if (out.columns[j] < 0 || static_cast<uint32_t>(out.columns[j]) >= out.vocab ||
          (j > 0 && out.columns[j] <= out.columns[j - 1]))
        return ::testing::AssertionFailure() << path << ": column ids must ascend within the vocabulary";
  } else {
    for (uint32_t j = 0; j < n_columns; ++j) out.columns[j] = static_cast<int32_t>(j);
  }
  out.logits.resize(static_cast<size_t>(positions) * n_columns);
  in.read(reinterpret_cast<char*>(out.logits.data()), static_cast<std::streamsize>(out.logits.size() * 4));
  if (!in) return ::testing::AssertionFailure() << path << " is truncated";
  return ::testing::AssertionSuccess();
}

// How close is close enough. Models with f32 activations agree with llama.cpp to ~1e-6, so every
// logit must be within `tolerance`. Quantized weights quantize the activations to 8 bits before
// each matmul; once the KV cache holds a value whose rounding flipped (a 1e-6 difference in f32
// summation order can do that), later logits of a trained model move by up to ~0.1. For those,
// `drift` > 0 bounds the logits after the prompt, and a greedy choice must agree wherever
// llama.cpp's top-2 gap exceeds twice the deviation seen at that position.
// At real widths (tens of thousands of activations quantized per token) a flip happens within the
// prompt as well, on whichever row the kernels' summation order decides (measured on the
// Phi-3-mini shape in q8_0: rows 1-3 with the AVX2 kernels, row 0 with the scalar ones):
// `drift_in_prompt` applies the drift bound to the prompt rows too.
struct LogitsTolerance {
  float tolerance = 1e-3f;
  float drift = 0.0f;
  bool drift_in_prompt = false;
};

// llama.cpp's top-1 minus top-2 logit at row `pos` (both are among the columns kept).
inline float top2_gap(const LlamaCppLogits& want, uint32_t pos) {
  const float* w = want.logits.data() + static_cast<size_t>(pos) * want.columns.size();
  std::vector<float> sorted(w, w + want.columns.size());
  std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<>());
  return sorted[0] - sorted[1];
}

// A model loaded as `lingua generate` loads it: weights held for every op, so the matrices the
// active kernels pack are packed and the goldens check the packed kernels too.
inline Expected<std::unique_ptr<Model>> load_as_generate_does(const std::string& path) {
  auto model = Model::load(path);
  if (!model) return model;
  if (auto held = (*model)->keep_in_huge_pages(0, (*model)->graph().size() - 1); !held) return held.status();
  return model;
}

// Runs the golden's tokens through the model (the prompt as one batch, then one token at a time,
// as llama.cpp did) and compares every logit and every greedy choice. `deviations`, when given,
// receives the largest |difference| of each row.
inline void expect_matches_llamacpp(const std::string& model_path, const std::string& golden_path,
                                    LogitsTolerance tol = {}, std::vector<float>* deviations = nullptr) {
  LlamaCppLogits want;
  ASSERT_TRUE(read_llamacpp_logits(golden_path, want));
  auto model = load_as_generate_does(model_path);
  ASSERT_TRUE(model) << model.error();
  ASSERT_EQ((*model)->graph().vocab_size(), want.vocab);
  const auto positions = static_cast<uint32_t>(want.tokens.size());
  ExecutorConfig config;
  config.context = 256;
  auto ex = Executor::create((*model)->graph(), config);
  ASSERT_TRUE(ex) << ex.error();
  ThreadPool pool(2);
  std::vector<float> got, step;
  ASSERT_TRUE(ex->forward(want.tokens.data(), want.n_prompt, 0, pool, got, /*all_logits=*/true).is_ok());
  for (uint32_t pos = want.n_prompt; pos < positions; ++pos) {
    ASSERT_TRUE(ex->forward(&want.tokens[pos], 1, pos, pool, step).is_ok());
    got.insert(got.end(), step.begin(), step.end());
  }
  const size_t n_columns = want.columns.size();
  ASSERT_EQ(got.size(), static_cast<size_t>(positions) * want.vocab);
  float worst = 0;
  for (uint32_t pos = 0; pos < positions; ++pos) {
    const float* g = got.data() + static_cast<size_t>(pos) * want.vocab;
    const float* w = want.logits.data() + static_cast<size_t>(pos) * n_columns;
    float deviation = 0;
    for (size_t j = 0; j < n_columns; ++j) {
      const float d = std::fabs(g[want.columns[j]] - w[j]);
      if (!(d <= deviation)) deviation = d;  // a NaN counts as the worst
    }
    worst = std::max(worst, deviation);
    if (deviations) deviations->push_back(deviation);
    const float bound = tol.drift > 0 && (pos >= want.n_prompt || tol.drift_in_prompt) ? tol.drift : tol.tolerance;
    EXPECT_LE(deviation, bound) << "logits at position " << pos;
    if (pos + 1 < want.n_prompt || pos + 1 >= positions) continue;
    // The greedy choice agrees wherever llama.cpp chose greedily and decisively.
    if (tol.drift > 0 && top2_gap(want, pos) <= 2 * deviation) continue;
    EXPECT_EQ(std::max_element(g, g + want.vocab) - g, want.tokens[pos + 1]) << "greedy choice at position " << pos;
  }
  std::printf("largest |lingua - llama.cpp| logit difference: %.3g\n", static_cast<double>(worst));
}

// The greedy tokens `got` generated after the golden's prompt equal llama.cpp's, up to the first
// legitimate near-tie: a position where llama.cpp's top-2 gap is within twice the deviation
// expect_matches_llamacpp measured there (`deviations`, one per position). A flip there is rounding
// (summation order, an 8-bit activation rounding), not a wrong model, and the two runs continue
// from different tokens, so nothing after it is comparable. Any other difference fails.
inline void expect_greedy_matches(const std::vector<int32_t>& got, const LlamaCppLogits& want,
                                  const std::vector<float>& deviations) {
  const std::vector<int32_t> reference(want.tokens.begin() + want.n_prompt, want.tokens.end());
  ASSERT_EQ(got.size(), reference.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] == reference[i]) continue;
    const auto pos = static_cast<uint32_t>(want.n_prompt + i - 1);  // the row token i was chosen from
    ASSERT_LT(pos, deviations.size());
    const float gap = top2_gap(want, pos);
    if (gap <= 2 * deviations[pos]) {
      std::printf("greedy token %zu differs at a near-tie (llama.cpp's top-2 gap %.3g, deviation %.3g); "
                  "the %zu before it are equal\n",
                  i, static_cast<double>(gap), static_cast<double>(deviations[pos]), i);
      return;
    }
    ADD_FAILURE() << "greedy token " << i << " is " << got[i] << ", llama.cpp chose " << reference[i]
                  << " with a top-2 gap of " << gap << " (deviation there " << deviations[pos] << ")";
    return;
  }
}

}  // namespace lingua::testing
