// End-to-end fidelity: the shipped model and stories260K reproduce their golden greedy ids, and
// the shipped model's logits (f32, and Q4_K_M as `lingua quantize` makes it) match llama.cpp's.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <unistd.h>
#include <fstream>
#include <nlohmann/json.hpp>

#include "graph/executor.h"
#include "model/model.h"
#include "model/quantize.h"
#include "runtime/generator.h"
#include "llamacpp_logits.h"
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

// tests/data/kjv-fortunes-3M.llamacpp-logits.bin: llama.cpp's logits at all 68 positions of a
// 64-token greedy run (see tests/data/README.md).
TEST(Golden, LogitsMatchLlamaCpp) {
  testing::expect_matches_llamacpp(shipped_model(), testing::source_dir() + "/tests/data/kjv-fortunes-3M.llamacpp-logits.bin");
}

// The shipped model quantized to Q4_K_M by `lingua quantize`: llama.cpp, run on that very file,
// gives these logits and greedy tokens, and Lingua agrees with it (within the drift that 8-bit
// activation rounding allows on a trained model, see LogitsTolerance).
TEST(Golden, QuantizedQ4KMMatchesLlamaCppOnTheSameFile) {
  const auto dir = std::filesystem::temp_directory_path() / ("lingua-q4km-golden-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string quantized = (dir / "kjv-q4_k_m.gguf").string();
  auto stats = quantize_model(shipped_model(), quantized, QuantPreset::Q4_K_M, 2);
  ASSERT_TRUE(stats) << stats.error();
  // Measured: the prompt positions agree to 2e-6; after a rounding flip at position 28, up to
  // 0.13 (AVX2 kernels) and 0.10 (scalar), which flips the near-tie at position 20 (gap 0.0098)
  // with the scalar kernels only. The bound of 0.25 still catches any real kernel error.
  testing::expect_matches_llamacpp(quantized,
                                   testing::source_dir() + "/tests/data/kjv-fortunes-3M-q4_k_m.llamacpp-logits.bin",
                                   {1e-3f, 0.25f});
  std::filesystem::remove_all(dir);
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
