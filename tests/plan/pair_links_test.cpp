// Per-pair links in the planner: the chain search prices the link of each pair that is adjacent
// in the chain, so it finds the order that avoids a slow pair; the Held-Karp DP equals brute force
// over every order, the DP equals the MILP for a fixed order, and the cluster takes the file's
// pairs by name over measurements.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "plan/cluster.h"
#include "plan/devices_file.h"
#include "plan/planner.h"
#include "plan/solvers.h"
#include "plan_test_problems.h"

namespace lingua {
namespace {
using namespace plan_test;  // NOLINT: the shared helpers of this folder

bool adjacent(const Plan& plan, int x, int y) {
  for (size_t i = 1; i < plan.assignments.size(); ++i) {
    const int a = plan.assignments[i - 1].device, b = plan.assignments[i].device;
    if ((a == x && b == y) || (a == y && b == x)) return true;
  }
  return false;
}

// Three equal devices that must all take part (each holds 40% of the model), with the link between
// devices 0 and 1 a thousand times slower than the others: the best chain puts device 2 between
// them, and the file order 0, 1, 2 with the same cuts is slower.
TEST(PairLinks, BestChainAvoidsASlowPair) {
  std::mt19937 rng(21);
  PlanProblem p = random_problem(rng, 24, 3);
  const uint64_t total = std::accumulate(p.op_memory.begin(), p.op_memory.end(), uint64_t{0});
  for (size_t d = 0; d < 3; ++d) {
    p.op_seconds[d] = p.op_seconds[0];
    p.devices[d].memory_bytes = p.device_overhead_bytes + total * 4 / 10;
  }
  p.links = uniform_links(3, p.link);
  p.links[0][1] = p.links[1][0] = PlanLink{p.link.bytes_per_s / 1000, p.link.latency_s * 1000};
  for (Objective o : {Objective::kLatency, Objective::kThroughput}) {
    for (Solver s : {Solver::kDp, Solver::kMilp}) {
      auto plan = plan_optimized(p, o, s);
      ASSERT_TRUE(plan) << plan.error();
      ASSERT_EQ(plan->assignments.size(), 3u) << "every device is needed for memory";
      EXPECT_FALSE(adjacent(*plan, 0, 1)) << objective_name(o);
      EXPECT_EQ(plan->assignments[1].device, 2) << objective_name(o);
      // The same cut points in file order: the slow pair is adjacent and the plan is slower.
      std::vector<Assignment> naive = plan->assignments;
      for (int i = 0; i < 3; ++i) naive[static_cast<size_t>(i)].device = i;
      const Plan in_file_order = evaluate_plan(p, "naive", naive);
      ASSERT_TRUE(in_file_order.feasible);
      EXPECT_GT(value(in_file_order, o), 10 * value(*plan, o)) << objective_name(o);
    }
  }
  // With uniform links the file order is as good as any: the slow pair was the reason.
  p.links = uniform_links(3, p.link);
  auto uniform = plan_optimized(p, Objective::kLatency, Solver::kDp);
  ASSERT_TRUE(uniform);
  std::vector<Assignment> naive = uniform->assignments;
  for (int i = 0; i < 3; ++i) naive[static_cast<size_t>(i)].device = i;
  EXPECT_NEAR(evaluate_plan(p, "naive", naive).latency_s, uniform->latency_s, 1e-12);
}

// Every sequence of distinct devices and every cut, priced by evaluate_plan with random pair
// links (and sometimes head links): the DP over all orders finds the same optimum.
TEST(PairLinks, DpEqualsBruteForceOverAllOrders) {
  std::mt19937 rng(29);
  for (int trial = 0; trial < 30; ++trial) {
    const int devices = 2 + trial % 4;  // 2..5
    PlanProblem p = random_problem(rng, devices >= 5 ? 6 : 7 + trial % 2, devices);
    random_links(rng, p);
    bound_latency(p);
    for (Objective o : {Objective::kLatency, Objective::kThroughput, Objective::kEnergy}) {
      const double want = brute_force(p, o);
      auto dp = plan_optimized(p, o, Solver::kDp);
      if (std::isinf(want)) {
        EXPECT_FALSE(dp) << "trial " << trial << " " << objective_name(o);
        continue;
      }
      ASSERT_TRUE(dp) << "trial " << trial << " " << objective_name(o) << ": " << dp.error();
      EXPECT_TRUE(dp->feasible);
      EXPECT_NEAR(value(*dp, o), want, 1e-9 * want) << "trial " << trial << " " << objective_name(o);
    }
  }
}

// For one given order (devices may still be left out) the DP and the MILP, with its jump arcs for
// per-pair links, find the same optimum.
TEST(PairLinks, DpEqualsMilpForAFixedOrder) {
  std::mt19937 rng(31);
  for (int trial = 0; trial < 12; ++trial) {
    const int devices = 3 + trial % 4;  // 3..6
    PlanProblem p = random_problem(rng, 16 + 4 * (trial % 3), devices);
    random_links(rng, p);
    bound_latency(p);
    const SegmentTables tables(p);
    std::vector<int> order(static_cast<size_t>(devices));
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    for (Objective o : {Objective::kLatency, Objective::kThroughput, Objective::kEnergy}) {
      const OrderResult dp = solve_order_dp(p, tables, order, o);
      auto milp = solve_order_milp(p, tables, order, o, std::numeric_limits<double>::infinity());
      ASSERT_TRUE(milp) << milp.error();
      if (std::isinf(dp.value)) {
        EXPECT_TRUE(std::isinf(milp->value)) << "trial " << trial << " " << objective_name(o);
        continue;
      }
      EXPECT_NEAR(milp->value, dp.value, 1e-7 * dp.value) << "trial " << trial << " " << objective_name(o);
      // Both plans follow the order and evaluate_plan prices them at their value.
      const OrderResult& from_milp = *milp;
      for (const OrderResult* r : {&dp, &from_milp}) {
        std::vector<Assignment> segments;
        for (const OrderSegment& s : r->segments) segments.push_back({s.device, s.first_op, s.last_op});
        const Plan plan = evaluate_plan(p, "x", segments);
        EXPECT_NEAR(value(plan, o), r->value, 1e-9 * r->value) << "trial " << trial << " " << objective_name(o);
        size_t at = 0;
        for (const OrderSegment& s : r->segments) {
          while (at < order.size() && order[at] != s.device) ++at;
          EXPECT_LT(at, order.size()) << "device " << s.device << " out of order";
        }
      }
    }
  }
}

// Beyond the exact limit the heuristic still prices pairs: on 10 devices with random pair links it
// is never worse than the speed order alone, and the MILP on its order agrees.
TEST(PairLinks, HeuristicBeyondTheExactLimitImprovesOnTheSpeedOrder) {
  std::mt19937 rng(37);
  PlanProblem p = random_problem(rng, 30, 10);
  random_links(rng, p);
  const SegmentTables tables(p);
  for (Objective o : {Objective::kLatency, Objective::kThroughput}) {
    const OrderResult speed = solve_order_dp(p, tables, speed_order(p), o);
    auto plan = plan_optimized(p, o, Solver::kDp);
    ASSERT_TRUE(plan) << plan.error();
    EXPECT_LE(value(*plan, o), speed.value * (1 + 1e-12)) << objective_name(o);
    auto milp = plan_optimized(p, o, Solver::kMilp);
    ASSERT_TRUE(milp) << milp.error();
    EXPECT_NEAR(value(*milp, o), value(*plan, o), 1e-7 * value(*plan, o)) << objective_name(o);
  }
}

TEST(PairLinks, HeadLinkLatencyIsPaidByTheFirstSegmentOnly) {
  std::mt19937 rng(41);
  PlanProblem p = random_problem(rng, 10, 2);
  const Plan without = evaluate_plan(p, "x", {{0, 0, 4}, {1, 5, 9}});
  EXPECT_EQ(without.assignments[0].link_s, 0.0);
  p.head_links = {PlanLink{1e6, 0.25}, PlanLink{1e6, 0.5}};
  const Plan with = evaluate_plan(p, "x", {{0, 0, 4}, {1, 5, 9}});
  EXPECT_DOUBLE_EQ(with.assignments[0].link_s, 0.25);
  EXPECT_DOUBLE_EQ(with.assignments[1].link_s, without.assignments[1].link_s);
  EXPECT_DOUBLE_EQ(p.link_seconds(PlanProblem::kHead, 1, 0), 0.5);
}

TEST(PairLinks, BadLinkMatrixIsRefusedByName) {
  std::mt19937 rng(43);
  PlanProblem p = random_problem(rng, 8, 3);
  p.links = uniform_links(2, p.link);
  auto plan = plan_optimized(p, Objective::kLatency, Solver::kDp);
  ASSERT_FALSE(plan);
  EXPECT_NE(plan.error().find("2 rows for 3 devices"), std::string::npos) << plan.error();
  p.links = uniform_links(3, p.link);
  p.links[2][0].bytes_per_s = 0;
  plan = plan_optimized(p, Objective::kLatency, Solver::kDp);
  ASSERT_FALSE(plan);
  EXPECT_NE(plan.error().find("from device 'd2' to device 'd0'"), std::string::npos) << plan.error();
}

Cluster three_device_cluster() {
  Cluster c;
  for (const char* name : {"a", "b", "c"}) {
    PlanDevice d;
    d.name = name;
    c.devices.push_back(d);
  }
  c.link = PlanLink{100e6 / 8, 0.005};
  return c;
}

TEST(PairLinks, FileLinksApplyByNameAndWinOverMeasurements) {
  auto file = parse_devices_yaml(
      "devices:\n  - {name: a, memory: 1GiB}\n  - {name: b, memory: 1GiB}\n  - {name: c, memory: 1GiB}\n"
      "links:\n  default: {bandwidth: 100Mbit/s, latency: 5ms}\n  \"c <-> a\": {bandwidth: 1Mbit/s, latency: 80ms}\n",
      "f.yaml");
  ASSERT_TRUE(file) << file.error();
  Cluster c = three_device_cluster();
  ASSERT_TRUE(apply_file_links(c, *file).is_ok());
  for (auto [x, y] : {std::pair{0, 2}, std::pair{2, 0}}) {
    EXPECT_DOUBLE_EQ(c.links[static_cast<size_t>(x)][static_cast<size_t>(y)].bytes_per_s, 1e6 / 8);
    EXPECT_DOUBLE_EQ(c.links[static_cast<size_t>(x)][static_cast<size_t>(y)].latency_s, 0.08);
    EXPECT_EQ(c.link_sources[static_cast<size_t>(x)][static_cast<size_t>(y)], kLinkGiven);
  }
  EXPECT_EQ(c.links[0][1], c.link);
  EXPECT_EQ(c.link_sources[0][1], kLinkDefault);
  ASSERT_FALSE(c.notes.empty());
  EXPECT_NE(c.notes.back().find("c <-> a"), std::string::npos) << c.notes.back();
  EXPECT_EQ(c.notes.back().find("not modelled"), std::string::npos);

  // A measurement replaces the default, not the file's pair.
  ASSERT_TRUE(set_measured_link(c, "a", "b", 0.002, 50e6).is_ok());
  EXPECT_EQ(c.links[0][1], (PlanLink{50e6, 0.002}));
  EXPECT_EQ(c.link_sources[0][1], kLinkMeasured);
  EXPECT_EQ(c.links[1][0], c.link) << "the other direction is measured on its own";
  ASSERT_TRUE(set_measured_link(c, "a", "c", 0.001, 1e9).is_ok());
  EXPECT_DOUBLE_EQ(c.links[0][2].latency_s, 0.08);
  EXPECT_EQ(c.link_sources[0][2], kLinkGiven);

  Status bad = set_measured_link(c, "a", "ghost", 0.001, 1e9);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.message().find("unknown device 'ghost'"), std::string::npos) << bad.message();
  bad = set_measured_link(c, "a", "b", 0.001, 0.0);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.message().find("bandwidth"), std::string::npos) << bad.message();

  ASSERT_TRUE(set_head_link(c, "b", 0.003, 1e8).is_ok());
  ASSERT_EQ(c.head_links.size(), 3u);
  EXPECT_DOUBLE_EQ(c.head_links[1].latency_s, 0.003);
  EXPECT_DOUBLE_EQ(c.head_links[0].latency_s, 0.0);
  EXPECT_FALSE(set_head_link(c, "nobody", 0.003, 1e8).is_ok());
}

TEST(PairLinks, ALinkToAnUnknownDeviceIsRefusedNamingIt) {
  auto file = parse_devices_yaml("devices:\n  - {name: a, memory: 1GiB}\n  - {name: b, memory: 1GiB}\n"
                                 "links:\n  \"a <-> phantom\": {latency: 3ms}\n",
                                 "f.yaml");
  ASSERT_FALSE(file);
  EXPECT_NE(file.error().find("f.yaml:5:"), std::string::npos) << file.error();
  EXPECT_NE(file.error().find("unknown device 'phantom'"), std::string::npos) << file.error();
  // A valid file applied to a cluster without that device (devices changed since) is refused too.
  auto other = parse_devices_yaml("devices:\n  - {name: a, memory: 1GiB}\n  - {name: d, memory: 1GiB}\n"
                                  "links:\n  \"a <-> d\": {latency: 3ms}\n",
                                  "g.yaml");
  ASSERT_TRUE(other) << other.error();
  Cluster c = three_device_cluster();
  const Status st = apply_file_links(c, *other);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("unknown device 'd'"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace lingua
