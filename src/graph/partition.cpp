// Partitions (explicit, whole, cost-balanced by a linear-partition DP) and the transmission map.
#include "graph/partition.h"

#include <algorithm>
#include <limits>
#include <set>

namespace lingua {

Partition Partition::whole(const Graph& graph) {
  Partition p;
  p.segments_.push_back({0, graph.size() - 1});
  return p;
}

Expected<Partition> Partition::from_starts(const Graph& graph, const std::vector<int>& starts) {
  Partition p;
  int first = 0;
  for (int s : starts) {
    if (s <= first || s >= graph.size())
      return Status::error("cannot start a segment at op " + std::to_string(s) + ": split points must increase within 1.." +
                           std::to_string(graph.size() - 1));
    p.segments_.push_back({first, s - 1});
    first = s;
  }
  p.segments_.push_back({first, graph.size() - 1});
  return p;
}

Partition Partition::balanced(const Graph& graph, const std::vector<double>& op_cost, int k) {
  const int n = graph.size();
  k = std::clamp(k, 1, n);
  std::vector<double> prefix(static_cast<size_t>(n) + 1, 0.0);
  for (int i = 0; i < n; ++i) prefix[static_cast<size_t>(i) + 1] = prefix[static_cast<size_t>(i)] + op_cost[static_cast<size_t>(i)];
  auto cost = [&](int a, int b) { return prefix[static_cast<size_t>(b)] - prefix[static_cast<size_t>(a)]; };  // ops [a, b)
  // best[j][i]: smallest possible largest segment cost splitting ops [0, i) into j segments.
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<std::vector<double>> best(static_cast<size_t>(k) + 1, std::vector<double>(static_cast<size_t>(n) + 1, inf));
  std::vector<std::vector<int>> cut(static_cast<size_t>(k) + 1, std::vector<int>(static_cast<size_t>(n) + 1, 0));
  best[0][0] = 0;
  for (int j = 1; j <= k; ++j)
    for (int i = j; i <= n; ++i)
      for (int c = j - 1; c < i; ++c) {
        const double v = std::max(best[static_cast<size_t>(j) - 1][static_cast<size_t>(c)], cost(c, i));
        if (v < best[static_cast<size_t>(j)][static_cast<size_t>(i)]) {
          best[static_cast<size_t>(j)][static_cast<size_t>(i)] = v;
          cut[static_cast<size_t>(j)][static_cast<size_t>(i)] = c;
        }
      }
  std::vector<int> starts;
  for (int j = k, i = n; j > 1; --j) {
    i = cut[static_cast<size_t>(j)][static_cast<size_t>(i)];
    starts.push_back(i);
  }
  std::reverse(starts.begin(), starts.end());
  return from_starts(graph, starts).value();
}

int Partition::segment_of(int op) const {
  for (int s = 0; s < size(); ++s)
    if (op <= segments_[static_cast<size_t>(s)].last_op) return s;
  return size() - 1;
}

std::vector<int> Partition::starts() const {
  std::vector<int> out;
  for (size_t s = 1; s < segments_.size(); ++s) out.push_back(segments_[s].first_op);
  return out;
}

std::vector<Transmission> transmission_map(const Graph& graph, const Partition& partition) {
  std::vector<std::set<int>> readers(static_cast<size_t>(graph.size()));
  for (const Op& op : graph.ops()) {
    const int seg = partition.segment_of(op.id);
    for (int in : op.inputs)
      if (partition.segment_of(in) != seg) readers[static_cast<size_t>(in)].insert(seg);
  }
  std::vector<Transmission> map;
  for (const Op& op : graph.ops()) {
    const auto& to = readers[static_cast<size_t>(op.id)];
    if (to.empty()) continue;
    map.push_back({op.id, op.name, partition.segment_of(op.id), std::vector<int>(to.begin(), to.end()),
                   static_cast<uint64_t>(op.out_dim) * sizeof(float)});
  }
  return map;
}

std::vector<std::string> segment_tensors(const Graph& graph, const Segment& segment) {
  std::set<std::string> names;
  for (int id = segment.first_op; id <= segment.last_op; ++id)
    for (const WeightRef& w : graph.op(id).weights) names.insert(w.tensor);
  return {names.begin(), names.end()};
}

uint64_t segment_weight_bytes(const Graph& graph, const Segment& segment) {
  std::set<std::string> seen;
  uint64_t total = 0;
  for (int id = segment.first_op; id <= segment.last_op; ++id)
    for (const WeightRef& w : graph.op(id).weights)
      if (seen.insert(w.tensor).second) total += w.bytes;
  return total;
}

}  // namespace lingua
