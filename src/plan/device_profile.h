// A device's profile: compute rates measured with the real kernels (compute_profile.h), the memory
// and CPU it may use (MemAvailable, cgroup limits, --memory), battery and heat. A worker measures
// its own and sends it in HELLO; `lingua profile` prints this machine's. Cached per thread count
// and CPU quota so repeated plans price a device identically.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "core/status.h"
#include "graph/cost_model.h"

namespace lingua {

struct DeviceProfile {
  int threads = 1;                         // threads the rates were measured with
  int cores = 1;                           // hardware threads of the machine
  double cpu_quota_cores = 0;              // cgroup CPU quota in cores; 0 = none
  uint64_t memory_bytes = 0;               // usable: min of MemAvailable, cgroup limit, --memory (0 = unknown)
  uint64_t mem_available_bytes = 0;        // MemAvailable when measured; 0 = unknown
  uint64_t cgroup_memory_limit_bytes = 0;  // 0 = none
  uint64_t memory_flag_bytes = 0;          // --memory; 0 = not given
  ComputeRates rates;
  double battery = -1;                     // 0..1; -1 = mains power or none exposed
  double temperature_c = -1;               // hottest thermal zone; -1 = none exposed
  std::string source;                      // "measured now", "cached in <path>", ...
};

// One human line: threads, quota, usable memory and where it comes from, f32/q8_0 GFLOP/s,
// bandwidth, battery and temperature when known, and the source.
std::string describe(const DeviceProfile& p);

// Wire format (HELLO's "profile", the cache's "profile"): one JSON object
//   {"threads":int, "cores":int, "cpu_quota_cores":num, "memory_bytes":uint, "mem_available_bytes":uint,
//    "cgroup_memory_limit_bytes":uint, "memory_flag_bytes":uint,
//    "rates":{"flops_per_s":{"f32":num, "q8_0":num, ...}, "bytes_per_s":num, "seconds_per_op":num},
//    "battery":num, "temperature_c":num, "source":string}
// Every key is required; rates name known tensor types and must include f32.
std::string device_profile_json(const DeviceProfile& p);
// Checks every field (types, finite, ranges, memory_bytes within each limit it is the minimum of);
// the error names the field.
Expected<DeviceProfile> parse_device_profile(const std::string& json);

// Where profiles are cached: $LINGUA_CACHE_DIR, else $XDG_CACHE_HOME/lingua, else ~/.cache/lingua.
std::string profile_cache_dir();
// The cache file of a profile measured with `threads` under a CPU quota (0 = none):
// profile-t1.json, profile-t1-cpu250m.json for a quarter of a core.
std::string profile_cache_path(int threads, double cpu_quota_cores);

// Told when a profile starts being measured (`threads`, where it will be cached) and then after
// each measurement (done of total): process-wide, since every command that plans may measure,
// set once by the command line so a first run shows a progress bar instead of a silent pause.
struct ProfileProgress {
  std::function<void(int threads, const std::string& cache_path)> started;
  std::function<void(int done, int total)> step;
};
void set_profile_progress(ProfileProgress progress);

// This machine's profile at `threads`: the rates measured (and cached), or read from the cache
// when it exists and `refresh` is false (a damaged cache is measured again and overwritten);
// memory limits read now. `memory_flag_bytes` is --memory (0 = none). Battery and temperature
// are left at -1: the runtime layer reads them (runtime/device_readings.h) and fills them in.
Expected<DeviceProfile> measure_device_profile(int threads, uint64_t memory_flag_bytes = 0, bool refresh = false);

// A devices-file entry for this machine (YAML text).
std::string devices_file_entry(const DeviceProfile& p, const std::string& name);

}  // namespace lingua
