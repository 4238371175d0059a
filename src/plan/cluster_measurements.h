// What the head measured about a cluster before planning: each worker's own profile (from its
// HELLO) and the round trips and bandwidths of the links probed between them. Kept apart from the
// devices file so that a figure given in the file always wins, and the plan can say which won.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "plan/cluster.h"
#include "plan/device_profile.h"

namespace lingua {

// The head's own end of a link is named this in MeasuredLink::from.
inline constexpr const char* kHeadName = "head";

struct MeasuredLink {
  std::string from, to;  // device names; from = kHeadName for the head's link to a worker
  double rtt_s = 0;
  double bytes_per_s = 0;
  std::string error;     // "" = measured; otherwise why not (the pair is priced from the file)
};

struct ClusterMeasurements {
  std::map<std::string, DeviceProfile> profiles;  // by device name
  std::vector<MeasuredLink> links;
  std::vector<std::string> notes;                 // what could not be measured, and why
  bool empty() const { return profiles.empty() && links.empty() && notes.empty(); }
};

// The planner's price of one measured link: latency half the round trip (the probe's round trip
// carried next to nothing), the measured bandwidth. An error for a failed probe or figures out of
// range.
Expected<PlanLink> measured_price(const MeasuredLink& link);

// Prices every measured link in `cluster` (latency = half the round trip; a pair given in the
// devices file keeps the file's figures) and adds the measurement notes to the cluster's.
void apply_measured_links(Cluster& cluster, const ClusterMeasurements& measured);

}  // namespace lingua
