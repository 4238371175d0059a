// `chat`, `summarize`, `sentiment` and `translate` as a user runs them on the shipped model (not an
// instruct model, so the words are nonsense; what is checked is the plumbing): outputs, progress,
// the same answers on local devices, and bad input as one-line errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "test_paths.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;
using testing::CliRun;

class TaskCommands : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lingua-task-cli-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  CliRun lingua(const std::vector<std::string>& args, const std::string& input = "/dev/null") {
    return testing::run_lingua(args, dir_, 180, input);
  }
  std::string write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  static std::string model() { return testing::source_dir() + "/models/kjv-fortunes-3M-f32.gguf"; }
  fs::path dir_;
};

TEST_F(TaskCommands, SentimentGivesEachLabelsProbability) {
  const std::string texts = write("texts.txt", "And God saw that it was good\n\nWoe unto them\n");
  CliRun r = lingua({"sentiment", "-m", model(), "--file", texts, "--labels", "good,evil,neither", "--json", "-t", "1"});
  ASSERT_EQ(r.rc, 0) << r.err;
  std::istringstream lines(r.out);
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    const auto j = nlohmann::json::parse(line);
    double sum = 0;
    for (const char* label : {"good", "evil", "neither"}) sum += j["probabilities"][label].get<double>();
    EXPECT_NEAR(sum, 1.0, 1e-6) << line;
    EXPECT_TRUE(j["label"] == "good" || j["label"] == "evil" || j["label"] == "neither");
  }
  EXPECT_EQ(n, 2) << "the blank line is no text";
  EXPECT_NE(r.err.find("plain transcript"), std::string::npos) << "the chat format in use is said";
  // The same on two local devices (the cluster pipeline), to the printed precision.
  CliRun split = lingua({"sentiment", "-m", model(), "--file", texts, "--labels", "good,evil,neither", "--json",
                         "--local-devices", "2", "-t", "2"});
  ASSERT_EQ(split.rc, 0) << split.err;
  std::istringstream a(r.out), b(split.out);
  for (std::string la, lb; std::getline(a, la) && std::getline(b, lb);) {
    const auto ja = nlohmann::json::parse(la), jb = nlohmann::json::parse(lb);
    EXPECT_EQ(ja["label"], jb["label"]);
    for (const char* label : {"good", "evil", "neither"})
      EXPECT_NEAR(ja["probabilities"][label].get<double>(), jb["probabilities"][label].get<double>(), 1e-4);
  }
}

TEST_F(TaskCommands, SummarizeATextFourTimesTheContextWithAProgressBar) {
  std::string text;
  for (int i = 0; i < 60; ++i) text += "And God said, Let there be light: and there was light. And God saw the light.\n\n";
  const std::string file = write("long.txt", text);
  CliRun r = lingua({"summarize", file, "-m", model(), "-c", "256", "--words", "10", "-t", "2"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
  EXPECT_NE(r.err.find("summarizing"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("100%"), std::string::npos) << r.err;
}

TEST_F(TaskCommands, TranslateStreamsAndChatKeepsAConversation) {
  CliRun t = lingua({"translate", "--to", "French", "-m", model(), "-t", "1", "And God said"});
  ASSERT_EQ(t.rc, 0) << t.err;
  EXPECT_FALSE(t.out.empty());
  const std::string input = write("chat.txt", "And God said\n/system Speak briefly\nThou shalt\n/reset\nThou shalt\n/exit\nnever read\n");
  CliRun c = lingua({"chat", "-m", model(), "-n", "16", "-t", "1"}, input);
  ASSERT_EQ(c.rc, 0) << c.err;
  EXPECT_NE(c.err.find("new system message"), std::string::npos) << c.err;
  EXPECT_NE(c.err.find("the conversation is forgotten"), std::string::npos) << c.err;
  // Three answers, one per line asked; the two "Thou shalt" after a reset start the same way
  // (greedy, same history: the system message only).
  std::vector<std::string> answers;
  std::istringstream lines(c.out);
  for (std::string line; std::getline(lines, line);) answers.push_back(line);
  ASSERT_GE(answers.size(), 3u) << c.out;
}

TEST_F(TaskCommands, BadInputIsOneLineAndExitOne) {
  auto expect_error = [](const CliRun& r, const std::string& needle) {
    EXPECT_EQ(r.rc, 1) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  };
  expect_error(lingua({"sentiment", "-m", model(), "text", "--labels", "good"}), "at least two labels");
  expect_error(lingua({"sentiment", "-m", model()}), "no text to classify");
  expect_error(lingua({"summarize", "/nonexistent/file.txt", "-m", model()}), "cannot read /nonexistent/file.txt");
  expect_error(lingua({"summarize", write("empty.txt", " \n"), "-m", model()}), "nothing to summarize");
  expect_error(lingua({"summarize", write("x.txt", "words"), "-m", model(), "--words", "0"}), "--words");
  expect_error(lingua({"translate", "-m", model(), "text"}), "--to");
  expect_error(lingua({"chat", "-m", model(), "--temp", "-1"}), "--temp");
  expect_error(lingua({"chat", "-m", write("bad.gguf", "not a model")}), "bad.gguf");
}

}  // namespace
}  // namespace lingua
