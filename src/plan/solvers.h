// Internal to src/plan: what the DP and the MILP share — per-segment lookup tables and the
// result of optimizing one device order.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "plan/planner.h"

namespace lingua {

// The MILP tries all orders up to this many devices; beyond, the order of the DP's chain.
inline constexpr size_t kAllOrdersUpTo = 4;

struct SegmentTables {
  explicit SegmentTables(const PlanProblem& p);
  int n;
  std::vector<std::vector<uint64_t>> bytes;        // bytes[b][e - b - 1]
  std::vector<uint64_t> memory_prefix;             // op memory, prefix sums
  std::vector<std::vector<double>> seconds_prefix; // [device] prefix sums of op seconds
  uint64_t bytes_into(int b, int e) const { return bytes[static_cast<size_t>(b)][static_cast<size_t>(e - b - 1)]; }
  uint64_t memory(int b, int e) const { return memory_prefix[static_cast<size_t>(e)] - memory_prefix[static_cast<size_t>(b)]; }
};

// Ops [b, e) as one stage on device d after device `from` (PlanProblem::kHead for the first
// stage), priced as every solver and evaluate_plan price it: compute seconds, and link seconds to
// receive the segment's inputs over the link from `from` to d.
struct StageCost {
  double compute, link;
};
inline bool stage_fits(const PlanProblem& p, const SegmentTables& t, int d, int b, int e) {
  return t.memory(b, e) + p.device_overhead_bytes <= p.devices[static_cast<size_t>(d)].memory_bytes;
}
inline double compute_seconds(const SegmentTables& t, int d, int b, int e) {
  const auto& sec = t.seconds_prefix[static_cast<size_t>(d)];
  return sec[static_cast<size_t>(e)] - sec[static_cast<size_t>(b)];
}
inline StageCost stage_cost(const PlanProblem& p, const SegmentTables& t, int from, int d, int b, int e) {
  return {compute_seconds(t, d, b, e), p.link_seconds(from, d, t.bytes_into(b, e))};
}

struct OrderSegment {
  int device, first_op, last_op;
};
struct OrderResult {
  double value = 0;  // objective: latency or period in seconds, or joules; +inf when nothing fits
  std::vector<OrderSegment> segments;
  std::vector<int> order;  // every device, in an order the segments follow (the MILP's cross-check order)
};

// chain_dp.cpp. The best chain whose devices follow `order` (devices may be left out), exactly.
OrderResult solve_order_dp(const PlanProblem& p, const SegmentTables& t, const std::vector<int>& order, Objective o);
// The best chain over every order and subset: exact up to kExactOrdersUpTo devices
// (kExactEnergyOrdersUpTo for energy); beyond, the heuristic of planner.h.
OrderResult solve_chain_dp(const PlanProblem& p, const SegmentTables& t, Objective o);
// Devices by decreasing speed (least total op seconds first).
std::vector<int> speed_order(const PlanProblem& p);
// `cutoff`: the best value other orders reached; a plan of this order that is no better may be
// left out (value +inf then).
Expected<OrderResult> solve_order_milp(const PlanProblem& p, const SegmentTables& t, const std::vector<int>& order,
                                       Objective o, double cutoff);
std::string memory_shortfall(const PlanProblem& p);

}  // namespace lingua
