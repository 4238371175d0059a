// A worker's profile cache filled in advance, so tests that start workers do not spend a minute
// measuring each one: the limits a worker reports are read afresh either way.
#pragma once
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/host_limits.h"
#include "plan/device_profile.h"

namespace lingua::testing {

// Writes the profile for `threads` under `quota_cores` into `cache_dir` (3 GFLOP/s f32, 5 GB/s).
// Method 5 is device_profile.cpp's kProfileMethod; were it bumped, the worker would measure
// (slower, still right).
inline void prefill_cache(const std::filesystem::path& cache_dir, int threads, double quota_cores) {
  const char* old = std::getenv("LINGUA_CACHE_DIR");
  const std::string saved = old ? old : "";
  ::setenv("LINGUA_CACHE_DIR", cache_dir.c_str(), 1);
  const std::string path = profile_cache_path(threads, quota_cores);
  if (old) ::setenv("LINGUA_CACHE_DIR", saved.c_str(), 1);
  else ::unsetenv("LINGUA_CACHE_DIR");
  DeviceProfile p;
  p.threads = threads;
  p.cores = read_host_limits().cores;
  p.rates.flops_per_s[static_cast<size_t>(DType::F32)] = 3e9;
  p.rates.bytes_per_s = 5e9;
  p.source = "test";
  std::filesystem::create_directories(cache_dir);
  std::ofstream(path) << "{\"method\": 5, \"profile\": " << device_profile_json(p) << "}\n";
}

}  // namespace lingua::testing
