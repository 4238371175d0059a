// The assignment planner: which devices take part, in which order, and the contiguous op range
// each runs, priced by the cost model (compute per op per device, memory per op, the bytes the
// transmission map sends into each segment over the link of the pair that is adjacent in the
// chain). Solved exactly by a dynamic program over (devices used, last device, op boundary) and,
// for one order, as a MILP on GLPK; the two must agree. Also the baselines.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/cost_model.h"
#include "graph/graph.h"

namespace lingua {

// latency: one stream, time of a token through the chain. throughput: pipelined streams, the
// slowest stage. energy: joules per token above idle, each device's weighted by 1 / battery level,
// with the latency at most PlanProblem::latency_bound_s.
enum class Objective { kLatency, kThroughput, kEnergy };
const char* objective_name(Objective o);
Expected<Objective> parse_objective(const std::string& name);

struct PlanDevice {
  std::string name;
  uint64_t memory_bytes = 0;  // what the plan may use on it
  ComputeRates rates;         // effective rates (an emulated slowdown already divided in)
  double power_busy_w = 4.0;  // computing
  double power_idle_w = 0.5;  // waiting
  double battery = -1;        // 0..1, -1 = mains power
  // Energy weight: joules on a device at 20% battery count 5x; mains power counts 1x.
  double energy_weight() const { return battery < 0 ? 1.0 : 1.0 / std::max(0.05, battery); }
};

struct PlanLink {
  double bytes_per_s = 100e6 / 8;
  double latency_s = 0.005;
  bool operator==(const PlanLink& o) const { return bytes_per_s == o.bytes_per_s && latency_s == o.latency_s; }
};

// An n x n matrix of the same link (the diagonal is never priced).
std::vector<std::vector<PlanLink>> uniform_links(size_t n, PlanLink link);

// Everything the solvers see, precomputed once from the graph and the devices.
struct PlanProblem {
  int n_ops = 0;
  std::vector<PlanDevice> devices;
  static constexpr int kHead = -1;              // `from` of the first segment: the head sends it token ids
  PlanLink link;                                // the default: every pair when `links` is empty
  std::vector<std::vector<PlanLink>> links;     // [from][to] device indices; empty = all `link`
  std::vector<PlanLink> head_links;             // the head to each device; empty = not known (priced 0)
  std::vector<std::vector<double>> op_seconds;  // [device][op] predicted decode time
  std::vector<uint64_t> op_memory;              // weights the op reads + its KV cache at the context
  uint64_t device_overhead_bytes = 0;           // activations and margin every used device needs
  // Tensors crossing into a segment: for op p, its output's bytes per token and its consumers.
  std::vector<uint64_t> out_bytes;
  std::vector<std::vector<int>> consumers;
  std::vector<std::string> op_names;
  double latency_bound_s = 0;                   // energy objective: the largest latency allowed

  // Bytes a segment [b, e) receives per decode token: every tensor produced before b with a
  // reader in [b, e), once.
  uint64_t bytes_into(int b, int e) const;
  // The link from device `from` to device `to`; `from` = kHead needs known head_links.
  const PlanLink& link_between(int from, int to) const;
  // A segment's link time per decode token when device `from` runs the segment before it in the
  // chain: latency plus bytes / bandwidth of that pair's link. Every tensor the segment receives
  // is priced on that pair (see docs/planner.md). The first segment (from = kHead) receives only
  // token ids: free while the head's links are not known, their latency when they are. A segment
  // that receives nothing costs nothing.
  double link_seconds(int from, int to, uint64_t bytes_in) const;
  // True when every pair prices as `link` (the order of devices then matters less).
  bool links_uniform() const;
  // The link matrix and head links have the devices' size and positive bandwidths, non-negative
  // latencies; the error names the first that does not.
  Status check_links() const;
  uint64_t memory_of(int b, int e) const;  // ops [b, e) plus the per-device overhead
};

// `context`: KV positions each device holds; activations for `max_batch` tokens are budgeted.
PlanProblem make_plan_problem(const Graph& graph, const std::vector<OpCost>& costs, std::vector<PlanDevice> devices,
                              PlanLink link, int64_t context, int64_t max_batch = 64);

struct Assignment {
  int device = 0;  // index into PlanProblem::devices
  int first_op = 0, last_op = 0;
  uint64_t memory_bytes = 0;
  double compute_s = 0;  // per decode token
  double link_s = 0;     // receiving its inputs per decode token (latency + bytes / bandwidth)
};

struct Plan {
  std::string name;  // "optimized", "even", "memory", "single"
  std::vector<Assignment> assignments;  // in pipeline order
  double latency_s = 0;                 // one token through the chain
  double period_s = 0;                  // slowest stage (compute or link), with pipelining
  double energy_j = 0;                  // weighted joules per token above idle (energy objective)
  bool feasible = true;                 // every device within its memory
  std::string note;                     // why infeasible, or how it was found
  double tokens_per_s(Objective o) const;
};

// Prices a given assignment (used for every plan, so they compare like for like).
Plan evaluate_plan(const PlanProblem& p, std::string name, std::vector<Assignment> segments);

enum class Solver { kDp, kMilp };
// The optimum over device subsets and orders. The DP is exact over every order up to
// kExactOrdersUpTo devices (kExactEnergyOrdersUpTo for energy); beyond, it starts from devices in
// decreasing speed and improves the order by swaps. The MILP tries every order up to 4 devices,
// beyond that the order of the DP's chain (a cross-check of the cut points).
// Error when no subset of devices can hold the model: names the shortfall.
inline constexpr size_t kExactOrdersUpTo = 8;
inline constexpr size_t kExactEnergyOrdersUpTo = 5;  // 6 devices took 7 s on TinyLlama (docs/planner.md)
Expected<Plan> plan_optimized(const PlanProblem& p, Objective objective, Solver solver);

// Baselines: `even` gives every device the same number of transformer blocks, in file order;
// `memory` gives blocks in proportion to device memory; `single` the fastest device that holds
// it all (error when none does).
Plan plan_even(const PlanProblem& p, const Graph& graph);
Plan plan_memory(const PlanProblem& p, const Graph& graph);
Expected<Plan> plan_single(const PlanProblem& p);

}  // namespace lingua
