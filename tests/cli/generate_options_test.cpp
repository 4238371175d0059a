// `lingua generate` options and settings that used to be taken silently: a model file with bad
// settings, a context that cannot fit or exceeds the trained one, --segments 0 and negative seeds,
// the decode rate's count, and the devices line when some devices only stand by.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <algorithm>
#include <numeric>

#include "cli_runner.h"
#include "gguf_edit.h"
#include "model/model.h"
#include "runtime/generator.h"
#include "test_paths.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::CliRun;

class GenerateOptions : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("lingua-generate-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  CliRun lingua(const std::vector<std::string>& args, int timeout_s = 120) {
    return testing::run_lingua(args, dir_, timeout_s);
  }
  std::string edited(const std::string& name, const testing::GgufEdit& edit) {
    const std::string path = (dir_ / name).string();
    const Status st = testing::write_edited_gguf(shipped(), path, edit);
    EXPECT_TRUE(st.is_ok()) << st.message();
    return path;
  }
  std::string write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  static std::string shipped() { return testing::source_dir() + "/models/kjv-fortunes-3M-f32.gguf"; }

  fs::path dir_;
};

TEST_F(GenerateOptions, BadModelSettingsEndWithTheKeyAndFile) {
  const std::string model = edited("no-blocks.gguf", {{{"llama.block_count", gguf::Value::u32(0)}}, ""});
  CliRun r = lingua({"generate", "-m", model, "-p", "And God said", "-n", "4"});
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find("llama.block_count"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(model), std::string::npos) << r.err;
  const std::string yarn = edited("yarn.gguf", {{{"llama.rope.scaling.type", gguf::Value::str("yarn")}}, ""});
  r = lingua({"generate", "-m", yarn, "-p", "And God said", "-n", "4"});
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find("llama.rope.scaling.type"), std::string::npos) << r.err;
}

TEST_F(GenerateOptions, AContextThatCannotFitIsAQuickClearError) {
  // 3 KiB of KV cache a position: 10^10 positions would be 28 TiB.
  CliRun r = lingua({"generate", "-m", shipped(), "-p", "And God said", "-n", "4", "-c", "10000000000"}, 30);
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find("KV cache of 10000000000 positions"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("TiB"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("of memory available"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line, the error: " << r.err;
}

TEST_F(GenerateOptions, AContextBeyondTheTrainedOneIsWarnedAbout) {
  CliRun r = lingua({"generate", "-m", shipped(), "-p", "And God said", "-n", "4", "--temp", "0", "-c", "1000"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("warning: --ctx-size 1000 is beyond the 256 positions the model was trained with"),
            std::string::npos)
      << r.err;
  r = lingua({"generate", "-m", shipped(), "-p", "And God said", "-n", "4", "--temp", "0", "-c", "200"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
}

TEST_F(GenerateOptions, AnAbsurdClaimedContextIsCappedAndSaidSo) {
  const std::string model = edited("huge-ctx.gguf", {{{"llama.context_length", gguf::Value::u32(UINT32_MAX)}}, ""});
  CliRun r = lingua({"generate", "-m", model, "-p", "And God said", "-n", "4", "--temp", "0", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("claims a context of 4294967295 positions: using " + std::to_string(Model::kMaxDefaultContext)),
            std::string::npos)
      << r.err;
  EXPECT_EQ(json::parse(r.out).at("tokens").size(), 4u);
}

TEST_F(GenerateOptions, TheDefaultContextShrinksToWhatFits) {
  auto model = Model::load(shipped());  // 256 positions of 3 KiB
  ASSERT_TRUE(model) << model.error();
  std::vector<std::string> notes;
  auto context = choose_context(**model, 0, true, notes, 64ull << 20);
  ASSERT_TRUE(context) << context.error();
  EXPECT_EQ(*context, 256);
  EXPECT_TRUE(notes.empty());
  // With 1 MiB, half of it holds 170 positions: the largest power of two below is used, and said.
  context = choose_context(**model, 0, true, notes, 1ull << 20);
  ASSERT_TRUE(context) << context.error();
  EXPECT_EQ(*context, 128);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("using 128"), std::string::npos) << notes[0];
  // Devices elsewhere hold the cache: this machine's memory is not the limit.
  notes.clear();
  context = choose_context(**model, 0, false, notes, 1ull << 20);
  EXPECT_EQ(*context, 256);
  // A context asked for is not shrunk: it fits or is refused.
  context = choose_context(**model, 400, true, notes, 1ull << 20);  // 1.2 MiB
  ASSERT_FALSE(context);
  EXPECT_NE(context.error().find("400 positions"), std::string::npos) << context.error();
}

TEST_F(GenerateOptions, SegmentsZeroAndNegativeSeedsAreRefused) {
  CliRun r = lingua({"generate", "-m", shipped(), "-p", "And God said", "-n", "4", "--segments", "0"});
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find("--segments must be 1 or more (got 0)"), std::string::npos) << r.err;
  r = lingua({"generate", "-m", shipped(), "-p", "And God said", "-n", "4", "--seed", "-1"});
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find("--seed must be 0 or more"), std::string::npos) << r.err;
  // Seed 0 is a seed like any other.
  r = lingua({"generate", "-m", shipped(), "-p", "And God said", "-n", "4", "--seed", "0", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(json::parse(r.out).at("seed"), 0);
}

TEST_F(GenerateOptions, DecodeRateIsForwardPassesOverTheirTime) {
  // 8 tokens: the first comes from the prompt's pass, the last needs none, so 7 decode steps.
  CliRun r = lingua({"generate", "-m", shipped(), "-p", "And God said", "-n", "8", "--temp", "0", "--ignore-eos", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const json t = json::parse(r.out).at("timings");
  const auto steps = t.at("per_token_ms").get<std::vector<double>>();
  ASSERT_EQ(steps.size(), 7u);
  const double total = std::accumulate(steps.begin(), steps.end(), 0.0);
  ASSERT_GT(total, 0.0);
  EXPECT_NEAR(t.at("gen_tokens_per_s").get<double>(), 7 * 1000.0 / total, 1e-6 * 7 * 1000.0 / total);
  // One token: no decode step, no rate.
  r = lingua({"generate", "-m", shipped(), "-p", "And God said", "-n", "1", "--temp", "0", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const json one = json::parse(r.out).at("timings");
  EXPECT_TRUE(one.at("per_token_ms").empty());
  EXPECT_EQ(one.at("gen_tokens_per_s").get<double>(), 0.0);
}

TEST_F(GenerateOptions, DevicesStandingByAreCountedAndNamed) {
  // A plan that puts the whole model on d0 of three local devices: d1 and d2 stand by.
  CliRun g = lingua({"graph", "-m", shipped(), "--json"});
  ASSERT_EQ(g.rc, 0) << g.err;
  const json ops = json::parse(g.out).at("ops");
  const json plan = {{"format", "lingua-plan"}, {"version", 1}, {"model", "test"}, {"n_ops", ops.size()},
                     {"objective", "latency"}, {"name", "one"}, {"predicted_tokens_per_s", 0},
                     {"segments", {{{"device", "d0"}, {"first_op", 0}, {"last_op", ops.size() - 1},
                                    {"first_op_name", ops.front().at("name")}, {"last_op_name", ops.back().at("name")},
                                    {"memory_bytes", 0}}}}};
  const std::string plan_file = write("one.plan.json", plan.dump(2));
  const std::string devices = write("three.yaml",
                                    "devices:\n"
                                    "  - {name: d0, threads: 1, memory: 1GiB}\n"
                                    "  - {name: d1, threads: 1, memory: 1GiB}\n"
                                    "  - {name: d2, threads: 1, memory: 1GiB}\n");
  CliRun r = lingua({"generate", "-m", shipped(), "-p", "And God said", "-n", "4", "--temp", "0", "--json", "-t", "3",
                     "--local-devices", "3", "--devices", devices, "--plan", plan_file, "--no-balance"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc.at("devices"), 3);
  EXPECT_EQ(doc.at("segments"), 1);
  EXPECT_NE(r.err.find("lingua: 3 devices (1 holding segments, 2 standing by): d0[0.." + std::to_string(ops.size() - 1) +
                       "]; standing by: d1 d2\n"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("| 3 devices\n"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace lingua
