// Where commands put their results, as a user meets it: synth, quantize and plan --out replace a
// regular file only (a device node, FIFO or symlink at the path stays what it was), a full disk is
// an error that leaves the old file, and output printed to a full stdout is an error too.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "core/svg_chart.h"
#include "cli_runner.h"
#include "test_paths.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;
using testing::CliRun;

fs::path g_dir;  // scratch folder of the whole suite
std::string g_model, g_devices;

CliRun lingua(const std::vector<std::string>& args) { return testing::run_lingua(args, g_dir, 120); }

// Like run_lingua, with shell commands run first (limits, which apply to lingua alone: its stderr
// goes through a pipe) and stdout sent to `stdout_path`.
CliRun lingua_sh(const std::string& before, const std::vector<std::string>& args, const std::string& stdout_path) {
  // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string&&.
  std::string cmd = "{ (" + before + " exec " + testing::shell_quote(testing::lingua_binary());
  for (const auto& a : args) {
    cmd += ' ';
    cmd += testing::shell_quote(a);
  }
  const fs::path err = g_dir / "sh-err.txt", rc = g_dir / "sh-rc.txt";
  cmd += " </dev/null >";
  cmd += testing::shell_quote(stdout_path);
  cmd += ") 2>&1; echo $? >";
  cmd += testing::shell_quote(rc.string());
  cmd += "; } | cat >";
  cmd += testing::shell_quote(err.string());
  std::string full = "timeout 120 sh -c ";
  full += testing::shell_quote(cmd);
  CliRun r;
  const int status = std::system(full.c_str());
  r.rc = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? std::atoi(testing::slurp(rc).c_str()) : -1;
  r.err = testing::slurp(err);
  return r;
}

std::vector<std::string> synth_args(const std::string& out) {
  return {"synth", "--dim", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--ffn", "128",
          "--vocab", "512", "--ctx", "64", "--type", "f32", "-o", out};
}

// The commands that write a file, each with the path it writes.
struct FileWriter {
  std::string command;
  std::function<std::vector<std::string>(const std::string&)> args;
};
std::vector<FileWriter> file_writers() {
  return {{"synth", synth_args},
          {"quantize", [](const std::string& out) { return std::vector<std::string>{"quantize", g_model, out, "Q8_0"}; }},
          {"plan", [](const std::string& out) {
             return std::vector<std::string>{"plan", "-m", g_model, "--devices", g_devices, "--pick", "even", "--out", out};
           }}};
}

bool is_gguf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in && std::string(magic, 4) == "GGUF";
}

class OutputPaths : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_dir = fs::temp_directory_path() / ("lingua-output-paths-test-" + std::to_string(::getpid()));
    fs::remove_all(g_dir);
    fs::create_directories(g_dir);
    setenv("LINGUA_CACHE_DIR", (fs::path(testing::lingua_binary()).parent_path() / "test-profile-cache").c_str(), 1);
    g_model = (g_dir / "model.gguf").string();
    CliRun s = lingua(synth_args(g_model));
    ASSERT_EQ(s.rc, 0) << s.err;
    g_devices = (g_dir / "two.yaml").string();
    std::ofstream(g_devices) << "devices:\n"
                                "  - {name: a, threads: 1, memory: 64MiB}\n"
                                "  - {name: b, threads: 1, memory: 64MiB}\n";
    // Measures this machine once if the shared cache has no profile yet, so later runs are quick.
    CliRun p = lingua({"plan", "-m", g_model, "--devices", g_devices, "--json"});
    ASSERT_EQ(p.rc, 0) << p.err;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(g_dir, ec);
  }
  void SetUp() override {
    work_ = g_dir / ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::create_directories(work_);
  }
  void TearDown() override {
    if (mounted_) ::umount2(work_.c_str(), MNT_DETACH);
  }
  std::string path(const std::string& name) const { return (work_ / name).string(); }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(work_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  // A tiny tmpfs on work_, so a write really meets a full disk (root only).
  bool mount_small_disk() {
    if (::geteuid() != 0) return false;
    mounted_ = ::mount("tmpfs", work_.c_str(), "tmpfs", 0, "size=256k") == 0;
    return mounted_;
  }

  fs::path work_;
  bool mounted_ = false;
};

// A line on stderr naming the command, the path and what is there, and no claim that anything
// was written.
void expect_refusal(const CliRun& r, const std::string& command, const std::string& path, const std::string& kind) {
  EXPECT_EQ(r.rc, 1) << command << ": " << r.err;
  std::string line = "lingua " + command + ": '";
  line += path;
  line += "' is " + kind + ", not a regular file";
  EXPECT_NE(r.err.find(line), std::string::npos) << command << ": " << r.err;
  EXPECT_EQ(r.err.find("wrote"), std::string::npos) << command << ": " << r.err;
}

TEST_F(OutputPaths, AFifoStaysAFifo) {
  for (const FileWriter& w : file_writers()) {
    const std::string fifo = path(w.command + ".fifo");
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
    expect_refusal(lingua(w.args(fifo)), w.command, fifo, "a FIFO");
    EXPECT_TRUE(fs::is_fifo(fs::symlink_status(fifo))) << w.command;
  }
  EXPECT_EQ(names(), (std::vector<std::string>{"plan.fifo", "quantize.fifo", "synth.fifo"}));  // no temporary files
}

TEST_F(OutputPaths, ADeviceNodeStaysADeviceNode) {
  if (::geteuid() != 0) GTEST_SKIP() << "making a device node needs root";
  for (const FileWriter& w : file_writers()) {
    const std::string node = path(w.command + ".null");  // a private /dev/null
    ASSERT_EQ(::mknod(node.c_str(), S_IFCHR | 0666, ::makedev(1, 3)), 0);
    expect_refusal(lingua(w.args(node)), w.command, node, "a character device");
    EXPECT_TRUE(fs::is_character_file(fs::symlink_status(node))) << w.command;
  }
  EXPECT_EQ(names(), (std::vector<std::string>{"plan.null", "quantize.null", "synth.null"}));
}

TEST_F(OutputPaths, ASymlinkAndADirectoryAreNotReplaced) {
  for (const FileWriter& w : file_writers()) {
    const std::string target = path(w.command + ".target"), link = path(w.command + ".link");
    std::ofstream(target) << "kept";
    fs::create_symlink(target, link);
    expect_refusal(lingua(w.args(link)), w.command, link, "a symbolic link");
    EXPECT_TRUE(fs::is_symlink(link)) << w.command;
    EXPECT_EQ(testing::slurp(target), "kept") << w.command;
    const std::string folder = path(w.command + ".dir");
    fs::create_directory(folder);
    expect_refusal(lingua(w.args(folder)), w.command, folder, "a directory");
    EXPECT_TRUE(fs::is_directory(folder)) << w.command;
  }
  EXPECT_EQ(names().size(), 9u);  // 3 x target, link, dir: no temporary files
}

TEST_F(OutputPaths, WritingAndReplacingARegularFileStillWorks) {
  for (const FileWriter& w : file_writers()) {
    const std::string out = path(w.command + ".out");
    for (int i = 0; i < 2; ++i) {  // new, then over the file just written
      CliRun r = lingua(w.args(out));
      ASSERT_EQ(r.rc, 0) << w.command << ": " << r.err;
      EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(out)));
      if (w.command == "plan")
        EXPECT_NE(testing::slurp(out).find("\"lingua-plan\""), std::string::npos);
      else
        EXPECT_TRUE(is_gguf(out)) << w.command;
    }
  }
  EXPECT_EQ(names(), (std::vector<std::string>{"plan.out", "quantize.out", "synth.out"}));
}

// Writes that fail (here the file size limit, which needs no root; a full disk below) are an error
// with the reason, the old file stays and no temporary file is left.
TEST_F(OutputPaths, AFailedWriteLeavesTheOldFile) {
  for (const FileWriter& w : file_writers()) {
    const std::string out = path(w.command + ".out");
    std::ofstream(out) << "old";
    CliRun r = lingua_sh("trap '' XFSZ; ulimit -f 0;", w.args(out), "/dev/null");
    EXPECT_EQ(r.rc, 1) << w.command << ": " << r.err;
    EXPECT_NE(r.err.find("File too large"), std::string::npos) << w.command << ": " << r.err;
    EXPECT_EQ(r.err.find("wrote"), std::string::npos) << w.command << ": " << r.err;
    EXPECT_EQ(testing::slurp(out), "old") << w.command;
  }
  EXPECT_EQ(names(), (std::vector<std::string>{"plan.out", "quantize.out", "synth.out"}));
}

TEST_F(OutputPaths, AFullDiskIsReported) {
  if (!mount_small_disk()) GTEST_SKIP() << "mounting a small tmpfs needs root";
  for (const FileWriter& w : file_writers()) {
    const std::string out = path(w.command + ".out");
    std::ofstream(out) << "old";
  }
  {  // fill what is left, so even a small plan file finds no room
    std::ofstream fill(path("filler"), std::ios::binary);
    const std::string block(4096, 'x');
    while (fill.write(block.data(), block.size()) && fill.flush()) {
    }
  }
  for (const FileWriter& w : file_writers()) {
    const std::string out = path(w.command + ".out");
    CliRun r = lingua(w.args(out));
    EXPECT_EQ(r.rc, 1) << w.command << ": " << r.err;
    EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << w.command << ": " << r.err;
    EXPECT_EQ(r.err.find("wrote"), std::string::npos) << w.command << ": " << r.err;
    EXPECT_EQ(testing::slurp(out), "old") << w.command;
  }
  EXPECT_EQ(names(), (std::vector<std::string>{"filler", "plan.out", "quantize.out", "synth.out"}));
}

TEST_F(OutputPaths, ChartsAreNotWrittenOverAFifo) {
  const std::string fifo = path("chart.svg");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  Status st = write_chart(fifo, bar_chart_svg("title", {"measured"}, {{"even", {1.0}}}));
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("is a FIFO"), std::string::npos) << st.message();
  st = write_chart(fifo, line_chart_svg("title", "token", "ms", {{"even", {1.0, 2.0}}}, {}));
  ASSERT_FALSE(st);
  EXPECT_TRUE(fs::is_fifo(fs::symlink_status(fifo)));
  EXPECT_EQ(names(), std::vector<std::string>{"chart.svg"});
}

// Results printed to a stdout that cannot take them are not a success.
TEST_F(OutputPaths, PrintingToAFullStdoutFails) {
  const std::vector<std::vector<std::string>> commands = {
      {"info", "-m", g_model},
      {"info", "-m", g_model, "--json"},
      {"tokenize", "-m", g_model, "hello"},
      {"graph", "-m", g_model, "--json"},
      {"generate", "-m", g_model, "-p", "hi", "-n", "2", "--temp", "0", "-t", "1"},
      {"bench", "-m", g_model, "-p", "4", "-n", "2", "-t", "1", "--json"},
      {"plan", "-m", g_model, "--devices", g_devices, "--json"},
      {"plan", "-m", g_model, "--devices", g_devices},
      {"profile", "--cached", "-t", "1", "--json"},
      {"--help"},
      {}};
  for (const auto& args : commands) {
    std::string shown = "lingua";
    for (const auto& a : args) shown += " " + a;
    CliRun r = lingua_sh("", args, "/dev/full");
    EXPECT_EQ(r.rc, 1) << shown << ": " << r.err;
    EXPECT_NE(r.err.find("cannot write the output: No space left on device\n"), std::string::npos) << shown << ": " << r.err;
    CliRun ok = lingua_sh("", args, (g_dir / "sh-out.txt").string());  // the same command is fine elsewhere
    EXPECT_EQ(ok.rc, 0) << shown << ": " << ok.err;
  }
}

}  // namespace
}  // namespace lingua
