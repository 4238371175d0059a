// From a devices file to what the planner prices: each device's effective compute rates, memory
// and threads (given in the file, measured by its worker and sent in HELLO, or this machine's
// profile at the device's thread count, divided by an emulated slowdown), and the link model,
// with notes and per-device sources saying where every figure came from.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "plan/device_profile.h"
#include "plan/devices_file.h"
#include "plan/planner.h"

namespace lingua {

// Profiles workers measured on their own machines (HELLO), by device name.
using MeasuredProfiles = std::map<std::string, DeviceProfile>;

// Where a device's figures came from: one of the constants below each.
inline constexpr const char* kMeasuredByWorker = "measured by the worker";
inline constexpr const char* kGivenInFile = "given in the file";
inline constexpr const char* kThisMachine = "this machine's profile";
// Of a worker's cgroup memory limit, what the plan leaves to the worker process itself.
inline constexpr uint64_t kCgroupWorkerMarginBytes = 64ull << 20;
struct FigureSources {
  std::string compute, bandwidth, memory, threads;
};

struct Cluster {
  std::vector<PlanDevice> devices;    // in file order
  std::vector<int> threads;           // per device: what it computes with (priced at)
  std::vector<FigureSources> sources; // per device
  PlanLink link;                      // the file's default link
  // Per pair, [from][to] device indices (the diagonal unused), and where each came from:
  // kLinkDefault, kLinkGiven or kLinkMeasured. Filled by apply_file_links.
  std::vector<std::vector<PlanLink>> links;
  std::vector<std::vector<std::string>> link_sources;
  std::vector<PlanLink> head_links;   // the head to each device; empty = not known
  std::vector<std::string> notes;     // one line each: which rates are measured, given or assumed
};

inline constexpr const char* kLinkDefault = "default";
inline constexpr const char* kLinkGiven = "given in the file";
inline constexpr const char* kLinkMeasured = "measured";

// A figure the file gives wins over the measured one; a device with neither is priced with this
// machine's profile (measured or cached here; `refresh_profile` measures again).
Expected<Cluster> make_cluster(const DevicesFile& file, const MeasuredProfiles& measured = {}, bool refresh_profile = false);

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
