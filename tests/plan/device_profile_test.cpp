// DeviceProfile's JSON (what a worker sends in HELLO): a round trip keeps every field, and every
// malformed field is refused with its name. make_cluster prices devices with the profiles their
// workers measured, lets the file's figures win, and says where each figure came from.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/host_limits.h"
#include "plan/cluster.h"
#include "plan/device_profile.h"

namespace lingua {
namespace {

DeviceProfile sample() {
  DeviceProfile p;
  p.threads = 2;
  p.cores = 4;
  p.cpu_quota_cores = 0.5;
  p.mem_available_bytes = 3ull << 30;
  p.cgroup_memory_limit_bytes = 400ull << 20;
  p.memory_flag_bytes = 0;
  p.memory_bytes = 400ull << 20;
  p.rates.flops_per_s[static_cast<size_t>(DType::F32)] = 5e9;
  p.rates.flops_per_s[static_cast<size_t>(DType::Q8_0)] = 9e9;
  p.rates.bytes_per_s = 4e9;
  p.rates.seconds_per_op = 2e-6;
  p.battery = 0.4;
  p.temperature_c = 51.5;
  p.source = "measured now";
  return p;
}

TEST(DeviceProfile, JsonRoundTripKeepsEveryField) {
  const DeviceProfile p = sample();
  auto back = parse_device_profile(device_profile_json(p));
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->threads, 2);
  EXPECT_EQ(back->cores, 4);
  EXPECT_DOUBLE_EQ(back->cpu_quota_cores, 0.5);
  EXPECT_EQ(back->memory_bytes, 400ull << 20);
  EXPECT_EQ(back->mem_available_bytes, 3ull << 30);
  EXPECT_EQ(back->cgroup_memory_limit_bytes, 400ull << 20);
  EXPECT_EQ(back->memory_flag_bytes, 0u);
  EXPECT_DOUBLE_EQ(back->rates.flops_for(DType::F32), 5e9);
  EXPECT_DOUBLE_EQ(back->rates.flops_for(DType::Q8_0), 9e9);
  EXPECT_DOUBLE_EQ(back->rates.flops_for(DType::Q4_0), 5e9);  // unmeasured: f32's
  EXPECT_DOUBLE_EQ(back->rates.bytes_per_s, 4e9);
  EXPECT_DOUBLE_EQ(back->rates.seconds_per_op, 2e-6);
  EXPECT_DOUBLE_EQ(back->battery, 0.4);
  EXPECT_DOUBLE_EQ(back->temperature_c, 51.5);
  EXPECT_EQ(back->source, "measured now");
}

TEST(DeviceProfile, DescribeNamesTheLimits) {
  const std::string line = describe(sample());
  EXPECT_NE(line.find("2 thread(s)"), std::string::npos) << line;
  EXPECT_NE(line.find("CPU quota 0.50 cores"), std::string::npos) << line;
  EXPECT_NE(line.find("memory 400"), std::string::npos) << line;
  EXPECT_NE(line.find("cgroup limit"), std::string::npos) << line;
  EXPECT_NE(line.find("battery 40%"), std::string::npos) << line;
}

// Each mutation of a valid profile and the field its error must name.
TEST(DeviceProfile, EveryBadFieldIsRefusedByName) {
  const nlohmann::json good = nlohmann::json::parse(device_profile_json(sample()));
  struct Case {
    const char* field;
    std::function<void(nlohmann::json&)> mutate;
  };
  const std::vector<Case> cases = {
      {"threads", [](auto& j) { j["threads"] = 0; }},
      {"threads", [](auto& j) { j["threads"] = 5000; }},
      {"threads", [](auto& j) { j["threads"] = "two"; }},
      {"cores", [](auto& j) { j["cores"] = -1; }},
      {"cores", [](auto& j) { j.erase("cores"); }},
      {"cpu_quota_cores", [](auto& j) { j["cpu_quota_cores"] = -0.5; }},
      {"cpu_quota_cores", [](auto& j) { j["cpu_quota_cores"] = 1e9; }},
      {"memory_bytes", [](auto& j) { j["memory_bytes"] = -5; }},
      {"memory_bytes", [](auto& j) { j["memory_bytes"] = 1ull << 62; }},
      {"memory_bytes", [](auto& j) { j["memory_bytes"] = 1ull << 30; }},  // above the cgroup limit
      {"memory_bytes", [](auto& j) { j["memory_bytes"] = 0; }},          // while limits are known
      {"mem_available_bytes", [](auto& j) { j["mem_available_bytes"] = 1.5; }},
      {"cgroup_memory_limit_bytes", [](auto& j) { j.erase("cgroup_memory_limit_bytes"); }},
      {"memory_flag_bytes", [](auto& j) { j["memory_flag_bytes"] = nullptr; }},
      {"rates", [](auto& j) { j.erase("rates"); }},
      {"rates", [](auto& j) { j["rates"] = 3; }},
      {"rates.flops_per_s", [](auto& j) { j["rates"]["flops_per_s"] = nlohmann::json::array(); }},
      {"rates.flops_per_s.q9_9", [](auto& j) { j["rates"]["flops_per_s"]["q9_9"] = 1e9; }},
      {"rates.flops_per_s.q8_0", [](auto& j) { j["rates"]["flops_per_s"]["q8_0"] = -1; }},
      {"rates.flops_per_s.q8_0", [](auto& j) { j["rates"]["flops_per_s"]["q8_0"] = 1e30; }},
      {"rates.flops_per_s.q8_0", [](auto& j) { j["rates"]["flops_per_s"]["q8_0"] = "fast"; }},
      {"rates.flops_per_s.f32", [](auto& j) { j["rates"]["flops_per_s"].erase("f32"); }},
      {"rates.bytes_per_s", [](auto& j) { j["rates"]["bytes_per_s"] = 0; }},
      {"rates.bytes_per_s", [](auto& j) { j["rates"].erase("bytes_per_s"); }},
      {"rates.seconds_per_op", [](auto& j) { j["rates"]["seconds_per_op"] = 5.0; }},
      {"battery", [](auto& j) { j["battery"] = 1.5; }},
      {"battery", [](auto& j) { j["battery"] = -0.5; }},
      {"temperature_c", [](auto& j) { j["temperature_c"] = 5000; }},
      {"source", [](auto& j) { j["source"] = 7; }},
      {"source", [](auto& j) { j["source"] = std::string(2000, 'x'); }},
      {"source", [](auto& j) { j["source"] = "bad\x1b[2Jtext"; }},
  };
  for (const Case& c : cases) {
    nlohmann::json j = good;
    c.mutate(j);
    auto parsed = parse_device_profile(j.dump());
    ASSERT_FALSE(parsed) << c.field << ": accepted " << j.dump();
    EXPECT_NE(parsed.error().find(std::string("'") + c.field + "'"), std::string::npos)
        << "error for " << c.field << " does not name it: " << parsed.error();
  }
  EXPECT_FALSE(parse_device_profile("not json"));
  EXPECT_FALSE(parse_device_profile("[1,2]"));
  // Sentinels for "none" pass.
  nlohmann::json none = good;
  none["battery"] = -1;
  none["temperature_c"] = -1;
  EXPECT_TRUE(parse_device_profile(none.dump()));
}

TEST(DeviceProfile, CachePathSaysThreadsAndQuota) {
  EXPECT_EQ(std::filesystem::path(profile_cache_path(1, 0)).filename(), "profile-t1.json");
  EXPECT_EQ(std::filesystem::path(profile_cache_path(1, 0.25)).filename(), "profile-t1-cpu250m.json");
  EXPECT_EQ(std::filesystem::path(profile_cache_path(4, 1.5)).filename(), "profile-t4-cpu1500m.json");
}

// This machine's profile comes from a cache written here (no measuring in a unit test): f32 at
// 1 GFLOP/s, so any figure priced from it is told apart from a worker's.
class ClusterWithProfiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("lingua-cluster-profiles-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    const char* old = std::getenv("LINGUA_CACHE_DIR");
    if (old) old_ = old, had_old_ = true;
    ::setenv("LINGUA_CACHE_DIR", dir_.c_str(), 1);
    const HostLimits host = read_host_limits();
    DeviceProfile here;
    here.threads = 1;
    here.cores = host.cores;
    here.rates.flops_per_s[static_cast<size_t>(DType::F32)] = 1e9;
    here.rates.bytes_per_s = 1e9;
    here.source = "test";
    std::ofstream(profile_cache_path(1, host.cpu_quota_cores))
        << "{\"method\": 5, \"profile\": " << device_profile_json(here) << "}\n";
    here_memory_ = host.usable_memory_bytes(0);
  }
  void TearDown() override {
    if (had_old_) ::setenv("LINGUA_CACHE_DIR", old_.c_str(), 1);
    else ::unsetenv("LINGUA_CACHE_DIR");
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::string old_;
  bool had_old_ = false;
  uint64_t here_memory_ = 0;
};

TEST_F(ClusterWithProfiles, MeasuredFiguresPriceTheDeviceAndTheFileWins) {
  const char* yaml = R"(devices:
  - name: measured
    endpoint: tcp://127.0.0.1:7701
  - name: overridden
    endpoint: tcp://127.0.0.1:7702
    threads: 3
    memory: 1GiB
    gflops: {f32: 7}
    slowdown: 2
  - name: unmeasured
    endpoint: tcp://127.0.0.1:7703
  - name: local
    memory: 2GiB
)";
  auto file = parse_devices_yaml(yaml, "test.yaml");
  ASSERT_TRUE(file) << file.error();
  EXPECT_EQ(file->devices[0].threads, 0);
  EXPECT_EQ(file->devices[0].memory_bytes, 0u);
  EXPECT_EQ(file->devices[3].threads, 1);
  MeasuredProfiles measured;
  measured["measured"] = sample();
  measured["overridden"] = sample();
  auto c = make_cluster(*file, measured);
  ASSERT_TRUE(c) << c.error();
  ASSERT_EQ(c->devices.size(), 4u);
  ASSERT_EQ(c->sources.size(), 4u);
  ASSERT_EQ(c->threads.size(), 4u);

  // Everything from the worker; of a cgroup limit (the sample's 400 MiB), the plan leaves
  // kCgroupWorkerMarginBytes to the worker process itself, and says so.
  EXPECT_EQ(c->devices[0].memory_bytes, (400ull << 20) - kCgroupWorkerMarginBytes);
  bool margin_noted = false;
  for (const std::string& n : c->notes) margin_noted |= n.find("measured: ") == 0 && n.find("cgroup limit less 64 MiB") != std::string::npos;
  EXPECT_TRUE(margin_noted) << ::testing::PrintToString(c->notes);
  EXPECT_DOUBLE_EQ(c->devices[0].rates.flops_for(DType::Q8_0), 9e9);
  EXPECT_DOUBLE_EQ(c->devices[0].rates.bytes_per_s, 4e9);
  EXPECT_DOUBLE_EQ(c->devices[0].battery, 0.4);
  EXPECT_EQ(c->threads[0], 2);
  EXPECT_EQ(c->sources[0].compute, kMeasuredByWorker);
  EXPECT_EQ(c->sources[0].bandwidth, kMeasuredByWorker);
  EXPECT_EQ(c->sources[0].memory, kMeasuredByWorker);
  EXPECT_EQ(c->sources[0].threads, kMeasuredByWorker);

  // The file's figures win; the measured bandwidth stays; the slowdown still divides in.
  EXPECT_EQ(c->devices[1].memory_bytes, 1ull << 30);
  EXPECT_DOUBLE_EQ(c->devices[1].rates.flops_for(DType::F32), 7e9 / 2);
  EXPECT_DOUBLE_EQ(c->devices[1].rates.flops_for(DType::Q8_0), 7e9 / 2);
  EXPECT_DOUBLE_EQ(c->devices[1].rates.bytes_per_s, 4e9 / 2);
  EXPECT_EQ(c->threads[1], 3);
  EXPECT_EQ(c->sources[1].compute, kGivenInFile);
  EXPECT_EQ(c->sources[1].bandwidth, kMeasuredByWorker);
  EXPECT_EQ(c->sources[1].memory, kGivenInFile);
  EXPECT_EQ(c->sources[1].threads, kGivenInFile);

  // Neither measured nor given: this machine's figures, and a note says so.
  EXPECT_DOUBLE_EQ(c->devices[2].rates.flops_for(DType::F32), 1e9);
  // MemAvailable moves between two reads: close to this machine's usable memory is enough.
  EXPECT_NEAR(static_cast<double>(c->devices[2].memory_bytes), static_cast<double>(here_memory_),
              0.2 * static_cast<double>(here_memory_));
  EXPECT_NE(c->devices[2].memory_bytes, 400ull << 20);
  EXPECT_EQ(c->threads[2], 1);
  EXPECT_EQ(c->sources[2].compute, kThisMachine);
  EXPECT_EQ(c->sources[2].memory, kThisMachine);
  bool noted = false;
  for (const std::string& n : c->notes) noted |= n.rfind("unmeasured:", 0) == 0 && n.find("sent no profile") != std::string::npos;
  EXPECT_TRUE(noted);

  // A local device: the file's memory and threads, this machine's rates.
  EXPECT_EQ(c->devices[3].memory_bytes, 2ull << 30);
  EXPECT_DOUBLE_EQ(c->devices[3].rates.flops_for(DType::F32), 1e9);
  EXPECT_EQ(c->sources[3].memory, kGivenInFile);
  EXPECT_EQ(c->sources[3].compute, kThisMachine);
}

TEST(DevicesFileEndpoints, LocalDevicesStillNeedMemory) {
  auto file = parse_devices_yaml("devices:\n  - name: a\n    threads: 2\n", "t.yaml");
  ASSERT_FALSE(file);
  EXPECT_NE(file.error().find("no 'memory'"), std::string::npos) << file.error();
  auto remote = parse_devices_yaml("devices:\n  - name: a\n    endpoint: tcp://10.0.0.2:7700\n", "t.yaml");
  ASSERT_TRUE(remote) << remote.error();
  EXPECT_EQ(remote->devices[0].threads, 0);
  EXPECT_EQ(remote->devices[0].memory_bytes, 0u);
}

}  // namespace
}  // namespace lingua
