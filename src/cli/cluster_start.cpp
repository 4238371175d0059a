// start_cluster: the devices file (given, or K local devices), the plan's segments, and the run.
#include "cli/cluster_start.h"

#include <algorithm>
#include <cstdio>

#include "cli/progress.h"
#include "net/wire.h"
#include "plan/plan_file.h"

namespace lingua::cli {
namespace {

// "3 devices: a[0..37] b[38..71] c[72..92]", or with devices the plan leaves idle
// "3 devices (1 holding segments, 2 standing by): a[0..92]; standing by: b c". The count is
// every device of the run, as in the summary line and the JSON's "devices" ("segments" there is
// how many hold one).
std::string devices_line(const DevicesFile& file, const std::vector<PlannedSegment>& segments) {
  std::string held, standby;
  size_t holding = 0;
  for (const PlannedSegment& s : segments)
    held += " " + s.device + "[" + std::to_string(s.first_op) + ".." + std::to_string(s.last_op) + "]";
  for (const DeviceSpec& d : file.devices) {
    const bool holds = std::any_of(segments.begin(), segments.end(), [&](const PlannedSegment& s) { return s.device == d.name; });
    if (holds) ++holding;
    else standby += " " + d.name;
  }
  const std::string n = std::to_string(file.devices.size()) + " devices";
  if (standby.empty()) return n + ":" + held;
  return n + " (" + std::to_string(holding) + " holding segments, " +
         std::to_string(file.devices.size() - holding) + " standing by):" + held + "; standing by:" + standby;
}

// The plan's segments with the devices that run them, from --plan, the planner (--devices) or
// cost-balanced cuts (--local-devices alone).
Expected<std::vector<PlannedSegment>> segments_for(const Model& model, const DevicesFile& file, const ClusterFlags& flags) {
  const Graph& g = model.graph();
  std::vector<PlannedSegment> out;
  if (!flags.plan.empty()) {
    LINGUA_ASSIGN_OR_RETURN(PlanFile plan, read_plan_file(flags.plan, g));
    for (const auto& s : plan.segments) out.push_back({s.device, s.first_op, s.last_op});
    return out;
  }
  // The run plans itself once it has reached the devices and measured them (ClusterRun::start).
  if (!flags.devices.empty()) return out;
  const Partition p = local_devices_partition(g, flags.local_devices);  // devices beyond its segments stand by
  for (int i = 0; i < p.size(); ++i)
    out.push_back({file.devices[static_cast<size_t>(i)].name, p.segments()[static_cast<size_t>(i)].first_op,
                   p.segments()[static_cast<size_t>(i)].last_op});
  return out;
}

}  // namespace

Expected<std::unique_ptr<ClusterRun>> start_cluster(const Model& model, const ClusterFlags& flags) {
  if (flags.local_devices_given && flags.local_devices < 1)
    return Status::error("--local-devices must be 1 or more (got " + std::to_string(flags.local_devices) + ")");
  LINGUA_ASSIGN_OR_RETURN(DType wire, parse_wire_dtype(flags.wire_dtype));
  DevicesFile file;
  if (!flags.devices.empty()) {
    LINGUA_ASSIGN_OR_RETURN(file, load_devices_file(flags.devices));
    if (flags.local_devices > 0 && static_cast<size_t>(flags.local_devices) != file.devices.size())
      return Status::error("--local-devices " + std::to_string(flags.local_devices) + " but " + flags.devices + " lists " +
                           std::to_string(file.devices.size()) + " devices");
  } else {
    file = local_devices_file(flags.local_devices, std::max(1, flags.threads / flags.local_devices));
  }
  LINGUA_ASSIGN_OR_RETURN(std::vector<PlannedSegment> segments, segments_for(model, file, flags));
  ClusterRunOptions o;
  o.model_path = flags.model_path;
  o.context = flags.context;
  o.max_batch = flags.batch;
  o.max_sequences = flags.max_sequences;
  o.wire_dtype = wire;
  o.all_local = flags.local_devices > 0;
  o.keys_dir = flags.keys;
  o.insecure = flags.insecure;
  o.allow_insecure_network = flags.allow_insecure_network;
  o.balance.enabled = !flags.no_balance;
  o.on_event = [](const std::string& line) { std::fprintf(stderr, "lingua: %s\n", line.c_str()); };
  if (!segments.empty()) std::fprintf(stderr, "lingua: %s\n", devices_line(file, segments).c_str());
  // Called whenever a worker without the model gets weights: at the start and at every move
  // that gives it new ops, so the bar lives as long as the run.
  auto bar = std::make_shared<std::unique_ptr<ProgressBar>>();
  o.on_weights = [bar](const std::string& device, uint64_t done, uint64_t total) {
    if (!*bar) *bar = std::make_unique<ProgressBar>("sending weights to " + device);
    (*bar)->update(done, total);
    if (done >= total) {
      (*bar)->finish();
      bar->reset();
    }
  };
  LINGUA_ASSIGN_OR_RETURN(auto run, ClusterRun::start(model, file, segments, o));
  if (segments.empty()) {
    if (!run->measured().empty())  // remote devices: say what was measured and what the plan used
      for (const std::string& n : run->priced_cluster().notes) std::fprintf(stderr, "lingua: %s\n", n.c_str());
    std::fprintf(stderr, "lingua: %s\n", devices_line(file, run->current_plan()).c_str());
  }
  return run;
}

}  // namespace lingua::cli
