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

namespace lingua {
namespace {

// A random chain-shaped problem: every op reads the previous one, some also an earlier one (like
// residual connections), with random costs and memory.
PlanProblem random_problem(std::mt19937& rng, int n_ops, int n_devices) {
  std::uniform_real_distribution<double> sec(1e-4, 1e-3), mem(1.0, 10.0), speed(1.0, 4.0);
  std::uniform_int_distribution<int> bytes(1, 64);
  PlanProblem p;
  p.n_ops = n_ops;
  p.link = PlanLink{1e6, 1e-4};
  p.device_overhead_bytes = 1 << 20;
  p.consumers.resize(static_cast<size_t>(n_ops));
  std::vector<double> base;
  for (int i = 0; i < n_ops; ++i) {
    base.push_back(sec(rng));
    p.op_memory.push_back(static_cast<uint64_t>(mem(rng) * (1 << 20)));
    p.out_bytes.push_back(static_cast<uint64_t>(bytes(rng)) * 1024);
    std::string name = "op";
    name += std::to_string(i);
    p.op_names.push_back(name);
    if (i > 0) p.consumers[static_cast<size_t>(i) - 1].push_back(i);
    if (i > 2 && rng() % 3 == 0) p.consumers[static_cast<size_t>(i) - 3].push_back(i);
  }
  for (auto& c : p.consumers) std::sort(c.begin(), c.end());
  uint64_t total = std::accumulate(p.op_memory.begin(), p.op_memory.end(), uint64_t{0});
  for (int d = 0; d < n_devices; ++d) {
    PlanDevice dev;
    dev.name = 'd';
    dev.name += std::to_string(d);
    // Between a third and all of the model each, so some instances need two or three devices.
    dev.memory_bytes = p.device_overhead_bytes + static_cast<uint64_t>(static_cast<double>(total) * (0.35 + 0.7 * (rng() % 100) / 100.0));
    dev.power_busy_w = 1.0 + static_cast<double>(rng() % 60) / 10.0;
    dev.power_idle_w = 0.3;
    dev.battery = rng() % 2 ? -1.0 : 0.1 + static_cast<double>(rng() % 90) / 100.0;
    p.devices.push_back(dev);
    const double s = speed(rng);
    std::vector<double> per_op;
    for (double b : base) per_op.push_back(b * s);
    p.op_seconds.push_back(per_op);
  }
  return p;
}

// Every sequence of distinct devices and every way to cut the ops into that many ranges.
double brute_force(const PlanProblem& p, Objective o) {
  double best = std::numeric_limits<double>::infinity();
  const int n = p.n_ops, d = static_cast<int>(p.devices.size());
  std::vector<int> devices;
  std::vector<char> used(static_cast<size_t>(d), 0);
  std::function<void(int, std::vector<Assignment>&)> place = [&](int first, std::vector<Assignment>& segs) {
    if (first == n) {
      const Plan plan = evaluate_plan(p, "x", segs);
      if (!plan.feasible) return;
      if (o == Objective::kEnergy) {
        if (plan.latency_s <= p.latency_bound_s) best = std::min(best, plan.energy_j);
      } else {
        best = std::min(best, o == Objective::kLatency ? plan.latency_s : plan.period_s);
      }
      return;
    }
    for (int dev = 0; dev < d; ++dev) {
      if (used[static_cast<size_t>(dev)]) continue;
      used[static_cast<size_t>(dev)] = 1;
      for (int last = first; last < n; ++last) {
        segs.push_back({dev, first, last});
        place(last + 1, segs);
        segs.pop_back();
      }
      used[static_cast<size_t>(dev)] = 0;
    }
  };
  std::vector<Assignment> segs;
  place(0, segs);
  return best;
}

double value(const Plan& plan, Objective o) {
  switch (o) {
    case Objective::kLatency: return plan.latency_s;
    case Objective::kThroughput: return plan.period_s;
    case Objective::kEnergy: return plan.energy_j;
  }
  return 0;
}

// The energy objective needs a latency bound: 1.3x the fastest plan's, so it binds sometimes.
void bound_latency(PlanProblem& p) {
  auto fastest = plan_optimized(p, Objective::kLatency, Solver::kDp);
  p.latency_bound_s = fastest ? 1.3 * fastest->latency_s : 1.0;
}

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

// More devices than kAllOrdersUpTo: one order of up to 9 positions, so the MILP's LP starts from
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
