// plan_optimized: the chain DP (chain_dp.cpp) or the MILP over the orders it names, the tables
// both share, and the message when nothing fits.
#include <algorithm>
#include <limits>
#include <numeric>

#include "plan/planner.h"
#include "plan/solvers.h"

namespace lingua {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();


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
    msg += " MiB missing (";
    for (size_t d = 0; d < p.devices.size(); ++d) {
      msg += d ? ", " : "";
      msg += p.devices[d].name + " has " + std::to_string(p.devices[d].memory_bytes >> 20) + " MiB";
    }
    msg += ")";
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
  LINGUA_TRY(problem.check_links());
  PlanProblem p = problem;
  if (objective == Objective::kEnergy && p.latency_bound_s <= 0) {
    // No bound given: allow half again the fastest plan's latency.
    LINGUA_ASSIGN_OR_RETURN(Plan fastest, plan_optimized(problem, Objective::kLatency, solver));
    p.latency_bound_s = 1.5 * fastest.latency_s;
  }
  const SegmentTables tables(p);
  OrderResult best = solve_chain_dp(p, tables, objective);
  if (solver == Solver::kMilp) {
    // Every order up to kAllOrdersUpTo devices; beyond, the order of the DP's chain, so the MILP
    // checks the cut points (and with few devices the order too).
    std::vector<std::vector<int>> orders;
    std::vector<int> order(p.devices.size());
    std::iota(order.begin(), order.end(), 0);
    if (order.size() <= kAllOrdersUpTo) {
      do orders.push_back(order);
      while (std::next_permutation(order.begin(), order.end()));
    } else {
      orders.push_back(best.order.empty() ? speed_order(p) : best.order);
    }
    best = OrderResult{};
    best.value = kInf;
    for (const auto& o : orders) {
      LINGUA_ASSIGN_OR_RETURN(OrderResult r, solve_order_milp(p, tables, o, objective, best.value));
      if (r.value < best.value - 1e-12) best = std::move(r);
    }
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
