// PlanProblem: per-op, per-device prices from the cost model, and the pricing of any assignment
// (evaluate_plan), which every solver and baseline shares.
#include <algorithm>
#include <cmath>
#include <set>

#include "plan/planner.h"
#include "plan/units.h"

namespace lingua {

const char* objective_name(Objective o) {
  switch (o) {
    case Objective::kLatency: return "latency";
    case Objective::kThroughput: return "throughput";
    case Objective::kEnergy: return "energy";
  }
  return "?";
}

Expected<Objective> parse_objective(const std::string& name) {
  for (Objective o : {Objective::kLatency, Objective::kThroughput, Objective::kEnergy})
    if (name == objective_name(o)) return o;
  return Status::error("unknown objective '" + name + "' (supported: latency, throughput, energy)");
}

uint64_t PlanProblem::bytes_into(int b, int e) const {
  uint64_t total = 0;
  for (int p = 0; p < b; ++p)
    for (int c : consumers[static_cast<size_t>(p)])
      if (c >= b && c < e) {
        total += out_bytes[static_cast<size_t>(p)];
        break;
      }
  return total;
}

std::vector<std::vector<PlanLink>> uniform_links(size_t n, PlanLink link) {
  return std::vector<std::vector<PlanLink>>(n, std::vector<PlanLink>(n, link));
}

const PlanLink& PlanProblem::link_between(int from, int to) const {
  if (from == kHead) return head_links[static_cast<size_t>(to)];
  if (links.empty()) return link;
  return links[static_cast<size_t>(from)][static_cast<size_t>(to)];
}

double PlanProblem::link_seconds(int from, int to, uint64_t bytes_in) const {
  if (from == kHead) {
    if (head_links.empty()) return 0.0;
    const PlanLink& l = head_links[static_cast<size_t>(to)];
    return l.latency_s + static_cast<double>(bytes_in) / l.bytes_per_s;
  }
  if (bytes_in == 0) return 0.0;
  const PlanLink& l = link_between(from, to);
  return l.latency_s + static_cast<double>(bytes_in) / l.bytes_per_s;
}

bool PlanProblem::links_uniform() const {
  for (size_t a = 0; a < links.size(); ++a)
    for (size_t b = 0; b < links[a].size(); ++b)
      if (a != b && !(links[a][b] == link)) return false;
  return true;
}

Status PlanProblem::check_links() const {
  const size_t n = devices.size();
  auto bad = [&](const PlanLink& l) { return !(l.bytes_per_s > 0) || !(l.latency_s >= 0) || std::isinf(l.latency_s); };
  auto name = [&](int d) { return d == kHead ? std::string("the head") : "device '" + devices[static_cast<size_t>(d)].name + "'"; };
  if (bad(link)) return Status::error("the default link needs a bandwidth above zero and a latency of zero or more");
  if (!links.empty() && links.size() != n)
    return Status::error("the link matrix has " + std::to_string(links.size()) + " rows for " + std::to_string(n) + " devices");
  for (size_t a = 0; a < links.size(); ++a) {
    if (links[a].size() != n)
      return Status::error("the link matrix row of " + name(static_cast<int>(a)) + " has " + std::to_string(links[a].size()) +
                           " entries for " + std::to_string(n) + " devices");
    for (size_t b = 0; b < n; ++b)
      if (a != b && bad(links[a][b]))
        return Status::error("the link from " + name(static_cast<int>(a)) + " to " + name(static_cast<int>(b)) +
                             " needs a bandwidth above zero and a latency of zero or more");
  }
  if (!head_links.empty() && head_links.size() != n)
    return Status::error("there are " + std::to_string(head_links.size()) + " head links for " + std::to_string(n) + " devices");
  for (size_t d = 0; d < head_links.size(); ++d)
    if (bad(head_links[d]))
      return Status::error("the link from the head to " + name(static_cast<int>(d)) +
                           " needs a bandwidth above zero and a latency of zero or more");
  return Status::ok();
}

uint64_t PlanProblem::memory_of(int b, int e) const {
  uint64_t total = device_overhead_bytes;
  for (int i = b; i < e; ++i) total += op_memory[static_cast<size_t>(i)];
  return total;
}

PlanProblem make_plan_problem(const Graph& graph, const std::vector<OpCost>& costs, std::vector<PlanDevice> devices,
                              PlanLink link, int64_t context, int64_t max_batch) {
  PlanProblem p;
  p.n_ops = graph.size();
  p.devices = std::move(devices);
  p.link = link;
  p.links = uniform_links(p.devices.size(), link);
  uint64_t widest = 0;  // widest activation row, the logits excepted
  p.consumers.resize(static_cast<size_t>(p.n_ops));
  for (const Op& op : graph.ops()) {
    const OpCost& cost = costs[static_cast<size_t>(op.id)];
    // Each op counts every tensor it reads in full: a tied embedding read at both ends of the
    // graph is then held by both devices, as it must be.
    uint64_t mem = 0;
    for (const WeightRef& w : op.weights) mem += w.bytes;
    mem += kv_bytes(cost, context);
    if (op.id == graph.output()) mem += cost.out_bytes_per_token * static_cast<uint64_t>(max_batch);  // the logits
    else widest = std::max(widest, cost.out_bytes_per_token);
    p.op_memory.push_back(mem);
    p.out_bytes.push_back(cost.out_bytes_per_token);
    p.op_names.push_back(op.name);
    for (int in : op.inputs) p.consumers[static_cast<size_t>(in)].push_back(op.id);
  }
  for (auto& c : p.consumers) std::sort(c.begin(), c.end());
  // A few live activation buffers of the widest row for a full batch (the executor reuses
  // buffers by liveness), plus a fixed margin for the runtime itself.
  p.device_overhead_bytes = 6 * widest * static_cast<uint64_t>(max_batch) + (16ull << 20);
  for (const PlanDevice& d : p.devices) p.op_seconds.push_back(predicted_decode_seconds(costs, d.rates));
  return p;
}

double Plan::tokens_per_s(Objective o) const {
  const double t = o == Objective::kThroughput ? period_s : latency_s;
  return t > 0 ? 1.0 / t : 0.0;
}

Plan evaluate_plan(const PlanProblem& p, std::string name, std::vector<Assignment> segments) {
  Plan plan;
  plan.name = std::move(name);
  int from = PlanProblem::kHead;  // the device of the segment before, whose link brings the inputs
  for (Assignment& a : segments) {
    const PlanDevice& d = p.devices[static_cast<size_t>(a.device)];
    a.compute_s = 0;
    for (int i = a.first_op; i <= a.last_op; ++i) a.compute_s += p.op_seconds[static_cast<size_t>(a.device)][static_cast<size_t>(i)];
    a.link_s = p.link_seconds(from, a.device, p.bytes_into(a.first_op, a.last_op + 1));
    from = a.device;
    a.memory_bytes = p.memory_of(a.first_op, a.last_op + 1);
    plan.latency_s += a.compute_s + a.link_s;
    plan.period_s = std::max({plan.period_s, a.compute_s, a.link_s});
    plan.energy_j += d.energy_weight() * (d.power_busy_w - d.power_idle_w) * a.compute_s;
    if (a.memory_bytes > d.memory_bytes && plan.feasible) {
      plan.feasible = false;
      plan.note = d.name + " would need " + format_bytes(a.memory_bytes) + " but has " + format_bytes(d.memory_bytes);
    }
  }
  plan.assignments = std::move(segments);
  return plan;
}

}  // namespace lingua
