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
struct FigureSources {
  std::string compute, bandwidth, memory, threads;
};

struct Cluster {
  std::vector<PlanDevice> devices;    // in file order
  std::vector<int> threads;           // per device: what it computes with (priced at)
  std::vector<FigureSources> sources; // per device
  PlanLink link;
  std::vector<std::string> notes;     // one line each: which rates are measured, given or assumed
};

// A figure the file gives wins over the measured one; a device with neither is priced with this
// machine's profile (measured or cached here; `refresh_profile` measures again).
Expected<Cluster> make_cluster(const DevicesFile& file, const MeasuredProfiles& measured = {}, bool refresh_profile = false);

}  // namespace lingua
