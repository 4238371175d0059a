// Balancer: measured speed factors scale the profiled per-op times, the planner's own DP re-plans.
#include "runtime/balancer.h"

#include <algorithm>
#include <cstdio>

namespace lingua {

Balancer::Balancer(PlanProblem problem, Objective objective, BalanceOptions options)
    : problem_(std::move(problem)), objective_(objective), options_(options) {
  for (const PlanDevice& d : problem_.devices) {
    DeviceEstimate e;
    e.name = d.name;
    estimates_.push_back(e);
  }
}

void Balancer::set_current(const std::vector<Assignment>& current) {
  if (!current_.empty()) left_.insert(signature(current_));
  current_ = current;
  rechecked_.clear();
  for (DeviceEstimate& e : estimates_) {
    e.steps = 0;
    e.predicted_s = 0;
    e.link_to.clear();  // the links of the old plan
    e.recent.clear();   // measured on the old segment
  }
  largest_predicted_s_ = 0;
  for (const Assignment& a : current_) {
    double s = 0;
    for (int op = a.first_op; op <= a.last_op; ++op) s += problem_.op_seconds[static_cast<size_t>(a.device)][static_cast<size_t>(op)];
    estimates_[static_cast<size_t>(a.device)].predicted_s = s;
    largest_predicted_s_ = std::max(largest_predicted_s_, s);
  }
}

void Balancer::adopt(const std::vector<DeviceEstimate>& earlier) {
  for (DeviceEstimate& e : estimates_)
    for (const DeviceEstimate& old : earlier)
      if (old.name == e.name && old.measured) {
        e.speed_factor = old.speed_factor;
        e.measured = true;
      }
}

void Balancer::record(int device, const StepReport& r) {
  if (device < 0 || static_cast<size_t>(device) >= estimates_.size()) return;
  DeviceEstimate& e = estimates_[static_cast<size_t>(device)];
  e.memory_bytes = r.memory_bytes;
  e.temperature_c = r.temperature_c;
  e.battery = r.battery;
  if (r.tokens != 1 || e.predicted_s <= 0) return;  // prompt batches cost differently; speeds come from decode steps
  const double w = e.steps == 0 ? 1.0 : options_.smoothing;
  // Compute time: the median of the last 5 steps, so one step delayed by the scheduler does not
  // make a device look slow; a lasting change shows after 3 steps.
  e.recent.push_back(r.compute_s);
  if (e.recent.size() > 5) e.recent.erase(e.recent.begin());
  std::vector<double> sorted = e.recent;
  std::sort(sorted.begin(), sorted.end());
  e.compute_s = sorted[sorted.size() / 2];
  e.wait_s = w * r.wait_s + (1 - w) * e.wait_s;
  e.link_s = w * r.link_s + (1 - w) * e.link_s;
  for (const auto& [segment, seconds] : r.links) {
    if (segment < 0 || static_cast<size_t>(segment) >= current_.size()) continue;
    const int to = current_[static_cast<size_t>(segment)].device;
    auto it = std::find_if(e.link_to.begin(), e.link_to.end(), [&](const auto& l) { return l.first == to; });
    if (it == e.link_to.end()) e.link_to.emplace_back(to, seconds);
    else it->second = w * seconds + (1 - w) * it->second;
  }
  ++e.steps;
  e.speed_factor = std::max(0.05, e.compute_s / e.predicted_s);
  // A segment much smaller than the plan's largest (the embedding lookup alone, say) is mostly the
  // cost model's error on those few ops and fixed costs: it may show its device slower than
  // profiled, never faster. On emulated hosts a quarter-core device running ops 0..21 measured 20x
  // faster than its profile, and the balancer then gave it three quarters of the model.
  if (e.predicted_s < kSmallSegmentShare * largest_predicted_s_) e.speed_factor = std::max(1.0, e.speed_factor);
  e.measured = true;
}

PlanProblem Balancer::alive_problem(const std::vector<bool>& alive, bool measured, std::vector<int>* original) const {
  PlanProblem p = problem_;
  p.devices.clear();
  p.op_seconds.clear();
  original->clear();
  for (size_t d = 0; d < problem_.devices.size(); ++d) {
    if (d < alive.size() && !alive[d]) continue;
    const double f = measured && estimates_[d].measured ? estimates_[d].speed_factor : 1.0;
    p.devices.push_back(problem_.devices[d]);
    std::vector<double> row = problem_.op_seconds[d];
    for (double& s : row) s *= f;
    p.op_seconds.push_back(std::move(row));
    original->push_back(static_cast<int>(d));
  }
  // The links of the devices kept, between each other and from the head.
  if (!problem_.links.empty()) {
    p.links.clear();
    for (int from : *original) {
      std::vector<PlanLink> row;
      for (int to : *original) row.push_back(problem_.links[static_cast<size_t>(from)][static_cast<size_t>(to)]);
      p.links.push_back(std::move(row));
    }
  }
  if (!problem_.head_links.empty()) {
    p.head_links.clear();
    for (int d : *original) p.head_links.push_back(problem_.head_links[static_cast<size_t>(d)]);
  }
  return p;
}

std::optional<std::vector<Assignment>> Balancer::current_in(const std::vector<int>& original) const {
  std::vector<Assignment> now = current_;
  for (Assignment& a : now) {
    auto it = std::find(original.begin(), original.end(), a.device);
    if (it == original.end()) return std::nullopt;  // a device of the plan is gone: failover's business
    a.device = static_cast<int>(it - original.begin());
  }
  return now;
}

Expected<Plan> Balancer::replan(const std::vector<bool>& alive) const {
  std::vector<int> original;
  const PlanProblem p = alive_problem(alive, true, &original);
  if (p.devices.empty()) return Status::error("no device is left");
  LINGUA_ASSIGN_OR_RETURN(Plan plan, plan_optimized(p, objective_, Solver::kDp));
  for (Assignment& a : plan.assignments) a.device = original[static_cast<size_t>(a.device)];
  plan.name = "balanced";
  return plan;
}

std::optional<Proposal> Balancer::consider(const std::vector<bool>& alive) {
  if (!options_.enabled || current_.empty()) return std::nullopt;
  for (const Assignment& a : current_)
    if (estimates_[static_cast<size_t>(a.device)].steps < options_.min_steps) return std::nullopt;
  const bool poor = poor_start(alive);
  if (!poor && !straggler(alive)) return std::nullopt;
  std::vector<int> original;
  const PlanProblem p = alive_problem(alive, true, &original);
  auto best = plan_optimized(p, objective_, Solver::kDp);
  const auto now = current_in(original);  // the current plan priced the same way
  if (!best || !now) return std::nullopt;
  const Plan current = evaluate_plan(p, "current", *now);
  const double gain = best->tokens_per_s(objective_) / std::max(1e-12, current.tokens_per_s(objective_));
  if (gain < options_.min_gain) return std::nullopt;
  const double saving = 1.0 / std::max(1e-12, current.tokens_per_s(objective_)) - 1.0 / std::max(1e-12, best->tokens_per_s(objective_));
  if (!poor && saving < options_.min_saving_s) return std::nullopt;
  if (saving * options_.payback_tokens < last_move_s_) return std::nullopt;  // it would not pay for itself
  Proposal out;
  out.plan = *best;
  for (Assignment& a : out.plan.assignments) a.device = original[static_cast<size_t>(a.device)];
  // A device outside the current plan is known only from an older segment (or the profile), and
  // the cost model's error differs between segments: moving onto it needs a clearer gain.
  for (const Assignment& a : out.plan.assignments) {
    const bool in_current = std::any_of(current_.begin(), current_.end(), [&](const Assignment& c) { return c.device == a.device; });
    if (!in_current && gain < options_.min_gain_onto_idle) return std::nullopt;
  }
  if (left_.count(signature(out.plan.assignments))) return std::nullopt;
  out.plan.name = "balanced";
  out.gain = gain;
  const DeviceEstimate* slowest = nullptr;
  for (const Assignment& a : current_) {
    const DeviceEstimate& e = estimates_[static_cast<size_t>(a.device)];
    if (!slowest || e.speed_factor > slowest->speed_factor) slowest = &e;
  }
  char why[160];
  if (slowest->speed_factor >= 1.3)
    std::snprintf(why, sizeof why, "%s runs %.1fx slower than profiled; the new plan is predicted %.2fx faster", slowest->name.c_str(),
                  slowest->speed_factor, gain);
  else
    std::snprintf(why, sizeof why, "at the measured speeds another plan is predicted %.2fx faster", gain);
  out.why = why;
  return out;
}

// A decode token's trip over the link into chain position i: segment i's inputs are complete
// wait_i after its token ids arrived, segment i-1's wait_{i-1} + compute_{i-1} after its own, and
// the two sets of token ids left the head together (their head links' latencies apart).
std::vector<LinkRecheck> Balancer::links_to_recheck() {
  std::vector<LinkRecheck> out;
  if (!options_.enabled || current_.size() < 2) return out;
  for (const Assignment& a : current_)
    if (estimates_[static_cast<size_t>(a.device)].steps < options_.min_steps) return out;
  const Plan priced = evaluate_plan(problem_, "current", current_);
  if (priced.assignments.size() != current_.size()) return out;
  auto head_latency = [&](int d) { return problem_.head_links.empty() ? 0.0 : problem_.head_links[static_cast<size_t>(d)].latency_s; };
  for (size_t i = 1; i < current_.size(); ++i) {
    const int from = current_[i - 1].device, to = current_[i].device;
    const DeviceEstimate& before = estimates_[static_cast<size_t>(from)];
    const DeviceEstimate& here = estimates_[static_cast<size_t>(to)];
    const double observed = here.wait_s - before.wait_s - before.compute_s + head_latency(to) - head_latency(from);
    const double price = priced.assignments[i].link_s;
    if (observed < options_.link_recheck_ratio * price || observed < price + options_.link_recheck_floor_s) continue;
    if (!rechecked_.insert({from, to}).second) continue;
    out.push_back({from, to, observed, price});
  }
  return out;
}

void Balancer::update_link(int from, int to, PlanLink link) {
  const auto n = problem_.devices.size();
  if (from < 0 || to < 0 || static_cast<size_t>(from) >= n || static_cast<size_t>(to) >= n || from == to) return;
  if (problem_.links.size() != n) problem_.links = uniform_links(n, problem_.link);
  problem_.links[static_cast<size_t>(from)][static_cast<size_t>(to)] = link;
  poor_start_key_.clear();  // it priced the old link
}

// A device of the plan runs clearly slower than the devices' typical speed: its factor is at
// least straggler_ratio times the median factor of the live devices (never measured: 1). A speed
// factor also carries the cost model's error for that device's segment, and that error differs
// from segment to segment (0.44x-0.83x across three identical devices on the 3M-parameter shipped
// model), so smaller differences are not acted on.
bool Balancer::straggler(const std::vector<bool>& alive) const {
  std::vector<double> factors;
  for (size_t d = 0; d < estimates_.size(); ++d)
    if (d >= alive.size() || alive[d]) factors.push_back(estimates_[d].measured ? estimates_[d].speed_factor : 1.0);
  if (factors.empty()) return false;
  // The lower median: with two devices, the faster one is the reference.
  const size_t mid = (factors.size() - 1) / 2;
  std::nth_element(factors.begin(), factors.begin() + static_cast<std::ptrdiff_t>(mid), factors.end());
  const double median = factors[mid];
  for (const Assignment& a : current_)
    if (estimates_[static_cast<size_t>(a.device)].speed_factor >= options_.straggler_ratio * median) return true;
  return false;
}

// The plan is worse than another even at the profiled speeds (a poor starting plan, say an even
// split over slow links): worth re-planning whatever the measurements say.
bool Balancer::poor_start(const std::vector<bool>& alive) const {
  std::string key = signature(current_);
  for (bool a : alive) key += a ? '1' : '0';
  if (key == poor_start_key_) return poor_start_value_;
  poor_start_key_ = key;
  poor_start_value_ = false;
  std::vector<int> original;
  const PlanProblem p = alive_problem(alive, false, &original);
  auto best = plan_optimized(p, objective_, Solver::kDp);
  const auto now = current_in(original);
  if (!best || !now) return false;
  const Plan current = evaluate_plan(p, "current", *now);
  poor_start_value_ = best->tokens_per_s(objective_) >= options_.min_gain * current.tokens_per_s(objective_);
  return poor_start_value_;
}

std::string Balancer::signature(const std::vector<Assignment>& plan) const {
  std::string s;
  for (const Assignment& a : plan) s += std::to_string(a.device) + ":" + std::to_string(a.first_op) + "-" + std::to_string(a.last_op) + ";";
  return s;
}

std::string describe_plan(const PlanProblem& problem, const std::vector<Assignment>& plan) {
  std::string s;
  for (const Assignment& a : plan) {
    if (!s.empty()) s += ", ";
    s += problem.devices[static_cast<size_t>(a.device)].name + ": ops " + std::to_string(a.first_op) + ".." + std::to_string(a.last_op);
  }
  return s;
}

}  // namespace lingua
