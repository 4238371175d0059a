// run_cluster_bench: plan, start the devices, prefill every stream, then decode greedily with
// every stream in flight (a stream's next step is submitted the moment its logits arrive).
#include "runtime/cluster_bench.h"

#include <algorithm>
#include <chrono>

#include "plan/cluster_plans.h"
#include "runtime/cluster_run.h"

namespace lingua {
namespace {

int32_t argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

int64_t context_of(const ClusterBenchOptions& o, const Model& model) {
  return o.context > 0 ? o.context : std::max<int64_t>(1, model.train_context());
}

// The same short prompt for every stream; the streams are independent sequences.
Expected<std::vector<TokenId>> bench_prompt(const Model& model) {
  TokenizeOptions topt;
  topt.add_bos = model.vocab().add_bos && model.vocab().bos >= 0;
  return model.tokenizer().encode("Once upon a time", topt);
}

// `plans` and `plan` null: remote devices, planned by ClusterRun::start after measuring them.
Status run_plan(const Model& model, const DevicesFile& devices, const ClusterPlans* plans, const Plan* plan,
                const ClusterBenchOptions& o, int64_t context, const std::vector<TokenId>& prompt,
                int64_t decode_position, bool balanced, ClusterBenchRow& row) {
  std::vector<PlannedSegment> segments;
  if (plans) {
    for (const Assignment& a : plan->assignments) {
      const std::string& name = plans->problem.devices[static_cast<size_t>(a.device)].name;
      segments.push_back({name, a.first_op, a.last_op});
      row.devices.push_back(name + "[" + std::to_string(a.first_op) + ".." + std::to_string(a.last_op) + "]");
    }
  }
  ClusterRunOptions ro;
  ro.plan_name = balanced ? "even" : row.plan;  // remote devices: planned by the run, once measured
  ro.keys_dir = o.keys_dir;
  ro.insecure = o.insecure;
  ro.allow_insecure_network = o.allow_insecure_network;
  ro.model_path = o.model_path;
  ro.context = std::max<int64_t>(16, context / o.streams);
  ro.decode_position = decode_position;
  ro.max_sequences = o.streams;
  ro.wire_dtype = o.wire_dtype;
  ro.all_local = plans != nullptr;
  ro.objective = o.objective;
  ro.balance.enabled = balanced;  // every other plan is run as planned: static
  LINGUA_ASSIGN_OR_RETURN(auto run, ClusterRun::start(model, devices, segments, ro));
  if (!plans) {
    row.predicted_tokens_per_s = run->predicted_tokens_per_s();
    for (const PlannedSegment& p : run->current_plan()) {
      segments.push_back(p);
      row.devices.push_back(p.device + "[" + std::to_string(p.first_op) + ".." + std::to_string(p.last_op) + "]");
    }
    row.notes = run->priced_cluster().notes;
    row.cluster = run->priced_cluster();
  }
  Pipeline& pipe = *run;
  for (const auto& l : run->remote().link_bytes_per_token()) {
    row.links.push_back({segments[static_cast<size_t>(l.from)].device, segments[static_cast<size_t>(l.to)].device, l.bytes});
    row.bytes_per_token += l.bytes;
  }
  const auto n_prompt = static_cast<int64_t>(prompt.size());
  if (n_prompt + o.gen_tokens > ro.context)
    return Status::error("the context per stream (" + std::to_string(ro.context) + ") is too small for the run");
  std::vector<int32_t> next(static_cast<size_t>(o.streams));
  std::vector<int64_t> pos(static_cast<size_t>(o.streams), n_prompt);
  std::vector<int> left(static_cast<size_t>(o.streams), o.gen_tokens);
  for (int s = 0; s < o.streams; ++s) LINGUA_TRY(pipe.submit(static_cast<uint64_t>(s + 1), prompt.data(), n_prompt, 0, true));
  for (int s = 0; s < o.streams; ++s) {
    LINGUA_ASSIGN_OR_RETURN(StepLogits r, pipe.next());
    next[r.sequence - 1] = argmax(r.logits);
  }
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  auto last = t0;
  for (int s = 0; s < o.streams; ++s)
    LINGUA_TRY(pipe.submit(static_cast<uint64_t>(s + 1), &next[static_cast<size_t>(s)], 1, pos[static_cast<size_t>(s)], true));
  int in_flight = o.streams;
  int64_t generated = 0;
  while (in_flight > 0) {
    LINGUA_ASSIGN_OR_RETURN(StepLogits r, pipe.next());
    const size_t s = r.sequence - 1;
    ++generated;
    if (s == 0) {
      const auto now = Clock::now();
      row.per_token_ms.push_back(std::chrono::duration<double, std::milli>(now - last).count());
      last = now;
    }
    if (--left[s] == 0) {
      --in_flight;
      continue;
    }
    next[s] = argmax(r.logits);
    ++pos[s];
    LINGUA_TRY(pipe.submit(r.sequence, &next[s], 1, pos[s], true));
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  row.tokens_per_s = seconds > 0 ? static_cast<double>(generated) / seconds : 0;
  row.ran = true;
  row.migrations = run->migrations();
  row.link_remeasures = run->link_remeasures();
  row.monitor = run->estimates();
  for (const Failover& f : run->failovers()) row.failovers.push_back(f.device);
  for (const PlannedSegment& p : run->current_plan())
    row.final_plan += (row.final_plan.empty() ? "" : " ") + p.device + "[" + std::to_string(p.first_op) + ".." + std::to_string(p.last_op) + "]";
  return Status::ok();
}

}  // namespace

Expected<std::vector<ClusterBenchRow>> run_cluster_bench(const Model& model, const DevicesFile& devices,
                                                         const ClusterBenchOptions& o,
                                                         const std::function<void(const std::string&)>& progress) {
  if (o.streams < 1 || o.streams > 64) return Status::error("--streams must be between 1 and 64");
  if (o.gen_tokens < 1) return Status::error("-n must be at least 1");
  ClusterPlanOptions po;
  po.objective = o.objective;
  po.context = o.context;
  po.train_context = model.train_context();
  po.refresh_profile = o.refresh_profile;
  // Predict the run this is: its decode steps read the KV cache at the prompt plus, on average,
  // half the generated tokens, not at half the context a long generation would reach.
  LINGUA_ASSIGN_OR_RETURN(std::vector<TokenId> prompt, bench_prompt(model));
  po.decode_position = static_cast<int64_t>(prompt.size()) + o.gen_tokens / 2;
  DevicesFile scenario = devices;
  for (const SlowdownScenario& sc : o.slowdowns) {
    bool found = false;
    for (DeviceSpec& d : scenario.devices)
      if (d.name == sc.device) {
        d.slowdown = {sc.factor, sc.after_tokens};
        found = true;
      }
    if (!found) return Status::error("--slowdown names device '" + sc.device + "', which " + devices.source + " does not list");
  }
  bool remote = false;
  for (const DeviceSpec& d : scenario.devices) remote |= !d.endpoint.empty();
  if (remote) {
    std::vector<ClusterBenchRow> rows;
    for (const std::string& name : o.plans) {
      ClusterBenchRow row;
      row.plan = name;
      if (progress) progress("reaching the devices, measuring them and running the " + name + " plan" +
                             (name == "balanced" ? ", starting from the even split" : ""));
      if (Status st = run_plan(model, scenario, nullptr, nullptr, o, context_of(o, model), prompt, po.decode_position,
                               name == "balanced", row);
          !st)
        return st.with_context("the " + name + " plan");
      rows.push_back(row);
    }
    return rows;
  }
  if (progress && o.refresh_profile) progress("measuring this machine's profile (--cached-profile skips this)");
  LINGUA_ASSIGN_OR_RETURN(ClusterPlans plans, plan_cluster(model.graph(), scenario, po));
  const int64_t context = context_of(o, model);
  std::vector<ClusterBenchRow> rows;
  for (const std::string& name : o.plans) {
    ClusterBenchRow row;
    row.plan = name;
    // `balanced`: the even split, re-planned live from what the devices measure.
    const bool balanced = name == "balanced";
    auto plan = plans.pick(balanced ? "even" : name);
    if (!plan) {
      row.note = plan.error();
      rows.push_back(row);
      continue;
    }
    row.predicted_tokens_per_s = plan->tokens_per_s(o.objective);
    if (progress)
      progress("running the " + name + " plan on " + std::to_string(plan->assignments.size()) + " device(s)" +
               (balanced ? ", starting from the even split" : ""));
    if (Status st = run_plan(model, scenario, &plans, &*plan, o, context, prompt, po.decode_position, balanced, row); !st)
      return st.with_context("the " + name + " plan");
    rows.push_back(row);
  }
  return rows;
}

}  // namespace lingua
