// What a new user sees around the work itself: the first run's profile pause is explained with a
// progress bar (and not repeated once cached), and option errors point at the subcommand's help.
#include <gtest/gtest.h>
#include <sys/stat.h>


#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cli_runner.h"
#include "test_paths.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;
using testing::CliRun;

class UserMessages : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lingua-user-messages-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  CliRun lingua(const std::vector<std::string>& args) { return testing::run_lingua(args, dir_, 300); }
  fs::path dir_;
};

TEST_F(UserMessages, FirstRunSaysItMeasuresTheMachineWithAProgressBarThenUsesTheCache) {
  const fs::path cache = dir_ / "fresh-cache";
  const char* old = std::getenv("LINGUA_CACHE_DIR");
  const std::string saved = old ? old : "";
  setenv("LINGUA_CACHE_DIR", cache.c_str(), 1);  // inherited by the command: a machine never profiled
  {
    std::ofstream(dir_ / "one.yaml") << "devices:\n  - {name: solo, threads: 1, memory: 1GiB}\n";
  }
  const std::string model = testing::source_dir() + "/models/kjv-fortunes-3M-f32.gguf";
  const std::vector<std::string> args = {"plan", "-m", model, "--devices", (dir_ / "one.yaml").string(), "--json"};
  CliRun first = lingua(args);
  CliRun second = lingua(args);
  if (old) setenv("LINGUA_CACHE_DIR", saved.c_str(), 1);
  else unsetenv("LINGUA_CACHE_DIR");

  ASSERT_EQ(first.rc, 0) << first.err;
  EXPECT_NE(first.err.find("measuring this machine's speed with 1 thread(s)"), std::string::npos) << first.err;
  EXPECT_NE(first.err.find(cache.string()), std::string::npos) << "says where the profile is kept: " << first.err;
  EXPECT_NE(first.err.find("measuring ["), std::string::npos) << "a bar: " << first.err;
  EXPECT_NE(first.err.find("  0% (0/10)"), std::string::npos) << "the bar shows at once: " << first.err;
  EXPECT_NE(first.err.find("100% (10/10)"), std::string::npos) << "and ends full: " << first.err;
  EXPECT_TRUE(fs::exists(cache / "profile-t1.json"));

  ASSERT_EQ(second.rc, 0) << second.err;
  EXPECT_EQ(second.err.find("measuring"), std::string::npos) << "the cached profile is not measured again: " << second.err;
}

TEST_F(UserMessages, AnOptionErrorPointsAtTheSubcommandsHelp) {
  CliRun r = lingua({"generate", "--no-such-option"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err.rfind("lingua generate: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("(see lingua generate --help)"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("(see lingua --help)"), std::string::npos) << r.err;

  CliRun top = lingua({"--no-such-option"});
  EXPECT_EQ(top.rc, 1);
  EXPECT_NE(top.err.find("(see lingua --help)"), std::string::npos) << top.err;
}

TEST_F(UserMessages, AWorkerGivenAMissingModelsFolderSaysSoInsteadOfServingWithout) {
  CliRun r = lingua({"worker", "--listen", "tcp://127.0.0.1:0", "--insecure", "--models", (dir_ / "no-such-folder").string()});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("--models"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no-such-folder"), std::string::npos) << r.err;
}

// Opening a FIFO to read waits for a writer: a devices file or plan file that is one hung the command.
TEST_F(UserMessages, ADevicesFileOrPlanFileThatIsAFifoIsRefusedAtOnce) {
  const fs::path fifo = dir_ / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string model = testing::source_dir() + "/models/kjv-fortunes-3M-f32.gguf";
  CliRun plan = testing::run_lingua({"plan", "-m", model, "--devices", fifo.string()}, dir_, 20);
  EXPECT_EQ(plan.rc, 1) << plan.err;
  EXPECT_NE(plan.err.find("it is a FIFO, not a regular file"), std::string::npos) << plan.err;
  CliRun run = testing::run_lingua({"generate", "-m", model, "-p", "x", "--plan", fifo.string()}, dir_, 20);
  EXPECT_EQ(run.rc, 1) << run.err;
  EXPECT_NE(run.err.find("it is a FIFO, not a regular file"), std::string::npos) << run.err;
}

}  // namespace
}  // namespace lingua
