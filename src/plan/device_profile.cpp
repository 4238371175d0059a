// measure_device_profile: measure once per thread count and CPU quota, cache as JSON, reuse; the
// profile's JSON form with every field checked, since it arrives from other machines in HELLO.
#include "plan/device_profile.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <type_traits>

#include "core/host_limits.h"
#include "core/printable.h"
#include "core/thread_pool.h"
#include "plan/compute_profile.h"
#include "plan/units.h"

namespace lingua {
namespace {

using nlohmann::json;

// Bumped when the measurement or the cache's layout changes, so old caches are measured again.
// 2: weights streamed from a region larger than the last-level cache. 3: medians, not bests.
// 4: in huge pages, as workers keep their weights. 5: the DeviceProfile layout; windows spanning
// many CFS periods under a CPU quota.
constexpr int kProfileMethod = 5;

constexpr int kMaxThreads = 1024;
constexpr int kMaxCores = 65536;
constexpr uint64_t kMaxMemory = uint64_t{1} << 52;  // 4 PiB: more is a unit mistake
constexpr double kMaxFlops = 1e17;
constexpr double kMaxBytesPerS = 1e15;
constexpr size_t kMaxSourceBytes = 1024;

json rates_json(const ComputeRates& r) {
  json flops = json::object();
  for (DType t : profiled_types())
    if (r.flops_per_s[static_cast<size_t>(t)] > 0) flops[dtype_name(t)] = r.flops_per_s[static_cast<size_t>(t)];
  return {{"flops_per_s", flops}, {"bytes_per_s", r.bytes_per_s}, {"seconds_per_op", r.seconds_per_op}};
}

json to_json(const DeviceProfile& p) {
  return {{"threads", p.threads},
          {"cores", p.cores},
          {"cpu_quota_cores", p.cpu_quota_cores},
          {"memory_bytes", p.memory_bytes},
          {"mem_available_bytes", p.mem_available_bytes},
          {"cgroup_memory_limit_bytes", p.cgroup_memory_limit_bytes},
          {"memory_flag_bytes", p.memory_flag_bytes},
          {"rates", rates_json(p.rates)},
          {"battery", p.battery},
          {"temperature_c", p.temperature_c},
          {"source", p.source}};
}

Status bad(const std::string& field, const std::string& why) {
  return Status::error("device profile: '" + field + "' " + why);
}

// obj[key] as T, or an error naming the key.
template <class T>
Status get(const json& obj, const std::string& key, T& out, const std::string& prefix = "") {
  auto it = obj.find(key);
  if (it == obj.end()) return Status::error("device profile: missing '" + prefix + key + "'");
  if constexpr (std::is_same_v<T, double>) {
    if (!it->is_number()) return bad(prefix + key, "must be a number");
  } else if constexpr (std::is_integral_v<T>) {
    if (!it->is_number_integer()) return bad(prefix + key, "must be a whole number");
    if constexpr (std::is_unsigned_v<T>) {
      if (!it->is_number_unsigned()) return bad(prefix + key, "must not be negative");
    }
  } else {
    if (!it->is_string()) return bad(prefix + key, "must be a string");
  }
  try {
    out = it->get<T>();
  } catch (const json::exception&) {
    return bad(prefix + key, "is out of range");
  }
  return Status::ok();
}

Status check_range(const std::string& field, double v, double lo, double hi) {
  if (!std::isfinite(v) || v < lo || v > hi) {
    std::ostringstream os;
    os << "must be between " << lo << " and " << hi << ", got " << v;
    return bad(field, os.str());
  }
  return Status::ok();
}

Expected<DeviceProfile> from_json(const json& j) {
  if (!j.is_object()) return Status::error("device profile: not a JSON object");
  DeviceProfile p;
  LINGUA_TRY(get(j, "threads", p.threads));
  if (p.threads < 1 || p.threads > kMaxThreads) return bad("threads", "must be between 1 and " + std::to_string(kMaxThreads));
  LINGUA_TRY(get(j, "cores", p.cores));
  if (p.cores < 1 || p.cores > kMaxCores) return bad("cores", "must be between 1 and " + std::to_string(kMaxCores));
  LINGUA_TRY(get(j, "cpu_quota_cores", p.cpu_quota_cores));
  LINGUA_TRY(check_range("cpu_quota_cores", p.cpu_quota_cores, 0, kMaxCores));
  for (auto [key, field] : {std::pair{"memory_bytes", &p.memory_bytes}, std::pair{"mem_available_bytes", &p.mem_available_bytes},
                            std::pair{"cgroup_memory_limit_bytes", &p.cgroup_memory_limit_bytes},
                            std::pair{"memory_flag_bytes", &p.memory_flag_bytes}}) {
    LINGUA_TRY(get(j, key, *field));
    if (*field > kMaxMemory) return bad(key, "is more than 4 PiB");
  }
  for (auto [key, limit] : {std::pair{"mem_available_bytes", p.mem_available_bytes},
                            std::pair{"cgroup_memory_limit_bytes", p.cgroup_memory_limit_bytes},
                            std::pair{"memory_flag_bytes", p.memory_flag_bytes}})
    if (limit > 0 && p.memory_bytes > limit) return bad("memory_bytes", std::string("is more than ") + key);
  if (p.memory_bytes == 0 && (p.mem_available_bytes | p.cgroup_memory_limit_bytes | p.memory_flag_bytes) != 0)
    return bad("memory_bytes", "is 0 while a limit it is the smallest of is known");
  auto rates = j.find("rates");
  if (rates == j.end()) return Status::error("device profile: missing 'rates'");
  if (!rates->is_object()) return bad("rates", "must be an object");
  auto flops = rates->find("flops_per_s");
  if (flops == rates->end()) return Status::error("device profile: missing 'rates.flops_per_s'");
  if (!flops->is_object()) return bad("rates.flops_per_s", "must be an object of tensor type to FLOP/s");
  for (auto it = flops->begin(); it != flops->end(); ++it) {
    const std::string field = "rates.flops_per_s." + it.key();
    Expected<DType> type = parse_dtype(it.key());
    if (!type) return bad(field, "is not a tensor type (" + type.error() + ")");
    const auto slot = static_cast<size_t>(*type);
    if (slot >= ComputeRates::kTypeSlots) return bad(field, "is not a type a device computes");
    if (!it->is_number()) return bad(field, "must be a number");
    const double v = it->get<double>();
    if (!std::isfinite(v) || v <= 0 || v > kMaxFlops) return bad(field, "must be more than 0 and at most 1e17");
    p.rates.flops_per_s[slot] = v;
  }
  if (!(p.rates.flops_per_s[static_cast<size_t>(DType::F32)] > 0)) return Status::error("device profile: missing 'rates.flops_per_s.f32'");
  LINGUA_TRY(get(*rates, "bytes_per_s", p.rates.bytes_per_s, "rates."));
  if (!std::isfinite(p.rates.bytes_per_s) || p.rates.bytes_per_s <= 0 || p.rates.bytes_per_s > kMaxBytesPerS)
    return bad("rates.bytes_per_s", "must be more than 0 and at most 1e15");
  LINGUA_TRY(get(*rates, "seconds_per_op", p.rates.seconds_per_op, "rates."));
  LINGUA_TRY(check_range("rates.seconds_per_op", p.rates.seconds_per_op, 0, 1));
  LINGUA_TRY(get(j, "battery", p.battery));
  if (p.battery != -1) LINGUA_TRY(check_range("battery", p.battery, 0, 1));
  LINGUA_TRY(get(j, "temperature_c", p.temperature_c));
  LINGUA_TRY(check_range("temperature_c", p.temperature_c, -100, 300));
  LINGUA_TRY(get(j, "source", p.source));
  if (p.source.size() > kMaxSourceBytes) return bad("source", "is longer than 1024 bytes");
  if (printable_text(p.source) != p.source) return bad("source", "holds control characters or invalid UTF-8");
  return p;
}

ProfileProgress& profile_progress() {
  static ProfileProgress progress;
  return progress;
}

std::string gflops(double flops_per_s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", flops_per_s / 1e9);
  return buf;
}

}  // namespace

std::string device_profile_json(const DeviceProfile& p) { return to_json(p).dump(); }

Expected<DeviceProfile> parse_device_profile(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::error("device profile: not valid JSON");
  return from_json(j);
}

std::string describe(const DeviceProfile& p) {
  std::ostringstream out;
  char buf[64];
  out << p.threads << " thread(s) of " << p.cores << " cores";
  if (p.cpu_quota_cores > 0) {
    std::snprintf(buf, sizeof buf, "%.2f", p.cpu_quota_cores);
    out << ", CPU quota " << buf << " cores";
  }
  out << "; memory " << (p.memory_bytes ? format_bytes(p.memory_bytes) : std::string("unknown"));
  std::string limits;
  auto add = [&](const char* what, uint64_t v) {
    if (v == 0) return;
    limits += limits.empty() ? "" : ", ";
    limits += what;
    limits += " ";
    limits += format_bytes(v);
  };
  add("available", p.mem_available_bytes);
  add("cgroup limit", p.cgroup_memory_limit_bytes);
  add("--memory", p.memory_flag_bytes);
  if (!limits.empty()) out << " (smallest of " << limits << ")";
  out << "; " << gflops(p.rates.flops_for(DType::F32)) << " GFLOP/s f32, " << gflops(p.rates.flops_for(DType::Q8_0))
      << " q8_0, " << gflops(p.rates.flops_for(DType::Q4_0)) << " q4_0; ";
  std::snprintf(buf, sizeof buf, "%.1f GB/s", p.rates.bytes_per_s / 1e9);
  out << buf;
  if (p.battery >= 0) {
    std::snprintf(buf, sizeof buf, "%.0f%%", p.battery * 100);
    out << "; battery " << buf;
  }
  if (p.temperature_c >= 0) {
    std::snprintf(buf, sizeof buf, "%.0f C", p.temperature_c);
    out << "; " << buf;
  }
  if (!p.source.empty()) out << "; " << p.source;
  return out.str();
}

void set_profile_progress(ProfileProgress progress) { profile_progress() = std::move(progress); }

std::string profile_cache_dir() {
  if (const char* d = std::getenv("LINGUA_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/lingua";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/lingua";
  return "/tmp/lingua-cache";
}

std::string profile_cache_path(int threads, double cpu_quota_cores) {
  std::string name = "profile-t" + std::to_string(threads);
  if (cpu_quota_cores > 0) name += "-cpu" + std::to_string(static_cast<long long>(std::llround(cpu_quota_cores * 1000))) + "m";
  return profile_cache_dir() + "/" + name + ".json";
}

Expected<DeviceProfile> measure_device_profile(int threads, uint64_t memory_flag_bytes, bool refresh) {
  if (threads < 1 || threads > kMaxThreads)
    return Status::error("a profile needs between 1 and " + std::to_string(kMaxThreads) + " threads, got " + std::to_string(threads));
  const HostLimits host = read_host_limits();
  const std::string path = profile_cache_path(threads, host.cpu_quota_cores);
  DeviceProfile p;
  bool cached = false;
  if (!refresh) {
    std::ifstream in(path);
    if (in) {
      const json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
      if (!j.is_discarded() && j.is_object() && j.value("method", 0) == kProfileMethod && j.contains("profile")) {
        auto read = from_json(j["profile"]);  // a damaged cache is measured again below
        if (read && read->threads == threads && read->cores == host.cores) {
          p = *read;
          p.source = "cached in " + path;
          cached = true;
        }
      }
    }
  }
  if (!cached) {
    ThreadPool pool(threads);
    const ProfileProgress& progress = profile_progress();
    if (progress.started) progress.started(threads, path);
    // Under a CFS quota a window shorter than the period sees a burst or a stall, not the share:
    // each timed window spans several periods (at most a second, to keep the measurement short).
    const double window = host.cpu_period_s > 0 ? std::min(1.0, 8 * host.cpu_period_s) : 0.0;
    p.rates = measure_compute_rates(pool, profiled_types(), progress.step, window);
    p.source = "measured now";
  }
  p.threads = threads;
  p.cores = host.cores;
  p.cpu_quota_cores = host.cpu_quota_cores;
  p.mem_available_bytes = host.mem_available_bytes;
  p.cgroup_memory_limit_bytes = host.cgroup_memory_limit_bytes;
  p.memory_flag_bytes = memory_flag_bytes;
  p.memory_bytes = host.usable_memory_bytes(memory_flag_bytes);
  p.battery = -1;
  p.temperature_c = -1;
  if (!cached) {
    std::error_code ec;
    std::filesystem::create_directories(profile_cache_dir(), ec);
    const std::string tmp = path + ".tmp" + std::to_string(getpid());
    {
      std::ofstream out(tmp);
      out << json{{"method", kProfileMethod}, {"profile", to_json(p)}}.dump(2) << "\n";
    }
    std::filesystem::rename(tmp, path, ec);  // an unwritable cache only costs a re-measure next time
    if (ec) std::filesystem::remove(tmp, ec);
    else p.source = "measured now, cached in " + path;
  }
  return p;
}

std::string devices_file_entry(const DeviceProfile& p, const std::string& name) {
  std::ostringstream out;
  out << "devices:\n  - name: " << name << "\n    threads: " << p.threads << "\n";
  if (p.memory_bytes > 0) {
    out << "    memory: " << (p.memory_bytes >> 20) << "MiB   # usable now";
    if (p.cgroup_memory_limit_bytes > 0 && p.memory_bytes == p.cgroup_memory_limit_bytes) out << " (the cgroup limit)";
    out << "\n";
  }
  out << "    gflops: {";
  bool first = true;
  for (DType t : profiled_types()) {
    out << (first ? "" : ", ") << dtype_name(t) << ": " << gflops(p.rates.flops_for(t));
    first = false;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f", p.rates.bytes_per_s / 1e9);
  out << "}\n    mem_bandwidth: " << buf << "GB/s\n";
  if (p.cpu_quota_cores > 0) {
    std::snprintf(buf, sizeof buf, "%.2f", p.cpu_quota_cores);
    out << "    # measured under a CPU quota of " << buf << " cores\n";
  }
  return out.str();
}

}  // namespace lingua
