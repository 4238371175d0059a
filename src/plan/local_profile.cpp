// local_profile: measure once, cache as JSON, reuse.
#include "plan/local_profile.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/system_memory.h"
#include "core/thread_pool.h"
#include "plan/compute_profile.h"

namespace lingua {
namespace {

// Bumped when the measurement changes, so caches made the old way are measured again.
// 2: weights streamed from a region larger than the last-level cache. 3: medians, not bests.
// 4: in huge pages, as workers keep their weights.
constexpr int kProfileMethod = 4;

nlohmann::json to_json(const LocalProfile& p) {
  nlohmann::json flops;
  for (DType t : profiled_types()) flops[dtype_name(t)] = p.rates.flops_for(t);
  return {{"method", kProfileMethod}, {"threads", p.threads}, {"flops_per_s", flops}, {"bytes_per_s", p.rates.bytes_per_s},
          {"seconds_per_op", p.rates.seconds_per_op}, {"cores", p.cores}};
}

bool from_json(const nlohmann::json& j, LocalProfile& p) {
  try {
    if (j.value("method", 1) != kProfileMethod) return false;  // measured the old way: measure again
    p.threads = j.at("threads").get<int>();
    for (DType t : profiled_types()) p.rates.flops_per_s[static_cast<size_t>(t)] = j.at("flops_per_s").at(dtype_name(t)).get<double>();
    p.rates.bytes_per_s = j.at("bytes_per_s").get<double>();
    p.rates.seconds_per_op = j.at("seconds_per_op").get<double>();
    p.cores = j.at("cores").get<int>();
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return p.rates.bytes_per_s > 0 && p.rates.flops_for(DType::F32) > 0;
}

ProfileProgress& profile_progress() {
  static ProfileProgress progress;
  return progress;
}

}  // namespace

void set_profile_progress(ProfileProgress progress) { profile_progress() = std::move(progress); }

std::string profile_cache_dir() {
  if (const char* d = std::getenv("LINGUA_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/lingua";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/lingua";
  return "/tmp/lingua-cache";
}

Expected<LocalProfile> local_profile(int threads, bool refresh) {
  if (threads < 1) return Status::error("a profile needs at least one thread");
  const std::string path = profile_cache_dir() + "/profile-t" + std::to_string(threads) + ".json";
  LocalProfile p;
  p.memory_available_bytes = available_memory_bytes();
  if (!refresh) {
    std::ifstream in(path);
    if (in) {
      try {
        if (from_json(nlohmann::json::parse(in), p) && p.threads == threads) {
          p.source = "cached in " + path;
          p.memory_available_bytes = available_memory_bytes();
          return p;
        }
      } catch (const nlohmann::json::exception&) {
        // A damaged cache is measured again below.
      }
    }
  }
  ThreadPool pool(threads);
  p.threads = threads;
  p.cores = ThreadPool::hardware_threads();
  const ProfileProgress& progress = profile_progress();
  if (progress.started) progress.started(threads, path);
  p.rates = measure_compute_rates(pool, profiled_types(), progress.step);
  p.source = "measured now";
  std::error_code ec;
  std::filesystem::create_directories(profile_cache_dir(), ec);
  const std::string tmp = path + ".tmp" + std::to_string(getpid());
  {
    std::ofstream out(tmp);
    out << to_json(p).dump(2) << "\n";
  }
  std::filesystem::rename(tmp, path, ec);  // an unwritable cache only costs a re-measure next time
  if (!ec) p.source = "measured now, cached in " + path;
  return p;
}

std::string devices_file_entry(const LocalProfile& p, const std::string& name) {
  std::ostringstream out;
  char buf[64];
  out << "devices:\n  - name: " << name << "\n    threads: " << p.threads << "\n";
  out << "    memory: " << (p.memory_available_bytes >> 20) << "MiB   # available now\n";
  out << "    gflops: {";
  bool first = true;
  for (DType t : profiled_types()) {
    std::snprintf(buf, sizeof buf, "%.1f", p.rates.flops_for(t) / 1e9);
    out << (first ? "" : ", ") << dtype_name(t) << ": " << buf;
    first = false;
  }
  std::snprintf(buf, sizeof buf, "%.1f", p.rates.bytes_per_s / 1e9);
  out << "}\n    mem_bandwidth: " << buf << "GB/s\n";
  return out.str();
}

}  // namespace lingua
