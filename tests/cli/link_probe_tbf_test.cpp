// A link measured against a kernel-limited one: the head in this network namespace, a worker in a
// namespace of its own behind a veth pair whose head side is shaped by `tc tbf` to 8 Mbit/s
// (1 MB/s); the measured bandwidth must come out within 25% of that. Needs root (namespaces,
// qdiscs): skipped with a message otherwise. The namespace and the link are removed in every case.
#include <gtest/gtest.h>
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

#include "cli_runner.h"
#include "runtime/remote_pipeline.h"
#include "test_paths.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;

bool sh(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()) == 0; }

// Two ends of a veth pair, one moved into a fresh namespace, both with an address; torn down
// (worker first, then namespace and link) when it goes out of scope, whatever happened.
class ShapedNamespace {
 public:
  ShapedNamespace() {
    const int tag = static_cast<int>(::getpid() % 100000);
    ns_ = "lingua-tbf-" + std::to_string(tag);
    host_if_ = "ltbf" + std::to_string(tag) + "h";
    far_if_ = "ltbf" + std::to_string(tag) + "f";
    const std::string net = "10.213." + std::to_string(tag % 250) + ".";
    host_ip_ = net + "1";
    far_ip_ = net + "2";
    teardown();  // what a killed earlier run of this pid may have left
    ok_ = sh("ip netns add " + ns_) && sh("ip link add " + host_if_ + " type veth peer name " + far_if_) &&
          sh("ip link set " + far_if_ + " netns " + ns_) && sh("ip addr add " + host_ip_ + "/24 dev " + host_if_) &&
          sh("ip link set " + host_if_ + " up") && sh("ip netns exec " + ns_ + " ip addr add " + far_ip_ + "/24 dev " + far_if_) &&
          sh("ip netns exec " + ns_ + " ip link set " + far_if_ + " up") && sh("ip netns exec " + ns_ + " ip link set lo up") &&
          sh("tc qdisc add dev " + host_if_ + " root tbf rate 8mbit burst 32kbit latency 400ms");
  }
  ~ShapedNamespace() {
    stop_worker();
    teardown();
  }
  bool ok() const { return ok_; }
  const std::string& far_ip() const { return far_ip_; }

  // `lingua worker` inside the namespace, plain ZeroMQ on the veth address; its endpoint, or "".
  std::string start_worker(const fs::path& log) {
    const std::string lingua = testing::lingua_binary();
    pid_ = ::fork();
    if (pid_ == 0) {
      const int in = ::open("/dev/null", O_RDONLY);
      const int err = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || err < 0) ::_exit(126);
      ::dup2(in, 0);
      ::dup2(err, 1);
      ::dup2(err, 2);
      const std::string listen = "tcp://" + far_ip_ + ":0";
      ::execlp("ip", "ip", "netns", "exec", ns_.c_str(), lingua.c_str(), "worker", "--listen", listen.c_str(), "--name", "far",
               "--no-profile", "--insecure", "--allow-insecure-network", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const std::regex re("listening on (tcp://[0-9.]+:[0-9]+)");
    for (int i = 0; i < 500; ++i) {
      std::smatch m;
      const std::string text = testing::slurp(log);
      if (std::regex_search(text, m, re)) return m[1].str();
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return "";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return "";
  }

 private:
  void stop_worker() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 150 && ::waitpid(pid_, nullptr, WNOHANG) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (::waitpid(pid_, nullptr, WNOHANG) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
  }
  void teardown() {
    sh("ip netns del " + ns_);    // takes its end of the pair, and so the pair, with it
    sh("ip link del " + host_if_);  // in case the namespace never got it
  }

  std::string ns_, host_if_, far_if_, host_ip_, far_ip_;
  bool ok_ = false;
  pid_t pid_ = -1;
};

TEST(LinkProbeTbf, MeasuresAboutTheShapedBandwidth) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: it makes a network namespace, a veth pair and a tbf qdisc";
  const fs::path dir = fs::temp_directory_path() / ("lingua-link-probe-tbf-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  struct RemoveDir {
    fs::path path;
    ~RemoveDir() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  } remove_dir{dir};
  {
    ShapedNamespace ns;
    if (!ns.ok()) GTEST_SKIP() << "cannot make a network namespace with a tbf-shaped veth pair here (ip netns / tc failed)";
    const std::string endpoint = ns.start_worker(dir / "worker.log");
    ASSERT_FALSE(endpoint.empty()) << testing::slurp(dir / "worker.log");
    RemoteOptions ro;
    ro.channel.insecure = true;
    ro.channel.allow_insecure_network = true;
    auto remote = RemotePipeline::connect({{"far", endpoint, "", 1, 0, {}}}, ro);
    ASSERT_TRUE(remote) << remote.error();
    // 2 MiB at 1 MB/s: about 2 s, long enough that the 4 kB burst and TCP's start do not count.
    auto m = (*remote)->measure_link(0, {20, 2u << 20, 3});
    ASSERT_TRUE(m) << m.error();
    ASSERT_EQ(m->error, "");
    EXPECT_GT(m->rtt_s, 0);
    EXPECT_GT(m->bytes_per_s, 0.75e6) << "8 Mbit/s is 1e6 bytes/s";
    EXPECT_LT(m->bytes_per_s, 1.25e6) << "8 Mbit/s is 1e6 bytes/s";
    std::fprintf(stderr, "tbf 8mbit: measured %.0f bytes/s, rtt %.3f ms\n", m->bytes_per_s, m->rtt_s * 1e3);
  }
}

}  // namespace
}  // namespace lingua
