// tools/emulated_hosts.sh: non-root runs are refused; as root, hosts get their cgroup limits,
// reach each other and the head, are capped by tbf and delayed by the relay, report stats, and
// leave nothing behind after down, a normal run, a SIGINT mid-run or a killed first run.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>
#include <sstream>

#include "plan/devices_file.h"
#include "tools/tools_harness.h"

namespace lingua::testing {
namespace {

constexpr uint16_t kPort = 7700;  // the script's default service port

const char* kDevices = R"(devices:
  - name: ha
    memory: 64MiB
    cpu: 0.25
  - name: hb
    memory: 256MiB
    cpu: 0.5
links:
  default: {bandwidth: 8Mbit/s, latency: 20ms}
  "ha <-> hb": {latency: 5ms}
)";

// Every trace of emulated hosts on this machine, empty when there is none. Processes: the hosts'
// relays, and the pids given (what a test started); other tests' workers may run meanwhile.
std::string leftovers(const std::filesystem::path& scratch, const std::vector<pid_t>& pids = {}) {
  std::string found;
  const CliRun ns = run_command({"ip", "netns", "list"}, scratch, 10);
  if (ns.out.find("lingua-h-") != std::string::npos) found += "netns: " + ns.out;
  const CliRun links = run_command({"ip", "-o", "link", "show"}, scratch, 10);
  if (links.out.find("lingua-h-") != std::string::npos) found += "links: " + links.out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator("/sys/fs/cgroup", ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it.depth() >= 1) it.disable_recursion_pending();
    if (it->is_directory() && it->path().filename().string().rfind("lingua-h-", 0) == 0)
      found += "cgroup: " + it->path().string() + "\n";
  }
  const CliRun p = run_command({"pgrep", "-af", "lingua-delay-relay"}, scratch, 10);
  std::istringstream lines(p.out);
  for (std::string line; std::getline(lines, line);)
    if (line.find("10.77.0.") != std::string::npos && line.find("pgrep") == std::string::npos)
      found += "relay: " + line + "\n";
  for (const pid_t pid : pids)
    if (::kill(pid, 0) == 0) found += "process " + std::to_string(pid) + ": " + slurp("/proc/" + std::to_string(pid) + "/cmdline") + "\n";
  if (std::filesystem::exists("/run/lingua-hosts")) found += "state: /run/lingua-hosts\n";
  return found;
}

// The pids in scratch/NAME.pid files (written by commands the tests start).
std::vector<pid_t> recorded_pids(const std::filesystem::path& scratch) {
  std::vector<pid_t> pids;
  for (const auto& e : std::filesystem::directory_iterator(scratch))
    if (e.path().extension() == ".pid" && !slurp(e.path()).empty()) pids.push_back(std::stoi(slurp(e.path())));
  return pids;
}

bool netns_exists(const std::string& name) { return std::filesystem::exists("/run/netns/" + name); }

class EmulatedHosts : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = std::filesystem::temp_directory_path() /
               ("lingua_hosts_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(scratch_);
    std::filesystem::permissions(scratch_, std::filesystem::perms::all);
    devices_ = (scratch_ / "hosts.yaml").string();
    std::ofstream(devices_) << kDevices;
  }
  void TearDown() override {
    if (::geteuid() == 0 && needs_root_) run_command({hosts_script(), "down"}, scratch_, 60);
    std::filesystem::remove_all(scratch_);
  }

  // Skips unless root; clears anything an earlier failed test left.
  bool root_or_skip() {
    if (::geteuid() != 0) return false;
    // Root in a container or chroot without network namespaces (or without iproute2) cannot host them.
    // In a chroot whose / is not a mount point a namespace can be made but not entered (`ip netns
    // exec` fails on "mount --make-rslave /"); asked first, so nothing is made there (`ip netns add`
    // would leave /run/netns mounted inside the chroot).
    if (run_command({"unshare", "--mount", "--propagation", "slave", "true"}, scratch_, 10).rc != 0) return false;
    const std::string probe = "lingua-h-probe-" + std::to_string(::getpid());
    if (run_command({"ip", "netns", "add", probe}, scratch_, 10).rc != 0) return false;
    const bool enters = run_command({"ip", "netns", "exec", probe, "true"}, scratch_, 10).rc == 0;
    run_command({"ip", "netns", "del", probe}, scratch_, 10);
    if (!enters) return false;
    needs_root_ = true;
    const CliRun d = script({"down"});
    EXPECT_EQ(d.rc, 0) << d.err;
    return true;
  }
  CliRun script(const std::vector<std::string>& args, int timeout_s = 120) {
    std::vector<std::string> argv = {hosts_script()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, scratch_, timeout_s);
  }
  void up() {
    const CliRun r = script({"up", devices_});
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  std::unique_ptr<Child> in_host(const std::string& host, const std::vector<std::string>& cmd, const std::string& tag) {
    std::vector<std::string> argv = {hosts_script(), "exec", host};
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    return std::make_unique<Child>(argv, scratch_ / (tag + "_out.txt"), scratch_ / (tag + "_err.txt"));
  }
  // A relay inside `host` on 127.0.0.1:7700 (where the host's service belongs) to the head's
  // address: the host's own relay, in front of it, then leads everything back to this test.
  std::unique_ptr<Child> service_to_head(const std::string& host, uint16_t head_port) {
    auto c = in_host(host,
                     {relay_binary(), "--listen", "127.0.0.1:" + std::to_string(kPort), "--to",
                      "10.77.0.1:" + std::to_string(head_port), "--delay", "0s"},
                     host + "_service");
    const bool up = eventually(
        [&] {
          const CliRun r = script({"exec", host, "ss", "-Hltn", "src 127.0.0.1 and sport = :7700"}, 10);
          return !r.out.empty();
        },
        10);
    EXPECT_TRUE(up) << c->err();
    return c;
  }

  std::filesystem::path scratch_;
  std::string devices_;
  bool needs_root_ = false;
};

#define ROOT_OR_SKIP()                                                                                  \
  do {                                                                                                  \
    if (!root_or_skip()) GTEST_SKIP() << "needs root and network namespaces (ip netns, tc, cgroups); CI runs as root"; \
  } while (0)

TEST_F(EmulatedHosts, NonRootIsRefused) {
  // As root the script is run as `nobody`, from a copy `nobody` can read (a checkout under /root
  // is closed to it); otherwise as whoever runs the tests.
  std::vector<std::string> argv;
  std::string script_path = hosts_script();
  if (::geteuid() == 0) {
    argv = {"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"};
    const std::filesystem::path copy = std::filesystem::temp_directory_path() / ("lingua-hosts-script-" + std::to_string(::getpid()) + ".sh");
    std::filesystem::copy_file(script_path, copy, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::permissions(copy, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                           std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                                           std::filesystem::perms::others_exec);
    script_path = copy.string();
  }
  argv.push_back(script_path);
  for (const auto& cmd : std::vector<std::vector<std::string>>{{"up", devices_}, {"down"}, {"run", devices_, "--", "true"}}) {
    std::vector<std::string> full = argv;
    full.insert(full.end(), cmd.begin(), cmd.end());
    const CliRun r = run_command(full, scratch_, 30);
    EXPECT_EQ(r.rc, 1) << cmd[0] << ": " << r.err;
    EXPECT_EQ(r.err, "emulated_hosts.sh: must run as root (network namespaces and cgroups)\n") << cmd[0];
  }
  if (script_path != hosts_script()) std::filesystem::remove(script_path);
  EXPECT_FALSE(netns_exists("lingua-h-ha"));
}

TEST_F(EmulatedHosts, UsageAndUnknownCommands) {
  const CliRun help = script({"--help"});
  EXPECT_EQ(help.rc, 0);
  EXPECT_NE(help.out.find("usage: emulated_hosts.sh up FILE"), std::string::npos) << help.out;
  const CliRun bad = script({"launch"});
  EXPECT_EQ(bad.rc, 1);
  EXPECT_NE(bad.err.find("unknown command 'launch'"), std::string::npos) << bad.err;
}

TEST_F(EmulatedHosts, BadDevicesFileIsRefusedAndLeavesNothing) {
  ROOT_OR_SKIP();
  const CliRun missing = script({"up", (scratch_ / "nope.yaml").string()});
  EXPECT_EQ(missing.rc, 1);
  EXPECT_NE(missing.err.find("nope.yaml' does not exist"), std::string::npos) << missing.err;
  const std::string bad = (scratch_ / "bad.yaml").string();
  std::ofstream(bad) << "devices:\n  - name: x\n    memory: 1GiB\n    cpu: 0\n";
  const CliRun r = script({"up", bad});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("'cpu'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("between 0.01 and 1024"), std::string::npos) << r.err;
  EXPECT_EQ(leftovers(scratch_), "");
}

TEST_F(EmulatedHosts, UpGivesEachHostItsCgroupsAddressAndEndpoint) {
  ROOT_OR_SKIP();
  up();
  const CliRun cg = script({"exec", "ha", "cat", "/proc/self/cgroup"});
  ASSERT_EQ(cg.rc, 0) << cg.err;
  EXPECT_NE(cg.out.find("/lingua-h-ha"), std::string::npos) << cg.out;
  // The limits as the kernel holds them (v1 mounts or v2's unified tree).
  if (std::filesystem::exists("/sys/fs/cgroup/cpu/lingua-h-ha")) {
    EXPECT_EQ(slurp("/sys/fs/cgroup/cpu/lingua-h-ha/cpu.cfs_period_us"), "10000\n");
    EXPECT_EQ(slurp("/sys/fs/cgroup/cpu/lingua-h-ha/cpu.cfs_quota_us"), "2500\n");
    EXPECT_EQ(slurp("/sys/fs/cgroup/cpu/lingua-h-hb/cpu.cfs_quota_us"), "5000\n");
    EXPECT_EQ(slurp("/sys/fs/cgroup/memory/lingua-h-ha/memory.limit_in_bytes"), std::to_string(64 << 20) + "\n");
  } else if (std::filesystem::exists("/sys/fs/cgroup/lingua-h-ha/cpu.max")) {
    EXPECT_EQ(slurp("/sys/fs/cgroup/lingua-h-ha/cpu.max"), "2500 10000\n");
    EXPECT_EQ(slurp("/sys/fs/cgroup/lingua-h-ha/memory.max"), std::to_string(64 << 20) + "\n");
  } else {
    ADD_FAILURE() << "no cgroup folder for host ha";
  }
  const CliRun addr = script({"exec", "hb", "sh", "-c", "ip -br addr show eth0; echo $LINGUA_H_NAME $LINGUA_H_ADDR $LINGUA_H_LISTEN"});
  ASSERT_EQ(addr.rc, 0) << addr.err;
  EXPECT_NE(addr.out.find("10.77.0.11/24"), std::string::npos) << addr.out;
  EXPECT_NE(addr.out.find("hb 10.77.0.11 tcp://127.0.0.1:7700"), std::string::npos) << addr.out;

  const CliRun env = script({"env"});
  ASSERT_EQ(env.rc, 0) << env.err;
  const std::string key = "LINGUA_H_DEVICES=";
  ASSERT_EQ(env.out.rfind(key, 0), 0u) << env.out;
  const std::string path = env.out.substr(key.size(), env.out.find('\n') - key.size());
  auto file = load_devices_file(path);
  ASSERT_TRUE(file.has_value()) << file.error();
  ASSERT_EQ(file->devices.size(), 2u);
  EXPECT_EQ(file->devices[0].endpoint, "tcp://10.77.0.10:7700");
  EXPECT_EQ(file->devices[1].endpoint, "tcp://10.77.0.11:7700");
  EXPECT_DOUBLE_EQ(file->devices[0].cpu_cores, 0.25);
  EXPECT_DOUBLE_EQ(file->link("ha", "hb").latency_s, 0.005);

  const CliRun again = script({"up", devices_});
  EXPECT_EQ(again.rc, 1);
  EXPECT_NE(again.err.find("already up"), std::string::npos) << again.err;
  const CliRun nohost = script({"exec", "hc", "true"});
  EXPECT_EQ(nohost.rc, 1);
  EXPECT_NE(nohost.err.find("no emulated host 'hc'"), std::string::npos) << nohost.err;
}

TEST_F(EmulatedHosts, HostsReachEachOtherAndTheHeadThroughTheBridge) {
  ROOT_OR_SKIP();
  up();
  Sink sink("10.77.0.1");
  ASSERT_TRUE(sink.ok());
  auto service = service_to_head("hb", sink.port());
  // ha -> hb's relay -> hb's service -> the head's sink.
  const CliRun a = script({"exec", "ha", "bash", "-c", "echo from-ha > /dev/tcp/10.77.0.11/7700"});
  EXPECT_EQ(a.rc, 0) << a.err;
  EXPECT_TRUE(eventually([&] { return sink.received().find("from-ha") != std::string::npos; }, 10)) << sink.received();
  // The head (this namespace) -> hb.
  const int fd = connect_to("10.77.0.11", kPort);
  ASSERT_GE(fd, 0);
  send_all(fd, "from-head\n");
  ::close(fd);
  EXPECT_TRUE(eventually([&] { return sink.received().find("from-head") != std::string::npos; }, 10)) << sink.received();
}

TEST_F(EmulatedHosts, TbfCapsAHostsBandwidth) {
  ROOT_OR_SKIP();
  up();
  Sink sink("10.77.0.1");
  ASSERT_TRUE(sink.ok());
  const size_t bytes = 3'000'000;  // 3 s at 8 Mbit/s
  const CliRun r = script({"exec", "ha", "bash", "-c",
                           "head -c " + std::to_string(bytes) + " /dev/zero > /dev/tcp/10.77.0.1/" + std::to_string(sink.port())});
  ASSERT_EQ(r.rc, 0) << r.err;
  ASSERT_TRUE(eventually([&] { return sink.received().size() == bytes; }, 30)) << sink.received().size();
  const double bits_per_s = sink.rate() * 8;
  EXPECT_NEAR(bits_per_s, 8e6, 8e6 * 0.25) << "measured " << bits_per_s / 1e6 << " Mbit/s";
}

TEST_F(EmulatedHosts, RelayAddsTheLinkLatency) {
  ROOT_OR_SKIP();
  up();
  EchoServer echo("10.77.0.1");
  ASSERT_TRUE(echo.ok());
  auto service = service_to_head("hb", echo.port());
  // Head -> hb: the default link, 20 ms each way.
  const int fd = connect_to("10.77.0.11", kPort);
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 3; ++i) {
    const double rtt = round_trip(fd);
    ASSERT_GT(rtt, 0);
    EXPECT_GE(rtt, 2 * 0.020 * 0.95);
    EXPECT_LT(rtt, 2 * 0.020 + 0.2);
  }
  ::close(fd);
  // ha -> hb: their pair link, 5 ms each way (timed inside ha with bash's clock).
  const CliRun r = script({"exec", "ha", "bash", "-c",
                           "exec 3<>/dev/tcp/10.77.0.11/7700; echo x >&3; read -r -u 3 l; "
                           "s=$EPOCHREALTIME; echo x >&3; read -r -u 3 l; e=$EPOCHREALTIME; echo \"$s $e\""});
  ASSERT_EQ(r.rc, 0) << r.err;
  std::istringstream times(r.out);
  double s = 0, e = 0;
  ASSERT_TRUE(times >> s >> e) << r.out;
  EXPECT_GE(e - s, 2 * 0.005 * 0.95);
  EXPECT_LT(e - s, 2 * 0.020 * 0.95) << "the pair link's latency, not the default one's";
}

TEST_F(EmulatedHosts, StatsPrintOneJsonLinePerHostWithMemoryFailures) {
  ROOT_OR_SKIP();
  up();
  // Past ha's 64 MiB: the kernel kills the process.
  // (`tail -c N` of a pipe holds N bytes.)
  const CliRun hog = script({"exec", "ha", "sh", "-c", "head -c 200000000 /dev/zero | tail -c 150000000 | wc -c"});
  EXPECT_NE(hog.out, "150000000\n") << "150 MB fit in 64 MiB";
  const CliRun st = script({"stats"});
  ASSERT_EQ(st.rc, 0) << st.err;
  std::istringstream lines(st.out);
  std::set<std::string> names;
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    names.insert(j.at("name").get<std::string>());
    if (j.at("name") == "ha") {
      EXPECT_EQ(j.at("address"), "10.77.0.10");
      EXPECT_EQ(j.at("memory_limit_bytes").get<uint64_t>(), 64u << 20);
      // The kernel counts the limit being hit in failcnt (not every kernel does for v1) or, at
      // least, the process it killed.
      EXPECT_GT(j.at("memory_failcnt").get<uint64_t>() + j.at("memory_oom_kills").get<uint64_t>(), 0u) << line;
      EXPECT_EQ(j.at("memory_oom_kills").get<uint64_t>(), 1u) << line;
      EXPECT_GT(j.at("memory_peak_bytes").get<uint64_t>(), 32u << 20) << line;
      EXPECT_LE(j.at("memory_peak_bytes").get<uint64_t>(), 64u << 20) << line;
      EXPECT_GT(j.at("cpu_usage_ns").get<uint64_t>(), 0u) << line;
      EXPECT_DOUBLE_EQ(j.at("cpu_quota_cores").get<double>(), 0.25);
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{"ha", "hb"}));
}

TEST_F(EmulatedHosts, DownLeavesNothingAndIsIdempotent) {
  ROOT_OR_SKIP();
  up();
  auto sleeper = in_host("ha", {"sleep", "1000"}, "sleeper");
  const std::string cmdline = "/proc/" + std::to_string(sleeper->pid()) + "/cmdline";
  ASSERT_TRUE(eventually([&] { return slurp(cmdline).rfind("sleep", 0) == 0; }, 10)) << sleeper->err();
  ASSERT_NE(leftovers(scratch_), "");
  const CliRun d = script({"down"});
  EXPECT_EQ(d.rc, 0) << d.err;
  EXPECT_NE(d.err.find("removed 2 emulated hosts"), std::string::npos) << d.err;
  EXPECT_TRUE(sleeper->wait_for(5).has_value()) << "the process in the host was stopped";
  EXPECT_EQ(leftovers(scratch_), "");
  const CliRun again = script({"down"});
  EXPECT_EQ(again.rc, 0) << again.err;
}

// The workers of a run: real `lingua worker`s, each writing its pid to scratch/worker-NAME.pid.
std::string worker_cmd(const std::filesystem::path& scratch) {
  return "echo $$ > " + shell_quote(scratch.string()) + "/worker-$LINGUA_H_NAME.pid; exec " +
         shell_quote(lingua_binary()) + " worker --listen \"$LINGUA_H_LISTEN\" --name \"$LINGUA_H_NAME\" --insecure";
}

TEST_F(EmulatedHosts, RunStartsWorkersThenTheHeadAndCleansUp) {
  ROOT_OR_SKIP();
  ASSERT_TRUE(std::filesystem::exists(lingua_binary())) << lingua_binary();
  const CliRun r = script({"run", devices_, "--host-cmd", worker_cmd(scratch_), "--", "sh", "-c",
                           "cat \"$LINGUA_H_DEVICES\"; for f in " + shell_quote(scratch_.string()) +
                               "/worker-*.pid; do kill -0 $(cat $f) && echo alive; done; exit 3"});
  EXPECT_EQ(r.rc, 3) << "the head's exit code: " << r.err;
  EXPECT_NE(r.out.find("endpoint: tcp://10.77.0.10:7700"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("endpoint: tcp://10.77.0.11:7700"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("alive\nalive\n"), std::string::npos) << "both workers ran before the head: " << r.out;
  EXPECT_EQ(recorded_pids(scratch_).size(), 2u);
  EXPECT_EQ(leftovers(scratch_, recorded_pids(scratch_)), "");
}

TEST_F(EmulatedHosts, SigintInTheMiddleOfARunLeavesNothing) {
  ROOT_OR_SKIP();
  ASSERT_TRUE(std::filesystem::exists(lingua_binary())) << lingua_binary();
  const std::string head_pid = (scratch_ / "head.pid").string();
  Child run({hosts_script(), "run", devices_, "--host-cmd", worker_cmd(scratch_), "--", "sh", "-c",
             "echo $$ > " + shell_quote(head_pid) + "; exec sleep 1000"},
            scratch_ / "run_out.txt", scratch_ / "run_err.txt");
  ASSERT_TRUE(eventually([&] { return !slurp(head_pid).empty(); }, 60)) << run.err();
  const pid_t head = std::stoi(slurp(head_pid));
  ::kill(run.pid(), SIGINT);
  const auto rc = run.wait_for(30);
  ASSERT_TRUE(rc.has_value()) << "run did not stop on SIGINT: " << run.err();
  EXPECT_EQ(*rc, 130) << run.err();
  EXPECT_NE(::kill(head, 0), 0) << "the head command was stopped too";
  EXPECT_EQ(recorded_pids(scratch_).size(), 3u) << "two workers and the head";
  EXPECT_EQ(leftovers(scratch_, recorded_pids(scratch_)), "");
}

TEST_F(EmulatedHosts, UpAfterAKilledUpOrRunWorks) {
  ROOT_OR_SKIP();
  {
    Child first({hosts_script(), "up", devices_}, scratch_ / "first_out.txt", scratch_ / "first_err.txt");
    ASSERT_TRUE(eventually([] { return netns_exists("lingua-h-ha"); }, 30)) << first.err();
    ::kill(first.pid(), SIGKILL);
    first.wait_for(5);
  }
  ASSERT_NE(leftovers(scratch_), "") << "the killed up left something to clean";
  const CliRun second = script({"up", devices_});
  ASSERT_EQ(second.rc, 0) << second.err;
  EXPECT_NE(second.err.find("removing what an earlier run left behind"), std::string::npos) << second.err;
  const CliRun st = script({"stats"});
  EXPECT_EQ(std::count(st.out.begin(), st.out.end(), '\n'), 2) << st.out;
  ASSERT_EQ(script({"down"}).rc, 0);

  // A run killed outright (no trap runs): its hosts stay, and the next up takes them over.
  const std::string head_pid = (scratch_ / "head.pid").string();
  {
    Child run({hosts_script(), "run", devices_, "--", "sh", "-c", "echo $$ > " + shell_quote(head_pid) + "; exec sleep 1000"},
              scratch_ / "run_out.txt", scratch_ / "run_err.txt");
    ASSERT_TRUE(eventually([&] { return !slurp(head_pid).empty(); }, 30)) << run.err();
    ::kill(run.pid(), SIGKILL);
    run.wait_for(5);
  }
  const CliRun third = script({"up", devices_});
  ASSERT_EQ(third.rc, 0) << third.err;
  const CliRun d = script({"down"});
  EXPECT_EQ(d.rc, 0) << d.err;
  // The killed run's head is on this machine in its own session, beyond down's reach: the test ends it.
  const pid_t head = std::stoi(slurp(head_pid));
  ::kill(head, SIGKILL);
  EXPECT_TRUE(eventually([&] { return ::kill(head, 0) != 0; }, 5));
  EXPECT_EQ(leftovers(scratch_), "");
}

}  // namespace
}  // namespace lingua::testing
