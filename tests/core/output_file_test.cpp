// OutputFile: outputs replace regular files only, through a temporary file that never outlives a
// failure; and the end-of-run stdout check reports output lost to a full device.
#include "core/output_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace lingua {
namespace {

namespace fs = std::filesystem;

// Built by appending: GCC 12 warns falsely (-Wrestrict) on "'" + std::string&&.
std::string quoted(const std::string& p) {
  std::string q = "'";
  q += p;
  q += "'";
  return q;
}

class OutputFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lingua-output-file-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  static std::string read(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static void put(const std::string& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  fs::path dir_;
};

TEST_F(OutputFileTest, WritesANewFileAndReplacesARegularOneKeepingItsMode) {
  ASSERT_TRUE(write_output_file(path("a.json"), "first"));
  EXPECT_EQ(read(path("a.json")), "first");
  ASSERT_EQ(::chmod(path("a.json").c_str(), 0600), 0);
  Status st = write_output_file(path("a.json"), "second");
  ASSERT_TRUE(st) << st.message();
  EXPECT_EQ(read(path("a.json")), "second");
  struct stat s {};
  ASSERT_EQ(::stat(path("a.json").c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 07777, 0600u);
  EXPECT_EQ(names(), std::vector<std::string>{"a.json"});  // no temporary file left
}

TEST_F(OutputFileTest, NothingChangesUntilCommitAndAnUncommittedFileIsRemoved) {
  put(path("m.gguf"), "old");
  {
    auto out = OutputFile::create(path("m.gguf"));
    ASSERT_TRUE(out) << out.error();
    ASSERT_TRUE(out->write("new bytes"));
    EXPECT_EQ(fs::path(out->temp_path()).parent_path(), dir_);  // beside the output: rename stays on one filesystem
    EXPECT_TRUE(fs::exists(out->temp_path()));
    EXPECT_EQ(read(path("m.gguf")), "old");
  }
  EXPECT_EQ(read(path("m.gguf")), "old");
  EXPECT_EQ(names(), std::vector<std::string>{"m.gguf"});
}

TEST_F(OutputFileTest, RefusesAFifoADirectoryAndASymlinkLeavingThemAsTheyWere) {
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0644), 0);
  Status st = write_output_file(path("fifo"), "x");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.message(), quoted(path("fifo")) + " is a FIFO, not a regular file; refusing to replace it");
  EXPECT_TRUE(fs::is_fifo(fs::symlink_status(path("fifo"))));

  fs::create_directory(path("folder"));
  st = write_output_file(path("folder"), "x");
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("is a directory, not a regular file"), std::string::npos) << st.message();
  EXPECT_TRUE(fs::is_directory(path("folder")));

  put(path("target"), "kept");
  fs::create_symlink(path("target"), path("link"));
  st = write_output_file(path("link"), "x");
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find(quoted(path("link")) + " is a symbolic link"), std::string::npos) << st.message();
  EXPECT_TRUE(fs::is_symlink(path("link")));
  EXPECT_EQ(read(path("target")), "kept");
  EXPECT_EQ(names(), (std::vector<std::string>{"fifo", "folder", "link", "target"}));
}

TEST_F(OutputFileTest, RefusesACharacterDevice) {
  if (::geteuid() != 0) GTEST_SKIP() << "making a device node needs root";
  ASSERT_EQ(::mknod(path("null").c_str(), S_IFCHR | 0666, ::makedev(1, 3)), 0);
  Status st = write_output_file(path("null"), "x");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.message(), quoted(path("null")) + " is a character device, not a regular file; refusing to replace it");
  EXPECT_TRUE(fs::is_character_file(fs::symlink_status(path("null"))));
}

TEST_F(OutputFileTest, SomethingPutAtThePathDuringTheWriteIsNotReplaced) {
  auto out = OutputFile::create(path("late"));
  ASSERT_TRUE(out) << out.error();
  ASSERT_TRUE(out->write("data"));
  ASSERT_EQ(::mkfifo(path("late").c_str(), 0644), 0);
  Status st = out->commit();
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("is a FIFO"), std::string::npos) << st.message();
  EXPECT_TRUE(fs::is_fifo(fs::symlink_status(path("late"))));
  EXPECT_EQ(names(), std::vector<std::string>{"late"});
}

TEST_F(OutputFileTest, AMissingFolderIsNamed) {
  Status st = write_output_file(path("no/such/x.gguf"), "x");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.message(), "cannot write " + quoted(path("no/such/x.gguf")) + ": No such file or directory");
}

// A write the filesystem refuses (here the file size limit, which any user can lower; a full disk
// takes the same path) is reported, the old file stays and the temporary file goes.
TEST_F(OutputFileTest, AFailedWriteLeavesTheOldFileAndNoTemporaryFile) {
  put(path("big.gguf"), "old");
  struct rlimit saved {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  auto* old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  Status st;
  {
    auto out = OutputFile::create(path("big.gguf"));
    if (out) {
      st = out->write(std::string(1 << 16, 'x'));
      if (st) st = out->commit();
    } else {
      st = out.status();
    }
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.message(), "cannot write " + quoted(path("big.gguf")) + ": File too large");
  EXPECT_EQ(read(path("big.gguf")), "old");
  EXPECT_EQ(names(), std::vector<std::string>{"big.gguf"});
}

// Prints `bytes` bytes in a child whose stdout is `target`, then runs flush_standard_output();
// returns its message ("ok" when it succeeded).
std::string flush_in_child(const std::string& target, size_t bytes) {
  std::fflush(stdout);
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipe_fds[0]);
    const int fd = ::open(target.c_str(), O_WRONLY | O_TRUNC);
    if (fd < 0 || ::dup2(fd, 1) < 0) ::_exit(2);
    const std::string text(bytes, 'x');
    std::fwrite(text.data(), 1, text.size(), stdout);
    Status st = flush_standard_output();
    const std::string msg = st ? "ok" : st.message();
    if (::write(pipe_fds[1], msg.data(), msg.size()) < 0) ::_exit(3);
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string msg;
  char buf[256];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof buf)) > 0) msg.append(buf, static_cast<size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return msg;
}

TEST_F(OutputFileTest, StandardOutputOnAFullDeviceIsReported) {
  // Short output fails in the final flush; long output already failed in an earlier one.
  EXPECT_EQ(flush_in_child("/dev/full", 10), "cannot write the output: No space left on device");
  EXPECT_EQ(flush_in_child("/dev/full", 100000), "cannot write the output: No space left on device");
  put(path("out.txt"), "");
  EXPECT_EQ(flush_in_child(path("out.txt"), 100000), "ok");
  EXPECT_EQ(read(path("out.txt")).size(), 100000u);
}

}  // namespace
}  // namespace lingua
