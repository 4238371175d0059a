// A worker started with `--models DIR` uses a file of DIR only when it is the head's model in
// every setting that changes the computation: a copy of the shipped model with another RoPE base
// (same tensors) is passed over and named, the right weights come from the head, and the tokens
// are the single-device ones. The worker's log names the file it actually runs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "test_paths.h"
#include "worker_process.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::CliRun;
using testing::LinguaProcess;

class WorkerModels : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("lingua-worker-models-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    // The head's machine profile, shared with the other cli tests of this build tree.
    setenv("LINGUA_CACHE_DIR", (fs::path(testing::lingua_binary()).parent_path() / "test-profile-cache").c_str(), 1);
    setenv("LINGUA_KEYS", (dir_ / "default-keys").c_str(), 1);
    CliRun r = testing::run_lingua({"profile", "-t", "1", "--cached"}, dir_, 300);
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static std::string shipped() { return testing::source_dir() + "/models/kjv-fortunes-3M-f32.gguf"; }

  static json generate(const std::vector<std::string>& extra, const std::string& model) {
    std::vector<std::string> args = {"generate", "-m", model, "-p", "In the beginning", "-n", "24", "--temp", "0",
                                     "--ignore-eos", "--json", "-t", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    CliRun r = testing::run_lingua(args, dir_, 120);
    EXPECT_EQ(r.rc, 0) << r.err;
    if (r.rc != 0) return json::object();
    return json::parse(r.out);
  }

  // A plain (loopback) worker with --models `models` and its own cache; its endpoint.
  static std::string start_worker(std::optional<LinguaProcess>& w, const std::string& name, const fs::path& models) {
    fs::create_directories(models);
    w.emplace(std::vector<std::string>{"worker", "--listen", "tcp://127.0.0.1:0", "--name", name, "--insecure", "--no-profile", "--models",
                                       models.string()},
              dir_ / (name + ".out"), dir_ / (name + ".err"),
              std::vector<std::pair<std::string, std::string>>{{"LINGUA_CACHE_DIR", (dir_ / ("cache-" + name)).string()}});
    auto ep = w->wait_for_log("listening on (tcp://127\\.0\\.0\\.1:[0-9]+)", 10);
    EXPECT_TRUE(ep) << w->err();
    return ep.value_or("");
  }

  static std::string devices_file(const std::string& name, const std::string& endpoint) {
    const fs::path p = dir_ / (name + ".yaml");
    std::ofstream(p) << "devices:\n  - {name: " << name << ", endpoint: \"" << endpoint << "\", threads: 1, memory: 1GiB}\n";
    return p.string();
  }

  static inline fs::path dir_;
};

TEST_F(WorkerModels, ACopyWithOtherSettingsIsNotUsed) {
  // The shipped model with its RoPE base doubled (a valid setting): the same tensors, other tokens.
  std::string bytes = testing::slurp(shipped());
  const std::string key = "llama.rope.freq_base";
  const size_t at = bytes.find(key);
  ASSERT_NE(at, std::string::npos);
  uint32_t type = 0;
  std::memcpy(&type, bytes.data() + at + key.size(), 4);
  ASSERT_EQ(type, 6u) << "a float32 value";
  const float doubled = 20000.0f;
  std::memcpy(bytes.data() + at + key.size() + 4, &doubled, 4);
  const fs::path models = dir_ / "models-rope";
  fs::create_directories(models);
  const fs::path copy = models / "kjv-rope20000.gguf";
  std::ofstream(copy, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));

  const json want = generate({}, shipped()).value("tokens", json::array());
  ASSERT_EQ(want.size(), 24u);
  const json other = generate({}, copy.string()).value("tokens", json::array());
  ASSERT_NE(other, want) << "the changed setting must change the tokens for this test to mean anything";

  std::optional<LinguaProcess> w;
  const std::string endpoint = start_worker(w, "rope", models);
  ASSERT_FALSE(endpoint.empty());
  const json doc = generate({"--devices", devices_file("rope", endpoint), "--insecure"}, shipped());
  EXPECT_EQ(doc.value("tokens", json::array()), want) << "the worker computed with the wrong settings\n" << w->err();
  const std::string log = w->err();
  EXPECT_NE(log.find("does not use " + copy.string()), std::string::npos) << log;
  EXPECT_NE(log.find("metadata"), std::string::npos) << log;
  EXPECT_NE(log.find("of segment-"), std::string::npos) << "it runs the weights the head sent:\n" << log;
  EXPECT_EQ(log.find("kjv-fortunes-3M-f32.gguf"), std::string::npos) << "it must not name a file it does not use:\n" << log;
  w->stop();
}

TEST_F(WorkerModels, TheLogNamesTheFileItRuns) {
  const fs::path models = dir_ / "models-same";
  fs::create_directories(models);
  fs::copy_file(shipped(), models / "my-own-copy.gguf", fs::copy_options::overwrite_existing);
  std::optional<LinguaProcess> w;
  const std::string endpoint = start_worker(w, "same", models);
  ASSERT_FALSE(endpoint.empty());
  const json want = generate({}, shipped()).value("tokens", json::array());
  const json doc = generate({"--devices", devices_file("same", endpoint), "--insecure"}, shipped());
  EXPECT_EQ(doc.value("tokens", json::array()), want);
  const std::string log = w->err();
  EXPECT_NE(log.find("of my-own-copy.gguf"), std::string::npos) << log;
  EXPECT_EQ(log.find("kjv-fortunes-3M-f32.gguf"), std::string::npos) << log;
  EXPECT_EQ(log.find("asking the head"), std::string::npos) << "its own copy matches:\n" << log;
  w->stop();
}

}  // namespace
}  // namespace lingua
