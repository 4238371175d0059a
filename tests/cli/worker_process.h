// `lingua` processes in the background for the worker tests (workers started by hand, heads run
// side by side): output to files, extra environment for the child only, killed when out of scope.
#pragma once
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cli_runner.h"
#include "test_paths.h"

namespace lingua::testing {

class LinguaProcess {
 public:
  using Clock = std::chrono::steady_clock;

  LinguaProcess(const std::vector<std::string>& args, const std::filesystem::path& out, const std::filesystem::path& err,
                const std::vector<std::pair<std::string, std::string>>& env = {})
      : LinguaProcess(lingua_binary(), args, out, err, env) {}
  // Another program built beside `lingua` (the delay relay, say).
  LinguaProcess(const std::string& program, const std::vector<std::string>& args, const std::filesystem::path& out,
                const std::filesystem::path& err, const std::vector<std::pair<std::string, std::string>>& env = {})
      : out_(out), err_(err) {
    std::vector<std::string> argv = {program};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
      const int in = ::open("/dev/null", O_RDONLY);
      const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || o < 0 || e < 0) ::_exit(126);
      ::dup2(in, 0);
      ::dup2(o, 1);
      ::dup2(e, 2);
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
  }
  ~LinguaProcess() { stop(); }
  LinguaProcess(const LinguaProcess&) = delete;
  LinguaProcess& operator=(const LinguaProcess&) = delete;

  pid_t pid() const { return pid_; }
  std::string out() const { return slurp(out_); }
  std::string err() const { return slurp(err_); }

  bool running() {
    if (exited_) return false;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == 0) return true;
    exited_ = true;
    code_ = r == pid_ ? (WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)) : -1;
    return false;
  }
  // Its exit code (128 + signal when killed), or nothing while it still runs after timeout_s.
  std::optional<int> wait_for(double timeout_s) {
    const auto t0 = Clock::now();
    while (running()) {
      if (std::chrono::duration<double>(Clock::now() - t0).count() > timeout_s) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return code_;
  }
  // The first match of `pattern` in its stderr (group 1 when there is one) within timeout_s, or
  // nothing (also when it exits first).
  std::optional<std::string> wait_for_log(const std::string& pattern, double timeout_s) {
    const std::regex re(pattern);
    const auto t0 = Clock::now();
    for (;;) {
      std::smatch m;
      const std::string text = err();
      if (std::regex_search(text, m, re)) return m.size() > 1 ? m[1].str() : m[0].str();
      if (!running() || std::chrono::duration<double>(Clock::now() - t0).count() > timeout_s) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  void stop() {
    if (pid_ <= 0 || !running()) return;
    ::kill(pid_, SIGTERM);
    if (!wait_for(3)) {
      ::kill(pid_, SIGKILL);
      wait_for(10);
    }
  }

 private:
  pid_t pid_ = -1;
  std::filesystem::path out_, err_;
  bool exited_ = false;
  int code_ = -1;
};

// How many times `needle` occurs in `text`.
inline size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace lingua::testing
