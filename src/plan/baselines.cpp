// The plans the optimized one is compared with: blocks split evenly or by memory in file order
// (how people split a model by hand), and the best single device.
#include <algorithm>
#include <cstdio>
#include <numeric>

#include "plan/planner.h"
#include "plan/units.h"

namespace lingua {
namespace {

// Block index of an op named "blk.N....", or -1.
int block_of(const std::string& name) {
  int block = -1;
  if (std::sscanf(name.c_str(), "blk.%d.", &block) != 1) return -1;
  return block;
}

// Device d gets `blocks[d]` consecutive blocks, in device order; ops before the first block go to
// the first device, ops after the last block to the last device that has any.
Plan split_by_blocks(const PlanProblem& p, const Graph& graph, const std::vector<int>& blocks, std::string name) {
  std::vector<int> first_op_of_block;
  for (const Op& op : graph.ops()) {
    const int b = block_of(op.name);
    if (b >= 0 && b == static_cast<int>(first_op_of_block.size())) first_op_of_block.push_back(op.id);
  }
  const int n_blocks = static_cast<int>(first_op_of_block.size());
  std::vector<Assignment> segments;
  int block = 0;
  for (size_t d = 0; d < blocks.size(); ++d) {
    if (blocks[d] == 0) continue;
    const int first = segments.empty() ? 0 : first_op_of_block[static_cast<size_t>(block)];
    block += blocks[d];
    const int last = block >= n_blocks ? p.n_ops - 1 : first_op_of_block[static_cast<size_t>(block)] - 1;
    segments.push_back({static_cast<int>(d), first, last});
  }
  return evaluate_plan(p, std::move(name), std::move(segments));
}

// Splits `total` in proportion to `weights` (largest remainders).
std::vector<int> proportional(int total, const std::vector<double>& weights) {
  const double sum = std::accumulate(weights.begin(), weights.end(), 0.0);
  std::vector<int> out(weights.size());
  std::vector<std::pair<double, size_t>> remainders;
  int given = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    const double share = sum > 0 ? total * weights[i] / sum : 0.0;
    out[i] = static_cast<int>(share);
    given += out[i];
    remainders.push_back({share - out[i], i});
  }
  std::stable_sort(remainders.begin(), remainders.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t r = 0; given < total; ++r, ++given) ++out[remainders[r % remainders.size()].second];
  return out;
}

int count_blocks(const Graph& graph) {
  int n = 0;
  for (const Op& op : graph.ops()) n = std::max(n, block_of(op.name) + 1);
  return n;
}

}  // namespace

Plan plan_even(const PlanProblem& p, const Graph& graph) {
  return split_by_blocks(p, graph, proportional(count_blocks(graph), std::vector<double>(p.devices.size(), 1.0)), "even");
}

Plan plan_memory(const PlanProblem& p, const Graph& graph) {
  std::vector<double> memory;
  for (const PlanDevice& d : p.devices) memory.push_back(static_cast<double>(d.memory_bytes));
  return split_by_blocks(p, graph, proportional(count_blocks(graph), memory), "memory");
}

Expected<Plan> plan_single(const PlanProblem& p) {
  const uint64_t need = p.memory_of(0, p.n_ops);
  int best = -1;
  double best_seconds = 0;
  for (size_t d = 0; d < p.devices.size(); ++d) {
    if (p.devices[d].memory_bytes < need) continue;
    const double s = std::accumulate(p.op_seconds[d].begin(), p.op_seconds[d].end(), 0.0);
    if (best < 0 || s < best_seconds) best = static_cast<int>(d), best_seconds = s;
  }
  if (best < 0)
    return Status::error("no single device can hold the model (" + format_bytes(need) + " needed)");
  return evaluate_plan(p, "single", {{best, 0, p.n_ops - 1}});
}

}  // namespace lingua
