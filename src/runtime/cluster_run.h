// One distributed run set up from a devices file and a plan: starts the local devices, reaches
// the remote ones, gives every segment to its device and returns the pipeline to generate on.
// Shared by `generate --local-devices/--devices` and `bench cluster`.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "graph/graph.h"
#include "graph/partition.h"
#include "model/model.h"
#include "plan/devices_file.h"
#include "runtime/local_devices.h"
#include "runtime/remote_pipeline.h"

namespace lingua {

struct PlannedSegment {
  std::string device;  // a name from the devices file
  int first_op = 0, last_op = 0;
};

struct ClusterRunOptions {
  std::string model_path;
  int64_t context = 0;
  int64_t max_batch = 64;
  int max_sequences = 1;
  DType wire_dtype = DType::F32;
  bool all_local = false;   // start every device on this machine (emulation), endpoints ignored
  std::string keys_dir;     // the head's keys: lingua.key, and workers/NAME.pub for remote devices
  bool insecure = false;
  bool allow_insecure_network = false;
  // Progress of weights sent to a worker without a copy (device, bytes sent, bytes in all).
  std::function<void(const std::string&, uint64_t, uint64_t)> on_weights;
};

class ClusterRun {
 public:
  static Expected<std::unique_ptr<ClusterRun>> start(const Model& model, const DevicesFile& devices,
                                                     const std::vector<PlannedSegment>& plan,
                                                     const ClusterRunOptions& options);
  RemotePipeline& pipeline() { return *pipeline_; }
  const Partition& partition() const { return partition_; }

 private:
  ClusterRun() = default;
  Partition partition_;
  std::unique_ptr<LocalDevices> local_;  // declared first: destroyed after the pipeline says goodbye
  std::unique_ptr<RemotePipeline> pipeline_;
};

// The devices file `--local-devices K` means alone: K devices dev0.. with `threads` each and no
// memory limit, loopback links that are not shaped.
DevicesFile local_devices_file(int k, int threads);

// The head's key directory when none is given: $LINGUA_KEYS, else ~/.config/lingua/keys.
std::string default_keys_dir();
// Where a worker keeps weights it received: $LINGUA_CACHE_DIR/segments, else ~/.cache/lingua/segments.
std::string default_segment_cache_dir();
// DIR/lingua.key, made (with DIR) when it does not exist yet; `made` tells whether it was.
Expected<KeyPair> load_or_make_identity(const std::string& dir, bool* made);

}  // namespace lingua
