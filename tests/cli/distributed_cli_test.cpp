// The distributed runtime as a user runs it, with real `lingua worker` processes on loopback:
// `generate --local-devices K`, devices files and plan files with cuts inside blocks give the
// single-device greedy tokens on every architecture and weight type; a worker admits only heads
// whose key it holds and survives garbage connections; a worker killed or frozen mid-run is
// re-planned around with the same tokens (and the last one lost ends the run naming it); a device
// turning slow is balanced away without oscillating; bad flags and plain sockets beyond loopback
// are one-line errors. After every test no worker process is left.
//
// Workers are recognised by their command line ("lingua worker ...", what `pgrep -f "lingua
// worker"` matches) and, so that workers of other test runs on the same machine are not
// counted, by an environment variable this test process sets and every child inherits.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <regex>
#include <set>
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
using Clock = std::chrono::steady_clock;

constexpr const char* kTagVariable = "LINGUA_DISTRIBUTED_TEST_TAG";

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string read_file(const fs::path& p) { return testing::slurp(p); }

// The NUL-separated entries of /proc/PID/cmdline or environ; none when the process is gone (or
// a zombie, whose cmdline is empty).
std::vector<std::string> proc_strings(const fs::path& file) {
  std::vector<std::string> out;
  const std::string text = read_file(file);
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\0', start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// Pids of `lingua worker` processes started (directly or through a head) by this test process
// whose command line, joined with spaces, matches `pattern` (as `pgrep -f PATTERN` would).
std::vector<pid_t> our_workers(const std::string& pattern = "lingua worker") {
  const char* tag = std::getenv(kTagVariable);
  const std::string want = std::string(kTagVariable) + "=" + (tag ? tag : "");
  const std::regex re(pattern);
  std::vector<pid_t> pids;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    const std::vector<std::string> argv = proc_strings(entry.path() / "cmdline");
    if (argv.size() < 2 || argv[1] != "worker" || fs::path(argv[0]).filename() != "lingua") continue;
    std::string line;
    for (const auto& a : argv) line += (line.empty() ? "" : " ") + a;
    if (!std::regex_search(line, re)) continue;
    const std::vector<std::string> env = proc_strings(entry.path() / "environ");
    if (std::find(env.begin(), env.end(), want) == env.end()) continue;
    pids.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return pids;
}

// A `lingua` process started in the background, stdout and stderr to files; killed and reaped
// when it goes out of scope (so a failing test leaves nothing behind).
class Background {
 public:
  Background(const std::vector<std::string>& args, const fs::path& out, const fs::path& err) : out_(out), err_(err) {
    std::vector<std::string> argv = {testing::lingua_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = ::fork();
    if (pid_ == 0) {
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
  ~Background() { stop(); }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  pid_t pid() const { return pid_; }
  std::string out() const { return read_file(out_); }
  std::string err() const { return read_file(err_); }

  bool running() {
    if (exited_) return false;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == 0) return true;
    exited_ = true;
    code_ = r == pid_ ? (WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)) : -1;
    return false;
  }
  // Its exit code (128 + signal when killed), or nothing when it still runs after timeout_s.
  std::optional<int> wait_for(double timeout_s) {
    const auto t0 = Clock::now();
    while (running()) {
      if (seconds_since(t0) > timeout_s) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return code_;
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
  fs::path out_, err_;
  bool exited_ = false;
  int code_ = -1;
};

class DistributedCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("lingua-distributed-cli-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    setenv(kTagVariable, std::to_string(::getpid()).c_str(), 1);
    // The machine profile the planner needs is measured once per build tree (shared with the
    // plan tests); keys the head might make go to scratch, never to ~/.config.
    setenv("LINGUA_CACHE_DIR", (fs::path(testing::lingua_binary()).parent_path() / "test-profile-cache").c_str(), 1);
    setenv("LINGUA_KEYS", (dir_ / "default-keys").c_str(), 1);
    // Measured here if not cached yet, so no timed step below includes the measuring.
    CliRun r = lingua({"profile", "-t", "1", "--cached"}, 300);
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void TearDown() override {
    // Every worker has ended (local ones die with their head), given up to 2 s.
    const auto t0 = Clock::now();
    std::vector<pid_t> left = our_workers();
    while (!left.empty() && seconds_since(t0) < 2.0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      left = our_workers();
    }
    if (!left.empty()) {
      std::string list;
      for (pid_t p : left) {
        list += ' ';
        list += std::to_string(p);
        ::kill(p, SIGKILL);  // do not leak them into the next test
      }
      ADD_FAILURE() << "lingua worker processes still running 2 s after the test:" << list;
    }
  }

  static CliRun lingua(const std::vector<std::string>& args, int timeout_s = 120) {
    return testing::run_lingua(args, dir_, timeout_s);
  }
  static std::string write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  static std::string shipped() { return testing::source_dir() + "/models/kjv-fortunes-3M-f32.gguf"; }

  // A small random-weight model (dim 256, ffn 512: whole blocks of every quantized type), made
  // once per test process.
  static std::string synth(const std::string& arch, const std::string& type, int layers = 2, int ctx = 0) {
    std::string file = arch + "-" + type + "-L" + std::to_string(layers);
    if (ctx > 0) file += "-C" + std::to_string(ctx);
    const fs::path p = dir_ / (file + ".gguf");
    if (fs::exists(p)) return p.string();
    std::vector<std::string> args = {"synth", "--arch", arch, "--type", type, "--dim", "256", "--layers", std::to_string(layers),
                                     "--heads", "4", "--ffn", "512", "--vocab", "512", "-o", p.string()};
    if (arch != "bloom") args.insert(args.end(), {"--kv-heads", "2"});
    if (arch == "gemma3") args.insert(args.end(), {"--sliding-window", "4", "--sliding-window-pattern", "2"});
    if (ctx > 0) args.insert(args.end(), {"--ctx", std::to_string(ctx)});
    CliRun r = lingua(args);
    EXPECT_EQ(r.rc, 0) << r.err;
    return p.string();
  }

  // generate --temp 0 --json on one thread per device; the parsed document ({} on failure).
  static json generate(const std::string& model, const std::string& prompt, int n, const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"generate", "-m", model, "-p", prompt, "-n", std::to_string(n),
                                     "--temp", "0", "--ignore-eos", "--json", "-t", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    CliRun r = lingua(args);
    EXPECT_EQ(r.rc, 0) << "generate " << model << " with" << ::testing::PrintToString(extra) << ":\n" << r.err;
    if (r.rc != 0 || r.out.empty()) return json::object();
    try {
      return json::parse(r.out);
    } catch (const json::exception& e) {
      ADD_FAILURE() << "not JSON: " << e.what() << "\n" << r.out;
      return json::object();
    }
  }

  // The single-device greedy tokens, computed once per (model, prompt, n).
  static json single_tokens(const std::string& model, const std::string& prompt, int n) {
    static std::map<std::string, json> cache;
    const std::string key = model + "\n" + prompt + "\n" + std::to_string(n);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    const json doc = generate(model, prompt, n, {});
    EXPECT_EQ(doc.value("devices", 0), 1);
    const json tokens = doc.value("tokens", json::array());
    EXPECT_EQ(tokens.size(), static_cast<size_t>(n)) << model;
    if (tokens.size() == static_cast<size_t>(n)) cache[key] = tokens;
    return tokens;
  }

  // Op names of the model's graph (lingua graph --json).
  static std::vector<std::string> op_names(const std::string& model) {
    CliRun r = lingua({"graph", "-m", model, "--json"});
    EXPECT_EQ(r.rc, 0) << r.err;
    std::vector<std::string> names;
    if (r.rc != 0) return names;
    const json doc = json::parse(r.out);
    for (const auto& op : doc.at("ops")) names.push_back(op.at("name").get<std::string>());
    return names;
  }

  // A plan file (plan/plan_file.h) with segments starting at 0 and at each of `starts`, run by
  // `devices` in that order.
  static std::string write_plan(const std::string& name, const std::vector<std::string>& ops, const std::vector<int>& starts,
                                const std::vector<std::string>& devices) {
    json segs = json::array();
    for (size_t i = 0; i < devices.size(); ++i) {
      const int first = i == 0 ? 0 : starts[i - 1];
      const int last = i + 1 < devices.size() ? starts[i] - 1 : static_cast<int>(ops.size()) - 1;
      segs.push_back({{"device", devices[i]}, {"first_op", first}, {"last_op", last},
                      {"first_op_name", ops[static_cast<size_t>(first)]}, {"last_op_name", ops[static_cast<size_t>(last)]},
                      {"memory_bytes", 0}});
    }
    const json doc = {{"format", "lingua-plan"}, {"version", 1}, {"model", "test"}, {"n_ops", ops.size()},
                      {"objective", "latency"}, {"name", name}, {"predicted_tokens_per_s", 0}, {"segments", segs}};
    return write(name + ".plan.json", doc.dump(2));
  }

  // Local devices d0..d{k-1} (no endpoint), memory for any segment, fast shaped links.
  static std::string local_devices_file(const std::string& name, int k, const std::string& extra_for_last = "") {
    std::string text = "devices:\n";
    for (int i = 0; i < k; ++i)
      text += "  - {name: d" + std::to_string(i) + ", threads: 1, memory: 1GiB" + (i == k - 1 ? extra_for_last : "") + "}\n";
    text += "links:\n  default: {bandwidth: 1Gbit/s, latency: 1ms}\n";
    return write(name, text);
  }

  static inline fs::path dir_;
};

TEST_F(DistributedCli, LocalDevicesGiveTheSingleDeviceTokens) {
  const std::string prompt = "In the beginning";
  const json want = single_tokens(shipped(), prompt, 24);
  ASSERT_EQ(want.size(), 24u);
  for (int k : {2, 3, 4}) {
    const json doc = generate(shipped(), prompt, 24, {"--local-devices", std::to_string(k)});
    EXPECT_EQ(doc.value("devices", 0), k);
    EXPECT_EQ(doc.value("tokens", json::array()), want) << "--local-devices " << k;
  }
  // Half-precision activations on the wire are not exact, but the run completes.
  const json f16 = generate(shipped(), prompt, 24, {"--local-devices", "3", "--wire-dtype", "f16"});
  EXPECT_EQ(f16.value("devices", 0), 3);
  EXPECT_EQ(f16.value("tokens", json::array()).size(), 24u);
}

TEST_F(DistributedCli, EveryArchitectureAndWeightTypeSplitsExactly) {
  std::vector<std::pair<std::string, std::string>> models;
  for (const char* arch : {"llama", "qwen2", "qwen3", "bloom", "phi3", "gemma3"}) models.emplace_back(arch, "f32");
  for (const char* type : {"f16", "bf16", "q8_0", "q4_0", "q5_0", "q4_k", "q5_k", "q6_k"}) models.emplace_back("llama", type);
  for (const char* arch : {"qwen2", "qwen3", "bloom"}) models.emplace_back(arch, "q4_k");
  for (const auto& [arch, type] : models) {
    SCOPED_TRACE(arch + " " + type);
    const std::string model = synth(arch, type);
    const json want = single_tokens(model, "a b c", 16);
    ASSERT_EQ(want.size(), 16u);
    const json doc = generate(model, "a b c", 16, {"--local-devices", "3"});
    EXPECT_EQ(doc.value("devices", 0), 3);
    EXPECT_EQ(doc.value("tokens", json::array()), want);
  }
}

TEST_F(DistributedCli, RandomPlansWithCutsInsideBlocksGiveTheSingleDeviceTokens) {
  const std::vector<std::string> models = {shipped(), synth("qwen2", "q8_0", 3)};
  std::mt19937 rng(20261129);
  auto below = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  const std::regex block("^blk\\.([0-9]+)\\.");
  const int ks[] = {2, 3, 4, static_cast<int>(2 + rng() % 3)};
  for (int p = 0; p < 4; ++p) {
    const int k = ks[p];
    const std::string& model = models[static_cast<size_t>(p) % models.size()];
    const std::vector<std::string> ops = op_names(model);
    ASSERT_GT(ops.size(), 10u);
    // Ops that start a segment inside a block: the op before belongs to the same block.
    std::vector<int> inside;
    for (size_t i = 1; i < ops.size(); ++i) {
      std::smatch a, b;
      if (std::regex_search(ops[i], a, block) && std::regex_search(ops[i - 1], b, block) && a[1] == b[1])
        inside.push_back(static_cast<int>(i));
    }
    ASSERT_GE(inside.size(), static_cast<size_t>(k));
    std::vector<int> starts;
    while (starts.size() < static_cast<size_t>(k - 1)) {
      const int s = inside[below(inside.size())];
      if (std::find(starts.begin(), starts.end(), s) == starts.end()) starts.push_back(s);
    }
    std::sort(starts.begin(), starts.end());
    std::vector<std::string> devices;
    for (int i = 0; i < k; ++i) devices.push_back(std::string(1, 'd').append(std::to_string(i)));
    std::shuffle(devices.begin(), devices.end(), rng);  // segment i need not run on device i
    std::string where;
    for (int s : starts) {
      where += ' ';
      where += std::to_string(s);
      where += ':';
      where += ops[static_cast<size_t>(s)];
    }
    SCOPED_TRACE("plan " + std::to_string(p) + " on " + fs::path(model).filename().string() + ", cuts at" + where);
    const std::string plan = write_plan("random" + std::to_string(p), ops, starts, devices);
    const std::string file = local_devices_file("random" + std::to_string(p) + ".yaml", k);
    const json want = single_tokens(model, "And God said", 16);
    const json doc = generate(model, "And God said", 16,
                              {"--devices", file, "--plan", plan, "--local-devices", std::to_string(k)});
    EXPECT_EQ(doc.value("devices", 0), k);
    EXPECT_EQ(doc.value("tokens", json::array()), want);
  }
}

// A worker started by hand with its own key directory, and a head with another one.
class WorkerWithKeys {
 public:
  WorkerWithKeys(const fs::path& root, const std::string& name, bool trust_head, const std::string& device_extra = "")
      : worker_keys_(root / "worker-keys"), head_keys_(root / "head-keys") {
    fs::create_directories(root);
    CliRun r = testing::run_lingua({"keygen", "-o", head_keys_.string(), "--name", "lingua"}, root);
    EXPECT_EQ(r.rc, 0) << r.err;
    if (trust_head) {
      r = testing::run_lingua({"keygen", "-o", worker_keys_.string(), "--name", "lingua"}, root);
      EXPECT_EQ(r.rc, 0) << r.err;
      trust_head_key();
    }
    // Without trust_head the worker makes its own key pair and starts with no heads/ folder.
    worker_.emplace(std::vector<std::string>{"worker", "--listen", "tcp://127.0.0.1:0", "--keys", worker_keys_.string(),
                                             "--name", name, "--no-profile"},
                    root / "worker.out", root / "worker.err");
    endpoint_ = wait_endpoint();
    if (endpoint_.empty()) return;
    std::error_code ec;
    fs::create_directories(head_keys_ / "workers");
    fs::copy_file(worker_keys_ / "lingua.pub", head_keys_ / "workers" / (name + ".pub"), ec);
    EXPECT_FALSE(ec) << ec.message();
    devices_ = (root / "remote.yaml").string();
    std::ofstream(devices_) << "devices:\n  - {name: " << name << ", endpoint: " << endpoint_
                            << ", threads: 1, memory: 1GiB" << device_extra << "}\n";
  }
  void trust_head_key() {
    const fs::path to = worker_keys_ / "heads" / "head.pub";
    fs::create_directories(to.parent_path());
    const fs::path tmp = worker_keys_ / "head.pub.partial";
    fs::copy_file(head_keys_ / "lingua.pub", tmp, fs::copy_options::overwrite_existing);
    fs::rename(tmp, to);
  }
  Background& process() { return *worker_; }
  const std::string& endpoint() const { return endpoint_; }
  const std::string& devices_file() const { return devices_; }
  std::string head_keys() const { return head_keys_.string(); }
  uint16_t port() const { return static_cast<uint16_t>(std::stoi(endpoint_.substr(endpoint_.rfind(':') + 1))); }

 private:
  std::string wait_endpoint() {
    const std::regex re("listening on (tcp://127\\.0\\.0\\.1:[0-9]+)");
    const auto t0 = Clock::now();
    while (seconds_since(t0) < 10 && worker_->running()) {
      std::smatch m;
      const std::string err = worker_->err();
      if (std::regex_search(err, m, re)) return m[1].str();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "the worker did not say where it listens:\n" << worker_->err();
    return "";
  }

  fs::path worker_keys_, head_keys_;
  std::optional<Background> worker_;
  std::string endpoint_, devices_;
};

TEST_F(DistributedCli, WorkerRefusesAnUnknownHeadUntilItsKeyIsCopied) {
  const std::string prompt = "In the beginning";
  const json want = single_tokens(shipped(), prompt, 16);
  WorkerWithKeys w(dir_ / "refuse", "w1", /*trust_head=*/false);
  ASSERT_FALSE(w.endpoint().empty());
  EXPECT_TRUE(fs::exists(dir_ / "refuse" / "worker-keys" / "lingua.key")) << "the worker makes its key pair";

  // (a) The head's key is not in the worker's heads/ folder: refused, exit 1, within seconds.
  const auto t0 = Clock::now();
  CliRun r = lingua({"generate", "-m", shipped(), "-p", prompt, "-n", "16", "--temp", "0", "--ignore-eos", "--json",
                     "-t", "1", "--devices", w.devices_file(), "--keys", w.head_keys()},
                    60);
  const double took = seconds_since(t0);
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find("refused"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("key"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("w1"), std::string::npos) << r.err;
  EXPECT_LT(took, 8.0) << "a refused head should stop within a few seconds";
  EXPECT_TRUE(w.process().running()) << w.process().err();
  EXPECT_NE(w.process().err().find("refused"), std::string::npos) << "the worker logs the refusal:\n" << w.process().err();

  // (b) Its lingua.pub copied to the worker's heads/ (read again every 2 s): served, same tokens.
  w.trust_head_key();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const json doc = generate(shipped(), prompt, 16, {"--devices", w.devices_file(), "--keys", w.head_keys()});
  EXPECT_EQ(doc.value("tokens", json::array()), want);
  EXPECT_EQ(doc.value("devices", 0), 1);
  EXPECT_TRUE(w.process().running()) << "a worker started by hand keeps serving after a session";
  // The check TearDown makes sees this worker while it runs (and nothing else of this test).
  EXPECT_EQ(our_workers(), std::vector<pid_t>{w.process().pid()});
  w.process().stop();
}

// One TCP connection to 127.0.0.1:port that sends `bytes` and closes; false when it cannot
// connect.
bool send_raw(uint16_t port, const std::vector<uint8_t>& bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return false;
  }
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the worker may hang up first: that is its right
    sent += static_cast<size_t>(n);
  }
  ::close(fd);
  return true;
}

TEST_F(DistributedCli, GarbageConnectionsDoNotKillAWorker) {
  const std::string prompt = "In the beginning";
  const json want = single_tokens(shipped(), prompt, 16);
  WorkerWithKeys w(dir_ / "garbage", "w1", /*trust_head=*/true);
  ASSERT_FALSE(w.endpoint().empty());
  std::mt19937 rng(7700);
  int connected = 0;
  for (int i = 0; i < 200; ++i) {
    std::vector<uint8_t> bytes(1 + rng() % 4096);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    // Every fourth starts with a ZMTP 3 greeting (CURVE or NULL mechanism) so the garbage
    // reaches the handshake rather than dying at the signature.
    if (i % 4 == 0 && bytes.size() >= 64) {
      std::fill(bytes.begin(), bytes.begin() + 64, 0);
      bytes[0] = 0xff;
      bytes[9] = 0x7f;
      bytes[10] = 3;
      const std::string mech = i % 8 == 0 ? "CURVE" : "NULL";
      std::copy(mech.begin(), mech.end(), bytes.begin() + 12);
    }
    connected += send_raw(w.port(), bytes) ? 1 : 0;
  }
  EXPECT_EQ(connected, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(w.process().running()) << "the worker died:\n" << w.process().err();
  const json doc = generate(shipped(), prompt, 16, {"--devices", w.devices_file(), "--keys", w.head_keys()});
  EXPECT_EQ(doc.value("tokens", json::array()), want);
  EXPECT_TRUE(w.process().running()) << w.process().err();
  w.process().stop();
}

// Waits until the head has streamed text for a second, then sends `sig` to worker `victim`
// (a pid); expects the head to exit 1 within `limit_s` with an error line naming `device`.
void interrupt_mid_run(Background& head, pid_t victim, int sig, const std::string& device, double limit_s) {
  const auto t0 = Clock::now();
  while (head.out().empty() && head.running() && seconds_since(t0) < 20)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  ASSERT_TRUE(head.running()) << "the run ended before the signal; make it longer:\n" << head.err();
  ASSERT_FALSE(head.out().empty()) << "no text streamed: not generating yet\n" << head.err();
  ASSERT_EQ(::kill(victim, sig), 0);
  const auto sent = Clock::now();
  const std::optional<int> rc = head.wait_for(limit_s + 10);
  const double took = seconds_since(sent);
  ASSERT_TRUE(rc.has_value()) << "the head still runs " << limit_s + 10 << " s after the signal:\n" << head.err();
  EXPECT_EQ(*rc, 1) << head.err();
  EXPECT_LE(took, limit_s) << head.err();
  const std::string err = head.err();
  // The head's error line (a local worker that outlives it by a moment may still log after it).
  EXPECT_NE(("\n" + err).find("\nlingua generate: device " + device + " "), std::string::npos) << "the error names the device:\n"
                                                                                              << err;
}

TEST_F(DistributedCli, KilledOrFrozenWorkerIsReplacedAndTheTokensStayTheSame) {
  // 384 greedy tokens on 3 devices, the last 100 times slower so the run lasts a few seconds, the
  // plan kept as it is (--no-balance) so every device holds a segment when one is taken away.
  const std::string model = synth("llama", "f32", 4, 2048);
  const std::vector<std::string> ops = op_names(model);
  ASSERT_GT(ops.size(), 30u);
  const int n = static_cast<int>(ops.size());
  const std::string plan = write_plan("failover", ops, {n / 3, 2 * n / 3}, {"d0", "d1", "d2"});
  const std::string devices = local_devices_file("failover.yaml", 3, ", slowdown: 100");
  const json want = single_tokens(model, "a b c", 384);
  ASSERT_EQ(want.size(), 384u);
  // Killed: the first device (its death leaves the others waiting for input), noticed at once.
  // Frozen (SIGSTOP): only the missed heartbeats tell (3 s).
  for (const auto& [device, sig] : {std::pair<std::string, int>{"d0", SIGKILL}, {"d1", SIGSTOP}}) {
    SCOPED_TRACE("signal " + std::to_string(sig) + " to " + device);
    Background head({"generate", "-m", model, "-p", "a b c", "-n", "384", "--temp", "0", "--ignore-eos", "-t", "1", "--json",
                     "--local-devices", "3", "--devices", devices, "--plan", plan, "--no-balance"},
                    dir_ / "failover.out", dir_ / "failover.err");
    const auto t0 = Clock::now();
    std::vector<pid_t> victim;
    while (victim.empty() && seconds_since(t0) < 20 && head.running()) {
      victim = our_workers("lingua worker.*--name " + device + "( |$)");
      if (victim.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_EQ(victim.size(), 1u) << head.err();
    while (head.err().find("lingua: 3 devices:") == std::string::npos && head.running() && seconds_since(t0) < 20)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    ASSERT_TRUE(head.running()) << "the run ended before the signal; make it longer:\n" << head.err();
    ASSERT_EQ(::kill(victim[0], sig), 0);
    const std::optional<int> rc = head.wait_for(120);
    ASSERT_TRUE(rc.has_value()) << "the head still runs 120 s after the signal:\n" << head.err();
    ASSERT_EQ(*rc, 0) << head.err();
    const std::string err = head.err();
    EXPECT_NE(err.find("lost device " + device), std::string::npos) << "the log names the lost device:\n" << err;
    EXPECT_NE(err.find("continuing on "), std::string::npos) << "the log gives the new plan:\n" << err;
    const json doc = json::parse(head.out());
    EXPECT_EQ(doc.at("tokens"), want) << err;
    ASSERT_EQ(doc.at("failovers").size(), 1u) << doc.dump();
    EXPECT_EQ(doc.at("failovers")[0].at("device"), device);
    EXPECT_EQ(doc.at("failovers")[0].at("new_plan").get<std::string>().find(device + ":"), std::string::npos)
        << "the new plan still uses the lost device";
    // The frozen one is stopped with the others when the head ends.
    const auto t1 = Clock::now();
    while (!our_workers().empty() && seconds_since(t1) < 3) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_TRUE(our_workers().empty()) << "workers left after the head ended";
  }
}

TEST_F(DistributedCli, LosingADeviceTheOthersCannotCoverEndsTheRunNamingTheShortfall) {
  // Two devices with room for about half of the model each: after one is killed, the other cannot
  // hold it, and the run ends with a message naming the lost device and what is missing.
  const std::string model = synth("llama", "f32", 4, 2048);
  const std::vector<std::string> ops = op_names(model);
  const std::string plan = write_plan("shortfall", ops, {static_cast<int>(ops.size()) / 2}, {"d0", "d1"});
  const std::string devices = write("shortfall.yaml",
                                    "devices:\n"
                                    "  - {name: d0, threads: 1, memory: 30MiB}\n"
                                    "  - {name: d1, threads: 1, memory: 30MiB, slowdown: 100}\n");
  Background head({"generate", "-m", model, "-p", "a b c", "-n", "1000", "--temp", "0", "--ignore-eos", "-t", "1",
                   "--local-devices", "2", "--devices", devices, "--plan", plan, "--no-balance"},
                  dir_ / "shortfall.out", dir_ / "shortfall.err");
  const auto t0 = Clock::now();
  std::vector<pid_t> victim;
  while (victim.empty() && seconds_since(t0) < 20 && head.running()) {
    victim = our_workers("lingua worker.*--name d0( |$)");
    if (victim.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(victim.size(), 1u) << head.err();
  interrupt_mid_run(head, victim[0], SIGKILL, "d0", 5.0);
  const std::string err = head.err();
  EXPECT_NE(err.find("cannot run the model"), std::string::npos) << err;
  EXPECT_NE(err.find("missing"), std::string::npos) << "the shortfall is named:\n" << err;
}

TEST_F(DistributedCli, ADeviceTurningSlowIsBalancedAwayWithTheSameTokens) {
  // d1 turns 20x slower after 8 decode tokens; links are fast enough that the even start is fine.
  const std::string model = synth("llama", "f32", 4, 2048);
  const std::vector<std::string> ops = op_names(model);
  const int n = static_cast<int>(ops.size());
  const std::string plan = write_plan("slow-mid-run", ops, {n / 3, 2 * n / 3}, {"d0", "d1", "d2"});
  const std::string devices = write("slow-mid-run.yaml",
                                    "devices:\n"
                                    "  - {name: d0, threads: 1, memory: 1GiB}\n"
                                    "  - {name: d1, threads: 1, memory: 1GiB, slowdown: {after_tokens: 8, factor: 20}}\n"
                                    "  - {name: d2, threads: 1, memory: 1GiB}\n"
                                    "links:\n  default: {bandwidth: 10Gbit/s, latency: 0.05ms}\n");
  const json want = single_tokens(model, "a b c", 64);
  const json doc = generate(model, "a b c", 64, {"--local-devices", "3", "--devices", devices, "--plan", plan});
  EXPECT_EQ(doc.value("tokens", json::array()), want);
  const json migrations = doc.value("migrations", json::array());
  ASSERT_FALSE(migrations.empty()) << doc.dump();
  EXPECT_LE(migrations[0].at("at_token").get<int>(), 24);
  bool d1_gave = false;
  for (const auto& m : migrations) d1_gave |= m.at("from") == "d1";
  EXPECT_TRUE(d1_gave) << "the slowed device kept all its work: " << migrations.dump();
  for (const auto& m : migrations) {
    EXPECT_GE(m.at("ms").get<double>(), 0.0);
    EXPECT_EQ(m.at("ops").size(), 2u);
  }
  // The same run with --no-balance moves nothing.
  const json fixed = generate(model, "a b c", 64, {"--local-devices", "3", "--devices", devices, "--plan", plan, "--no-balance"});
  EXPECT_EQ(fixed.value("tokens", json::array()), want);
  EXPECT_TRUE(fixed.value("migrations", json::array()).empty()) << fixed.dump();
  EXPECT_EQ(fixed.value("monitor", json::array()).size(), 3u) << "every device's estimates are reported";
}

TEST_F(DistributedCli, ConstantLoadDoesNotOscillate) {
  // d1 is 4x slower from the start; 200 tokens: one adjustment, then at most one more move.
  const std::string model = synth("llama", "f32", 4, 2048);
  const std::vector<std::string> ops = op_names(model);
  const int n = static_cast<int>(ops.size());
  const std::string plan = write_plan("constant", ops, {n / 3, 2 * n / 3}, {"d0", "d1", "d2"});
  const std::string devices = write("constant.yaml",
                                    "devices:\n"
                                    "  - {name: d0, threads: 1, memory: 1GiB}\n"
                                    "  - {name: d1, threads: 1, memory: 1GiB, slowdown: 4}\n"
                                    "  - {name: d2, threads: 1, memory: 1GiB}\n"
                                    "links:\n  default: {bandwidth: 10Gbit/s, latency: 0.05ms}\n");
  const json doc = generate(model, "a b c", 200, {"--local-devices", "3", "--devices", devices, "--plan", plan});
  EXPECT_EQ(doc.value("tokens", json::array()), single_tokens(model, "a b c", 200));
  std::set<int> moves;  // one plan change moves one or more op ranges, all at the same token
  for (const auto& m : doc.value("migrations", json::array())) moves.insert(m.at("at_token").get<int>());
  EXPECT_GE(moves.size(), 1u) << "a 4x slower device in an even split should be balanced";
  EXPECT_LE(moves.size(), 2u) << doc.value("migrations", json::array()).dump();
}

TEST_F(DistributedCli, AMoveOntoAWorkerWithoutTheModelStreamsItsNewWeights) {
  // Two workers the head did not start, with no model file and empty caches: every segment they
  // run comes from the head, also the one a move gives them mid-generation.
  const fs::path root = dir_ / "move-stream";
  fs::create_directories(root / "no-models");
  const char* old_cache = std::getenv("LINGUA_CACHE_DIR");
  const std::string saved = old_cache ? old_cache : "";
  std::vector<std::unique_ptr<Background>> workers;
  std::vector<std::string> endpoints;
  for (const char* name : {"p", "q"}) {
    setenv("LINGUA_CACHE_DIR", (root / (std::string("cache-") + name)).c_str(), 1);  // inherited at fork
    workers.push_back(std::make_unique<Background>(
        std::vector<std::string>{"worker", "--listen", "tcp://127.0.0.1:0", "--name", name, "--insecure", "--no-profile", "--models",
                                 (root / "no-models").string()},
        root / (std::string(name) + ".out"), root / (std::string(name) + ".err")));
    const std::regex re("listening on (tcp://127\\.0\\.0\\.1:[0-9]+)");
    std::string endpoint;
    const auto t0 = Clock::now();
    while (endpoint.empty() && seconds_since(t0) < 10 && workers.back()->running()) {
      std::smatch m;
      const std::string err = workers.back()->err();
      if (std::regex_search(err, m, re)) endpoint = m[1];
      else std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_FALSE(endpoint.empty()) << workers.back()->err();
    endpoints.push_back(endpoint);
  }
  setenv("LINGUA_CACHE_DIR", saved.c_str(), 1);
  const std::string devices = write("move-stream.yaml",
                                    "devices:\n"
                                    "  - {name: p, endpoint: \"" + endpoints[0] + "\", threads: 1, memory: 1GiB}\n"
                                    "  - {name: q, endpoint: \"" + endpoints[1] + "\", threads: 1, memory: 1GiB, "
                                    "slowdown: {after_tokens: 6, factor: 20}}\n"
                                    "links:\n  default: {bandwidth: 10Gbit/s, latency: 0.05ms}\n");
  const std::vector<std::string> ops = op_names(shipped());
  const std::string plan = write_plan("move-stream", ops, {static_cast<int>(ops.size()) / 2}, {"p", "q"});
  const json doc = generate(shipped(), "In the beginning", 40, {"--devices", devices, "--plan", plan, "--insecure"});
  EXPECT_EQ(doc.value("tokens", json::array()), single_tokens(shipped(), "In the beginning", 40));
  const json migrations = doc.value("migrations", json::array());
  ASSERT_FALSE(migrations.empty()) << doc.dump();
  // Which way the first move goes depends on what the first steps measure (q slows at token 6; a
  // busy machine can make p look slower before that). Whoever took ops over received weights
  // twice: its first segment, then the ops it took.
  const std::string taker = migrations[0].at("to").get<std::string>();
  ASSERT_TRUE(taker == "p" || taker == "q") << doc.dump();
  const std::string log = workers[taker == "p" ? 0 : 1]->err();
  size_t received = 0;
  for (size_t at = log.find("received its weights"); at != std::string::npos; at = log.find("received its weights", at + 1)) ++received;
  EXPECT_GE(received, 2u) << log;
  for (auto& w : workers) w->stop();
}

TEST_F(DistributedCli, KilledRemoteWorkerEndsTheRun) {
  // A worker the head did not start (no waitpid to watch): its dropped connection tells.
  const std::string model = synth("llama", "f32", 4, 2048);
  WorkerWithKeys w(dir_ / "remote-kill", "w1", /*trust_head=*/true, ", slowdown: 100");
  ASSERT_FALSE(w.endpoint().empty());
  Background head({"generate", "-m", model, "-p", "a b c", "-n", "1000", "--temp", "0", "--ignore-eos", "-t", "1",
                   "--devices", w.devices_file(), "--keys", w.head_keys()},
                  dir_ / "remote-kill.out", dir_ / "remote-kill.err");
  interrupt_mid_run(head, w.process().pid(), SIGKILL, "w1", 5.0);
}

TEST_F(DistributedCli, BadFlagsAreOneLineErrors) {
  auto expect_user_error = [](const CliRun& r, const std::string& needle) {
    EXPECT_EQ(r.rc, 1) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
  };
  for (const char* k : {"0", "-1", "-3"}) {
    SCOPED_TRACE(std::string("--local-devices ") + k);
    CliRun r = lingua({"generate", "-m", shipped(), "-p", "x", "-n", "4", "--local-devices", k});
    expect_user_error(r, "--local-devices");
  }
  CliRun r = lingua({"generate", "-m", shipped(), "-p", "x", "-n", "4", "--local-devices", "2", "--wire-dtype", "q8_0"});
  expect_user_error(r, "q8_0");
}

TEST_F(DistributedCli, InsecureBeyondLoopbackIsRefusedBeforeConnecting) {
  // The check is the first thing Client::connect does (net/secure_channel.cpp), before any
  // socket exists, and the head connects to every device before it assigns any work, so nothing
  // is ever sent to 10.1.2.3 (checked by hand with strace -f -e trace=connect).
  const std::string far = write("far.yaml", "devices:\n  - {name: far, endpoint: tcp://10.1.2.3:7700, threads: 1, memory: 1GiB}\n");
  auto expect_refused = [](const CliRun& r, double took) {
    EXPECT_EQ(r.rc, 1) << r.err;
    EXPECT_LT(took, 10.0);
    const std::string last = r.err.substr(r.err.rfind('\n', r.err.size() - 2) + 1);
    EXPECT_NE(last.find("far"), std::string::npos) << r.err;
    EXPECT_NE(last.find("10.1.2.3"), std::string::npos) << r.err;
    EXPECT_NE(last.find("loopback"), std::string::npos) << r.err;
    EXPECT_NE(last.find("insecure"), std::string::npos) << r.err;
  };
  auto t0 = Clock::now();
  CliRun r = lingua({"generate", "-m", shipped(), "-p", "x", "-n", "4", "-t", "1", "--devices", far, "--insecure"}, 30);
  expect_refused(r, seconds_since(t0));

  // Beside a local device the head starts (connected first): refused the same way, and the
  // local worker is stopped (TearDown).
  const std::string mixed = write("mixed.yaml", "devices:\n  - {name: near, threads: 1, memory: 1GiB}\n"
                                                "  - {name: far, endpoint: tcp://10.1.2.3:7700, threads: 1, memory: 1GiB}\n");
  const std::vector<std::string> ops = op_names(shipped());
  ASSERT_GT(ops.size(), 40u);
  const std::string plan = write_plan("mixed", ops, {40}, {"near", "far"});
  t0 = Clock::now();
  r = lingua({"generate", "-m", shipped(), "-p", "x", "-n", "4", "-t", "1", "--devices", mixed, "--plan", plan, "--insecure"}, 30);
  expect_refused(r, seconds_since(t0));
}

}  // namespace
}  // namespace lingua
