// `lingua bench cluster`: each plan (optimized and the baselines) run for real on emulated
// local devices, one after another, with N streams in flight: measured tokens/s beside the
// planner's prediction and the bytes each decode token sends over each link.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "model/model.h"
#include "plan/devices_file.h"
#include "plan/planner.h"

namespace lingua {

struct ClusterBenchOptions {
  std::string model_path;
  std::vector<std::string> plans = {"optimized", "even", "memory", "single"};
  int streams = 1;
  Objective objective = Objective::kLatency;
  int gen_tokens = 32;         // per stream
  int64_t context = 0;         // planned KV positions per device (0 = the model's); each stream gets 1/streams
  DType wire_dtype = DType::F32;
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
};

Expected<std::vector<ClusterBenchRow>> run_cluster_bench(const Model& model, const DevicesFile& devices,
                                                         const ClusterBenchOptions& options,
                                                         const std::function<void(const std::string&)>& progress);

}  // namespace lingua
