// Internal to src/plan: what the DP and the MILP share — per-segment lookup tables and the
// result of optimizing one device order.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "plan/planner.h"

namespace lingua {

// All orders are tried up to this many devices; beyond, one speed-sorted order.
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

// Ops [b, e) as one stage on device d, priced as every solver and evaluate_plan price it: compute
// seconds, and link seconds to receive the segment's inputs. Every device that takes part pays the
// link latency, the first one too, as evaluate_plan counts it.
struct StageCost {
  double compute, link;
};
inline bool stage_fits(const PlanProblem& p, const SegmentTables& t, int d, int b, int e) {
  return t.memory(b, e) + p.device_overhead_bytes <= p.devices[static_cast<size_t>(d)].memory_bytes;
}
inline StageCost stage_cost(const PlanProblem& p, const SegmentTables& t, int d, int b, int e) {
  const auto& sec = t.seconds_prefix[static_cast<size_t>(d)];
  return {sec[static_cast<size_t>(e)] - sec[static_cast<size_t>(b)], p.link_seconds(t.bytes_into(b, e))};
}

struct OrderSegment {
  int device, first_op, last_op;
};
struct OrderResult {
  double value = 0;  // objective: latency or period in seconds, or joules; +inf when nothing fits
  std::vector<OrderSegment> segments;
};

OrderResult solve_order_dp(const PlanProblem& p, const SegmentTables& t, const std::vector<int>& order, Objective o);
OrderResult solve_order_energy_dp(const PlanProblem& p, const SegmentTables& t, const std::vector<int>& order);
// `cutoff`: the best value other orders reached; a plan of this order that is no better may be
// left out (value +inf then).
Expected<OrderResult> solve_order_milp(const PlanProblem& p, const SegmentTables& t, const std::vector<int>& order,
                                       Objective o, double cutoff);
std::vector<std::vector<int>> candidate_orders(const PlanProblem& p);
std::string memory_shortfall(const PlanProblem& p);

}  // namespace lingua
