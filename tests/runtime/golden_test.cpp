// End-to-end fidelity: the shipped model and stories260K reproduce their golden greedy ids, and
// the shipped model's logits match llama.cpp's at every position of a 64-token greedy run.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "graph/executor.h"
#include "model/model.h"
#include "runtime/generator.h"
#include "test_paths.h"

namespace lingua {
namespace {

std::string shipped_model() { return testing::source_dir() + "/models/kjv-fortunes-3M-f32.gguf"; }

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

GenerateOptions greedy(int n) {
  GenerateOptions o;
  o.n_predict = n;
  o.sampling.temperature = 0.0f;
  o.ignore_eos = true;
  return o;
}

TEST(Golden, ShippedModelAndGodSaid) {
  auto model = Model::load(shipped_model());
  ASSERT_TRUE(model) << model.error();
  Generator gen(**model, 2);
  auto r = gen.generate("And God said", greedy(64));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->prompt_tokens, (std::vector<TokenId>{1, 324, 431, 425}));
  // Golden ids from the model's PyTorch reference (kjv-fortunes-3M.greedy.json), copied here so
  // the test runs without ../shared.
  const std::vector<TokenId> want = {
      352, 369, 1955, 300, 407, 344, 415, 290, 262, 555, 270, 262, 383, 1955, 271, 290,
      262, 555, 270, 262, 383, 1955, 271, 290, 262, 555, 270, 262, 383, 1959, 13, 1832,
      262, 383, 425, 352, 881, 1955, 1004, 1955, 300, 407, 630, 261, 1343, 926, 352, 262,
      383, 1955, 271, 303, 342, 302, 261, 1343, 926, 1955, 271, 261, 1343, 926, 1955, 271};
  EXPECT_EQ(r->tokens, want);
  EXPECT_EQ(r->text.substr(0, 41), " unto him, I will not go to the house of ");
}

TEST(Golden, ShippedModelFivePrompts) {
  LINGUA_REQUIRE_SHARED();
  const auto golden = read_json(testing::shared_model("kjv-fortunes-3M.golden5.json"));
  auto model = Model::load(shipped_model());
  ASSERT_TRUE(model) << model.error();
  Generator gen(**model, 2);
  ASSERT_EQ(golden["prompts"].size(), 5u);
  for (const auto& p : golden["prompts"]) {
    const std::string prompt = p["prompt"];
    auto r = gen.generate(prompt, greedy(48));
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->prompt_tokens, p["prompt_ids"].get<std::vector<TokenId>>()) << prompt;
    EXPECT_EQ(r->tokens, p["greedy48"].get<std::vector<TokenId>>()) << prompt;
  }
}

TEST(Golden, Stories260KFromBos) {
  LINGUA_REQUIRE_SHARED();
  const auto golden = read_json(testing::shared_model("stories260K.greedy.json"));
  auto model = Model::load(testing::shared_model("stories260K.gguf"));
  ASSERT_TRUE(model) << model.error();
  Generator gen(**model, 2);
  auto r = gen.generate("", greedy(255));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->prompt_tokens, std::vector<TokenId>{1});
  EXPECT_EQ(r->tokens, golden["generated_ids"].get<std::vector<TokenId>>());
}

// tests/data/kjv-fortunes-3M.llamacpp-logits.bin: "LGTS", u32 version, u32 positions, u32 vocab,
// u32 prompt length, i32 tokens[positions], f32 logits[positions][vocab] (see tests/data/README.md).
TEST(Golden, LogitsMatchLlamaCpp) {
  std::ifstream in(testing::source_dir() + "/tests/data/kjv-fortunes-3M.llamacpp-logits.bin", std::ios::binary);
  ASSERT_TRUE(in) << "golden logits file missing";
  char magic[4];
  uint32_t header[4];
  in.read(magic, 4);
  in.read(reinterpret_cast<char*>(header), sizeof header);
  ASSERT_EQ(std::string(magic, 4), "LGTS");
  const uint32_t positions = header[1], vocab = header[2], n_prompt = header[3];
  std::vector<int32_t> tokens(positions);
  std::vector<float> want(static_cast<size_t>(positions) * vocab);
  in.read(reinterpret_cast<char*>(tokens.data()), static_cast<std::streamsize>(tokens.size() * 4));
  in.read(reinterpret_cast<char*>(want.data()), static_cast<std::streamsize>(want.size() * 4));
  ASSERT_TRUE(in);
  ASSERT_EQ(positions, 68u);

  auto model = Model::load(shipped_model());
  ASSERT_TRUE(model) << model.error();
  ASSERT_EQ((*model)->graph().vocab_size(), vocab);
  ExecutorConfig config;
  config.context = 256;
  auto ex = Executor::create((*model)->graph(), config);
  ASSERT_TRUE(ex) << ex.error();
  ThreadPool pool(2);
  std::vector<float> got, step;
  ASSERT_TRUE(ex->forward(tokens.data(), n_prompt, 0, pool, got, /*all_logits=*/true).is_ok());
  for (uint32_t pos = n_prompt; pos < positions; ++pos) {
    ASSERT_TRUE(ex->forward(&tokens[pos], 1, pos, pool, step).is_ok());
    got.insert(got.end(), step.begin(), step.end());
  }
  ASSERT_EQ(got.size(), want.size());
  float worst = 0;
  size_t worst_at = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const float d = std::fabs(got[i] - want[i]);
    if (d > worst) worst = d, worst_at = i;
  }
  EXPECT_LE(worst, 1e-3f) << "at position " << worst_at / vocab << ", token " << worst_at % vocab;
  // And greedy choices agree wherever the file's next token was chosen greedily.
  for (uint32_t pos = n_prompt - 1; pos + 1 < positions; ++pos) {
    const float* row = got.data() + static_cast<size_t>(pos) * vocab;
    EXPECT_EQ(std::max_element(row, row + vocab) - row, tokens[pos + 1]) << "position " << pos;
  }
}

TEST(Golden, BatchSizeDoesNotChangeTokens) {
  auto model = Model::load(shipped_model());
  ASSERT_TRUE(model) << model.error();
  Generator gen(**model, 1);
  GenerateOptions a = greedy(24), b = greedy(24);
  a.batch = 1;
  b.batch = 64;
  const std::string prompt = "The LORD is my shepherd; I shall not want. He maketh me to lie down";
  auto ra = gen.generate(prompt, a);
  auto rb = gen.generate(prompt, b);
  ASSERT_TRUE(ra && rb);
  EXPECT_EQ(ra->tokens, rb->tokens);
}

}  // namespace
}  // namespace lingua
