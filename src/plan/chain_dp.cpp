// The exact chain search. With per-pair links a segment's price depends on the device before it,
// so the order of devices matters: a Held-Karp style dynamic program over (devices used, last
// device, op boundary) finds the best order, subset and cut points together; the same machinery
// over one given order serves the heuristic beyond the exact limit and the MILP's cross-check.
#include <algorithm>
#include <limits>
#include <numeric>

#include "plan/solvers.h"

namespace lingua {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int kHeadNode = -1;  // the chain's start: nothing placed, the head's side of the first link
// The swap search beyond the exact limit stops after this many rounds without trying more.
constexpr int kSwapRounds = 3;

// Chains for latency and throughput: one best value per (node, boundary). A node is "the last
// segment runs on this device, reached in this way" (a set of devices in Held-Karp, a position in
// an order); `extend` adds one segment on the target's device after any of the given nodes.
class ScalarChains {
 public:
  ScalarChains(const PlanProblem& p, const SegmentTables& t, Objective o) : p_(p), t_(t), o_(o) {}

  int add_node(int device) {
    devices_.push_back(device);
    cells_.emplace_back(static_cast<size_t>(p_.n_ops) + 1);
    live_.push_back(0);
    return static_cast<int>(devices_.size()) - 1;
  }

  void extend(const std::vector<int>& preds, int target) {
    const int n = p_.n_ops, d = devices_[static_cast<size_t>(target)];
    std::vector<int> live;
    for (int q : preds)
      if (q == kHeadNode || live_[static_cast<size_t>(q)]) live.push_back(q);
    if (live.empty()) return;
    auto& out = cells_[static_cast<size_t>(target)];
    std::vector<std::pair<double, int>> ends;  // (value, node) of the chains ending at b
    for (int b = 0; b < n; ++b) {
      ends.clear();
      for (int q : live) {
        const double v = q == kHeadNode ? (b == 0 ? 0.0 : kInf) : cells_[static_cast<size_t>(q)][static_cast<size_t>(b)].value;
        if (v < kInf) ends.push_back({v, q});
      }
      if (ends.empty()) continue;
      // The bytes into [b, e) change at a few e only (where a crossing tensor's first reader is);
      // the best predecessor is chosen again only there, so the loop over e adds compute alone.
      uint64_t bytes = std::numeric_limits<uint64_t>::max();
      double g = kInf;
      int arg = kHeadNode;
      for (int e = b + 1; e <= n; ++e) {
        if (!stage_fits(p_, t_, d, b, e)) break;  // memory only grows with e
        if (t_.bytes_into(b, e) != bytes) {
          bytes = t_.bytes_into(b, e);
          g = kInf;
          for (const auto& [v, q] : ends) {
            const double c = combine(v, p_.link_seconds(device_of(q), d, bytes));
            if (c < g) g = c, arg = q;
          }
        }
        const double total = combine(g, compute_seconds(t_, d, b, e));
        Cell& cell = out[static_cast<size_t>(e)];
        if (total < cell.value) {
          cell = {total, arg, b};
          live_[static_cast<size_t>(target)] = 1;
        }
      }
    }
  }

  // The best chain over all nodes that covers every op; value +inf when none does.
  OrderResult best() const {
    OrderResult r;
    r.value = kInf;
    int node = kHeadNode;
    const auto n = static_cast<size_t>(p_.n_ops);
    for (size_t q = 0; q < cells_.size(); ++q)
      if (cells_[q][n].value < r.value) r.value = cells_[q][n].value, node = static_cast<int>(q);
    for (int e = p_.n_ops; node != kHeadNode;) {
      const Cell& c = cells_[static_cast<size_t>(node)][static_cast<size_t>(e)];
      r.segments.push_back({devices_[static_cast<size_t>(node)], c.b, e - 1});
      node = c.prev;
      e = c.b;
    }
    std::reverse(r.segments.begin(), r.segments.end());
    return r;
  }

 private:
  struct Cell {
    double value = kInf;
    int prev = kHeadNode, b = 0;  // the node and boundary the last segment came from
  };
  double combine(double so_far, double stage) const {
    return o_ == Objective::kLatency ? so_far + stage : std::max(so_far, stage);
  }
  int device_of(int node) const { return node == kHeadNode ? PlanProblem::kHead : devices_[static_cast<size_t>(node)]; }

  const PlanProblem& p_;
  const SegmentTables& t_;
  const Objective o_;
  std::vector<int> devices_;
  std::vector<std::vector<Cell>> cells_;  // [node][boundary]
  std::vector<char> live_;                // the node has a finite cell
};

// Energy under a latency bound is a resource-constrained shortest path: every (node, boundary)
// keeps its Pareto front of (energy, latency) labels instead of one value, which keeps it exact.
class EnergyChains {
 public:
  EnergyChains(const PlanProblem& p, const SegmentTables& t) : p_(p), t_(t) {
    arena_.push_back({0.0, 0.0, kHeadNode, 0, 0, -1});  // the empty chain
    // Bounds on what the ops from e on add at least (each op on its cheapest device, no links):
    // a label that cannot finish within the latency bound, or below a known plan's energy, is
    // dropped. This keeps the search exact and cuts the labels many times over.
    const auto n = static_cast<size_t>(p.n_ops);
    rest_latency_.assign(n + 1, 0.0);
    rest_energy_.assign(n + 1, 0.0);
    for (size_t i = n; i-- > 0;) {
      double fastest = kInf, cheapest = kInf;
      for (size_t d = 0; d < p.devices.size(); ++d) {
        fastest = std::min(fastest, p.op_seconds[d][i]);
        cheapest = std::min(cheapest, joules_per_s(static_cast<int>(d)) * p.op_seconds[d][i]);
      }
      rest_latency_[i] = rest_latency_[i + 1] + fastest;
      rest_energy_[i] = rest_energy_[i + 1] + std::max(0.0, cheapest);
    }
  }

  // A plan of this energy is known: labels that cannot beat it are dropped.
  void set_upper_bound(double joules) { upper_ = joules * (1 + 1e-9) + 1e-15; }

  int add_node(int device) {
    devices_.push_back(device);
    labels_.emplace_back(static_cast<size_t>(p_.n_ops) + 1);
    return static_cast<int>(devices_.size()) - 1;
  }

  void extend(const std::vector<int>& preds, int target) {
    const int n = p_.n_ops, d = devices_[static_cast<size_t>(target)];
    const double jps = joules_per_s(d);
    // Candidates stay out of the arena until the Pareto filter keeps them: most do not survive.
    std::vector<std::vector<Label>> cand(static_cast<size_t>(n) + 1);
    std::vector<int> ends;
    for (int b = 0; b < n; ++b) {
      ends.clear();
      for (int q : preds) {
        if (q == kHeadNode) {
          if (b == 0) ends.push_back(0);
        } else {
          const auto& at = labels_[static_cast<size_t>(q)][static_cast<size_t>(b)];
          ends.insert(ends.end(), at.begin(), at.end());
        }
      }
      if (ends.empty()) continue;
      for (int e = b + 1; e <= n; ++e) {
        if (!stage_fits(p_, t_, d, b, e)) break;
        const double compute = compute_seconds(t_, d, b, e);
        const uint64_t bytes = t_.bytes_into(b, e);
        auto& here = cand[static_cast<size_t>(e)];
        for (int id : ends) {
          const Label prev = arena_[static_cast<size_t>(id)];
          const double latency = prev.latency + compute + p_.link_seconds(device_of(prev.node), d, bytes);
          if (latency > p_.latency_bound_s || latency + rest_latency_[static_cast<size_t>(e)] > p_.latency_bound_s) continue;
          const double energy = prev.energy + jps * compute;
          if (energy + rest_energy_[static_cast<size_t>(e)] > upper_) continue;
          here.push_back({energy, latency, target, b, e, id});
        }
        if (here.size() > 512) pareto(here);
      }
    }
    auto& out = labels_[static_cast<size_t>(target)];
    for (size_t e = 0; e < cand.size(); ++e) {
      pareto(cand[e]);
      for (const Label& l : cand[e]) {
        arena_.push_back(l);
        out[e].push_back(static_cast<int>(arena_.size()) - 1);
      }
    }
  }

  OrderResult best() const {
    OrderResult r;
    r.value = kInf;
    int best = -1;
    for (const auto& per_node : labels_)
      for (int id : per_node[static_cast<size_t>(p_.n_ops)])
        if (arena_[static_cast<size_t>(id)].energy < r.value) r.value = arena_[static_cast<size_t>(id)].energy, best = id;
    for (int id = best; id > 0; id = arena_[static_cast<size_t>(id)].parent) {
      const Label& l = arena_[static_cast<size_t>(id)];
      r.segments.push_back({devices_[static_cast<size_t>(l.node)], l.first_op, l.end - 1});
    }
    std::reverse(r.segments.begin(), r.segments.end());
    return r;
  }

 private:
  struct Label {
    double energy, latency;
    int node, first_op, end, parent;  // the segment that made it, and the label before it
  };
  int device_of(int node) const { return node == kHeadNode ? PlanProblem::kHead : devices_[static_cast<size_t>(node)]; }
  double joules_per_s(int d) const {
    const PlanDevice& dev = p_.devices[static_cast<size_t>(d)];
    return dev.energy_weight() * (dev.power_busy_w - dev.power_idle_w);
  }
  // Keeps the labels that no other beats on both energy and latency.
  static void pareto(std::vector<Label>& labels) {
    std::sort(labels.begin(), labels.end(), [](const Label& x, const Label& y) {
      return x.latency != y.latency ? x.latency < y.latency : x.energy < y.energy;
    });
    size_t kept = 0;
    double best = kInf;
    for (const Label& l : labels)
      if (l.energy < best - 1e-15) {
        best = l.energy;
        labels[kept++] = l;
      }
    labels.resize(kept);
  }

  const PlanProblem& p_;
  const SegmentTables& t_;
  std::vector<int> devices_;
  std::vector<Label> arena_;
  std::vector<std::vector<std::vector<int>>> labels_;  // [node][boundary]: label ids
  std::vector<double> rest_latency_, rest_energy_;     // [boundary]: lower bounds for ops [e, n)
  double upper_ = kInf;
};

// Nodes are positions of the order; a segment may follow any earlier position (the ones between
// are left out) or the head.
template <typename Chains>
OrderResult over_order(Chains& chains, const std::vector<int>& order) {
  std::vector<int> preds{kHeadNode};
  for (int d : order) {
    const int node = chains.add_node(d);
    chains.extend(preds, node);
    preds.push_back(node);
  }
  OrderResult r = chains.best();
  r.order = order;
  return r;
}

// Held-Karp: node (S, d) holds the chains that used exactly the devices of set S and end on d.
// (S ∪ {d'}, d') extends the nodes (S, d), d in S, by a segment on d'. Sets grow numerically, so
// every node is complete before it is extended.
template <typename Chains>
OrderResult over_all_orders(Chains& chains, int n_devices) {
  const size_t sets = size_t{1} << n_devices;
  std::vector<int> node(sets * static_cast<size_t>(n_devices), kHeadNode);
  std::vector<int> preds;
  for (size_t s = 0; s < sets; ++s) {
    preds.clear();
    if (s == 0) preds.push_back(kHeadNode);
    for (int d = 0; d < n_devices; ++d)
      if (s >> d & 1) preds.push_back(node[s * static_cast<size_t>(n_devices) + static_cast<size_t>(d)]);
    for (int d = 0; d < n_devices; ++d) {
      if (s >> d & 1) continue;
      const size_t t = s | size_t{1} << d;
      const int id = chains.add_node(d);
      node[t * static_cast<size_t>(n_devices) + static_cast<size_t>(d)] = id;
      chains.extend(preds, id);
    }
  }
  return chains.best();
}

// An order that the chain follows: its devices first, then the others by speed.
std::vector<int> order_of(const PlanProblem& p, const OrderResult& r) {
  std::vector<int> order;
  for (const OrderSegment& s : r.segments) order.push_back(s.device);
  for (int d : speed_order(p))
    if (std::find(order.begin(), order.end(), d) == order.end()) order.push_back(d);
  return order;
}

}  // namespace

std::vector<int> speed_order(const PlanProblem& p) {
  std::vector<int> order(p.devices.size());
  std::iota(order.begin(), order.end(), 0);
  std::vector<double> total(p.devices.size(), 0.0);
  for (size_t d = 0; d < p.devices.size(); ++d)
    total[d] = std::accumulate(p.op_seconds[d].begin(), p.op_seconds[d].end(), 0.0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return total[static_cast<size_t>(a)] < total[static_cast<size_t>(b)]; });
  return order;
}

OrderResult solve_order_dp(const PlanProblem& p, const SegmentTables& t, const std::vector<int>& order, Objective o) {
  if (o == Objective::kEnergy) {
    EnergyChains chains(p, t);
    return over_order(chains, order);
  }
  ScalarChains chains(p, t, o);
  return over_order(chains, order);
}

OrderResult solve_chain_dp(const PlanProblem& p, const SegmentTables& t, Objective o) {
  const size_t n = p.devices.size();
  if (o == Objective::kEnergy && n <= kExactEnergyOrdersUpTo) {
    // The fastest chain: when it breaks the bound nothing meets it; otherwise its energy bounds
    // the search.
    ScalarChains fastest_chains(p, t, Objective::kLatency);
    const OrderResult fastest = over_all_orders(fastest_chains, static_cast<int>(n));
    EnergyChains chains(p, t);
    if (fastest.value <= p.latency_bound_s) {
      std::vector<Assignment> segments;
      for (const OrderSegment& s : fastest.segments) segments.push_back({s.device, s.first_op, s.last_op});
      const Plan plan = evaluate_plan(p, "fastest", std::move(segments));
      if (plan.latency_s <= p.latency_bound_s) chains.set_upper_bound(plan.energy_j);
    }
    OrderResult r = over_all_orders(chains, static_cast<int>(n));
    r.order = order_of(p, r);
    return r;
  }
  if (o != Objective::kEnergy && n <= kExactOrdersUpTo) {
    ScalarChains chains(p, t, o);
    OrderResult r = over_all_orders(chains, static_cast<int>(n));
    r.order = order_of(p, r);
    return r;
  }
  // Beyond the exact limit: devices by decreasing speed (the first segment holds the embedding,
  // the ones after share the blocks), then swaps of two positions while one helps. Energy's label
  // DP is too slow to repeat per swap: it tries the speed order and the fastest chain's order.
  std::vector<int> order = speed_order(p);
  OrderResult best = solve_order_dp(p, t, order, o);
  if (o == Objective::kEnergy) {
    OrderResult other = solve_order_dp(p, t, solve_chain_dp(p, t, Objective::kLatency).order, o);
    return other.value < best.value ? other : best;
  }
  for (int round = 0; round < kSwapRounds; ++round) {
    bool improved = false;
    for (size_t i = 0; i < n; ++i)
      for (size_t j = i + 1; j < n; ++j) {
        std::swap(order[i], order[j]);
        OrderResult r = solve_order_dp(p, t, order, o);
        if (r.value < best.value * (1 - 1e-12)) {
          best = std::move(r);
          improved = true;
        } else {
          std::swap(order[i], order[j]);
        }
      }
    if (!improved) break;
  }
  return best;
}

}  // namespace lingua
