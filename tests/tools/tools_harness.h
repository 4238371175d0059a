// What the tools tests share: the built helper programs, child processes in the background, and
// small TCP servers and clients (echo, byte sink) to measure what a relay or a host does to traffic.
#pragma once
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_runner.h"

namespace lingua::testing {

using Clock = std::chrono::steady_clock;

inline std::string build_dir() { return LINGUA_BUILD_DIR; }
inline std::string relay_binary() { return build_dir() + "/lingua-delay-relay"; }
inline std::string spec_binary() { return build_dir() + "/lingua-hosts-spec"; }
inline std::string hosts_script() { return source_dir() + "/tools/emulated_hosts.sh"; }

// The script looks for its helpers in the source tree's build/ unless told: the tests run it
// with this build tree's (CI builds in build-test/).
inline const bool kHostsHelpersOfThisBuild = [] {
  ::setenv("LINGUA_H_RELAY", relay_binary().c_str(), 1);
  ::setenv("LINGUA_H_SPEC", spec_binary().c_str(), 1);
  return true;
}();

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Runs argv (no shell) with stdin closed; output captured; killed after timeout_s.
inline CliRun run_command(const std::vector<std::string>& argv, const std::filesystem::path& scratch,
                          int timeout_s = 120) {
  std::string cmd = "timeout -s KILL " + std::to_string(timeout_s);
  for (const auto& a : argv) {
    cmd += ' ';
    cmd += shell_quote(a);
  }
  const auto out = scratch / "run_out.txt", err = scratch / "run_err.txt";
  cmd += " </dev/null >" + shell_quote(out.string()) + " 2>" + shell_quote(err.string());
  CliRun r;
  const int status = std::system(cmd.c_str());
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

// A program in the background, output to files; SIGKILLed if still running when destroyed.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::filesystem::path& out, const std::filesystem::path& err)
      : out_(out), err_(err) {
    pid_ = ::fork();
    if (pid_ == 0) {
      const int in = ::open("/dev/null", O_RDONLY);
      const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || o < 0 || e < 0) ::_exit(126);
      ::dup2(in, 0);
      ::dup2(o, 1);
      ::dup2(e, 2);
      std::vector<std::string> copy = argv;
      std::vector<char*> cargv;
      for (auto& a : copy) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      ::execvp(cargv[0], cargv.data());
      ::_exit(127);
    }
  }
  ~Child() {
    if (running()) {
      ::kill(pid_, SIGKILL);
      wait_for(5);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

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
  // Exit code (128 + signal), or nothing if it still runs after timeout_s.
  std::optional<int> wait_for(double timeout_s) {
    const auto t0 = Clock::now();
    while (running()) {
      if (seconds_since(t0) > timeout_s) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return code_;
  }

 private:
  std::filesystem::path out_, err_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int code_ = -1;
};

// Polls `cond` every 20 ms for up to timeout_s.
template <class F>
bool eventually(F cond, double timeout_s) {
  const auto t0 = Clock::now();
  while (seconds_since(t0) < timeout_s) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

inline sockaddr_in ipv4(const std::string& ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

// A listening socket on ip (port 0 = any); the port it got is in `port`.
struct Listener {
  int fd = -1;
  uint16_t port = 0;
  explicit Listener(const std::string& ip, uint16_t want = 0) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a = ipv4(ip, want);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 128) != 0) {
      ::close(fd);
      fd = -1;
      return;
    }
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Listener() {
    if (fd >= 0) ::close(fd);
  }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
};

// A port nobody listens on right now (bound then released).
inline uint16_t free_port(const std::string& ip = "127.0.0.1") { return Listener(ip).port; }

// Connects to ip:port, from `source` when given; -1 on failure.
inline int connect_to(const std::string& ip, uint16_t port, const std::string& source = "") {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (!source.empty()) {
    sockaddr_in s = ipv4(source, 0);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&s), sizeof s) != 0) {
      ::close(fd);
      return -1;
    }
  }
  sockaddr_in a = ipv4(ip, port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Reads until EOF or timeout_s; returns what came.
inline std::string read_all(int fd, double timeout_s) {
  std::string got;
  char buf[65536];
  const auto t0 = Clock::now();
  for (;;) {
    const double left = timeout_s - seconds_since(t0);
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left * 1000) + 1) <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

// Reads exactly n bytes (or fewer on EOF / timeout).
inline std::string read_n(int fd, size_t n, double timeout_s) {
  std::string got;
  char buf[65536];
  const auto t0 = Clock::now();
  while (got.size() < n) {
    const double left = timeout_s - seconds_since(t0);
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left * 1000) + 1) <= 0) break;
    const ssize_t r = ::recv(fd, buf, std::min(sizeof buf, n - got.size()), 0);
    if (r <= 0) break;
    got.append(buf, static_cast<size_t>(r));
  }
  return got;
}

inline bool send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Echoes every connection's bytes back and closes once the client has closed its side.
class EchoServer {
 public:
  explicit EchoServer(const std::string& ip) : listener_(ip) {
    thread_ = std::thread([this] { loop(); });
  }
  ~EchoServer() {
    stop_ = true;
    thread_.join();
    for (auto& t : conns_) t.join();
  }
  uint16_t port() const { return listener_.port; }
  bool ok() const { return listener_.fd >= 0; }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{listener_.fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int fd = ::accept4(listener_.fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      conns_.emplace_back([this, fd] {
        char buf[65536];
        while (!stop_) {
          pollfd q{fd, POLLIN, 0};
          if (::poll(&q, 1, 50) <= 0) continue;
          const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
          if (n <= 0) break;
          if (!send_all(fd, std::string(buf, static_cast<size_t>(n)))) break;
        }
        ::close(fd);
      });
    }
  }
  Listener listener_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::thread> conns_;
};

// Takes one connection at a time and keeps what it received and when the first and last bytes came.
class Sink {
 public:
  explicit Sink(const std::string& ip) : listener_(ip) {
    thread_ = std::thread([this] { loop(); });
  }
  ~Sink() {
    stop_ = true;
    thread_.join();
  }
  uint16_t port() const { return listener_.port; }
  bool ok() const { return listener_.fd >= 0; }
  // Everything received so far, all connections in order.
  std::string received() {
    std::lock_guard<std::mutex> lock(mu_);
    return data_;
  }
  // Bytes/s between the first and the last byte of the connections so far.
  double rate() {
    std::lock_guard<std::mutex> lock(mu_);
    const double s = std::chrono::duration<double>(last_ - first_).count();
    return s > 0 ? static_cast<double>(data_.size()) / s : 0;
  }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{listener_.fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int fd = ::accept4(listener_.fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      char buf[65536];
      while (!stop_) {
        pollfd q{fd, POLLIN, 0};
        if (::poll(&q, 1, 50) <= 0) continue;
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        std::lock_guard<std::mutex> lock(mu_);
        if (data_.empty()) first_ = Clock::now();
        data_.append(buf, static_cast<size_t>(n));
        last_ = Clock::now();
      }
      ::close(fd);
    }
  }
  Listener listener_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::string data_;
  Clock::time_point first_{}, last_{};
};

// Seconds for one byte to go to an echo server and back over fd.
inline double round_trip(int fd) {
  const auto t0 = Clock::now();
  if (!send_all(fd, "x")) return -1;
  if (read_n(fd, 1, 5) != "x") return -1;
  return seconds_since(t0);
}

}  // namespace lingua::testing
