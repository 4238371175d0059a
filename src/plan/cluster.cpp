// make_cluster: rates per device, the slowdown emulation, and the links (cluster_links.cpp).
#include "plan/cluster.h"

#include <map>

#include "plan/local_profile.h"

namespace lingua {

Expected<Cluster> make_cluster(const DevicesFile& file, bool refresh_profile) {
  Cluster c;
  std::map<int, LocalProfile> profiles;  // by thread count
  auto profile = [&](int threads) -> Expected<LocalProfile> {
    auto it = profiles.find(threads);
    if (it != profiles.end()) return it->second;
    LINGUA_ASSIGN_OR_RETURN(LocalProfile p, local_profile(threads, refresh_profile));
    c.notes.push_back("this machine's rates at " + std::to_string(threads) + " thread(s): " + p.source);
    return profiles.emplace(threads, p).first->second;
  };
  for (const DeviceSpec& spec : file.devices) {
    PlanDevice d;
    d.name = spec.name;
    d.memory_bytes = spec.memory_bytes;
    LINGUA_ASSIGN_OR_RETURN(LocalProfile local, profile(spec.threads));
    d.rates = local.rates;
    std::string origin;
    if (!spec.flops_per_s.empty()) {
      // Given rates replace the measured ones; types the file does not list fall back to its f32
      // figure (or the measured one when f32 is not given either).
      const double f32 = spec.flops_per_s.count(DType::F32) ? spec.flops_per_s.at(DType::F32) : 0.0;
      for (double& f : d.rates.flops_per_s) f = f32 > 0 ? f32 : f;
      for (const auto& [type, rate] : spec.flops_per_s) d.rates.flops_per_s[static_cast<size_t>(type)] = rate;
      origin = "compute given in the file";
    } else {
      origin = "compute measured here";
    }
    if (spec.mem_bandwidth_bytes_per_s > 0) {
      d.rates.bytes_per_s = spec.mem_bandwidth_bytes_per_s;
      origin += ", bandwidth given";
    } else {
      origin += ", bandwidth measured here";
    }
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
    d.battery = spec.battery;
    c.notes.push_back(d.name + ": " + origin);
    c.devices.push_back(std::move(d));
  }
  c.link = PlanLink{file.default_link.bandwidth_bytes_per_s, file.default_link.latency_s};
  LINGUA_TRY(apply_file_links(c, file));
  return c;
}

}  // namespace lingua
