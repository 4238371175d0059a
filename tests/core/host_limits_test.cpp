// read_host_limits on fake /proc and cgroup trees: v1 and v2 layouts, limits set on ancestors,
// "no limit" spellings, and files that are missing or hold garbage.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/host_limits.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;

class FakeHost : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("lingua-host-limits-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "proc/self");
    fs::create_directories(root_ / "cg");
    paths_.proc_root = (root_ / "proc").string();
    paths_.cgroup_root = (root_ / "cg").string();
    write("proc/meminfo", "MemTotal:       16000000 kB\nMemFree:  100 kB\nMemAvailable:    8000000 kB\n");
  }
  void TearDown() override { fs::remove_all(root_); }

  void write(const std::string& rel, const std::string& text) {
    const fs::path p = root_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }

  fs::path root_;
  HostPaths paths_;
};

TEST_F(FakeHost, NoCgroupFileMeansNoLimits) {
  const HostLimits h = read_host_limits(paths_);
  EXPECT_EQ(h.mem_available_bytes, 8000000ull * 1024);
  EXPECT_EQ(h.cgroup_memory_limit_bytes, 0u);
  EXPECT_EQ(h.cpu_quota_cores, 0.0);
  EXPECT_EQ(h.cpu_period_s, 0.0);
  EXPECT_GE(h.cores, 1);
  EXPECT_EQ(h.usable_threads(), h.cores);
  EXPECT_EQ(h.usable_memory_bytes(0), 8000000ull * 1024);
}

TEST_F(FakeHost, V1MemoryAndCpuQuota) {
  write("proc/self/cgroup", "12:pids:/x\n4:memory:/jobs/a\n3:cpu,cpuacct:/jobs/a\n1:name=systemd:/x\n0::/\n");
  write("cg/memory/jobs/a/memory.limit_in_bytes", "419430400\n");
  write("cg/memory/memory.limit_in_bytes", "9223372036854771712\n");
  write("cg/cpu,cpuacct/jobs/a/cpu.cfs_quota_us", "2500\n");
  write("cg/cpu,cpuacct/jobs/a/cpu.cfs_period_us", "10000\n");
  write("cg/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
  write("cg/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  const HostLimits h = read_host_limits(paths_);
  EXPECT_EQ(h.cgroup_memory_limit_bytes, 400ull << 20);
  EXPECT_DOUBLE_EQ(h.cpu_quota_cores, 0.25);
  EXPECT_DOUBLE_EQ(h.cpu_period_s, 0.01);
  EXPECT_EQ(h.usable_threads(), 1);
  EXPECT_EQ(h.usable_memory_bytes(0), 400ull << 20);
  EXPECT_EQ(h.usable_memory_bytes(300ull << 20), 300ull << 20);
}

TEST_F(FakeHost, V1ControllersInAnyOrderAndTheCpuLink) {
  write("proc/self/cgroup", "3:cpuacct,cpu:/b\n");
  write("cg/cpu/b/cpu.cfs_quota_us", "150000");
  write("cg/cpu/b/cpu.cfs_period_us", "100000");
  const HostLimits h = read_host_limits(paths_);
  EXPECT_DOUBLE_EQ(h.cpu_quota_cores, 1.5);
  EXPECT_EQ(h.usable_threads(), std::min(2, h.cores));
}

TEST_F(FakeHost, V1SmallestLimitAmongAncestors) {
  write("proc/self/cgroup", "4:memory:/a/b/c\n2:cpu:/a/b/c\n");
  write("cg/memory/a/memory.limit_in_bytes", "104857600");  // 100 MiB on the grandparent
  write("cg/memory/a/b/memory.limit_in_bytes", "209715200");
  write("cg/memory/a/b/c/memory.limit_in_bytes", "9223372036854771712");
  write("cg/cpu/a/b/cpu.cfs_quota_us", "50000");  // 0.5 core on the parent
  write("cg/cpu/a/b/cpu.cfs_period_us", "100000");
  write("cg/cpu/a/b/c/cpu.cfs_quota_us", "300000");
  write("cg/cpu/a/b/c/cpu.cfs_period_us", "100000");
  const HostLimits h = read_host_limits(paths_);
  EXPECT_EQ(h.cgroup_memory_limit_bytes, 100ull << 20);
  EXPECT_DOUBLE_EQ(h.cpu_quota_cores, 0.5);
  EXPECT_DOUBLE_EQ(h.cpu_period_s, 0.1);
}

TEST_F(FakeHost, V2MemoryMaxAndCpuMax) {
  write("proc/self/cgroup", "0::/user.slice/job\n");
  write("cg/user.slice/job/memory.max", "536870912\n");
  write("cg/user.slice/job/cpu.max", "25000 100000\n");
  write("cg/user.slice/memory.max", "max\n");
  write("cg/user.slice/cpu.max", "max 100000\n");
  const HostLimits h = read_host_limits(paths_);
  EXPECT_EQ(h.cgroup_memory_limit_bytes, 512ull << 20);
  EXPECT_DOUBLE_EQ(h.cpu_quota_cores, 0.25);
  EXPECT_DOUBLE_EQ(h.cpu_period_s, 0.1);
}

TEST_F(FakeHost, V2MaxMeansNoneAndAncestorsCount) {
  write("proc/self/cgroup", "0::/p/q\n");
  write("cg/p/q/memory.max", "max\n");
  write("cg/p/q/cpu.max", "max 100000\n");
  write("cg/p/memory.max", "1073741824\n");
  const HostLimits h = read_host_limits(paths_);
  EXPECT_EQ(h.cgroup_memory_limit_bytes, 1ull << 30);
  EXPECT_EQ(h.cpu_quota_cores, 0.0);
}

TEST_F(FakeHost, V2InTheHybridLayout) {
  write("proc/self/cgroup", "0::/h\n");
  write("cg/unified/h/memory.max", "300000000");
  const HostLimits h = read_host_limits(paths_);
  EXPECT_EQ(h.cgroup_memory_limit_bytes, 300000000u);
}

TEST_F(FakeHost, GarbageAndMissingFilesMeanNoLimit) {
  write("proc/self/cgroup", "garbage line\n::\n4:memory:/g\n2:cpu:/g\n0::/g\n7:memory:relative\n");
  write("cg/memory/g/memory.limit_in_bytes", "lots\n");
  write("cg/cpu/g/cpu.cfs_quota_us", "12abc");
  write("cg/cpu/g/cpu.cfs_period_us", "100000");
  write("cg/g/memory.max", "-5");
  write("cg/g/cpu.max", "25000");  // no period
  write("proc/meminfo", "MemAvailable: many kB\n");
  const HostLimits h = read_host_limits(paths_);
  EXPECT_EQ(h.mem_available_bytes, 0u);
  EXPECT_EQ(h.cgroup_memory_limit_bytes, 0u);
  EXPECT_EQ(h.cpu_quota_cores, 0.0);
  EXPECT_EQ(h.usable_memory_bytes(0), 0u);
  EXPECT_EQ(h.usable_memory_bytes(5), 5u);
}

TEST_F(FakeHost, ZeroPeriodAndZeroQuotaAreIgnored) {
  write("proc/self/cgroup", "2:cpu:/z\n");
  write("cg/cpu/z/cpu.cfs_quota_us", "50000");
  write("cg/cpu/z/cpu.cfs_period_us", "0");
  EXPECT_EQ(read_host_limits(paths_).cpu_quota_cores, 0.0);
}

TEST_F(FakeHost, PathsLeavingTheHierarchyAreNotFollowed) {
  write("proc/self/cgroup", "4:memory:/../../outside\n");
  write("outside/memory.limit_in_bytes", "1000");  // would be read through the ".."
  write("cg/memory/memory.limit_in_bytes", "2000000");
  EXPECT_EQ(read_host_limits(paths_).cgroup_memory_limit_bytes, 2000000u);
}

TEST(HostLimits, UsableThreadsRoundsTheQuotaUpWithinTheCores) {
  HostLimits h;
  h.cores = 8;
  EXPECT_EQ(h.usable_threads(), 8);
  h.cpu_quota_cores = 0.1;
  EXPECT_EQ(h.usable_threads(), 1);
  h.cpu_quota_cores = 2.0;
  EXPECT_EQ(h.usable_threads(), 2);
  h.cpu_quota_cores = 2.2;
  EXPECT_EQ(h.usable_threads(), 3);
  h.cpu_quota_cores = 64;
  EXPECT_EQ(h.usable_threads(), 8);
}

TEST(HostLimits, UsableMemoryIsTheSmallestSetFigure) {
  HostLimits h;
  h.mem_available_bytes = 1000;
  EXPECT_EQ(h.usable_memory_bytes(0), 1000u);
  h.cgroup_memory_limit_bytes = 600;
  EXPECT_EQ(h.usable_memory_bytes(0), 600u);
  EXPECT_EQ(h.usable_memory_bytes(700), 600u);
  EXPECT_EQ(h.usable_memory_bytes(200), 200u);
  h.mem_available_bytes = 100;
  EXPECT_EQ(h.usable_memory_bytes(200), 100u);
}

}  // namespace
}  // namespace lingua
