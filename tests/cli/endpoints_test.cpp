// Endpoints as a user writes them: a worker listening on tcp://localhost and tcp://[::1] serves a
// head (both failed with "No such device"), bad endpoints are refused when read (worker --listen,
// devices file) naming the real problem, and --local-devices beyond the model's useful cuts
// leaves the extra devices standing by instead of failing.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "cli_runner.h"
#include "test_paths.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::CliRun;

std::string shipped() { return testing::source_dir() + "/models/kjv-fortunes-3M-f32.gguf"; }

// A `lingua worker` in the background, its stderr in a file; killed and reaped at scope exit.
class Worker {
 public:
  Worker(const std::string& listen, const fs::path& dir) : err_(dir / "worker.err") {
    std::vector<std::string> argv = {testing::lingua_binary(), "worker", "--listen", listen, "--name", "w", "--insecure", "--no-profile"};
    const std::string cache = (dir / "cache").string();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setenv("LINGUA_CACHE_DIR", cache.c_str(), 1);  // weights the head streams land here
      const int in = ::open("/dev/null", O_RDONLY);
      const int e = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || e < 0) ::_exit(126);
      ::dup2(in, 0);
      ::dup2(e, 1);
      ::dup2(e, 2);
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
  }
  ~Worker() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 200 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (::waitpid(pid_, &status, WNOHANG) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  std::string log() const { return testing::slurp(err_); }
  // The endpoint it says it listens on, "" when it did not within 10 s.
  std::string endpoint() const {
    const std::regex re("listening on (tcp://\\S+)");
    for (int i = 0; i < 500; ++i) {
      std::smatch m;
      const std::string text = log();
      if (std::regex_search(text, m, re)) return m[1];
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) return "";
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return "";
  }

 private:
  fs::path err_;
  pid_t pid_ = -1;
};

class Endpoints : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lingua-endpoints-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  CliRun lingua(const std::vector<std::string>& args, int timeout_s = 120) { return testing::run_lingua(args, dir_, timeout_s); }
  std::string write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  json generate(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"generate", "-m", shipped(), "-p", "In the beginning", "-n", "8", "--temp", "0",
                                     "--ignore-eos", "--json", "-t", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    const CliRun r = lingua(args);
    EXPECT_EQ(r.rc, 0) << r.err;
    if (r.rc != 0) return json::object();
    return json::parse(r.out, nullptr, false);
  }
  // A head on a worker listening on `listen`, reached at the endpoint the worker printed with
  // its host written as `connect_host`: the same tokens as one device.
  void serve_a_head(const std::string& listen, const std::string& connect_host) {
    Worker w(listen, dir_);
    const std::string bound = w.endpoint();
    ASSERT_FALSE(bound.empty()) << "the worker did not listen on " << listen << ":\n" << w.log();
    const std::string port = bound.substr(bound.rfind(':') + 1);
    const std::string devices = write("one.yaml", "devices:\n  - {name: w, endpoint: \"tcp://" + connect_host + ":" + port +
                                                      "\", threads: 1, memory: 1GiB}\n");
    const json remote = generate({"--devices", devices, "--insecure"});
    const json single = generate({});
    ASSERT_EQ(single.value("tokens", json::array()).size(), 8u);
    EXPECT_EQ(remote.value("tokens", json::array()), single.value("tokens", json::array())) << w.log();
  }
  fs::path dir_;
};

bool has_ipv6_loopback() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  const bool ok = ::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

TEST_F(Endpoints, WorkerOnLocalhostServesAHead) { serve_a_head("tcp://localhost:0", "localhost"); }

TEST_F(Endpoints, WorkerOnIpv6LoopbackServesAHead) {
  if (!has_ipv6_loopback()) GTEST_SKIP() << "this machine has no IPv6 loopback (::1)";
  serve_a_head("tcp://[::1]:0", "[::1]");
}

TEST_F(Endpoints, WorkerListenRefusesBadEndpointsNamingTheProblem) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"http://127.0.0.1:7700", "unsupported scheme 'http'"},
      {"tcp://127.0.0.1:99999", "port '99999'"},
      {"tcp://127.0.0.1:-1", "port '-1'"},
      {"tcp://127.0.0.1:abc", "port 'abc'"},
      {"tcp://127.0.0.1", "no port"},
      {"127.0.0.1:7700", "no scheme"},
  };
  for (const auto& [listen, why] : cases) {
    SCOPED_TRACE(listen);
    const CliRun r = lingua({"worker", "--listen", listen, "--insecure"}, 10);
    EXPECT_EQ(r.rc, 1) << r.err;
    EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.find("loopback"), std::string::npos) << "blamed on the wrong thing: " << r.err;
  }
  // Well-formed, but not this machine's (192.0.2.0/24 is for documentation): said so, not just
  // ZeroMQ's "Cannot assign requested address".
  const CliRun r = lingua({"worker", "--listen", "tcp://192.0.2.1:7700", "--insecure", "--allow-insecure-network"}, 10);
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find("'192.0.2.1' is neither an address of this machine nor a network interface"), std::string::npos) << r.err;
}

TEST_F(Endpoints, DevicesFileErrorsNameDevicesAndEndpoint) {
  const std::string twice = write("twice.yaml", "devices:\n"
                                                "  - {name: a, endpoint: tcp://127.0.0.1:7700, memory: 1GiB}\n"
                                                "  - {name: b, endpoint: tcp://localhost:7700, memory: 1GiB}\n");
  CliRun r = lingua({"plan", "-m", shipped(), "--devices", twice});
  EXPECT_EQ(r.rc, 1) << r.err;
  for (const char* want : {"twice.yaml:3:", "device 'b'", "tcp://localhost:7700", "device 'a'", "tcp://127.0.0.1:7700"})
    EXPECT_NE(r.err.find(want), std::string::npos) << want << " in: " << r.err;

  const std::string slow = write("slow.yaml", "devices:\n  - {name: a, memory: 1GiB, slowdown: 0.5}\n");
  r = lingua({"plan", "-m", shipped(), "--devices", slow});
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find("'slowdown'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("0.5"), std::string::npos) << r.err;

  const std::string raw = write("raw.yaml", "devices:\n  - name: a\xff\n    memory: 1GiB\n");
  r = lingua({"plan", "-m", shipped(), "--devices", raw});
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find("a\\xFF"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\xff'), std::string::npos) << "a raw 0xFF byte in: " << r.err;
}

TEST_F(Endpoints, MoreLocalDevicesThanUsefulCutsStandBy) {
  // 50 devices on the shipped 93-op model: cost-balanced cuts gave a worker a segment without
  // weights, which it refused ("no weight tensors named"). Balancing off: 33 workers sharing two
  // cores measure so unevenly that the balancer may gather the model onto one device, which is
  // not what this test is about.
  const json many = generate({"--local-devices", "50", "--no-balance"});
  const json single = generate({});
  ASSERT_EQ(single.value("tokens", json::array()).size(), 8u);
  EXPECT_EQ(many.value("tokens", json::array()), single.value("tokens", json::array()));
  const json plan = many.value("final_plan", json::array());
  EXPECT_GE(plan.size(), 2u) << many.dump();
  EXPECT_LT(plan.size(), 50u) << many.dump();
}

}  // namespace
}  // namespace lingua
