// The planner's solvers against each other and against brute force: on small random instances the
// DP, the MILP and exhaustive enumeration find the same optimum; on larger ones DP = MILP. Plus the
// behaviours users rely on: a slow device that is not needed is left out, an impossible cluster
// is reported with the shortfall, and the baselines split blocks as documented.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <random>

#include "plan/planner.h"
#include "plan_test_problems.h"

namespace lingua {
namespace {
using namespace plan_test;  // NOLINT: the shared helpers of this folder

TEST(Planner, DpMilpAndBruteForceAgreeOnSmallInstances) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 24; ++trial) {
    PlanProblem p = random_problem(rng, 6 + trial % 4, 2 + trial % 2);
    bound_latency(p);
    for (Objective o : {Objective::kLatency, Objective::kThroughput, Objective::kEnergy}) {
      const double want = brute_force(p, o);
      auto dp = plan_optimized(p, o, Solver::kDp);
      auto milp = plan_optimized(p, o, Solver::kMilp);
      if (std::isinf(want)) {
        EXPECT_FALSE(dp) << "trial " << trial;
        EXPECT_FALSE(milp) << "trial " << trial;
        continue;
      }
      ASSERT_TRUE(dp) << dp.error();
      ASSERT_TRUE(milp) << milp.error();
      EXPECT_TRUE(dp->feasible && milp->feasible);
      EXPECT_NEAR(value(*dp, o), want, 1e-9 * want) << "trial " << trial << " " << objective_name(o);
      if (o == Objective::kEnergy) {
        EXPECT_LE(dp->latency_s, p.latency_bound_s * (1 + 1e-12));
      }
      EXPECT_NEAR(value(*milp, o), want, 1e-7 * want) << "trial " << trial << " " << objective_name(o);
    }
  }
}

TEST(Planner, DpAndMilpAgreeOnLargerInstances) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 6; ++trial) {
    PlanProblem p = random_problem(rng, 30 + 10 * trial, 3);
    bound_latency(p);
    for (Objective o : {Objective::kLatency, Objective::kThroughput, Objective::kEnergy}) {
      auto dp = plan_optimized(p, o, Solver::kDp);
      auto milp = plan_optimized(p, o, Solver::kMilp);
      ASSERT_EQ(static_cast<bool>(dp), static_cast<bool>(milp)) << "trial " << trial;
      if (!dp) continue;
      EXPECT_NEAR(value(*dp, o), value(*milp, o), 1e-7 * value(*dp, o)) << "trial " << trial << " " << objective_name(o);
      // The plan covers every op once, in order.
      int next = 0;
      for (const Assignment& a : dp->assignments) {
        EXPECT_EQ(a.first_op, next);
        next = a.last_op + 1;
      }
      EXPECT_EQ(next, p.n_ops);
    }
  }
}

TEST(Planner, LeavesOutASlowDeviceThatIsNotNeeded) {
  std::mt19937 rng(3);
  PlanProblem p = random_problem(rng, 30, 3);
  const uint64_t total = std::accumulate(p.op_memory.begin(), p.op_memory.end(), uint64_t{0});
  // Two fast devices that together hold the model, and a third one 20x slower with room for all.
  for (int d = 0; d < 3; ++d) {
    p.op_seconds[static_cast<size_t>(d)] = p.op_seconds[0];
    p.devices[static_cast<size_t>(d)].memory_bytes = p.device_overhead_bytes + total * 6 / 10;
  }
  for (double& s : p.op_seconds[2]) s *= 20;
  p.devices[2].memory_bytes = p.device_overhead_bytes + total * 2;
  for (Objective o : {Objective::kLatency, Objective::kThroughput}) {
    for (Solver s : {Solver::kDp, Solver::kMilp}) {
      auto plan = plan_optimized(p, o, s);
      ASSERT_TRUE(plan) << plan.error();
      for (const Assignment& a : plan->assignments) EXPECT_NE(a.device, 2) << objective_name(o);
    }
  }
}

TEST(Planner, ImpossibleClusterNamesTheShortfall) {
  std::mt19937 rng(5);
  PlanProblem p = random_problem(rng, 12, 2);
  const uint64_t total = std::accumulate(p.op_memory.begin(), p.op_memory.end(), uint64_t{0});
  for (auto& d : p.devices) d.memory_bytes = p.device_overhead_bytes + total / 4;
  for (Solver s : {Solver::kDp, Solver::kMilp}) {
    auto plan = plan_optimized(p, Objective::kLatency, s);
    ASSERT_FALSE(plan);
    EXPECT_NE(plan.error().find("does not fit"), std::string::npos) << plan.error();
    EXPECT_NE(plan.error().find("MiB missing"), std::string::npos) << plan.error();
  }
  EXPECT_FALSE(plan_single(p));
}

// Energy prefers the device with the cheapest joules when the latency bound allows, and weighs a
// low battery: the same two devices with one at 10% battery flip the choice.
TEST(Planner, EnergyFollowsPowerAndBatteryWithinTheLatencyBound) {
  std::mt19937 rng(9);
  PlanProblem p = random_problem(rng, 20, 2);
  const uint64_t total = std::accumulate(p.op_memory.begin(), p.op_memory.end(), uint64_t{0});
  for (int d = 0; d < 2; ++d) {
    p.op_seconds[static_cast<size_t>(d)] = p.op_seconds[0];
    p.devices[static_cast<size_t>(d)].memory_bytes = p.device_overhead_bytes + total * 2;
    p.devices[static_cast<size_t>(d)].battery = -1;
  }
  p.devices[0].power_busy_w = 6.0;
  p.devices[1].power_busy_w = 3.0;
  for (Solver s : {Solver::kDp, Solver::kMilp}) {
    p.devices[1].battery = -1;
    p.latency_bound_s = 10.0;  // loose
    auto plan = plan_optimized(p, Objective::kEnergy, s);
    ASSERT_TRUE(plan) << plan.error();
    ASSERT_EQ(plan->assignments.size(), 1u);
    EXPECT_EQ(plan->assignments[0].device, 1) << "the 3 W device";
    p.devices[1].battery = 0.1;  // 3 W at 10% battery weighs as 30 W
    plan = plan_optimized(p, Objective::kEnergy, s);
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->assignments[0].device, 0);
    p.latency_bound_s = 1e-9;  // impossible (the MILP learns it from its LP: phase one)
    auto none = plan_optimized(p, Objective::kEnergy, s);
    ASSERT_FALSE(none);
    EXPECT_NE(none.error().find("latency bound"), std::string::npos) << none.error();
  }
}

// More devices than kAllOrdersUpTo: the MILP solves the DP's order of up to 9 positions, so its LP starts from
// a small part of its arcs (column generation), throughput adds cover rows, and the branch and
// bound must widen to the arcs the reduced costs do not exclude.
TEST(Planner, DpAndMilpAgreeWithManyDevices) {
  std::mt19937 rng(17);
  for (int trial = 0; trial < 4; ++trial) {
    PlanProblem p = random_problem(rng, 30 + 10 * trial, 6 + trial);
    bound_latency(p);
    for (Objective o : {Objective::kLatency, Objective::kThroughput, Objective::kEnergy}) {
      auto dp = plan_optimized(p, o, Solver::kDp);
      auto milp = plan_optimized(p, o, Solver::kMilp);
      ASSERT_EQ(static_cast<bool>(dp), static_cast<bool>(milp)) << "trial " << trial << " " << objective_name(o);
      if (!dp) continue;
      EXPECT_TRUE(milp->feasible);
      EXPECT_NEAR(value(*dp, o), value(*milp, o), 1e-7 * value(*dp, o)) << "trial " << trial << " " << objective_name(o);
      if (o == Objective::kEnergy) {
        EXPECT_LE(milp->latency_s, p.latency_bound_s * (1 + 1e-9));
      }
    }
  }
}

TEST(Planner, ObjectivesParseAndNameThemselves) {
  EXPECT_EQ(parse_objective("latency").value(), Objective::kLatency);
  EXPECT_EQ(parse_objective("throughput").value(), Objective::kThroughput);
  EXPECT_EQ(parse_objective("energy").value(), Objective::kEnergy);
  auto bad = parse_objective("speed");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("speed"), std::string::npos);
}

}  // namespace
}  // namespace lingua
