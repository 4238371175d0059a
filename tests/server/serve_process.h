// The built `lingua serve` run as a child process on a free port (it prints the port it took),
// stopped with SIGTERM (and killed if it does not stop) when the test is done with it.
#pragma once
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_runner.h"
#include "test_paths.h"

namespace lingua::testing {

class ServeProcess {
 public:
  // Starts `lingua serve --port 0 ARGS...`, logging to `log`; waits up to `timeout_s` for it to listen.
  ServeProcess(const std::vector<std::string>& args, const std::filesystem::path& log, int timeout_s = 120) : log_(log) {
    std::vector<std::string> argv = {lingua_binary(), "serve", "--port", "0"};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      const int null = ::open("/dev/null", O_RDONLY);
      ::dup2(null, 0);
      std::vector<char*> cargs;
      for (auto& a : argv) cargs.push_back(a.data());
      cargs.push_back(nullptr);
      ::execv(cargs[0], cargs.data());
      ::_exit(127);
    }
    const std::string marker = "on http://127.0.0.1:";
    for (int i = 0; i < timeout_s * 10; ++i) {
      const std::string text = slurp(log_);
      if (const size_t at = text.find(marker); at != std::string::npos) {
        port_ = std::atoi(text.c_str() + at + marker.size());
        return;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  ~ServeProcess() { stop(); }
  // SIGTERM, then SIGKILL after 20 s; returns the exit status (-1 when it had to be killed).
  int stop() {
    if (pid_ <= 0) return exit_status_;
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 200; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        return exit_status_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return exit_status_ = -1;
  }
  int port() const { return port_; }  // 0 when it never listened
  pid_t pid() const { return pid_; }
  // The `lingua worker` processes it started (--local-devices), in the order of their pids.
  std::vector<pid_t> workers() const {
    std::vector<pid_t> out;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
      const std::string name = entry.path().filename().string();
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
      const std::string stat = slurp(entry.path() / "stat");
      const size_t close = stat.rfind(')');  // "pid (comm) state ppid ..."
      if (close == std::string::npos) continue;
      int parent = 0;
      char state = 0;
      if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &parent) != 2 || parent != pid_ || state == 'Z') continue;
      if (slurp(entry.path() / "cmdline").find(std::string("worker\0", 7)) == std::string::npos) continue;
      out.push_back(static_cast<pid_t>(std::stol(name)));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::string log() const { return slurp(log_); }

 private:
  std::filesystem::path log_;
  pid_t pid_ = -1;
  int port_ = 0;
  int exit_status_ = -1;
};

}  // namespace lingua::testing
