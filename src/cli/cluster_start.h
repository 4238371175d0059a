// Starting a distributed run (ClusterRun) from the device flags a command takes (--local-devices,
// --devices, --plan, keys, wire dtype, balancing): shared by `generate` and `serve`.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/model.h"
#include "runtime/cluster_run.h"

namespace lingua::cli {

struct ClusterFlags {
  std::string model_path;
  std::string plan;            // --plan FILE ("" = plan here)
  std::string devices;         // --devices FILE ("" = none)
  int local_devices = 0;       // --local-devices K (0 = not given)
  bool local_devices_given = false;
  std::string keys, wire_dtype = "f32";
  bool insecure = false, allow_insecure_network = false, no_balance = false;
  int threads = 1;             // split among local devices when no devices file says otherwise
  int64_t context = 0;
  int64_t batch = 64;
  int max_sequences = 1;       // sequences in flight at once (serve --parallel)
};

// Starts the run the flags describe, saying on stderr which device holds which ops.
Expected<std::unique_ptr<ClusterRun>> start_cluster(const Model& model, const ClusterFlags& flags);

}  // namespace lingua::cli
