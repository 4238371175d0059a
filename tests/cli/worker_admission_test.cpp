// Which heads a worker started by hand serves, as a user meets it: one head at a time (another is
// refused at once as busy, and the worker is free again after a head's goodbye, its death or its
// silence), head keys removed from heads/ are revoked within 2 s (an open session too), a broken
// key file beside a good one is skipped and named once, missing keys say where and how, and the
// two-machine steps of docs/runtime.md work as written (on loopback).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli_runner.h"
#include "test_paths.h"
#include "worker_process.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::CliRun;
using testing::count_of;
using testing::LinguaProcess;
using Clock = std::chrono::steady_clock;
using Env = std::vector<std::pair<std::string, std::string>>;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

constexpr const char* kPrompt = "In the beginning";

class WorkerAdmission : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("lingua-worker-admission-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    setenv("LINGUA_CACHE_DIR", (fs::path(testing::lingua_binary()).parent_path() / "test-profile-cache").c_str(), 1);
    setenv("LINGUA_KEYS", (dir_ / "default-keys").c_str(), 1);
    CliRun r = testing::run_lingua({"profile", "-t", "1", "--cached"}, dir_, 300);
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static std::string shipped() { return testing::source_dir() + "/models/kjv-fortunes-3M-f32.gguf"; }

  static std::vector<std::string> generate_args(int n, const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"generate", "-m", shipped(), "-p", kPrompt, "-n", std::to_string(n), "--temp", "0",
                                     "--ignore-eos", "--json", "-t", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  static json tokens_of(const std::string& out) {
    try {
      return json::parse(out).value("tokens", json::array());
    } catch (const json::exception&) {
      return json::array();
    }
  }
  static json single_tokens(int n) {
    CliRun r = testing::run_lingua(generate_args(n, {}), dir_, 120);
    EXPECT_EQ(r.rc, 0) << r.err;
    return tokens_of(r.out);
  }

  static inline fs::path dir_;
};

// A worker started by hand with its own keys directory trusting one head, and that head's keys
// directory holding the worker's public key; a devices file naming the worker.
class KeyedWorker {
 public:
  KeyedWorker(const fs::path& root, const std::string& name, const std::string& device_extra = "",
              const std::vector<std::pair<std::string, std::string>>& extra_head_files = {})
      : root_(root), worker_keys_(root / "worker-keys"), head_keys_(root / "head-keys") {
    fs::create_directories(root);
    for (const fs::path& d : {worker_keys_, head_keys_}) {
      CliRun r = testing::run_lingua({"keygen", "-o", d.string()}, root);
      EXPECT_EQ(r.rc, 0) << r.err;
    }
    fs::create_directories(worker_keys_ / "heads");
    fs::copy_file(head_keys_ / "lingua.pub", worker_keys_ / "heads" / "head.pub", fs::copy_options::overwrite_existing);
    for (const auto& [file, text] : extra_head_files) std::ofstream(worker_keys_ / "heads" / file) << text;
    process_.emplace(std::vector<std::string>{"worker", "--listen", "tcp://127.0.0.1:0", "--keys", worker_keys_.string(), "--name",
                                              name, "--no-profile"},
                     root / "worker.out", root / "worker.err", Env{{"LINGUA_CACHE_DIR", (root / "cache").string()}});
    endpoint_ = process_->wait_for_log("listening on (tcp://127\\.0\\.0\\.1:[0-9]+)", 10).value_or("");
    EXPECT_FALSE(endpoint_.empty()) << process_->err();
    fs::create_directories(head_keys_ / "workers");
    fs::copy_file(worker_keys_ / "lingua.pub", head_keys_ / "workers" / (name + ".pub"), fs::copy_options::overwrite_existing);
    devices_ = (root / "devices.yaml").string();
    std::ofstream(devices_) << "devices:\n  - {name: " << name << ", endpoint: \"" << endpoint_ << "\", threads: 1, memory: 1GiB"
                            << device_extra << "}\n";
  }
  LinguaProcess& process() { return *process_; }
  const std::string& endpoint() const { return endpoint_; }
  fs::path worker_keys() const { return worker_keys_; }
  // generate's flags to run on this worker with the head's keys.
  std::vector<std::string> head_flags() const { return {"--devices", devices_, "--keys", head_keys_.string()}; }
  // A head in the background; `tag` names its output files.
  std::unique_ptr<LinguaProcess> head(const std::string& tag, const std::vector<std::string>& args) const {
    return std::make_unique<LinguaProcess>(args, root_ / (tag + ".out"), root_ / (tag + ".err"));
  }
  // Waits until the worker has taken its `nth` assignment (its "runs ops" log line).
  bool wait_assigned(size_t nth, double timeout_s) {
    const auto t0 = Clock::now();
    while (seconds_since(t0) < timeout_s) {
      if (count_of(process_->err(), " runs ops ") >= nth) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

 private:
  fs::path root_, worker_keys_, head_keys_;
  std::optional<LinguaProcess> process_;
  std::string endpoint_, devices_;
};

TEST_F(WorkerAdmission, ASecondHeadIsRefusedAsBusyAndTheWorkerIsFreeAfterwards) {
  // With slowdown 100 a token takes 30-150 ms here: the first head runs for seconds.
  const json want = single_tokens(100);
  ASSERT_EQ(want.size(), 100u);
  KeyedWorker w(dir_ / "busy", "w1", ", slowdown: 100");
  ASSERT_FALSE(w.endpoint().empty());
  auto first = w.head("first", generate_args(100, w.head_flags()));
  ASSERT_TRUE(w.wait_assigned(1, 20)) << w.process().err() << first->err();

  // A second head while the first generates: refused at once with a clear error, exit 1.
  auto second = w.head("second", generate_args(8, w.head_flags()));
  const auto t0 = Clock::now();
  const std::optional<int> rc = second->wait_for(10);
  ASSERT_TRUE(rc) << "the second head hangs:\n" << second->err() << "\nworker:\n" << w.process().err();
  EXPECT_EQ(*rc, 1) << second->err();
  EXPECT_LT(seconds_since(t0), 8.0);
  EXPECT_TRUE(first->running()) << "the first head must still hold the worker for this test to mean anything";
  EXPECT_NE(second->err().find("busy"), std::string::npos) << second->err();
  EXPECT_NE(second->err().find("w1"), std::string::npos) << second->err();
  EXPECT_NE(second->err().find("pid " + std::to_string(first->pid())), std::string::npos)
      << "the error names the head that holds the worker:\n" << second->err();

  // The first is not disturbed.
  const std::optional<int> first_rc = first->wait_for(60);
  ASSERT_TRUE(first_rc) << first->err();
  EXPECT_EQ(*first_rc, 0) << first->err();
  EXPECT_EQ(tokens_of(first->out()), want) << first->err();

  // Once it has said goodbye, the next head is served.
  CliRun third = testing::run_lingua(generate_args(8, w.head_flags()), dir_, 30);
  EXPECT_EQ(third.rc, 0) << third.err << "\nworker:\n" << w.process().err();

  // Two heads started at the same moment: both end within 10 s, each with the right tokens or
  // the busy error, and at least one is served.
  const json want8 = single_tokens(8);
  auto a = w.head("race-a", generate_args(8, w.head_flags()));
  auto b = w.head("race-b", generate_args(8, w.head_flags()));
  const auto raced = Clock::now();
  int served = 0;
  for (auto* h : {a.get(), b.get()}) {
    const std::optional<int> code = h->wait_for(std::max(0.0, 10.0 - seconds_since(raced)));
    ASSERT_TRUE(code) << "a head hangs:\n" << h->err() << "\nworker:\n" << w.process().err();
    if (*code == 0) {
      ++served;
      EXPECT_EQ(tokens_of(h->out()), want8);
    } else {
      EXPECT_EQ(*code, 1);
      EXPECT_NE(h->err().find("busy"), std::string::npos) << h->err();
    }
  }
  EXPECT_GE(served, 1);
  EXPECT_TRUE(w.process().running());
  w.process().stop();
}

TEST_F(WorkerAdmission, AKilledOrFrozenHeadDoesNotHoldTheWorker) {
  KeyedWorker w(dir_ / "gone", "w1", ", slowdown: 30");
  ASSERT_FALSE(w.endpoint().empty());

  // Killed: its connection drops, and the next head is served at once.
  auto killed = w.head("killed", generate_args(200, w.head_flags()));
  ASSERT_TRUE(w.wait_assigned(1, 20)) << w.process().err() << killed->err();
  ::kill(killed->pid(), SIGKILL);
  ASSERT_TRUE(killed->wait_for(5));
  CliRun next = testing::run_lingua(generate_args(8, w.head_flags()), dir_, 30);
  EXPECT_EQ(next.rc, 0) << next.err << "\nworker:\n" << w.process().err();

  // Frozen: its connection stays open but stops answering heartbeats; a few seconds later the
  // worker serves another head.
  auto frozen = w.head("frozen", generate_args(200, w.head_flags()));
  ASSERT_TRUE(w.wait_assigned(3, 20)) << w.process().err() << frozen->err();
  ::kill(frozen->pid(), SIGSTOP);
  std::this_thread::sleep_for(std::chrono::milliseconds(4500));
  const auto t0 = Clock::now();
  CliRun after = testing::run_lingua(generate_args(8, w.head_flags()), dir_, 30);
  EXPECT_EQ(after.rc, 0) << after.err << "\nworker:\n" << w.process().err();
  EXPECT_LT(seconds_since(t0), 10.0);
  ::kill(frozen->pid(), SIGKILL);
  ::kill(frozen->pid(), SIGCONT);
  frozen->wait_for(5);
  EXPECT_TRUE(w.process().running());
  w.process().stop();
}

TEST_F(WorkerAdmission, ARemovedHeadKeyIsRevokedWithinTwoSeconds) {
  KeyedWorker w(dir_ / "revoke", "w1", ", slowdown: 100");
  ASSERT_FALSE(w.endpoint().empty());
  // A session in progress ends when its head's key is removed...
  auto running = w.head("running", generate_args(200, w.head_flags()));
  ASSERT_TRUE(w.wait_assigned(1, 20)) << w.process().err() << running->err();
  fs::remove(w.worker_keys() / "heads" / "head.pub");
  const auto removed = Clock::now();
  const std::optional<int> rc = running->wait_for(5);
  ASSERT_TRUE(rc) << "the revoked head is still served:\n" << running->err();
  EXPECT_EQ(*rc, 1);
  EXPECT_LT(seconds_since(removed), 3.5);
  EXPECT_NE(running->err().find("no longer accepts"), std::string::npos) << running->err();
  EXPECT_NE(w.process().err().find("was removed"), std::string::npos) << w.process().err();

  // ...and a new connection with that key is refused.
  CliRun again = testing::run_lingua(generate_args(8, w.head_flags()), dir_, 30);
  EXPECT_EQ(again.rc, 1) << again.err;
  EXPECT_NE(again.err.find("refused"), std::string::npos) << again.err;
  EXPECT_TRUE(w.process().running());
  w.process().stop();
}

TEST_F(WorkerAdmission, BrokenKeyFilesBesideAGoodOneAreSkippedAndNamedOnce) {
  KeyedWorker w(dir_ / "broken", "w1", "", {{"broken.pub", "hello, not a key\n"}, {"empty.pub", ""}});
  ASSERT_FALSE(w.endpoint().empty());
  const auto t0 = Clock::now();
  CliRun r = testing::run_lingua(generate_args(8, w.head_flags()), dir_, 60);
  EXPECT_EQ(r.rc, 0) << r.err << "\nworker:\n" << w.process().err();
  // Several readings of heads/ (every 2 s) later, each bad file has been named exactly once.
  const double left = 5.0 - seconds_since(t0);
  if (left > 0) std::this_thread::sleep_for(std::chrono::duration<double>(left));
  const std::string log = w.process().err();
  EXPECT_EQ(count_of(log, "broken.pub"), 1u) << log;
  EXPECT_EQ(count_of(log, "empty.pub"), 1u) << log;
  EXPECT_EQ(count_of(log, "head.pub"), 0u) << log;
  w.process().stop();
}

TEST_F(WorkerAdmission, MissingKeysSayWhereAndHow) {
  const fs::path root = dir_ / "missing";
  fs::create_directories(root);
  // The head lacks a worker's public key: copy the worker's own, do not make a new one.
  const fs::path head_keys = root / "head-keys";
  const std::string devices = (root / "devices.yaml").string();
  std::ofstream(devices) << "devices:\n  - {name: w9, endpoint: \"tcp://127.0.0.1:9\", threads: 1, memory: 1GiB}\n";
  CliRun r = testing::run_lingua(generate_args(4, {"--devices", devices, "--keys", head_keys.string()}), root, 30);
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find((head_keys / "workers" / "w9.pub").string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("lingua.pub"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("create one with"), std::string::npos) << "a new key is not what the head needs:\n" << r.err;

  // A worker whose secret key is gone but whose public key (trusted by heads) is still there.
  const fs::path worker_keys = root / "worker-keys";
  r = testing::run_lingua({"keygen", "-o", worker_keys.string()}, root);
  ASSERT_EQ(r.rc, 0) << r.err;
  fs::remove(worker_keys / "lingua.key");
  r = testing::run_lingua({"worker", "--listen", "tcp://127.0.0.1:0", "--keys", worker_keys.string()}, root, 20);
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find((worker_keys / "lingua.key").string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("new identity"), std::string::npos) << r.err;
  EXPECT_EQ(count_of(r.err, "\n"), 1u) << r.err;
}

// docs/runtime.md "Two machines", step by step, with a home directory per machine.
TEST_F(WorkerAdmission, TheDocumentedTwoMachineStepsWork) {
  const fs::path root = dir_ / "two-machines";
  const fs::path worker_home = root / "worker-home", head_home = root / "head-home";
  fs::create_directories(worker_home);
  fs::create_directories(head_home);
  const Env on_worker = {{"HOME", worker_home.string()}, {"LINGUA_KEYS", ""}, {"LINGUA_CACHE_DIR", (worker_home / "cache").string()}};
  const Env on_head = {{"HOME", head_home.string()}, {"LINGUA_KEYS", ""}};
  auto run = [&](const std::string& tag, const std::vector<std::string>& args, const Env& env) {
    LinguaProcess p(args, root / (tag + ".out"), root / (tag + ".err"), env);
    const std::optional<int> rc = p.wait_for(120);
    EXPECT_TRUE(rc) << tag << " hangs";
    EXPECT_EQ(rc.value_or(-1), 0) << tag << ": " << p.err();
    return p.out();
  };
  const fs::path worker_keys = worker_home / ".config/lingua/keys", head_keys = head_home / ".config/lingua/keys";
  // 1. on the worker machine, and 2. on the head machine: a key pair each.
  run("keygen-worker", {"keygen", "-o", worker_keys.string()}, on_worker);
  run("keygen-head", {"keygen", "-o", head_keys.string()}, on_head);
  // 3. the public keys exchanged (scp in the docs), into the folders keygen made.
  std::error_code ec;
  fs::copy_file(head_keys / "lingua.pub", worker_keys / "heads" / "head.pub", ec);
  EXPECT_FALSE(ec) << "heads/ must exist after keygen: " << ec.message();
  fs::copy_file(worker_keys / "lingua.pub", head_keys / "workers" / "phone-a.pub", ec);
  EXPECT_FALSE(ec) << "workers/ must exist after keygen: " << ec.message();
  // 4. the worker.
  LinguaProcess worker({"worker", "--listen", "tcp://127.0.0.1:0", "--name", "phone-a", "--no-profile"}, root / "worker.out", root / "worker.err",
                       on_worker);
  const std::string endpoint = worker.wait_for_log("listening on (tcp://127\\.0\\.0\\.1:[0-9]+)", 10).value_or("");
  ASSERT_FALSE(endpoint.empty()) << worker.err();
  // 5. the head, with a device of its own and the worker.
  const fs::path cluster = root / "cluster.yaml";
  std::ofstream(cluster) << "devices:\n"
                            "  - {name: laptop, threads: 1, memory: 2GiB}\n"
                            "  - {name: phone-a, endpoint: \"" << endpoint << "\", threads: 1, memory: 1.5GiB}\n";
  run("generate", {"generate", "-m", shipped(), "-p", "Hello", "-n", "8", "--devices", cluster.string()}, on_head);
  EXPECT_EQ(worker.err().find("refused"), std::string::npos) << worker.err();
  worker.stop();
}

}  // namespace
}  // namespace lingua
