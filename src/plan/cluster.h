// From a devices file to what the planner prices: each device's effective compute rates (given
// in the file, or this machine's profile at the device's thread count, divided by an emulated
// slowdown), its memory, and the link model, with notes saying where every figure came from.
#pragma once
#include <string>
#include <vector>

#include "core/status.h"
#include "plan/devices_file.h"
#include "plan/planner.h"

namespace lingua {

struct Cluster {
  std::vector<PlanDevice> devices;  // in file order
  PlanLink link;                    // the file's default link
  // Per pair, [from][to] device indices (the diagonal unused), and where each came from:
  // kLinkDefault, kLinkGiven or kLinkMeasured. Filled by apply_file_links.
  std::vector<std::vector<PlanLink>> links;
  std::vector<std::vector<std::string>> link_sources;
  std::vector<PlanLink> head_links;  // the head to each device; empty = not known
  std::vector<std::string> notes;   // one line each: which rates are measured, given or assumed
};

inline constexpr const char* kLinkDefault = "default";
inline constexpr const char* kLinkGiven = "given in the file";
inline constexpr const char* kLinkMeasured = "measured";

Expected<Cluster> make_cluster(const DevicesFile& file, bool refresh_profile = false);

// cluster_links.cpp. Every pair gets the file's default link, then the file's "a <-> b" entries
// (both directions); a note lists the per-pair ones. Error when the file names a device the
// cluster does not have.
Status apply_file_links(Cluster& c, const DevicesFile& file);
// A measured link from one device to the other (that direction): replaces the default or an older
// measurement, never a pair given in the file. Error naming an unknown device or a bad figure.
Status set_measured_link(Cluster& c, const std::string& from, const std::string& to, double latency_s, double bytes_per_s);
// The head's link to a device (the first segment then pays its latency); the first call makes
// every other device's head link free (zero latency) until set.
Status set_head_link(Cluster& c, const std::string& device, double latency_s, double bytes_per_s);

}  // namespace lingua
