// The head sees remote workers as they measured themselves: `lingua devices` shows each worker's
// profile and the link matrix; a worker that does not answer probes becomes a note in the plan,
// never a hang; a worker whose memory cannot hold any segment is left out of the plan.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_runner.h"
#include "core/host_limits.h"
#include "model/model.h"
#include "plan/cluster_plans.h"
#include "profile_cache.h"
#include "runtime/survey.h"
#include "test_paths.h"
#include "worker_process.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;
using testing::LinguaProcess;
using testing::prefill_cache;
using testing::run_lingua;

std::string kjv_model_path() { return testing::source_dir() + "/models/kjv-fortunes-3M-f32.gguf"; }

class ClusterSurvey : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("lingua-cluster-survey-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    cache_ = root_ / "cache";
    prefill_cache(cache_, 1, read_host_limits().cpu_quota_cores);
    // The commands this test runs read the same cache (a device nobody measured is priced with it).
    ::setenv("LINGUA_CACHE_DIR", cache_.c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("LINGUA_CACHE_DIR");
    fs::remove_all(root_);
  }
  // A plain-mode worker on loopback with `memory`; returns its endpoint.
  std::string start_worker(const std::string& name, const std::string& memory) {
    workers_.push_back(std::make_unique<LinguaProcess>(
        std::vector<std::string>{"worker", "--insecure", "--listen", "tcp://127.0.0.1:0", "--threads", "1", "--memory", memory,
                                 "--name", name},
        root_ / (name + ".out"), root_ / (name + ".err"), std::vector<std::pair<std::string, std::string>>{{"LINGUA_CACHE_DIR", cache_.string()}}));
    return workers_.back()->wait_for_log("listening on (tcp://127\\.0\\.0\\.1:[0-9]+)", 60).value_or("");
  }
  fs::path write_devices(const std::string& text) {
    const fs::path p = root_ / "devices.yaml";
    std::ofstream(p) << text;
    return p;
  }
  fs::path root_, cache_;
  std::vector<std::unique_ptr<LinguaProcess>> workers_;
};

TEST_F(ClusterSurvey, DevicesShowsEachWorkersOwnFiguresAndTheLinkMatrix) {
  const std::string a = start_worker("wa", "300MiB"), b = start_worker("wb", "200MiB");
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  const fs::path file = write_devices("devices:\n  - name: wa\n    endpoint: " + a + "\n  - name: wb\n    endpoint: " + b + "\n");
  auto r = run_lingua({"devices", "--devices", file.string(), "--insecure", "--json"}, root_, 60);
  ASSERT_EQ(r.rc, 0) << r.err << r.out;
  const auto doc = nlohmann::json::parse(r.out);
  ASSERT_EQ(doc["devices"].size(), 2u);
  EXPECT_EQ(doc["devices"][0]["name"], "wa");
  EXPECT_TRUE(doc["devices"][0]["reached"].get<bool>());
  EXPECT_EQ(doc["devices"][0]["profile"]["memory_bytes"].get<uint64_t>(), 300ull << 20);
  EXPECT_EQ(doc["devices"][1]["profile"]["memory_bytes"].get<uint64_t>(), 200ull << 20);
  EXPECT_EQ(doc["devices"][0]["profile"]["threads"].get<int>(), 1);
  EXPECT_NEAR(doc["devices"][0]["profile"]["gflops"]["f32"].get<double>(), 3.0, 1e-9);  // what the worker sent, not ours
  std::set<std::pair<std::string, std::string>> pairs;
  for (const auto& l : doc["links"]) {
    EXPECT_EQ(l["error"], "") << l.dump();
    EXPECT_GT(l["rtt_ms"].get<double>(), 0) << l.dump();
    EXPECT_GT(l["bandwidth_bytes_per_s"].get<double>(), 0) << l.dump();
    pairs.insert({l["from"].get<std::string>(), l["to"].get<std::string>()});
  }
  const std::set<std::pair<std::string, std::string>> want{{"head", "wa"}, {"head", "wb"}, {"wa", "wb"}, {"wb", "wa"}};
  EXPECT_EQ(pairs, want);

  // The text form: the table of devices and the matrix.
  r = run_lingua({"devices", "--devices", file.string(), "--insecure"}, root_, 60);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("| wa | " + a), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("300.0 MiB (--memory)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| head |"), std::string::npos) << r.out;
}

TEST_F(ClusterSurvey, DevicesNamesAWorkerItCannotReachAndExitsOne) {
  const std::string a = start_worker("wa", "300MiB");
  ASSERT_FALSE(a.empty());
  const fs::path file = write_devices("devices:\n  - name: wa\n    endpoint: " + a +
                                      "\n  - name: ghost\n    endpoint: tcp://127.0.0.1:9\n");
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_lingua({"devices", "--devices", file.string(), "--insecure"}, root_, 90);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.rc, 1) << r.err << r.out;
  EXPECT_NE(r.out.find("| ghost | tcp://127.0.0.1:9 | not reached"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("1 of 2 devices not reached"), std::string::npos) << r.err;
  EXPECT_LT(s, 60) << "a device that does not answer must not hold the command much beyond the HELLO timeout";
}

// A device without an endpoint is the head's to start: shown as local, not counted as unreached;
// a file with nothing to reach is an error saying so.
TEST_F(ClusterSurvey, DevicesShowsLocalDevicesAsLocal) {
  const std::string a = start_worker("wa", "300MiB");
  ASSERT_FALSE(a.empty());
  const fs::path file = write_devices("devices:\n  - name: wa\n    endpoint: " + a + "\n  - name: here\n    memory: 1GiB\n");
  auto r = run_lingua({"devices", "--devices", file.string(), "--insecure"}, root_, 60);
  EXPECT_EQ(r.rc, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("| here | - | local: started by the head"), std::string::npos) << r.out;
  const fs::path only_local = write_devices("devices:\n  - name: here\n    memory: 1GiB\n");
  r = run_lingua({"devices", "--devices", only_local.string(), "--insecure"}, root_, 60);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.err.find("no device with an endpoint"), std::string::npos) << r.err;
}

// A worker that answers HELLO but never a probe (stopped after connecting): measuring gives up
// within the probe timeout, the measurements name it, and the plan is made with a note.
TEST_F(ClusterSurvey, SilentProbeBecomesANoteAndThePlanIsStillMade) {
  const std::string a = start_worker("wa", "300MiB"), b = start_worker("wb", "300MiB");
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  RemoteOptions o;
  o.channel.insecure = true;
  auto pipeline = RemotePipeline::connect({RemoteDevice{"wa", a, "", 0, 0, {}, false}, RemoteDevice{"wb", b, "", 0, 0, {}, false}}, o);
  ASSERT_TRUE(pipeline) << pipeline.error();
  ASSERT_EQ(::kill(workers_[1]->pid(), SIGSTOP), 0);
  ProbeOptions probe;
  probe.timeout_s = 1;
  const auto t0 = std::chrono::steady_clock::now();
  const ClusterMeasurements m = measure_cluster(**pipeline, probe);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ::kill(workers_[1]->pid(), SIGCONT);
  EXPECT_LT(s, 15) << "three probes that cannot be answered, 1 s each, and a margin";
  ASSERT_EQ(m.profiles.size(), 2u);  // from HELLO, before the stop
  bool head_to_a = false, named_b = false;
  for (const MeasuredLink& l : m.links)
    if (l.from == kHeadName && l.to == "wa") head_to_a = l.error.empty();
  for (const std::string& n : m.notes) named_b |= n.find("wb") != std::string::npos && n.find("no answer") != std::string::npos;
  EXPECT_TRUE(head_to_a);
  EXPECT_TRUE(named_b) << ::testing::PrintToString(m.notes);

  auto model = Model::load(kjv_model_path());
  ASSERT_TRUE(model) << model.error();
  auto file = parse_devices_yaml("devices:\n  - name: wa\n    endpoint: " + a + "\n  - name: wb\n    endpoint: " + b + "\n", "t.yaml");
  ASSERT_TRUE(file) << file.error();
  ClusterPlanOptions po;
  po.measured = m;
  auto plans = plan_cluster((*model)->graph(), *file, po);
  ASSERT_TRUE(plans) << plans.error();
  bool noted = false;
  for (const std::string& n : plans->cluster.notes) noted |= n.find("wb") != std::string::npos && n.find("no answer") != std::string::npos;
  EXPECT_TRUE(noted) << ::testing::PrintToString(plans->cluster.notes);
  EXPECT_TRUE(plans->pick("optimized"));
}

// A worker's memory limit (here --memory; a cgroup limit reaches the same figure, see
// WorkerProfile) below what any segment needs: the plan runs on the other worker; with none that
// can hold the model, the error names the shortfall.
TEST_F(ClusterSurvey, WorkerTooSmallForAnySegmentIsLeftOutOfThePlan) {
  const std::string big = start_worker("big", "2GiB"), tiny = start_worker("tiny", "2MiB");
  ASSERT_FALSE(big.empty());
  ASSERT_FALSE(tiny.empty());
  const fs::path file = write_devices("devices:\n  - name: tiny\n    endpoint: " + tiny + "\n  - name: big\n    endpoint: " + big + "\n");
  auto r = run_lingua({"plan", "-m", kjv_model_path(), "--devices", file.string(), "--insecure", "--json"}, root_, 90);
  ASSERT_EQ(r.rc, 0) << r.err << r.out;
  const auto doc = nlohmann::json::parse(r.out);
  const auto& optimized = doc["plans"][0];
  ASSERT_EQ(optimized["name"], "optimized");
  ASSERT_EQ(optimized["assignments"].size(), 1u) << optimized.dump();
  EXPECT_EQ(optimized["assignments"][0]["device"], "big");
  bool memory_measured = false;
  for (const auto& figures : doc["device_figures"]) {
    if (figures["device"] != "tiny") continue;
    const uint64_t memory = figures["memory_bytes"];
    memory_measured = memory == (2ull << 20) && figures["sources"]["memory"] == "measured by the worker";
  }
  EXPECT_TRUE(memory_measured) << doc["device_figures"].dump();

  const fs::path only_tiny = write_devices("devices:\n  - name: tiny\n    endpoint: " + tiny + "\n");
  r = run_lingua({"plan", "-m", kjv_model_path(), "--devices", only_tiny.string(), "--insecure"}, root_, 90);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.err.find("tiny"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace lingua
