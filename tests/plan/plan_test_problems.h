// Random planner problems and an exhaustive solver for the planner tests: small chain-shaped
// graphs with residual-like edges, and every sequence of devices and cut points priced by
// evaluate_plan, the ground truth the DP and the MILP must match.
#pragma once
#include <algorithm>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "plan/planner.h"

namespace lingua::plan_test {

// A random chain-shaped problem: every op reads the previous one, some also an earlier one (like
// residual connections), with random costs and memory.
inline PlanProblem random_problem(std::mt19937& rng, int n_ops, int n_devices) {
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
inline double brute_force(const PlanProblem& p, Objective o) {
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

inline double value(const Plan& plan, Objective o) {
  switch (o) {
    case Objective::kLatency: return plan.latency_s;
    case Objective::kThroughput: return plan.period_s;
    case Objective::kEnergy: return plan.energy_j;
  }
  return 0;
}

// The energy objective needs a latency bound: 1.3x the fastest plan's, so it binds sometimes.
inline void bound_latency(PlanProblem& p) {
  auto fastest = plan_optimized(p, Objective::kLatency, Solver::kDp);
  p.latency_bound_s = fastest ? 1.3 * fastest->latency_s : 1.0;
}

// Per-pair links, different each way: mostly near the default, some 30x slower or faster, and
// sometimes known head links, so the order of devices decides the price.
inline void random_links(std::mt19937& rng, PlanProblem& p) {
  const size_t n = p.devices.size();
  p.links = uniform_links(n, p.link);
  std::uniform_real_distribution<double> scale(0.5, 2.0);
  for (size_t a = 0; a < n; ++a)
    for (size_t b = 0; b < n; ++b) {
      if (a == b) continue;
      PlanLink& l = p.links[a][b];
      const unsigned kind = rng() % 4;
      const double f = kind == 0 ? 30.0 : kind == 1 ? 1.0 / 30 : scale(rng);
      l.bytes_per_s = p.link.bytes_per_s / f;
      l.latency_s = p.link.latency_s * f;
    }
  p.head_links.clear();
  if (rng() % 2)
    for (size_t d = 0; d < n; ++d) p.head_links.push_back(PlanLink{1e6, 1e-4 * scale(rng)});
}

}  // namespace lingua::plan_test
