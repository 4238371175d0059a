// The exact planner for a given device order: a dynamic program over (op boundary, position in the
// order). Devices may be skipped, so it also chooses the subset. plan_optimized tries the orders.
#include <algorithm>
#include <limits>
#include <numeric>

#include "plan/planner.h"
#include "plan/solvers.h"

namespace lingua {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double combine(Objective o, double so_far, double segment) {
  return o == Objective::kLatency ? so_far + segment : std::max(so_far, segment);
}

}  // namespace

SegmentTables::SegmentTables(const PlanProblem& p) : n(p.n_ops) {
  // bytes[b][e - b - 1]: bytes into segment [b, e). A tensor produced before b enters the segment
  // holding its first reader at or after b, so each b needs one pass over the earlier tensors.
  bytes.resize(static_cast<size_t>(n));
  std::vector<uint64_t> add(static_cast<size_t>(n) + 1);
  for (int b = 0; b < n; ++b) {
    std::fill(add.begin(), add.end(), 0);
    for (int q = 0; q < b; ++q)
      for (int c : p.consumers[static_cast<size_t>(q)])
        if (c >= b) {
          add[static_cast<size_t>(c) + 1] += p.out_bytes[static_cast<size_t>(q)];
          break;
        }
    auto& row = bytes[static_cast<size_t>(b)];
    row.resize(static_cast<size_t>(n - b));
    uint64_t running = 0;
    for (int e = b + 1; e <= n; ++e) {
      running += add[static_cast<size_t>(e)];
      row[static_cast<size_t>(e - b - 1)] = running;
    }
  }
  memory_prefix.assign(static_cast<size_t>(n) + 1, 0);
  for (int i = 0; i < n; ++i)
    memory_prefix[static_cast<size_t>(i) + 1] = memory_prefix[static_cast<size_t>(i)] + p.op_memory[static_cast<size_t>(i)];
  for (const auto& per_op : p.op_seconds) {
    std::vector<double> prefix(static_cast<size_t>(n) + 1, 0.0);
    for (int i = 0; i < n; ++i) prefix[static_cast<size_t>(i) + 1] = prefix[static_cast<size_t>(i)] + per_op[static_cast<size_t>(i)];
    seconds_prefix.push_back(std::move(prefix));
  }
}

OrderResult solve_order_dp(const PlanProblem& p, const SegmentTables& t, const std::vector<int>& order, Objective o) {
  const int n = p.n_ops, k = static_cast<int>(order.size());
  // f[j][e]: best value with ops [0, e) placed and the last segment on order[j].
  std::vector<std::vector<double>> f(static_cast<size_t>(k), std::vector<double>(static_cast<size_t>(n) + 1, kInf));
  std::vector<std::vector<int>> from_b(static_cast<size_t>(k), std::vector<int>(static_cast<size_t>(n) + 1, -1));
  std::vector<std::vector<int>> from_j(static_cast<size_t>(k), std::vector<int>(static_cast<size_t>(n) + 1, -1));
  // best_before[b], best_j[b]: the best f[j'][b] over the positions j' < j seen so far.
  std::vector<double> best_before(static_cast<size_t>(n) + 1, kInf);
  std::vector<int> best_j(static_cast<size_t>(n) + 1, -1);
  best_before[0] = 0.0;  // nothing placed yet
  for (int j = 0; j < k; ++j) {
    const int d = order[static_cast<size_t>(j)];
    for (int b = 0; b < n; ++b) {
      if (best_before[static_cast<size_t>(b)] == kInf) continue;
      for (int e = b + 1; e <= n; ++e) {
        if (!stage_fits(p, t, d, b, e)) break;  // memory only grows with e
        const StageCost c = stage_cost(p, t, d, b, e);
        const double stage = o == Objective::kLatency ? c.compute + c.link : std::max(c.compute, c.link);
        const double v = combine(o, best_before[static_cast<size_t>(b)], stage);
        if (v < f[static_cast<size_t>(j)][static_cast<size_t>(e)]) {
          f[static_cast<size_t>(j)][static_cast<size_t>(e)] = v;
          from_b[static_cast<size_t>(j)][static_cast<size_t>(e)] = b;
          from_j[static_cast<size_t>(j)][static_cast<size_t>(e)] = best_j[static_cast<size_t>(b)];
        }
      }
    }
    for (int e = 1; e <= n; ++e)
      if (f[static_cast<size_t>(j)][static_cast<size_t>(e)] < best_before[static_cast<size_t>(e)]) {
        best_before[static_cast<size_t>(e)] = f[static_cast<size_t>(j)][static_cast<size_t>(e)];
        best_j[static_cast<size_t>(e)] = j;
      }
  }
  OrderResult r;
  r.value = best_before[static_cast<size_t>(n)];
  if (r.value == kInf) return r;
  for (int j = best_j[static_cast<size_t>(n)], e = n; j >= 0;) {
    const int b = from_b[static_cast<size_t>(j)][static_cast<size_t>(e)];
    r.segments.push_back({order[static_cast<size_t>(j)], b, e - 1});
    const int prev = from_j[static_cast<size_t>(j)][static_cast<size_t>(e)];
    e = b;
    j = prev;
  }
  std::reverse(r.segments.begin(), r.segments.end());
  return r;
}

// Energy under a latency bound is a resource-constrained shortest path: each state keeps its
// Pareto front of (energy, latency) labels instead of one value, which keeps it exact.
OrderResult solve_order_energy_dp(const PlanProblem& p, const SegmentTables& t, const std::vector<int>& order) {
  const int n = p.n_ops, k = static_cast<int>(order.size());
  struct Label {
    double energy, latency;
    int position, first_op, end, parent;  // the segment that made it, and the label before it
  };
  std::vector<Label> arena;
  // Keeps the labels that no other beats on both energy and latency.
  auto pareto = [&](std::vector<int>& ids) {
    std::sort(ids.begin(), ids.end(), [&](int a, int b) {
      const Label &x = arena[static_cast<size_t>(a)], &y = arena[static_cast<size_t>(b)];
      return x.latency != y.latency ? x.latency < y.latency : x.energy < y.energy;
    });
    std::vector<int> kept;
    double best = kInf;
    for (int id : ids)
      if (arena[static_cast<size_t>(id)].energy < best - 1e-15) {
        kept.push_back(id);
        best = arena[static_cast<size_t>(id)].energy;
      }
    ids.swap(kept);
  };
  std::vector<std::vector<int>> before(static_cast<size_t>(n) + 1);  // labels ending at boundary b
  arena.push_back({0.0, 0.0, -1, 0, 0, -1});
  before[0] = {0};
  for (int j = 0; j < k; ++j) {
    const int d = order[static_cast<size_t>(j)];
    const PlanDevice& dev = p.devices[static_cast<size_t>(d)];
    const double joules_per_s = dev.energy_weight() * (dev.power_busy_w - dev.power_idle_w);
    std::vector<std::vector<int>> here(static_cast<size_t>(n) + 1);
    for (int b = 0; b < n; ++b) {
      if (before[static_cast<size_t>(b)].empty()) continue;
      for (int e = b + 1; e <= n; ++e) {
        if (!stage_fits(p, t, d, b, e)) break;
        const StageCost c = stage_cost(p, t, d, b, e);
        const double stage = c.compute + c.link;
        auto& out = here[static_cast<size_t>(e)];
        for (int id : before[static_cast<size_t>(b)]) {
          const Label& prev = arena[static_cast<size_t>(id)];
          if (prev.latency + stage > p.latency_bound_s) continue;
          arena.push_back({prev.energy + joules_per_s * c.compute, prev.latency + stage, j, b, e, id});
          out.push_back(static_cast<int>(arena.size()) - 1);
        }
        if (out.size() > 4096) pareto(out);
      }
    }
    for (int e = 1; e <= n; ++e) {
      auto& merged = before[static_cast<size_t>(e)];
      merged.insert(merged.end(), here[static_cast<size_t>(e)].begin(), here[static_cast<size_t>(e)].end());
      pareto(merged);
    }
  }
  OrderResult r;
  r.value = kInf;
  int best = -1;
  for (int id : before[static_cast<size_t>(n)])
    if (id != 0 && arena[static_cast<size_t>(id)].energy < r.value) r.value = arena[static_cast<size_t>(id)].energy, best = id;
  for (int id = best; id > 0; id = arena[static_cast<size_t>(id)].parent) {
    const Label& l = arena[static_cast<size_t>(id)];
    r.segments.push_back({order[static_cast<size_t>(l.position)], l.first_op, l.end - 1});
  }
  std::reverse(r.segments.begin(), r.segments.end());
  return r;
}

std::vector<std::vector<int>> candidate_orders(const PlanProblem& p) {
  std::vector<int> order(p.devices.size());
  std::iota(order.begin(), order.end(), 0);
  std::vector<std::vector<int>> orders;
  if (order.size() <= kAllOrdersUpTo) {
    do orders.push_back(order);
    while (std::next_permutation(order.begin(), order.end()));
    return orders;
  }
  // Faster devices first: the first segment holds the embedding, the ones after share the blocks.
  std::vector<double> total(p.devices.size(), 0.0);
  for (size_t d = 0; d < p.devices.size(); ++d)
    total[d] = std::accumulate(p.op_seconds[d].begin(), p.op_seconds[d].end(), 0.0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return total[static_cast<size_t>(a)] < total[static_cast<size_t>(b)]; });
  orders.push_back(order);
  return orders;
}

std::string memory_shortfall(const PlanProblem& p) {
  const uint64_t need = p.memory_of(0, p.n_ops);
  uint64_t have = 0;
  for (const PlanDevice& d : p.devices) have += d.memory_bytes > p.device_overhead_bytes ? d.memory_bytes - p.device_overhead_bytes : 0;
  const uint64_t weights_and_kv = need - p.device_overhead_bytes;
  std::string msg = "the model does not fit on these devices: it needs ";
  msg += std::to_string(weights_and_kv >> 20);
  msg += " MiB for weights and KV cache";
  if (have < weights_and_kv) {
    msg += ", the devices offer ";
    msg += std::to_string(have >> 20);
    msg += " MiB after a ";
    msg += std::to_string(p.device_overhead_bytes >> 20);
    msg += " MiB working margin each: ";
    msg += std::to_string((weights_and_kv - have + (1 << 20) - 1) >> 20);
    msg += " MiB missing";
  } else {
    uint64_t largest = 0;
    int at = 0;
    for (int i = 0; i < p.n_ops; ++i)
      if (p.op_memory[static_cast<size_t>(i)] > largest) largest = p.op_memory[static_cast<size_t>(i)], at = i;
    msg += "; in total there would be room, but no device can hold op '";
    msg += p.op_names[static_cast<size_t>(at)];
    msg += "' (";
    msg += std::to_string(largest >> 20);
    msg += " MiB) together with its neighbours";
  }
  return msg;
}

Expected<Plan> plan_optimized(const PlanProblem& problem, Objective objective, Solver solver) {
  if (problem.devices.empty()) return Status::error("no devices to plan for");
  PlanProblem p = problem;
  if (objective == Objective::kEnergy && p.latency_bound_s <= 0) {
    // No bound given: allow half again the fastest plan's latency.
    LINGUA_ASSIGN_OR_RETURN(Plan fastest, plan_optimized(problem, Objective::kLatency, solver));
    p.latency_bound_s = 1.5 * fastest.latency_s;
  }
  const SegmentTables tables(p);
  OrderResult best;
  best.value = kInf;
  for (const auto& order : candidate_orders(p)) {
    OrderResult r;
    if (solver == Solver::kMilp) {
      LINGUA_ASSIGN_OR_RETURN(r, solve_order_milp(p, tables, order, objective, best.value));
    } else if (objective == Objective::kEnergy) {
      r = solve_order_energy_dp(p, tables, order);
    } else {
      r = solve_order_dp(p, tables, order, objective);
    }
    if (r.value < best.value - 1e-12) best = std::move(r);
  }
  if (best.value == kInf) {
    if (objective == Objective::kEnergy && plan_optimized(problem, Objective::kLatency, Solver::kDp))
      return Status::error("no plan meets the latency bound of " + std::to_string(p.latency_bound_s * 1e3) +
                           " ms; the fastest possible is slower");
    return Status::error(memory_shortfall(p));
  }
  std::vector<Assignment> segments;
  for (const auto& s : best.segments) segments.push_back({s.device, s.first_op, s.last_op});
  Plan plan = evaluate_plan(p, "optimized", std::move(segments));
  plan.note = solver == Solver::kDp ? "dynamic program" : "MILP (GLPK)";
  if (objective == Objective::kEnergy) plan.note += ", latency bound " + std::to_string(p.latency_bound_s * 1e3).substr(0, 6) + " ms";
  return plan;
}

}  // namespace lingua
