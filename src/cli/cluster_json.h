// The cluster as priced, in JSON: every link with where its figures came from, and every device's
// figures with theirs. Shared by `plan --json` and `generate --json`, so both say the same.
#pragma once
#include <nlohmann/json.hpp>

#include "plan/cluster.h"
#include "runtime/cluster_run.h"

namespace lingua::cli {

// The links measured again during a run because their tokens took far longer than priced.
inline nlohmann::json link_remeasures_json(const std::vector<LinkRemeasure>& list) {
  nlohmann::json out = nlohmann::json::array();
  for (const LinkRemeasure& m : list)
    out.push_back({{"at_token", m.at_token}, {"from", m.from}, {"to", m.to}, {"observed_ms_per_token", m.observed_ms},
                   {"priced_ms_per_token", m.priced_ms}, {"rtt_ms", m.rtt_ms}, {"mbit_per_s", m.mbit_per_s}, {"error", m.error}});
  return out;
}

// Every ordered pair of devices with the link the planner priced and where it came from, then the
// head's links when known (measured).
inline nlohmann::json links_json(const Cluster& c) {
  nlohmann::json list = nlohmann::json::array();
  const size_t n = c.devices.size();
  for (size_t a = 0; a < n; ++a)
    for (size_t b = 0; b < n; ++b) {
      if (a == b) continue;
      const bool matrix = c.links.size() == n;
      const PlanLink& l = matrix ? c.links[a][b] : c.link;
      const std::string source = matrix && a < c.link_sources.size() ? c.link_sources[a][b] : kLinkDefault;
      list.push_back({{"from", c.devices[a].name}, {"to", c.devices[b].name}, {"latency_ms", l.latency_s * 1e3},
                      {"bandwidth_bytes_per_s", l.bytes_per_s}, {"source", source}});
    }
  for (size_t d = 0; d < c.head_links.size() && d < n; ++d)
    list.push_back({{"from", "head"}, {"to", c.devices[d].name}, {"latency_ms", c.head_links[d].latency_s * 1e3},
                    {"bandwidth_bytes_per_s", c.head_links[d].bytes_per_s}, {"source", kLinkMeasured}});
  return list;
}

// Each device's priced figures and where each came from (measured by its worker, given in the
// devices file, or this machine's profile).
inline nlohmann::json device_figures_json(const Cluster& c) {
  nlohmann::json list = nlohmann::json::array();
  for (size_t d = 0; d < c.devices.size(); ++d) {
    const PlanDevice& pd = c.devices[d];
    nlohmann::json j{{"device", pd.name},
                     {"memory_bytes", pd.memory_bytes},
                     {"f32_gflops", pd.rates.flops_for(DType::F32) / 1e9},
                     {"q4_0_gflops", pd.rates.flops_for(DType::Q4_0) / 1e9},
                     {"mem_bandwidth_bytes_per_s", pd.rates.bytes_per_s}};
    if (d < c.threads.size()) j["threads"] = c.threads[d];
    if (d < c.sources.size())
      j["sources"] = {{"compute", c.sources[d].compute},
                      {"bandwidth", c.sources[d].bandwidth},
                      {"memory", c.sources[d].memory},
                      {"threads", c.sources[d].threads}};
    list.push_back(j);
  }
  return list;
}

}  // namespace lingua::cli
