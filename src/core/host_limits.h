// What this process may use of its machine: cores, free memory, and the limits its cgroup (v1 or
// v2) puts on memory and CPU time, so a worker in a container or a quota'd cgroup neither plans
// with nor measures more than it will get.
#pragma once
#include <cstdint>
#include <string>

namespace lingua {

// Where the kernel's files are; tests point these at fake trees.
struct HostPaths {
  std::string proc_root = "/proc";
  std::string cgroup_root = "/sys/fs/cgroup";
};

struct HostLimits {
  int cores = 1;                            // hardware threads of the machine
  uint64_t mem_available_bytes = 0;         // MemAvailable; 0 = unknown
  uint64_t cgroup_memory_limit_bytes = 0;   // the smallest over the cgroup and its ancestors; 0 = none
  double cpu_quota_cores = 0;               // CFS quota / period (0.25 = a quarter of one core); 0 = none
  double cpu_period_s = 0;                  // the CFS period of that quota; 0 = none

  // Threads worth running: the quota rounded up (at least 1), at most the cores.
  int usable_threads() const;
  // The smallest of MemAvailable, the cgroup limit and `flag_bytes` (--memory) among those that
  // are set (non-zero); 0 when none is.
  uint64_t usable_memory_bytes(uint64_t flag_bytes) const;
};

// Reads <proc_root>/self/cgroup, <proc_root>/meminfo and the cgroup files it names. A missing or
// unreadable file, or one that does not hold a number, counts as no limit: never an error.
HostLimits read_host_limits(const HostPaths& paths = {});

}  // namespace lingua
