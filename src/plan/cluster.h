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
  PlanLink link;
  std::vector<std::string> notes;   // one line each: which rates are measured, given or assumed
};

Expected<Cluster> make_cluster(const DevicesFile& file, bool refresh_profile = false);

}  // namespace lingua
