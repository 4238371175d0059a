// One distributed run set up from a devices file and a plan: starts the local devices, reaches
// the remote ones, gives every segment to its device, and generates through them, moving
// boundaries when devices turn out slower than planned and re-planning when one is lost.
// Shared by `generate --local-devices/--devices` and `bench cluster`.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "core/dtype.h"
#include "graph/graph.h"
#include "graph/partition.h"
#include "model/model.h"
#include "plan/devices_file.h"
#include "plan/cluster_plans.h"
#include "plan/planner.h"
#include "runtime/balancer.h"
#include "runtime/link_probe.h"
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
  int64_t decode_position = 0;  // KV positions decode steps are priced at (0 = half the context)
  int64_t max_batch = 64;
  int max_sequences = 1;
  DType wire_dtype = DType::F32;
  bool all_local = false;   // start every device on this machine (emulation), endpoints ignored
  std::string keys_dir;     // the head's keys: lingua.key, and workers/NAME.pub for remote devices
  bool insecure = false;
  bool allow_insecure_network = false;
  // Progress of weights sent to a worker without a copy (device, bytes sent, bytes in all); called
  // at the start and again whenever a move gives such a worker new ops, so it must own what it uses.
  std::function<void(const std::string&, uint64_t, uint64_t)> on_weights;
  Objective objective = Objective::kLatency;  // what re-planning optimizes (balancing, failover)
  BalanceOptions balance;
  // One line per event worth a user's attention: a migration, a lost device, the new plan.
  std::function<void(const std::string&)> on_event;
  std::string worker_executable;  // `lingua` for local workers; "" = this program (tests give the built binary)
  // With remote devices: measure the links to and between them before planning (runtime/survey.h).
  bool measure_links = true;
  ProbeOptions probe;
  std::string plan_name = "optimized";  // the plan run when start() is given no segments
};

// A plan change made while generating: the op range that changed hands (DESIGN.md's `migrations`).
struct Migration {
  int64_t at_token = 0;  // decode steps answered before it
  std::string from, to;
  int first_op = 0, last_op = 0;
  double ms = 0;          // the whole move (drain excluded): KV export, re-assignment, import
  uint64_t kv_bytes = 0;  // of the whole move
};

// A link measured again during the run because its tokens took much longer than it was priced at.
struct LinkRemeasure {
  int64_t at_token = 0;
  std::string from, to;
  double observed_ms = 0, priced_ms = 0;  // per decode token, before
  double rtt_ms = 0, mbit_per_s = 0;      // the new measurement
  std::string error;                      // "" = measured (and priced with from then on)
};

struct Failover {
  int64_t at_token = 0;
  std::string device;    // the one lost
  std::string what;      // how it was noticed
  std::string new_plan;  // describe_plan of the plan it continued on
  double ms = 0;         // re-plan, re-assignment and replay of the history
};

// All devices of the file, connected; a plan's segments on some of them; generation through it
// as a Pipeline that re-plans live (balancing) and survives a lost device (failover: re-plan on
// the rest, replay every sequence's steps so far, continue with the same tokens).
class ClusterRun : public Pipeline {
 public:
  // `plan` empty: connect, measure, then plan (options.plan_name) with what was measured.
  static Expected<std::unique_ptr<ClusterRun>> start(const Model& model, const DevicesFile& devices,
                                                     const std::vector<PlannedSegment>& plan,
                                                     const ClusterRunOptions& options);
  ~ClusterRun() override;

  Status submit(uint64_t sequence, const int32_t* tokens, int64_t n, int64_t pos0, bool want_logits,
                bool all_logits = false) override;
  // One batch step through the workers (RemotePipeline::submit_batch), kept in the history as a
  // batch: a failover replays it as the same batch, so every sequence gets the same numbers.
  Status submit_batch(const std::vector<SequenceStep>& steps) override;
  Expected<StepLogits> next() override;
  Status end_sequence(uint64_t sequence) override;
  int devices() const override { return pipeline_->devices(); }

  RemotePipeline& remote() { return *pipeline_; }
  const std::vector<Migration>& migrations() const { return migrations_; }
  const std::vector<Failover>& failovers() const { return failovers_; }
  const std::vector<LinkRemeasure>& link_remeasures() const { return remeasures_; }
  std::vector<DeviceEstimate> estimates() const { return balancer_->estimates(); }
  // What was measured before planning (profiles, links, notes) and the cluster as first priced,
  // with where each device's figures and each link came from.
  const ClusterMeasurements& measured() const { return measured_; }
  const Cluster& priced_cluster() const { return priced_.cluster; }
  // Every plan as first priced (optimized and the baselines), and the prediction for the plan the
  // run started on, by the objective it was planned for.
  const ClusterPlans& priced() const { return priced_; }
  double predicted_tokens_per_s() const { return predicted_tokens_per_s_; }
  // The plan running now, as device names and op ranges.
  std::vector<PlannedSegment> current_plan() const;
  // Between requests (no sequence in flight): devices `devices` lists that the run lacks join,
  // those it no longer lists leave (a local one's process ends with the run), the others take
  // their new limits, and the run re-plans on what is there.
  Status update_devices(const DevicesFile& devices);

 private:
  struct PastStep {
    std::vector<int32_t> tokens;
    int64_t pos0 = 0;
    bool want = false;      // the caller asked for its logits...
    bool answered = false;  // ...and has them
    uint64_t serial = 0;    // submission order; the steps of one batch share it
    bool batch = false;     // submitted in a batch step (with the others of its serial)...
    int group = 0;          // ...as its group number `group`
  };
  // What was submitted at once: one single step, or one batch step's groups in order.
  struct Submission {
    bool batch = false;
    std::vector<std::pair<uint64_t, PastStep>> steps;  // (sequence, step)
  };
  ClusterRun() = default;
  Expected<ClusterPlans> price_all(const DevicesFile& devices) const;
  Expected<PlanProblem> price(const DevicesFile& devices) const;
  Status start_local(const std::vector<DeviceSpec>& specs);
  Expected<RemoteDevice> reach(const DeviceSpec& device) const;
  LinkShape link_shape(int a, int b) const;
  std::string dead_local(std::string* what);
  Status apply(const std::vector<Assignment>& plan, bool keep_kv, MoveCost* cost);
  Status recover(Status error);
  Status restart_on(const std::vector<Assignment>& plan, int64_t* replayed);
  Status maybe_rebalance();
  // Measures the links the balancer asked for (nothing in flight) and re-prices them.
  void remeasure_links();
  // replay: only steps whose answer the caller still waits for want logits.
  Status send(const Submission& submission, bool replay);
  Status submit_one(Submission submission);
  // Ended sequences kept only while a live one shares a batch with them (a replayed batch must
  // have the same shape); the others are dropped.
  void prune_ended();
  void event(const std::string& line) {
    if (options_.on_event) options_.on_event(line);
  }

  const Model* model_ = nullptr;
  ClusterRunOptions options_;
  DevicesFile devices_;                  // as last given (links)
  std::vector<DeviceSpec> specs_;        // per pipeline device, in its order
  std::string keys_dir_;
  ChannelOptions channel_;
  std::vector<std::unique_ptr<LocalDevices>> locals_;  // declared first: destroyed after the pipeline says goodbye
  std::unique_ptr<RemotePipeline> pipeline_;
  std::unique_ptr<Balancer> balancer_;
  std::vector<Assignment> current_;      // device indices into the balancer's problem (= pipeline's devices)
  std::map<uint64_t, std::vector<PastStep>> history_;  // every step of every sequence in flight
  std::map<uint64_t, std::vector<PastStep>> ended_;    // ended sequences a live one shared a batch with
  uint64_t serial_ = 0;                                // the last submission's serial
  std::optional<Proposal> pending_;      // a move waiting for the pipeline to drain
  std::vector<LinkRecheck> rechecks_;    // links to measure again once the pipeline has drained
  std::vector<LinkRemeasure> remeasures_;
  std::vector<Submission> held_;         // submitted while it drains
  std::vector<Migration> migrations_;
  std::vector<Failover> failovers_;
  ClusterMeasurements measured_;
  ClusterPlans priced_;
  double predicted_tokens_per_s_ = 0;
  int64_t decode_answers_ = 0;
  bool replayed_ = false;  // the last recover() re-sent every step of the history
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
