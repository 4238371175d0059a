// survey: reach the workers of a devices file, collect their profiles, probe the links between them.
#include "runtime/survey.h"

#include <cstdlib>
#include <filesystem>

#include "net/keys.h"
#include "runtime/cluster_run.h"

namespace lingua {

namespace fs = std::filesystem;

MeasuredLink to_measured(const LinkMeasurement& m) { return MeasuredLink{m.from, m.to, m.rtt_s, m.bytes_per_s, m.error}; }

ClusterMeasurements measure_cluster(RemotePipeline& pipeline, const ProbeOptions& probe) {
  ClusterMeasurements out;
  const auto& all = pipeline.all_devices();
  std::vector<int> probed;
  for (size_t d = 0; d < all.size(); ++d) {
    if (!pipeline.alive(static_cast<int>(d))) continue;
    const WorkerHello& hello = pipeline.hello(static_cast<int>(d));
    if (hello.profile) out.profiles[all[d].name] = *hello.profile;
    if (!all[d].local) probed.push_back(static_cast<int>(d));
  }
  for (int d : probed) {
    auto m = pipeline.measure_link(d, probe);
    if (!m) {
      out.notes.push_back("the link from the head to " + all[static_cast<size_t>(d)].name + " was not measured: " + m.error());
      continue;
    }
    out.links.push_back(to_measured(*m));
  }
  for (int d : probed) {
    std::vector<int> targets;
    for (int t : probed)
      if (t != d) targets.push_back(t);
    if (targets.empty()) continue;
    auto links = pipeline.measure_peer_links(d, targets, probe);
    if (!links) {
      out.notes.push_back("the links from " + all[static_cast<size_t>(d)].name + " were not measured: " + links.error());
      continue;
    }
    for (const LinkMeasurement& m : *links) out.links.push_back(to_measured(m));
  }
  for (const MeasuredLink& l : out.links)
    if (!l.error.empty()) out.notes.push_back("link " + l.from + " -> " + l.to + " not measured (" + l.error + ")");
  return out;
}

Expected<RemoteDevice> remote_device_for(const DeviceSpec& spec, const std::string& keys_dir, bool insecure) {
  RemoteDevice r;
  r.name = spec.name;
  r.threads = spec.threads;
  r.memory_bytes = spec.memory_bytes;
  r.slowdown = spec.slowdown;
  r.local = false;
  r.endpoint = spec.endpoint;
  if (!insecure) {
    const fs::path pub = public_key_path(fs::path(keys_dir) / "workers", spec.name);
    auto key = load_public_key(pub);
    if (!key)
      return Status::error("no public key for device " + spec.name + " (" + key.error() +
                           "): copy the worker's own lingua.pub (in its keys directory; `lingua worker` prints it when it "
                           "makes it) to " + pub.string() + "; `lingua keygen` would make a new key that the worker does not have");
    r.public_key = *key;
  }
  return r;
}

Expected<ChannelOptions> head_channel(const ReachOptions& o) {
  ChannelOptions c;
  c.insecure = o.insecure;
  c.allow_insecure_network = o.allow_insecure_network;
  if (!o.insecure) {
    LINGUA_ASSIGN_OR_RETURN(c.own, load_or_make_identity(o.keys_dir.empty() ? default_keys_dir() : o.keys_dir, nullptr));
  }
  return c;
}

Expected<Survey> survey_devices(const DevicesFile& file, const ReachOptions& o, const ProbeOptions& probe) {
  const std::string keys_dir = o.keys_dir.empty() ? default_keys_dir() : o.keys_dir;
  LINGUA_ASSIGN_OR_RETURN(ChannelOptions channel, head_channel(o));
  RemoteOptions ro;
  ro.channel = channel;
  ro.hello_timeout_ms = o.hello_timeout_ms;
  Survey s;
  std::vector<RemoteDevice> reachable;
  for (const DeviceSpec& spec : file.devices) {
    SurveyedDevice sd;
    sd.name = spec.name;
    sd.endpoint = spec.endpoint;
    if (spec.endpoint.empty()) {
      sd.error = "no endpoint: a local device the head starts (its figures are the devices file's and this machine's)";
      s.devices.push_back(std::move(sd));
      continue;
    }
    auto device = remote_device_for(spec, keys_dir, o.insecure);
    if (!device) {
      sd.error = device.error();
      s.devices.push_back(std::move(sd));
      continue;
    }
    // Alone first: one device that does not answer is named, and the others still counted.
    auto alone = RemotePipeline::connect({*device}, ro);
    if (!alone) {
      sd.error = alone.error();
    } else {
      sd.reached = true;
      sd.hello = (*alone)->hello(0);
      reachable.push_back(*device);
    }
    s.devices.push_back(std::move(sd));
  }
  if (reachable.empty()) return s;
  auto together = RemotePipeline::connect(reachable, ro);
  if (!together) {
    s.measured.notes.push_back("links not measured: " + together.error());
    for (const SurveyedDevice& d : s.devices)
      if (d.reached && d.hello.profile) s.measured.profiles[d.name] = *d.hello.profile;
    return s;
  }
  s.measured = measure_cluster(**together, probe);
  return s;
}

}  // namespace lingua
