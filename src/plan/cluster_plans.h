// Every plan for one model on one devices file, priced alike: the optimized one and the
// baselines. What `lingua plan` prints and what `generate --devices` and `bench cluster` run.
#pragma once
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/graph.h"
#include "plan/cluster.h"
#include "plan/cluster_measurements.h"
#include "plan/devices_file.h"
#include "plan/planner.h"

namespace lingua {

struct ClusterPlans {
  Cluster cluster;
  PlanProblem problem;
  std::vector<Plan> plans;  // optimized, even, memory, then single when one device holds it all
  std::string single_note;  // why there is no single-device plan
  double solve_ms = 0;      // the optimized plan's solve time

  // The plan of that name ("optimized", "even", "memory", "single"); an error names why not.
  Expected<Plan> pick(const std::string& name) const;
};

struct ClusterPlanOptions {
  Objective objective = Objective::kLatency;
  Solver solver = Solver::kDp;
  int64_t context = 0;          // KV positions each device holds; 0 = the model's training context
  int64_t train_context = 2048; // the model's
  // KV positions a decode step is priced at: attention reads grow with it. 0 = half the context
  // (a long generation's average); a run that knows its length passes its own midpoint.
  int64_t decode_position = 0;
  double latency_bound_s = 0;   // energy objective; 0 = automatic
  bool refresh_profile = false;
  // What the head measured: workers' profiles (HELLO) and probed links; a figure the devices file
  // gives wins over it.
  ClusterMeasurements measured;
};

Expected<ClusterPlans> plan_cluster(const Graph& graph, const DevicesFile& devices, const ClusterPlanOptions& options);

}  // namespace lingua
