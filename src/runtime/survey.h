// What the head learns about remote devices before it plans: each worker's own profile (from its
// HELLO) and the links between them, measured with probes. Used by `lingua devices`, `lingua plan`
// and every distributed run, so all of them see the cluster the same way.
#pragma once
#include <string>
#include <vector>

#include "core/status.h"
#include "net/secure_channel.h"
#include "plan/cluster_measurements.h"
#include "plan/devices_file.h"
#include "runtime/link_probe.h"
#include "runtime/remote_pipeline.h"

namespace lingua {

// One device as the survey found it.
struct SurveyedDevice {
  std::string name, endpoint;
  bool reached = false;
  std::string error;     // why not reached
  WorkerHello hello;     // what it said (its profile when it measured itself)
};

struct Survey {
  std::vector<SurveyedDevice> devices;  // in file order
  ClusterMeasurements measured;         // profiles by name and every measured link
};

// With every device of `pipeline` connected: the profiles their HELLOs carried, the head's link to
// each device, and each device's links to every other, measured one at a time so no two probes
// share a link. Devices the head started itself (emulated, `local`) are not probed: their links are
// the devices file's. An unanswered probe becomes a note and the file's link for that pair.
ClusterMeasurements measure_cluster(RemotePipeline& pipeline, const ProbeOptions& probe = {});
// One probe's result as the planner's measurements keep it.
MeasuredLink to_measured(const LinkMeasurement& m);

// How the head reaches remote workers: its keys (keys_dir/lingua.key, workers/NAME.pub) or plain.
struct ReachOptions {
  std::string keys_dir;  // "" = default_keys_dir()
  bool insecure = false;
  bool allow_insecure_network = false;
  int hello_timeout_ms = 10000;
};

// The RemoteDevice for a devices-file entry with an endpoint: its endpoint and, in CURVE mode, the
// public key the head holds for it (an error says where to put it).
Expected<RemoteDevice> remote_device_for(const DeviceSpec& spec, const std::string& keys_dir, bool insecure);
// The head's channel: its own identity (made on first use) or plain mode.
Expected<ChannelOptions> head_channel(const ReachOptions& options);

// Connects to every device of `file` that has an endpoint, one at a time (so one unreachable device
// is reported, not fatal), then to all the reachable ones together to measure their links; says
// goodbye to all of them at the end. Error only when nothing can be tried (keys, no endpoints).
Expected<Survey> survey_devices(const DevicesFile& file, const ReachOptions& options, const ProbeOptions& probe = {});

}  // namespace lingua
