// `lingua worker` measures itself before it says where it listens: it logs the profile with the
// threads and memory it was given, and a head that connects gets that profile in HELLO. As root,
// a worker inside a v1 cgroup with a CPU quota and a memory limit reports both.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "core/host_limits.h"
#include "plan/device_profile.h"
#include "runtime/remote_pipeline.h"
#include "profile_cache.h"
#include "worker_process.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;
using testing::LinguaProcess;
using testing::prefill_cache;

class WorkerProfile : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("lingua-worker-profile-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(WorkerProfile, LogsItsThreadsAndMemoryAndSendsThemInHello) {
  const fs::path cache = root_ / "cache";
  prefill_cache(cache, 1, read_host_limits().cpu_quota_cores);
  LinguaProcess worker({"worker", "--insecure", "--listen", "tcp://127.0.0.1:0", "--threads", "1", "--memory", "300MiB",
                        "--name", "w1"},
                       root_ / "worker.out", root_ / "worker.err", {{"LINGUA_CACHE_DIR", cache.string()}});
  const auto line = worker.wait_for_log("profile: ([^\n]*)", 60);
  ASSERT_TRUE(line) << worker.err();
  EXPECT_NE(line->find("1 thread(s)"), std::string::npos) << *line;
  EXPECT_TRUE(std::regex_search(*line, std::regex("memory 300(\\.0)? MiB"))) << *line;
  EXPECT_NE(line->find("--memory 300"), std::string::npos) << *line;
  EXPECT_NE(line->find("3.0 GFLOP/s f32"), std::string::npos) << "not the cached rates: " << *line;
  const std::string endpoint = worker.wait_for_log("listening on (tcp://127\\.0\\.0\\.1:[0-9]+)", 30).value_or("");
  ASSERT_FALSE(endpoint.empty()) << worker.err();
  // The profile line comes before the worker says where it listens.
  const std::string err = worker.err();
  EXPECT_LT(err.find("profile: "), err.find("listening on"));

  RemoteDevice d;
  d.name = "w1";
  d.endpoint = endpoint;
  d.threads = 0;
  RemoteOptions o;
  o.channel.insecure = true;
  auto pipeline = RemotePipeline::connect({d}, o);
  ASSERT_TRUE(pipeline) << pipeline.error();
  const WorkerHello& hello = (*pipeline)->hello(0);
  EXPECT_EQ(hello.name, "w1");
  ASSERT_TRUE(hello.profile.has_value());
  EXPECT_EQ(hello.profile->threads, 1);
  EXPECT_EQ(hello.profile->memory_flag_bytes, 300ull << 20);
  EXPECT_LE(hello.profile->memory_bytes, 300ull << 20);
  EXPECT_DOUBLE_EQ(hello.profile->rates.flops_for(DType::F32), 3e9);
}

TEST_F(WorkerProfile, NoProfileSendsNoneAndBadFlagsAreRefused) {
  LinguaProcess worker({"worker", "--insecure", "--listen", "tcp://127.0.0.1:0", "--no-profile"}, root_ / "worker.out",
                       root_ / "worker.err", {{"LINGUA_CACHE_DIR", (root_ / "cache").string()}});
  const std::string endpoint = worker.wait_for_log("listening on (tcp://127\\.0\\.0\\.1:[0-9]+)", 30).value_or("");
  ASSERT_FALSE(endpoint.empty()) << worker.err();
  EXPECT_EQ(worker.err().find("profile: "), std::string::npos) << worker.err();
  EXPECT_FALSE(fs::exists(root_ / "cache")) << "--no-profile measured anyway";
  RemoteDevice d;
  d.name = "w";
  d.endpoint = endpoint;
  RemoteOptions o;
  o.channel.insecure = true;
  auto pipeline = RemotePipeline::connect({d}, o);
  ASSERT_TRUE(pipeline) << pipeline.error();
  EXPECT_FALSE((*pipeline)->hello(0).profile.has_value());

  for (const auto& [args, why] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--memory", "lots"}, "--memory"},
           {{"--memory", "0"}, "--memory"},
           {{"--threads", "-2"}, "--threads"},
           {{"--reprofile", "--no-profile"}, "contradict"}}) {
    std::vector<std::string> argv = {"worker", "--insecure", "--listen", "tcp://127.0.0.1:0"};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto r = testing::run_lingua(argv, root_, 20);
    EXPECT_EQ(r.rc, 1) << r.err;
    EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
  }
}

// A v1 cgroup made for the test, removed (after its process is gone) whatever happens.
struct V1Cgroup {
  fs::path cpu, memory;
  ~V1Cgroup() {
    std::error_code ec;
    if (!cpu.empty()) fs::remove(cpu, ec);  // rmdir: a cgroup's files go with it
    if (!memory.empty()) fs::remove(memory, ec);
  }
};

bool write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p);
  out << text;
  out.flush();
  return static_cast<bool>(out);
}

TEST_F(WorkerProfile, InsideACgroupItReportsTheQuotaAndTheMemoryLimit) {
  if (::geteuid() != 0) GTEST_SKIP() << "making a cgroup needs root";
  fs::path cpu_root;
  for (const char* c : {"/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu"})
    if (fs::exists(fs::path(c) / "cpu.cfs_quota_us")) {
      cpu_root = c;
      break;
    }
  const fs::path memory_root = "/sys/fs/cgroup/memory";
  if (cpu_root.empty() || !fs::exists(memory_root / "memory.limit_in_bytes"))
    GTEST_SKIP() << "no cgroup v1 cpu and memory controllers under /sys/fs/cgroup";
  const std::string name = "lingua-test-worker-" + std::to_string(::getpid());
  std::error_code ec;
  V1Cgroup cg;
  ASSERT_TRUE(fs::create_directory(cpu_root / name, ec)) << ec.message();
  cg.cpu = cpu_root / name;
  ASSERT_TRUE(fs::create_directory(memory_root / name, ec)) << ec.message();
  cg.memory = memory_root / name;
  ASSERT_TRUE(write_file(cg.cpu / "cpu.cfs_period_us", "10000"));
  ASSERT_TRUE(write_file(cg.cpu / "cpu.cfs_quota_us", "5000"));
  ASSERT_TRUE(write_file(cg.memory / "memory.limit_in_bytes", std::to_string(400ull << 20)));

  const fs::path cache = root_ / "cache";
  prefill_cache(cache, 1, 0.5);
  const fs::path err_path = root_ / "worker.err";
  const pid_t pid = ::fork();
  if (pid == 0) {
    const std::string self = std::to_string(::getpid());
    if (!write_file(cg.cpu / "cgroup.procs", self) || !write_file(cg.memory / "cgroup.procs", self)) ::_exit(125);
    ::setenv("LINGUA_CACHE_DIR", cache.c_str(), 1);
    const int in = ::open("/dev/null", O_RDONLY);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || err < 0) ::_exit(126);
    ::dup2(in, 0);
    ::dup2(err, 1);
    ::dup2(err, 2);
    const std::string bin = testing::lingua_binary();
    ::execl(bin.c_str(), bin.c_str(), "worker", "--insecure", "--listen", "tcp://127.0.0.1:0", "--threads", "1",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ASSERT_GT(pid, 0);
  std::string text;
  int status = 0;
  bool exited = false;
  for (int i = 0; i < 3000 && text.find("listening on") == std::string::npos; ++i) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    ::usleep(20000);
    text = testing::slurp(err_path);
  }
  text = testing::slurp(err_path);
  if (!exited) {
    ::kill(pid, SIGTERM);
    ::waitpid(pid, &status, 0);
  }
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text, m, std::regex("profile: ([^\n]*)"))) << text;
  const std::string line = m[1].str();
  EXPECT_NE(line.find("CPU quota 0.50 cores"), std::string::npos) << line;
  EXPECT_TRUE(std::regex_search(line, std::regex("memory 400(\\.0)? MiB"))) << line;
  EXPECT_NE(line.find("cgroup limit 400"), std::string::npos) << line;
  EXPECT_NE(line.find("1 thread(s)"), std::string::npos) << line;
}

}  // namespace
}  // namespace lingua
