// `lingua bench cluster`: each plan (optimized, the baselines, and `balanced`: the even split
// re-planned live) run for real on emulated local devices or on the workers a devices file's
// endpoints name, one after another, with N streams in
// flight, optionally with a device turning slow mid-run: measured tokens/s beside the planner's
// prediction and the bytes each decode token sends over each link.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "model/model.h"
#include "plan/devices_file.h"
#include "plan/planner.h"
#include "runtime/cluster_run.h"

namespace lingua {

// A device that turns slow mid-run (`--slowdown NAME:AFTER:FACTOR`), on top of the devices file.
struct SlowdownScenario {
  std::string device;
  int64_t after_tokens = 0;
  double factor = 1;
};

struct ClusterBenchOptions {
  std::string model_path;
  std::vector<std::string> plans = {"optimized", "even", "memory", "single"};
  int streams = 1;
  Objective objective = Objective::kLatency;
  int gen_tokens = 32;         // per stream
  int64_t context = 0;         // planned KV positions per device (0 = the model's); each stream gets 1/streams
  DType wire_dtype = DType::F32;
  std::vector<SlowdownScenario> slowdowns;
  // Measure this machine's profile first (predictions from a profile measured minutes ago on a
  // shared machine can be 30% off either way); false: use the cached one.
  bool refresh_profile = true;
  // Devices with endpoints (real or emulated hosts): each plan's run reaches them, measures them
  // and their links, and plans from that (the head's profile and the devices file's figures
  // only where nothing was measured). How the head reaches them:
  std::string keys_dir;
  bool insecure = false;
  bool allow_insecure_network = false;
};

struct ClusterBenchLink {
  std::string from, to;
  uint64_t bytes_per_token = 0;
};

struct ClusterBenchRow {
  std::string plan;
  bool ran = false;
  std::string note;               // why it did not run
  double tokens_per_s = 0;        // measured, all streams together
  double predicted_tokens_per_s = 0;
  uint64_t bytes_per_token = 0;   // over all links
  std::vector<ClusterBenchLink> links;
  std::vector<std::string> devices;  // in pipeline order, with their op ranges
  std::vector<double> per_token_ms;  // stream 0's decode steps
  std::vector<Migration> migrations; // the balanced row's plan changes
  std::vector<LinkRemeasure> link_remeasures;
  std::vector<std::string> failovers;
  std::string final_plan;            // as it ran at the end
  std::vector<DeviceEstimate> monitor;  // each device's measured step times at the end
  // Remote devices: what the run measured and priced (figures, links, where each came from).
  std::vector<std::string> notes;
  Cluster cluster;
};

Expected<std::vector<ClusterBenchRow>> run_cluster_bench(const Model& model, const DevicesFile& devices,
                                                         const ClusterBenchOptions& options,
                                                         const std::function<void(const std::string&)>& progress);

}  // namespace lingua
