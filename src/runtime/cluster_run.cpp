// ClusterRun: which devices run here, which keys the head uses, which links are emulated.
#include "runtime/cluster_run.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "net/keys.h"
#include "plan/cluster_plans.h"
#include "runtime/survey.h"

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
    // Its public half still there means this machine had an identity that peers may trust:
    // silently making another would lock them out, so the user decides.
    const fs::path pub = public_key_path(dir, "lingua");
    if (fs::exists(pub, ec))
      return Status::error("this machine's secret key " + key.string() + " is missing, but its public key " + pub.string() +
                           " is there: restore lingua.key from a backup, or delete lingua.pub to make a new identity here "
                           "(made on the next start, or with `lingua keygen -o " + dir +
                           "`); a new identity must then be given to every machine that trusted the old one");
    LINGUA_ASSIGN_OR_RETURN(KeyPair pair, generate_keypair());
    LINGUA_TRY(write_keypair(dir, "lingua", pair, false));
    if (made) *made = true;
  }
  return load_keypair(key);
}

Expected<std::unique_ptr<ClusterRun>> ClusterRun::start(const Model& model, const DevicesFile& devices,
                                                         const std::vector<PlannedSegment>& plan,
                                                         const ClusterRunOptions& o) {
  std::unique_ptr<ClusterRun> run(new ClusterRun());
  run->model_ = &model;
  run->options_ = o;

  // Every device of the file takes part, in the file's order: those without a segment stand by
  // for a re-plan. Connected before anything is priced, so remote devices are planned with what
  // they measured about themselves and their links.
  run->keys_dir_ = o.keys_dir.empty() ? default_keys_dir() : o.keys_dir;
  run->channel_.insecure = o.insecure;
  run->channel_.allow_insecure_network = o.allow_insecure_network;
  bool any_remote = false;
  for (const DeviceSpec& d : devices.devices) any_remote |= !o.all_local && !d.endpoint.empty();
  if (!o.insecure) {
    if (any_remote) {
      LINGUA_ASSIGN_OR_RETURN(run->channel_.own, load_or_make_identity(run->keys_dir_, nullptr));
    } else {
      LINGUA_ASSIGN_OR_RETURN(run->channel_.own, generate_keypair());  // this run only
    }
  }
  const std::vector<DeviceSpec>& specs = devices.devices;
  LINGUA_TRY(run->start_local(specs));
  std::vector<RemoteDevice> remote;
  for (const DeviceSpec& d : specs) {
    LINGUA_ASSIGN_OR_RETURN(RemoteDevice r, run->reach(d));
    remote.push_back(std::move(r));
  }
  run->devices_ = devices;
  run->specs_ = specs;

  RemoteOptions ro;
  ro.channel = run->channel_;
  std::error_code ec;
  ro.model_path = fs::absolute(o.model_path, ec).string();
  ro.file = &model.file();
  ro.on_weights = o.on_weights;
  ro.context = o.context;
  ro.max_batch = o.max_batch;
  ro.max_sequences = o.max_sequences;
  ro.wire_dtype = o.wire_dtype;
  ClusterRun* self = run.get();  // outlives the pipeline it owns
  ro.link = [self](int a, int b) { return self->link_shape(a, b); };
  ro.liveness = [self](std::string* what) { return self->dead_local(what); };
  LINGUA_ASSIGN_OR_RETURN(run->pipeline_, RemotePipeline::connect(std::move(remote), std::move(ro)));
  if (any_remote && o.measure_links) {
    run->event("measuring the links to and between the remote devices");
    run->measured_ = measure_cluster(*run->pipeline_, o.probe);
  }

  // The profiled problem every later re-plan starts from (its devices in the file's order).
  LINGUA_ASSIGN_OR_RETURN(ClusterPlans priced, run->price_all(devices));
  run->balancer_ = std::make_unique<Balancer>(priced.problem, o.objective, o.balance);
  run->pipeline_->on_report([self](int d, const StepReport& r) { self->balancer_->record(d, r); });

  std::vector<Assignment> initial;
  if (plan.empty()) {
    LINGUA_ASSIGN_OR_RETURN(Plan best, priced.pick(o.plan_name));
    initial = best.assignments;
  }
  for (const PlannedSegment& s : plan) {
    int index = -1;
    for (size_t d = 0; d < priced.problem.devices.size(); ++d)
      if (priced.problem.devices[d].name == s.device) index = static_cast<int>(d);
    if (index < 0) return Status::error("the plan names device '" + s.device + "', which " + devices.source + " does not list");
    for (const Assignment& seen : initial)
      if (seen.device == index) return Status::error("the plan gives device '" + s.device + "' two segments");
    Assignment a;
    a.device = index;
    a.first_op = s.first_op;
    a.last_op = s.last_op;
    initial.push_back(a);
  }
  run->predicted_tokens_per_s_ = evaluate_plan(priced.problem, "initial", initial).tokens_per_s(o.objective);
  run->priced_ = std::move(priced);
  if (Status st = run->apply(initial, false, nullptr); !st) LINGUA_TRY(run->recover(st));
  return run;
}

Status ClusterRun::start_local(const std::vector<DeviceSpec>& specs) {
  std::vector<std::string> names;
  for (const DeviceSpec& d : specs)
    if (options_.all_local || d.endpoint.empty()) names.push_back(d.name);
  if (names.empty()) return Status::ok();
  const std::string exe = options_.worker_executable.empty() ? self_executable() : options_.worker_executable;
  LINGUA_ASSIGN_OR_RETURN(auto started, LocalDevices::start(exe, names, channel_.own, options_.insecure));
  locals_.push_back(std::move(started));
  return Status::ok();
}

Expected<RemoteDevice> ClusterRun::reach(const DeviceSpec& d) const {
  RemoteDevice r;
  r.name = d.name;
  r.threads = d.threads;
  if (r.threads == 0 && (options_.all_local || d.endpoint.empty())) r.threads = 1;  // as price_all() priced it
  r.memory_bytes = d.memory_bytes;
  r.slowdown = d.slowdown;
  r.local = false;
  for (const auto& group : locals_)
    for (const LocalWorker& w : group->workers())
      if (w.name == d.name && w.pid > 0) {
        r.endpoint = w.endpoint;
        r.public_key = w.public_key;
        r.local = true;
      }
  if (r.local) return r;
  r.endpoint = d.endpoint;
  if (!options_.insecure) {
    const fs::path pub = public_key_path(fs::path(keys_dir_) / "workers", d.name);
    auto key = load_public_key(pub);
    if (!key)
      return Status::error("no public key for device " + d.name + " (" + key.error() + "): copy the worker's own lingua.pub (in its keys "
                           "directory; `lingua worker` prints it when it makes it) to " + pub.string() +
                           "; `lingua keygen` would make a new key that the worker does not have");
    r.public_key = *key;
  }
  return r;
}

// Only links between two emulated (local) devices are shaped: real networks shape themselves.
LinkShape ClusterRun::link_shape(int a, int b) const {
  const auto& all = pipeline_->all_devices();
  const RemoteDevice& x = all[static_cast<size_t>(a)];
  const RemoteDevice& y = all[static_cast<size_t>(b)];
  if (!x.local || !y.local) return LinkShape{};
  const LinkSpec l = devices_.link(x.name, y.name);
  return LinkShape{l.latency_s, l.bandwidth_bytes_per_s};
}

std::string ClusterRun::dead_local(std::string* what) {
  for (auto& group : locals_) {
    const std::string name = group->dead(what);
    if (!name.empty()) return name;
  }
  return "";
}

Status ClusterRun::update_devices(const DevicesFile& devices) {
  if (!history_.empty()) return Status::error("the devices can change only between requests (a generation is running)");
  std::vector<std::string> left, joined;
  const auto& all = pipeline_->all_devices();
  for (size_t d = 0; d < all.size(); ++d) {
    if (!pipeline_->alive(static_cast<int>(d))) continue;
    const DeviceSpec* spec = devices.find(all[d].name);
    if (!spec) {
      left.push_back(all[d].name);
      pipeline_->forget(static_cast<int>(d));
      continue;
    }
    pipeline_->update_device(static_cast<int>(d), spec->threads, spec->memory_bytes, spec->slowdown);
    specs_[d] = *spec;
  }
  std::vector<DeviceSpec> fresh;
  for (const DeviceSpec& d : devices.devices) {
    bool known = false;
    for (size_t i = 0; i < all.size(); ++i) known |= all[i].name == d.name && pipeline_->alive(static_cast<int>(i));
    if (!known) fresh.push_back(d);
  }
  devices_ = devices;
  LINGUA_TRY(start_local(fresh));
  for (const DeviceSpec& d : fresh) {
    LINGUA_ASSIGN_OR_RETURN(RemoteDevice r, reach(d));
    LINGUA_TRY(pipeline_->add_device(std::move(r)).with_context("device " + d.name + " cannot join"));
    specs_.push_back(d);
    joined.push_back(d.name);
  }
  // Priced again in the pipeline's device order (a device that left keeps its place, not alive).
  DevicesFile ordered = devices;
  ordered.devices = specs_;
  LINGUA_ASSIGN_OR_RETURN(PlanProblem problem, price(ordered));
  const std::vector<DeviceEstimate> before = balancer_->estimates();
  pending_.reset();  // its device indices belong to the old problem
  balancer_ = std::make_unique<Balancer>(std::move(problem), options_.objective, options_.balance);
  balancer_->adopt(before);
  std::vector<bool> alive;
  for (size_t d = 0; d < pipeline_->all_devices().size(); ++d) alive.push_back(pipeline_->alive(static_cast<int>(d)));
  LINGUA_ASSIGN_OR_RETURN(Plan plan, balancer_->replan(alive));
  LINGUA_TRY(apply(plan.assignments, false, nullptr));
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s.empty() ? std::string("none") : s;
  };
  event("devices joined: " + list(joined) + "; left: " + list(left) + "; now " + describe_plan(balancer_->problem(), current_));
  return Status::ok();
}

Expected<ClusterPlans> ClusterRun::price_all(const DevicesFile& devices) const {
  ClusterPlanOptions po;
  po.objective = options_.objective;
  po.context = options_.context;
  po.decode_position = options_.decode_position;
  po.train_context = model_->train_context();
  // Local devices without a memory limit (`--local-devices K` alone) are priced with this
  // machine's memory, and unshaped loopback links (bandwidth 0) as next to free. A remote device
  // the file gives no memory is priced with what its worker measured (or this machine's profile).
  DevicesFile priced = devices;
  for (DeviceSpec& d : priced.devices) {
    const bool local = options_.all_local || d.endpoint.empty();
    if (d.memory_bytes == 0 && local)
      d.memory_bytes = static_cast<uint64_t>(::sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    if (d.threads == 0 && local) d.threads = 1;
  }
  // The profiles the remote workers sent in HELLO (devices that joined later too) and the links
  // measured at the start.
  po.measured = measured_;
  for (size_t i = 0; i < pipeline_->all_devices().size(); ++i)
    if (!pipeline_->all_devices()[i].local && pipeline_->hello(static_cast<int>(i)).profile)
      po.measured.profiles[pipeline_->all_devices()[i].name] = *pipeline_->hello(static_cast<int>(i)).profile;
  if (priced.default_link.bandwidth_bytes_per_s <= 0) priced.default_link.bandwidth_bytes_per_s = 1e12;
  for (auto& [a, b, link] : priced.pair_links)
    if (link.bandwidth_bytes_per_s <= 0) link.bandwidth_bytes_per_s = 1e12;
  return plan_cluster(model_->graph(), priced, po);
}

Expected<PlanProblem> ClusterRun::price(const DevicesFile& devices) const {
  LINGUA_ASSIGN_OR_RETURN(ClusterPlans plans, price_all(devices));
  return std::move(plans.problem);
}

ClusterRun::~ClusterRun() {
  pipeline_.reset();  // goodbyes first, then the local processes stop
  locals_.clear();
}

std::vector<PlannedSegment> ClusterRun::current_plan() const {
  std::vector<PlannedSegment> out;
  for (const Assignment& a : current_)
    out.push_back({balancer_->problem().devices[static_cast<size_t>(a.device)].name, a.first_op, a.last_op});
  return out;
}

Status ClusterRun::apply(const std::vector<Assignment>& plan, bool keep_kv, MoveCost* cost) {
  pending_.reset();  // a proposal was made for the plan being replaced
  std::vector<int> starts, holders;
  for (size_t i = 0; i < plan.size(); ++i) {
    if (i > 0) starts.push_back(plan[i].first_op);
    holders.push_back(plan[i].device);
  }
  LINGUA_ASSIGN_OR_RETURN(Partition partition, Partition::from_starts(model_->graph(), starts));
  LINGUA_TRY(pipeline_->configure(model_->graph(), partition, holders, keep_kv, cost));
  current_ = plan;
  balancer_->set_current(plan);
  return Status::ok();
}

Status ClusterRun::send(const Submission& submission, bool replay) {
  auto want = [&](const PastStep& step) { return step.want && !(replay && step.answered); };
  if (!submission.batch) {
    const auto& [sequence, step] = submission.steps.front();
    return pipeline_->submit(sequence, step.tokens.data(), static_cast<int64_t>(step.tokens.size()), step.pos0, want(step));
  }
  std::vector<SequenceStep> steps;
  for (const auto& [sequence, step] : submission.steps) steps.push_back(SequenceStep{sequence, step.tokens, step.pos0, want(step), false});
  return pipeline_->submit_batch(steps);
}

// Gives the devices `plan` afresh and replays every sequence's steps so far onto it.
Status ClusterRun::restart_on(const std::vector<Assignment>& plan, int64_t* replayed) {
  constexpr int64_t kReplayWindow = 64;  // steps in flight while replaying (a worker queues at most 256)
  pending_.reset();
  held_.clear();  // they are in the history, so they are replayed too
  LINGUA_TRY(apply(plan, false, nullptr));
  // Every submission again in its order (serial): a batch as the same batch. An ended sequence
  // that shared batches with live ones is replayed too, and let go after its last step.
  std::map<uint64_t, Submission> order;
  std::map<uint64_t, std::vector<uint64_t>> ends_after;  // serial -> ended sequences whose last step it is
  for (const auto* book : {&history_, &ended_})
    for (const auto& [sequence, steps] : *book)
      for (const PastStep& step : steps) {
        Submission& sub = order[step.serial];
        sub.batch = step.batch;
        sub.steps.emplace_back(sequence, step);
      }
  for (const auto& [sequence, steps] : ended_)
    if (!steps.empty()) ends_after[steps.back().serial].push_back(sequence);
  for (auto& [serial, sub] : order) {
    // A batch's groups in the order they were submitted: history_ and ended_ list them by sequence.
    std::stable_sort(sub.steps.begin(), sub.steps.end(),
                     [](const auto& a, const auto& b) { return a.second.group < b.second.group; });
    LINGUA_TRY(send(sub, true));
    LINGUA_TRY(pipeline_->drain(kReplayWindow));
    *replayed += static_cast<int64_t>(sub.steps.size());
    if (auto it = ends_after.find(serial); it != ends_after.end()) {
      LINGUA_TRY(pipeline_->drain(0));  // its last step has gone through every worker before BYE
      for (uint64_t sequence : it->second) LINGUA_TRY(pipeline_->end_sequence(sequence));
    }
  }
  replayed_ = true;
  return Status::ok();
}

// A device is gone: re-plan on the others at their measured speeds, give them the new plan, and
// replay every sequence's steps so far (the same batches, so the same numbers) before going on.
Status ClusterRun::recover(Status error) {
  replayed_ = false;
  for (;;) {
    const int lost = pipeline_->lost_device();
    if (lost < 0) return error;
    const auto t0 = std::chrono::steady_clock::now();
    const std::string name = pipeline_->all_devices()[static_cast<size_t>(lost)].name;
    Failover f;
    f.at_token = decode_answers_;
    f.device = name;
    f.what = error.message();
    event("lost device " + name + ": " + error.message());
    const bool held_a_segment =
        std::any_of(current_.begin(), current_.end(), [&](const Assignment& a) { return a.device == lost; });
    pipeline_->forget(lost);
    if (!held_a_segment) {  // it stood by: the plan runs on untouched
      f.new_plan = describe_plan(balancer_->problem(), current_);
      failovers_.push_back(f);
      event("it held no segment; continuing on " + f.new_plan);
      return Status::ok();
    }
    std::vector<bool> alive;
    std::string left;
    for (size_t d = 0; d < pipeline_->all_devices().size(); ++d) {
      alive.push_back(pipeline_->alive(static_cast<int>(d)));
      if (alive.back()) left += (left.empty() ? "" : ", ") + pipeline_->all_devices()[d].name;
    }
    auto plan = balancer_->replan(alive);
    if (!plan)
      return Status::error("device " + name + " was lost (" + error.message() + ") and the devices left (" +
                           (left.empty() ? std::string("none") : left) + ") cannot run the model: " + plan.error());
    int64_t replayed = 0;
    Status st = restart_on(plan->assignments, &replayed);
    if (!st) {
      error = st;
      continue;  // another device went while recovering
    }
    f.new_plan = describe_plan(balancer_->problem(), current_);
    f.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    failovers_.push_back(f);
    event("continuing on " + f.new_plan + " (" + std::to_string(replayed) + " steps replayed)");
    return Status::ok();
  }
}

void ClusterRun::remeasure_links() {
  const auto& all = pipeline_->all_devices();
  for (const LinkRecheck& r : rechecks_) {
    LinkRemeasure m;
    m.at_token = decode_answers_;
    m.from = all[static_cast<size_t>(r.from)].name;
    m.to = all[static_cast<size_t>(r.to)].name;
    m.observed_ms = r.observed_s * 1000;
    m.priced_ms = r.priced_s * 1000;
    auto links = pipeline_->measure_peer_links(r.from, {r.to}, options_.probe);
    std::optional<MeasuredLink> got;
    if (!links) m.error = links.error();
    else if (links->size() != 1) m.error = "no measurement came back";
    else got = to_measured(links->front());
    if (got) {
      got->from = m.from;
      got->to = m.to;
      if (auto price = measured_price(*got); !price) m.error = price.error();
      else balancer_->update_link(r.from, r.to, *price);  // the run contradicted the old price: this one counts from now on
    }
    char line[200];
    if (m.error.empty()) {
      m.rtt_ms = got->rtt_s * 1000;
      m.mbit_per_s = got->bytes_per_s * 8 / 1e6;
      auto same = [&](const MeasuredLink& l) { return l.from == m.from && l.to == m.to; };
      measured_.links.erase(std::remove_if(measured_.links.begin(), measured_.links.end(), same), measured_.links.end());
      measured_.links.push_back(*got);
      std::snprintf(line, sizeof line, "link %s -> %s took %.1f ms per token, priced at %.1f: measured again, %.1f ms round trip, %.0f Mbit/s",
                    m.from.c_str(), m.to.c_str(), m.observed_ms, m.priced_ms, m.rtt_ms, m.mbit_per_s);
    } else {
      std::snprintf(line, sizeof line, "link %s -> %s took %.1f ms per token, priced at %.1f; measuring it again failed: ", m.from.c_str(),
                    m.to.c_str(), m.observed_ms, m.priced_ms);
    }
    event(line + (m.error.empty() ? std::string() : m.error));
    remeasures_.push_back(std::move(m));
  }
  rechecks_.clear();
}

// Moves to the pending plan once nothing is in flight, then sends what was held meanwhile.
Status ClusterRun::maybe_rebalance() {
  if (!pending_ && rechecks_.empty()) return Status::ok();
  LINGUA_TRY(pipeline_->drain(0));
  if (!rechecks_.empty()) {
    remeasure_links();
    if (!pending_) {  // the new prices may call for a move: considered after the next answer
      for (const Submission& sub : held_) LINGUA_TRY(send(sub, false));
      held_.clear();
      return Status::ok();
    }
  }
  const Proposal proposal = std::move(*pending_);
  pending_.reset();
  const std::vector<Assignment> before = current_;
  MoveCost cost;
  const auto move_start = std::chrono::steady_clock::now();
  if (Status st = apply(proposal.plan.assignments, true, &cost); !st) {
    if (pipeline_->lost_device() >= 0) return st;  // failover's business
    // The move failed half way (a worker refused its new segment, say): the devices are in no
    // consistent state, so start again on the plan that worked, replaying what was done.
    event("the move to " + describe_plan(balancer_->problem(), proposal.plan.assignments) + " failed (" + st.message() +
          "); back to " + describe_plan(balancer_->problem(), before));
    balancer_->reject(proposal.plan.assignments);
    int64_t replayed = 0;
    LINGUA_TRY(restart_on(before, &replayed));
    return Status::ok();
  }
  balancer_->moved(std::chrono::duration<double>(std::chrono::steady_clock::now() - move_start).count());
  // Each op range that changed hands, as one migration entry.
  const auto& names = balancer_->problem().devices;
  auto owner = [](const std::vector<Assignment>& plan, int op) {
    for (const Assignment& a : plan)
      if (op >= a.first_op && op <= a.last_op) return a.device;
    return -1;
  };
  const int n_ops = model_->graph().size();
  for (int op = 0; op < n_ops;) {
    const int from = owner(before, op), to = owner(current_, op);
    int end = op;
    while (end + 1 < n_ops && owner(before, end + 1) == from && owner(current_, end + 1) == to) ++end;
    if (from != to) {
      Migration m;
      m.at_token = decode_answers_;
      m.from = names[static_cast<size_t>(from)].name;
      m.to = names[static_cast<size_t>(to)].name;
      m.first_op = op;
      m.last_op = end;
      m.ms = cost.seconds * 1000;
      m.kv_bytes = cost.kv_bytes;
      migrations_.push_back(m);
    }
    op = end + 1;
  }
  char line[96];
  std::snprintf(line, sizeof line, " (%.0f ms, %.1f MiB of KV cache moved)", cost.seconds * 1000, static_cast<double>(cost.kv_bytes) / (1 << 20));
  event("rebalancing at token " + std::to_string(decode_answers_) + ": " + proposal.why + "; now " +
        describe_plan(balancer_->problem(), current_) + line);
  for (const Submission& sub : held_) LINGUA_TRY(send(sub, false));
  held_.clear();
  return Status::ok();
}

Status ClusterRun::submit(uint64_t sequence, const int32_t* tokens, int64_t n, int64_t pos0, bool want_logits,
                          bool all_logits) {
  if (all_logits) return Status::error("every position's logits are only kept in the in-process pipeline");
  PastStep step;
  step.tokens.assign(tokens, tokens + n);
  step.pos0 = pos0;
  step.want = want_logits;
  Submission sub;
  sub.steps.emplace_back(sequence, std::move(step));
  return submit_one(std::move(sub));
}

Status ClusterRun::submit_batch(const std::vector<SequenceStep>& steps) {
  if (steps.empty()) return Status::error("a batch step without sequences");
  Submission sub;
  sub.batch = true;
  for (const SequenceStep& s : steps) {
    if (s.all_logits) return Status::error("every position's logits are only kept in the in-process pipeline");
    for (const auto& [sequence, step] : sub.steps)
      if (sequence == s.sequence) return Status::error("sequence " + std::to_string(s.sequence) + " appears twice in a batch step");
    PastStep step;
    step.tokens = s.tokens;
    step.pos0 = s.pos0;
    step.want = s.want_logits;
    step.batch = true;
    step.group = static_cast<int>(sub.steps.size());
    sub.steps.emplace_back(s.sequence, std::move(step));
  }
  return submit_one(std::move(sub));
}

Status ClusterRun::submit_one(Submission sub) {
  ++serial_;
  for (auto& [sequence, step] : sub.steps) {
    step.serial = serial_;
    history_[sequence].push_back(step);
  }
  if (pending_ || !rechecks_.empty()) {  // the move (or measurement) waits for the steps in flight; this one waits for it
    held_.push_back(std::move(sub));
    return Status::ok();
  }
  Status st = send(sub, false);
  if (st) return Status::ok();
  LINGUA_TRY(recover(st));
  return replayed_ ? Status::ok() : send(sub, false);  // a replay sent this step too
}

void ClusterRun::prune_ended() {
  std::set<uint64_t> shared;  // serials of batches a kept sequence was in
  for (const auto& [sequence, steps] : history_)
    for (const PastStep& step : steps)
      if (step.batch) shared.insert(step.serial);
  std::set<uint64_t> kept;
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& [sequence, steps] : ended_) {
      if (kept.count(sequence)) continue;
      const bool shares = std::any_of(steps.begin(), steps.end(), [&](const PastStep& s) { return s.batch && shared.count(s.serial); });
      if (!shares) continue;
      kept.insert(sequence);
      for (const PastStep& s : steps)
        if (s.batch) shared.insert(s.serial);
      grew = true;
    }
  }
  for (auto it = ended_.begin(); it != ended_.end();) it = kept.count(it->first) ? std::next(it) : ended_.erase(it);
}

Expected<StepLogits> ClusterRun::next() {
  for (;;) {
    Status st = maybe_rebalance();
    if (st) {
      auto answer = pipeline_->next();
      if (answer) {
        for (PastStep& step : history_[answer->sequence])
          if (step.pos0 == answer->position && step.want) {
            step.answered = true;
            if (step.tokens.size() == 1) ++decode_answers_;
          }
        if (!pending_ && rechecks_.empty()) {
          std::vector<bool> alive;
          for (size_t d = 0; d < pipeline_->all_devices().size(); ++d) alive.push_back(pipeline_->alive(static_cast<int>(d)));
          // Only links between two remote workers are probed: an emulated link is shaped by the
          // head itself as the devices file says.
          if (options_.measure_links)
            for (const LinkRecheck& r : balancer_->links_to_recheck())
              if (!pipeline_->all_devices()[static_cast<size_t>(r.from)].local && !pipeline_->all_devices()[static_cast<size_t>(r.to)].local)
                rechecks_.push_back(r);
          if (rechecks_.empty()) pending_ = balancer_->consider(alive);
        }
        return answer;
      }
      st = answer.status();
    }
    LINGUA_TRY(recover(st));
  }
}

Status ClusterRun::end_sequence(uint64_t sequence) {
  if (auto it = history_.find(sequence); it != history_.end()) {
    ended_[sequence] = std::move(it->second);
    history_.erase(it);
  }
  prune_ended();
  Status st = pipeline_->end_sequence(sequence);
  if (!st) LINGUA_TRY(recover(st));
  return Status::ok();
}

}  // namespace lingua
