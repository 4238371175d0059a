// make_cluster: rates, memory and threads per device from the file, the worker's own profile or
// this machine's, the slowdown emulation; the links are cluster_links.cpp's.
#include "plan/cluster.h"

#include <algorithm>
#include <map>

namespace lingua {

Expected<Cluster> make_cluster(const DevicesFile& file, const MeasuredProfiles& measured, bool refresh_profile) {
  Cluster c;
  std::map<int, DeviceProfile> profiles;  // this machine's, by thread count
  auto profile = [&](int threads) -> Expected<DeviceProfile> {
    auto it = profiles.find(threads);
    if (it != profiles.end()) return it->second;
    LINGUA_ASSIGN_OR_RETURN(DeviceProfile p, measure_device_profile(threads, 0, refresh_profile));
    c.notes.push_back("this machine's rates at " + std::to_string(threads) + " thread(s): " + p.source);
    return profiles.emplace(threads, p).first->second;
  };
  for (const DeviceSpec& spec : file.devices) {
    const auto found = measured.find(spec.name);
    const DeviceProfile* own = found == measured.end() ? nullptr : &found->second;
    PlanDevice d;
    d.name = spec.name;
    FigureSources src;
    int threads = 1;
    if (spec.threads > 0) {
      threads = spec.threads;
      src.threads = kGivenInFile;
    } else if (own) {
      threads = own->threads;
      src.threads = kMeasuredByWorker;
    } else {
      src.threads = kThisMachine;  // not given, not measured: priced as one thread here
    }
    // The rates the file does not replace: the worker's own, else this machine's at those threads.
    DeviceProfile base;
    std::string base_source;
    if (own) {
      base = *own;
      base_source = kMeasuredByWorker;
    } else {
      LINGUA_ASSIGN_OR_RETURN(base, profile(threads));
      base_source = kThisMachine;
    }
    d.rates = base.rates;
    std::string origin;
    if (!spec.flops_per_s.empty()) {
      // Given rates replace the measured ones; types the file does not list fall back to its f32
      // figure (or the measured one when f32 is not given either).
      const double f32 = spec.flops_per_s.count(DType::F32) ? spec.flops_per_s.at(DType::F32) : 0.0;
      for (double& f : d.rates.flops_per_s) f = f32 > 0 ? f32 : f;
      for (const auto& [type, rate] : spec.flops_per_s) d.rates.flops_per_s[static_cast<size_t>(type)] = rate;
      src.compute = kGivenInFile;
    } else {
      src.compute = base_source;
    }
    if (spec.mem_bandwidth_bytes_per_s > 0) {
      d.rates.bytes_per_s = spec.mem_bandwidth_bytes_per_s;
      src.bandwidth = kGivenInFile;
    } else {
      src.bandwidth = base_source;
    }
    if (spec.memory_bytes > 0) {
      d.memory_bytes = spec.memory_bytes;
      src.memory = kGivenInFile;
    } else if (own && own->memory_bytes > 0) {
      d.memory_bytes = own->memory_bytes;
      // A cgroup counts everything in it (the worker's code, heap and sockets, and the page cache
      // of what it reads): the plan leaves that much of the limit alone, so no host reaches it.
      if (own->cgroup_memory_limit_bytes > 0 && own->memory_bytes == own->cgroup_memory_limit_bytes)
        d.memory_bytes -= std::min(d.memory_bytes / 2, kCgroupWorkerMarginBytes);
      src.memory = kMeasuredByWorker;
    } else {
      LINGUA_ASSIGN_OR_RETURN(const DeviceProfile here, profile(threads));
      d.memory_bytes = here.memory_bytes;
      src.memory = kThisMachine;
    }
    origin = "compute " + src.compute + ", bandwidth " + src.bandwidth + ", memory " + src.memory + ", " +
             std::to_string(threads) + " thread(s) " + src.threads;
    if (spec.memory_bytes == 0 && own && own->memory_bytes > d.memory_bytes)
      origin += " (memory: its cgroup limit less " + std::to_string((own->memory_bytes - d.memory_bytes) >> 20) +
                " MiB left to the worker itself)";
    if (own && spec.threads > 0 && spec.threads != own->threads)
      origin += " (its worker measured with " + std::to_string(own->threads) + ")";
    if (!spec.endpoint.empty() && !own && (spec.flops_per_s.empty() || spec.memory_bytes == 0 || spec.threads == 0))
      origin += "; its worker sent no profile, so what the file leaves out is this machine's";
    if (spec.slowdown.after_tokens == 0 && spec.slowdown.factor != 1.0) {
      for (double& f : d.rates.flops_per_s) f /= spec.slowdown.factor;
      d.rates.bytes_per_s /= spec.slowdown.factor;
      d.rates.seconds_per_op *= spec.slowdown.factor;
      origin += ", emulated " + std::to_string(spec.slowdown.factor).substr(0, 4) + "x slower";
    } else if (spec.slowdown.after_tokens > 0) {
      origin += ", full speed until token " + std::to_string(spec.slowdown.after_tokens) + " (planned at full speed)";
    }
    if (spec.power_busy_w > 0) {
      d.power_busy_w = spec.power_busy_w;
      d.power_idle_w = spec.power_idle_w;
    } else {
      origin += ", power not given (energy assumes 4 W busy, 0.5 W idle)";
    }
    d.battery = spec.battery >= 0 ? spec.battery : own ? own->battery : -1;
    if (spec.battery < 0 && own && own->battery >= 0) origin += ", battery " + std::string(kMeasuredByWorker);
    c.notes.push_back(d.name + ": " + origin);
    c.devices.push_back(std::move(d));
    c.threads.push_back(threads);
    c.sources.push_back(std::move(src));
  }
  c.link = PlanLink{file.default_link.bandwidth_bytes_per_s, file.default_link.latency_s};
  LINGUA_TRY(apply_file_links(c, file));
  return c;
}

}  // namespace lingua
