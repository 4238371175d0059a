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

struct OrderSegment {
  int device, first_op, last_op;
};
struct OrderResult {
  double value = 0;  // objective: latency or period in seconds, or joules; +inf when nothing fits
  std::vector<OrderSegment> segments;
};

OrderResult solve_order_dp(const PlanProblem& p, const SegmentTables& t, const std::vector<int>& order, Objective o);
OrderResult solve_order_energy_dp(const PlanProblem& p, const SegmentTables& t, const std::vector<int>& order);
Expected<OrderResult> solve_order_milp(const PlanProblem& p, const SegmentTables& t, const std::vector<int>& order,
                                       Objective o);
std::vector<std::vector<int>> candidate_orders(const PlanProblem& p);
std::string memory_shortfall(const PlanProblem& p);

}  // namespace lingua
