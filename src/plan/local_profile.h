// This machine's profile: compute rates measured with the real kernels (compute_profile.h), free
// memory and cores, cached per thread count so repeated plans price devices identically.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "core/status.h"
#include "graph/cost_model.h"

namespace lingua {

struct LocalProfile {
  int threads = 1;
  ComputeRates rates;
  uint64_t memory_available_bytes = 0;  // MemAvailable from /proc/meminfo
  int cores = 1;
  std::string source;                   // "measured now" or "cached in <path>"
};

// Where profiles are cached: $LINGUA_CACHE_DIR, else $XDG_CACHE_HOME/lingua, else ~/.cache/lingua.
std::string profile_cache_dir();

// Told when a profile starts being measured (`threads`, where it will be cached) and then after
// each measurement (done of total): process-wide, since every command that plans may measure,
// set once by the command line so a first run shows a progress bar instead of a silent pause.
struct ProfileProgress {
  std::function<void(int threads, const std::string& cache_path)> started;
  std::function<void(int done, int total)> step;
};
void set_profile_progress(ProfileProgress progress);

// Measures (and caches) the profile for `threads`, or reads the cache when it exists and
// `refresh` is false. A damaged cache file is measured again and overwritten.
Expected<LocalProfile> local_profile(int threads, bool refresh = false);

// A devices-file entry for this machine (YAML text).
std::string devices_file_entry(const LocalProfile& p, const std::string& name);

}  // namespace lingua
