// ClusterRun: which devices run here, which keys the head uses, which links are emulated.
#include "runtime/cluster_run.h"

#include <cstdlib>
#include <filesystem>

#include "net/keys.h"

namespace lingua {

namespace fs = std::filesystem;

DevicesFile local_devices_file(int k, int threads) {
  DevicesFile f;
  f.source = "--local-devices";
  for (int i = 0; i < k; ++i) {
    DeviceSpec d;
    d.name = "dev" + std::to_string(i);
    d.threads = threads;
    d.memory_bytes = 0;
    f.devices.push_back(d);
  }
  f.default_link = LinkSpec{0, 0};
  return f;
}

std::string default_keys_dir() {
  if (const char* env = std::getenv("LINGUA_KEYS"); env && *env) return env;
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.config/lingua/keys";
}

std::string default_segment_cache_dir() {
  if (const char* env = std::getenv("LINGUA_CACHE_DIR"); env && *env) return std::string(env) + "/segments";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.cache/lingua/segments";
}

Expected<KeyPair> load_or_make_identity(const std::string& dir, bool* made) {
  const fs::path key = secret_key_path(dir, "lingua");
  std::error_code ec;
  if (made) *made = false;
  if (!fs::exists(key, ec)) {
    LINGUA_ASSIGN_OR_RETURN(KeyPair pair, generate_keypair());
    LINGUA_TRY(write_keypair(dir, "lingua", pair, false));
    if (made) *made = true;
  }
  return load_keypair(key);
}

Expected<std::unique_ptr<ClusterRun>> ClusterRun::start(const Model& model, const DevicesFile& devices,
                                                         const std::vector<PlannedSegment>& plan,
                                                         const ClusterRunOptions& o) {
  if (plan.empty()) return Status::error("the plan has no segments");
  const Graph& graph = model.graph();
  std::unique_ptr<ClusterRun> run(new ClusterRun());
  std::vector<int> starts;
  for (size_t i = 1; i < plan.size(); ++i) starts.push_back(plan[i].first_op);
  LINGUA_ASSIGN_OR_RETURN(run->partition_, Partition::from_starts(graph, starts));

  std::vector<const DeviceSpec*> specs;
  std::vector<std::string> local_names;
  bool any_remote = false;
  for (const PlannedSegment& s : plan) {
    const DeviceSpec* d = devices.find(s.device);
    if (!d) return Status::error("the plan names device '" + s.device + "', which " + devices.source + " does not list");
    for (const DeviceSpec* seen : specs)
      if (seen == d) return Status::error("the plan gives device '" + s.device + "' two segments");
    specs.push_back(d);
    if (o.all_local || d->endpoint.empty()) local_names.push_back(d->name);
    else any_remote = true;
  }

  const std::string keys_dir = o.keys_dir.empty() ? default_keys_dir() : o.keys_dir;
  ChannelOptions channel;
  channel.insecure = o.insecure;
  channel.allow_insecure_network = o.allow_insecure_network;
  if (!o.insecure) {
    if (any_remote) {
      LINGUA_ASSIGN_OR_RETURN(channel.own, load_or_make_identity(keys_dir, nullptr));
    } else {
      LINGUA_ASSIGN_OR_RETURN(channel.own, generate_keypair());  // this run only
    }
  }
  if (!local_names.empty()) {
    LINGUA_ASSIGN_OR_RETURN(run->local_, LocalDevices::start(self_executable(), local_names, channel.own, o.insecure));
  }

  std::vector<RemoteDevice> remote;
  std::vector<bool> is_local;
  for (const DeviceSpec* d : specs) {
    RemoteDevice r;
    r.name = d->name;
    r.threads = d->threads;
    r.memory_bytes = d->memory_bytes;
    r.slowdown = d->slowdown;
    bool local = false;
    if (run->local_)
      for (const LocalWorker& w : run->local_->workers())
        if (w.name == d->name) {
          r.endpoint = w.endpoint;
          r.public_key = w.public_key;
          local = true;
        }
    if (!local) {
      r.endpoint = d->endpoint;
      if (!o.insecure) {
        const fs::path pub = public_key_path(fs::path(keys_dir) / "workers", d->name);
        auto key = load_public_key(pub);
        if (!key)
          return Status::error("no public key for device " + d->name + ": copy its lingua.pub to " + pub.string() + " (" +
                               key.error() + ")");
        r.public_key = *key;
      }
    }
    is_local.push_back(local);
    remote.push_back(std::move(r));
  }

  RemoteOptions ro;
  ro.channel = channel;
  std::error_code ec;
  ro.model_path = fs::absolute(o.model_path, ec).string();
  ro.file = &model.file();
  ro.on_weights = o.on_weights;
  ro.context = o.context;
  ro.max_batch = o.max_batch;
  ro.max_sequences = o.max_sequences;
  ro.wire_dtype = o.wire_dtype;
  // Only links between two emulated (local) devices are shaped: real networks shape themselves.
  ro.link = [devices, remote, is_local](int a, int b) {
    if (!is_local[static_cast<size_t>(a)] || !is_local[static_cast<size_t>(b)]) return LinkShape{};
    const LinkSpec l = devices.link(remote[static_cast<size_t>(a)].name, remote[static_cast<size_t>(b)].name);
    return LinkShape{l.latency_s, l.bandwidth_bytes_per_s};
  };
  LocalDevices* local = run->local_.get();
  if (local) ro.liveness = [local] { return local->dead(); };
  LINGUA_ASSIGN_OR_RETURN(run->pipeline_, RemotePipeline::start(graph, run->partition_, std::move(remote), std::move(ro)));
  return run;
}

}  // namespace lingua
