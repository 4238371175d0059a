// apply_measured_links: probed round trips and bandwidths into the cluster's link matrix.
#include "plan/cluster_measurements.h"

#include <cmath>

namespace lingua {

Expected<PlanLink> measured_price(const MeasuredLink& l) {
  if (!l.error.empty()) return Status::error(l.error);
  if (!(std::isfinite(l.rtt_s) && l.rtt_s >= 0 && std::isfinite(l.bytes_per_s) && l.bytes_per_s > 0))
    return Status::error("a measurement out of range");
  // A message takes half a round trip to arrive; the probe's round trip carried next to nothing.
  return PlanLink{l.bytes_per_s, l.rtt_s / 2};
}

void apply_measured_links(Cluster& cluster, const ClusterMeasurements& measured) {
  int applied = 0;
  for (const MeasuredLink& l : measured.links) {
    if (!l.error.empty()) continue;  // named in measured.notes; the pair keeps the file's link
    const auto price = measured_price(l);
    if (!price) {
      cluster.notes.push_back("link " + l.from + " -> " + l.to + ": " + price.error() + " was ignored");
      continue;
    }
    const Status st = l.from == kHeadName ? set_head_link(cluster, l.to, price->latency_s, price->bytes_per_s)
                                          : set_measured_link(cluster, l.from, l.to, price->latency_s, price->bytes_per_s);
    if (!st) {
      cluster.notes.push_back("link " + l.from + " -> " + l.to + " not used: " + st.message());
      continue;
    }
    ++applied;
  }
  if (applied > 0)
    cluster.notes.push_back(std::to_string(applied) + " link(s) priced as measured (latency = half the round trip; a pair the "
                            "devices file gives keeps the file's figures)");
  for (const std::string& n : measured.notes) cluster.notes.push_back(n);
}

}  // namespace lingua
