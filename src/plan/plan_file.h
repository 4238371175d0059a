// Plan files (`lingua plan --out PLAN.json`, read by `generate --plan`): a plan tied to the model it
// was made for, so a plan for another model is refused instead of cutting in the wrong places.
//
// Format (JSON): {"format": "lingua-plan", "version": 1, "model": "<path when written>",
//   "n_ops": N, "objective": "latency", "name": "optimized", "predicted_tokens_per_s": x,
//   "segments": [{"device": "name", "first_op": i, "last_op": j, "first_op_name": "...",
//                 "last_op_name": "...", "memory_bytes": m}]}
#pragma once
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/graph.h"
#include "plan/planner.h"

namespace lingua {

struct PlanFileSegment {
  std::string device;
  int first_op = 0, last_op = 0;
};

struct PlanFile {
  std::string name, objective;
  std::vector<PlanFileSegment> segments;
  std::vector<int> starts() const;  // first op of every segment but the first (a --split list)
};

// Like every output file (core/output_file.h): complete or not at all, and only over a regular file.
Status write_plan_file(const std::string& path, const std::string& model_path, const Graph& graph, const PlanProblem& p,
                       const Plan& plan, Objective objective);
// Reads and checks a plan against `graph`: same op count, segments contiguous from the first op
// to the last, op names as recorded.
Expected<PlanFile> read_plan_file(const std::string& path, const Graph& graph);

}  // namespace lingua
