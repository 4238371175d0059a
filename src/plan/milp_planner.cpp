// The same assignment problem as the DP, for one device order, as a mixed-integer linear program
// solved by GLPK: a path (arc-flow) model over the DP's own states. K positions in the order, n ops.
//   Nodes (k, b), k = 0..K, b = 0..n: the first k positions are decided and ops [0, b) placed.
//   Arcs, one integer x_a >= 0 each (x_a <= 1 follows from the flow):
//     use  (k, b) -> (k+1, e), b < e, when ops [b, e) fit position k's device
//          (memory(b, e) + device overhead <= its memory): the device runs [b, e) as one stage;
//     skip (k, b) -> (k+1, b): the device is left out, at no cost.
//   Only arcs on some path from (0, 0) to (K, n) exist (reachability both ways).
//   Flow conservation: out - in = 1 at (0, 0), -1 at (K, n), 0 at every other node.
//   compute_a, link_a: the stage's seconds, priced by stage_cost (solvers.h) as the DP prices them.
// Per-pair links: a stage's link depends on the device used before it, which a skip arc forgets.
//   When the links are not all alike, skip arcs give way to jump arcs: (k, b) -> (k'+1, e),
//   k' >= k, runs [b, e) on position k' and leaves out positions k..k'-1, so a node (k, b), k > 0,
//   is only entered by a stage of position k-1 and the link from order[k-1] to order[k'] prices
//   the arc; finish arcs (k, n) -> (K, n) leave out the rest at no cost. K/2 times more arcs, so
//   only then.
// Latency: minimize sum_a (compute_a + link_a) x_a. A shortest path: the LP relaxation is integral.
// Throughput: minimize P >= 0 with, for every position k, sum_{a of k} compute_a x_a <= P and
//   sum_{a of k} link_a x_a <= P (one arc of k carries the flow: these are its stage's times).
//   Also cover rows, valid for every plan and added as cutting planes: for op i,
//   sum_{use arcs a that run i} compute_a x_a <= P, the same with link_a.
// Energy: minimize sum_a w_k (busy_k - idle_k) compute_a x_a with
//   sum_a (compute_a + link_a) x_a <= the latency bound (a resource-constrained shortest path).
//
// How it is solved, exactly:
// - Column generation. 16 devices and 483 ops make ~440k arcs; one GLPK simplex over all of them
//   took 15 s (latency) and over 60 s (throughput). The LP starts from a skip arc and a longest
//   arc out of every node (a path exists among them), and after each simplex the arcs whose
//   reduced cost under the duals is negative enter, until none is: the LP optimum over all arcs,
//   LB. For energy a slack on the latency bound keeps the partial LP feasible, then goes to 0.
// - Throughput's cover rows: per-position rows are weak in the LP (a fractional flow sends most
//   of a position's flow down its skip arc), cover rows are not (exactly one arc runs op i). A
//   few start in the LP, the most violated are added while they raise LB, and a plan with no
//   stage slower than LB (one pass over the arcs) proves LB optimal.
// - Branch and bound (GLPK, gap 0) over the arcs in the LP gives a plan of value UB (or UB is
//   the best value of the orders solved before, when lower: only a better plan matters). Any
//   plan with arc a costs at least LB + a's reduced cost (LP duality), and for throughput none
//   better than UB has a stage slower than UB; the arcs not excluded by these are added and a
//   second branch and bound, started from that plan, is exact over all arcs. At every node the
//   callback rounds the node's LP to a plan (follow the most flow) and, for throughput, fixes
//   the arcs slower than UB at 0. An order whose LB is above the other orders' best is skipped.
#include <glpk.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>

#include "plan/solvers.h"

namespace lingua {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int kTimeLimitMs = 60000;  // all LPs and branch and bounds of one order together
// GLPK's tolerances are absolute (1e-7 and so on), so the model is in milliseconds and
// millijoules, where they stay far below the difference between two plans.
constexpr double kScale = 1e3;
// Throughput: ops with cover rows from the start (spread over the model), and added per round.
// More start rows slow every simplex down (the 16-device throughput LP: 4.1 s with 4, 7.3 s with 8).
constexpr int kFirstCovers = 4;
constexpr size_t kCoversPerRound = 4;

struct GlpDeleter {
  void operator()(glp_prob* p) const { glp_delete_prob(p); }
};

struct Arc {
  int k, b, e;     // (tail, b) -> (k + 1, e): position k runs [b, e); e == b: left out (no cost)
  int tail;        // the tail node's position: k, or less for a jump arc
  StageCost cost;  // seconds; zero for a skip
  int col = 0;     // GLPK column, 0 while the arc is not in the LP
  bool skip() const { return e == b; }
};

class ArcFlowMilp {
 public:
  ArcFlowMilp(const PlanProblem& p, const SegmentTables& t, const std::vector<int>& order, Objective o, double cutoff)
      : p_(p), t_(t), order_(order), o_(o), cutoff_(kScale * cutoff), n_(p.n_ops), K_(static_cast<int>(order.size())),
        jump_(!p.links_uniform()), lp_(glp_create_prob()) {}

  Expected<OrderResult> solve() {
    OrderResult r;
    r.value = kInf;
    if (!make_arcs()) return r;  // no sequence of ranges fits
    make_model();
    // LP optimum over all arcs. For energy a slack on the latency bound keeps the LP feasible while
    // arcs are missing; if it stays positive, the LP minimizing it alone decides.
    LINGUA_TRY(solve_lp());
    if (slack_ && glp_get_col_prim(lp_.get(), slack_) > 1e-9) {
      phase_one_ = true;
      for (const Arc& a : arcs_)
        if (a.col) glp_set_obj_coef(lp_.get(), a.col, 0.0);
      glp_set_obj_coef(lp_.get(), slack_, 1.0);
      LINGUA_TRY(solve_lp());
      if (glp_get_obj_val(lp_.get()) > 1e-9) return r;  // even a mix of plans breaks the bound
      phase_one_ = false;
      for (const Arc& a : arcs_)
        if (a.col) glp_set_obj_coef(lp_.get(), a.col, objective(a));
    }
    if (slack_) {
      glp_set_col_bnds(lp_.get(), slack_, GLP_FX, 0.0, 0.0);
      LINGUA_TRY(solve_lp());
    }
    const double lower = glp_get_obj_val(lp_.get());
    if (lower > cutoff_ * (1.0 + 1e-9)) return r;  // another order has a better plan
    const std::vector<double> reduced = reduced_costs();

    std::vector<double> start;  // a plan to start the branch and bound from, as column values
    if (!incumbent_.empty()) {
      for (size_t i : incumbent_)
        if (!arcs_[i].col) add_column(arcs_[i]);
      LINGUA_TRY(solve_lp());  // their reduced costs are >= 0, so the LP optimum stays
      start.assign(static_cast<size_t>(glp_get_num_cols(lp_.get())), 0.0);
      for (size_t i : incumbent_) start[static_cast<size_t>(arcs_[i].col) - 1] = 1.0;
      start[static_cast<size_t>(period_) - 1] = kScale * path_value(incumbent_);
    }
    LINGUA_TRY(branch_and_bound(start));
    // UB: the plan found, or the cutoff when that is lower (a plan of this order only matters
    // if it beats the other orders').
    const bool found = glp_mip_status(lp_.get()) == GLP_OPT && glp_mip_obj_val(lp_.get()) <= cutoff_;
    const double upper = found ? glp_mip_obj_val(lp_.get()) : cutoff_;
    // Arcs that could be in a plan better than UB: reduced cost <= UB - LB (with room for GLPK's
    // tolerances), and for throughput no stage slower than UB. None when the plan meets the
    // bound (latency always does).
    start.clear();
    if (found) start = column_values();
    size_t added = 0;
    if (upper > lower + 1e-9 * (1.0 + std::abs(lower))) {
      const double room = upper - lower + 1e-6 * (1.0 + std::abs(lower));
      for (size_t i = 0; i < arcs_.size(); ++i)
        if (!arcs_[i].col && !(reduced[i] > room) && !too_slow(arcs_[i], upper)) add_column(arcs_[i]), ++added;
    }
    if (added) {
      if (period_) {
        // As drop_slow_stages does at every node, already for the root's LP.
        glp_set_col_bnds(lp_.get(), period_, GLP_DB, 0.0, upper);
        for (const Arc& a : arcs_)
          if (a.col && too_slow(a, upper)) glp_set_col_bnds(lp_.get(), a.col, GLP_FX, 0.0, 0.0);
      }
      // The LP optimum stays, unless UB is the cutoff and no plan of this order reaches it.
      LINGUA_TRY(solve_lp(/*may_be_infeasible=*/!found));
      if (glp_get_status(lp_.get()) == GLP_NOFEAS) return r;
      if (found) start.resize(static_cast<size_t>(glp_get_num_cols(lp_.get())), 0.0);
      LINGUA_TRY(branch_and_bound(start));
    }
    if (glp_mip_status(lp_.get()) != GLP_OPT) return r;  // no plan (energy: none within the bound)

    // Read the path back, position by position, and price it as the DP does.
    const std::vector<size_t> path = rounded_path([&](int col) { return glp_mip_col_val(lp_.get(), col); });
    for (size_t i : path)
      if (!arcs_[i].skip()) r.segments.push_back({order_[static_cast<size_t>(arcs_[i].k)], arcs_[i].b, arcs_[i].e - 1});
    r.value = path_value(path);
    return r;
  }

 private:
  template <typename Table>  // a std::vector of std::vector, const or not
  static auto& at(Table& v, int k, int b) {
    return v[static_cast<size_t>(k)][static_cast<size_t>(b)];
  }

  double joules_per_s(int k) const {
    const PlanDevice& dev = p_.devices[static_cast<size_t>(order_[static_cast<size_t>(k)])];
    return dev.energy_weight() * (dev.power_busy_w - dev.power_idle_w);
  }
  double objective(const Arc& a) const {
    if (phase_one_ || a.skip()) return 0.0;
    if (o_ == Objective::kLatency) return kScale * (a.cost.compute + a.cost.link);
    if (o_ == Objective::kEnergy) return kScale * joules_per_s(a.k) * a.cost.compute;
    return 0.0;  // throughput: only P costs
  }

  // Marks in `ends` every e in (b, last[b]] for each b in `starts`: where a stage that starts at b
  // may end (a difference array over e, so one pass whatever the spans).
  void mark_stage_ends(const std::vector<char>& starts, const std::vector<int>& last, std::vector<char>& ends) const {
    std::vector<int> opens(static_cast<size_t>(n_) + 2, 0);
    for (int b = 0; b <= n_; ++b)
      if (starts[static_cast<size_t>(b)] && last[static_cast<size_t>(b)] > b) {
        ++opens[static_cast<size_t>(b) + 1];
        --opens[static_cast<size_t>(last[static_cast<size_t>(b)]) + 1];
      }
    for (int e = 0, open = 0; e <= n_; ++e) {
      open += opens[static_cast<size_t>(e)];
      if (open > 0) ends[static_cast<size_t>(e)] = 1;
    }
  }

  // count[e + 1]: how many of flags[0..e] are set.
  std::vector<int> prefix_count(const std::vector<char>& flags) const {
    std::vector<int> count(static_cast<size_t>(n_) + 2, 0);
    for (int e = 0; e <= n_; ++e) count[static_cast<size_t>(e) + 1] = count[static_cast<size_t>(e)] + flags[static_cast<size_t>(e)];
    return count;
  }

  // A row for every node on some path (reachable from (0, 0) and reaching (K, n)); returns how many.
  int number_rows(const std::vector<std::vector<char>>& from, const std::vector<std::vector<char>>& to) {
    row_.assign(static_cast<size_t>(K_) + 1, std::vector<int>(static_cast<size_t>(n_) + 1, 0));
    int rows = 0;
    for (int k = 0; k <= K_; ++k)
      for (int b = 0; b <= n_; ++b)
        if (at(from, k, b) && at(to, k, b)) at(row_, k, b) = ++rows;
    out_.assign(static_cast<size_t>(rows) + 1, 0);
    return rows;
  }

  // The arcs on some path from (0, 0) to (K, n); false when there is none.
  bool make_arcs() {
    // last[k][b]: the largest e such that [b, e) fits position k's device (b when not even one op
    // does). Memory only grows with e and shrinks with b, so one sweep per position finds them all.
    std::vector<std::vector<int>> last(static_cast<size_t>(K_), std::vector<int>(static_cast<size_t>(n_) + 1));
    for (int k = 0; k < K_; ++k) {
      const int d = order_[static_cast<size_t>(k)];
      for (int b = 0, e = 0; b <= n_; ++b) {
        e = std::max(e, b);
        while (e < n_ && stage_fits(p_, t_, d, b, e + 1)) ++e;
        at(last, k, b) = e;
      }
    }
    // from[k][b]: (k, b) is reachable from (0, 0); to[k][b]: (K, n) is reachable from (k, b).
    std::vector<std::vector<char>> from(static_cast<size_t>(K_) + 1, std::vector<char>(static_cast<size_t>(n_) + 1, 0));
    std::vector<std::vector<char>> to = from;
    at(from, 0, 0) = 1;
    if (jump_) return make_jump_arcs(last, from, to);
    for (int k = 0; k < K_; ++k) {
      for (int b = 0; b <= n_; ++b)
        if (at(from, k, b)) at(from, k + 1, b) = 1;  // skip
      mark_stage_ends(from[static_cast<size_t>(k)], last[static_cast<size_t>(k)], from[static_cast<size_t>(k) + 1]);
    }
    at(to, K_, n_) = 1;
    for (int k = K_ - 1; k >= 0; --k) {
      const std::vector<int> count = prefix_count(to[static_cast<size_t>(k) + 1]);
      for (int b = 0; b <= n_; ++b)
        at(to, k, b) = at(to, k + 1, b) || count[static_cast<size_t>(at(last, k, b)) + 1] > count[static_cast<size_t>(b) + 1];
    }
    if (!at(to, 0, 0)) return false;
    const int rows = number_rows(from, to);
    for (int k = 0; k < K_; ++k) {
      const int d = order_[static_cast<size_t>(k)];
      for (int b = 0; b <= n_; ++b) {
        if (!at(row_, k, b)) continue;
        out_[static_cast<size_t>(at(row_, k, b)) - 1] = arcs_.size();
        if (at(to, k + 1, b)) arcs_.push_back({k, b, b, k, {0.0, 0.0}});
        // Alike links: any device before prices the same; only the first stage's comes from the head.
        const int before = b == 0 ? PlanProblem::kHead : d == 0 ? 1 : 0;
        for (int e = b + 1; e <= at(last, k, b); ++e)
          if (at(to, k + 1, e)) arcs_.push_back({k, b, e, k, stage_cost(p_, t_, before, d, b, e)});
      }
    }
    out_[static_cast<size_t>(rows) - 1] = out_[static_cast<size_t>(rows)] = arcs_.size();  // (K, n), the last row, has none
    return true;
  }

  // make_arcs with jump arcs instead of skip arcs (per-pair links, see the top of the file).
  bool make_jump_arcs(const std::vector<std::vector<int>>& last, std::vector<std::vector<char>>& from,
                      std::vector<std::vector<char>>& to) {
    // (k+1, e) is entered by a stage of position k from any node (j, b), j <= k.
    std::vector<char> tails(static_cast<size_t>(n_) + 1, 0);  // b of some reachable (j, b), j <= k
    for (int k = 0; k < K_; ++k) {
      for (int b = 0; b <= n_; ++b) tails[static_cast<size_t>(b)] |= at(from, k, b);
      mark_stage_ends(tails, last[static_cast<size_t>(k)], from[static_cast<size_t>(k) + 1]);
    }
    // (j, b) reaches (K, n) by a finish arc when b = n, or by a stage of some position k >= j.
    at(to, K_, n_) = 1;
    std::vector<char> by_stage(static_cast<size_t>(n_) + 1, 0);  // some position >= j has one
    for (int k = K_ - 1; k >= 0; --k) {
      const std::vector<int> count = prefix_count(to[static_cast<size_t>(k) + 1]);
      for (int b = 0; b < n_; ++b)
        if (count[static_cast<size_t>(at(last, k, b)) + 1] > count[static_cast<size_t>(b) + 1]) by_stage[static_cast<size_t>(b)] = 1;
      for (int b = 0; b <= n_; ++b) at(to, k, b) = b == n_ || by_stage[static_cast<size_t>(b)];
    }
    if (!at(to, 0, 0)) return false;
    const int rows = number_rows(from, to);
    for (int j = 0; j < K_; ++j)
      for (int b = 0; b <= n_; ++b) {
        if (!at(row_, j, b)) continue;
        out_[static_cast<size_t>(at(row_, j, b)) - 1] = arcs_.size();
        if (b == n_) {
          arcs_.push_back({K_ - 1, n_, n_, j, {0.0, 0.0}});  // finish: the rest left out
          continue;
        }
        const int before = j == 0 ? PlanProblem::kHead : order_[static_cast<size_t>(j) - 1];
        for (int k = j; k < K_; ++k)
          for (int e = b + 1; e <= at(last, k, b); ++e)
            if (at(to, k + 1, e)) arcs_.push_back({k, b, e, j, stage_cost(p_, t_, before, order_[static_cast<size_t>(k)], b, e)});
      }
    out_[static_cast<size_t>(rows) - 1] = out_[static_cast<size_t>(rows)] = arcs_.size();
    return true;
  }

  // Rows, the objective's own columns, and the first arcs: out of every node its skip arc and its
  // longest arc. Every node then has an arc to a node that reaches (K, n), so the LP has a path.
  void make_model() {
    glp_set_obj_dir(lp_.get(), GLP_MIN);
    int rows = 0;
    for (const auto& per_k : row_)
      for (int i : per_k) rows = std::max(rows, i);
    glp_add_rows(lp_.get(), rows);
    for (int k = 0; k <= K_; ++k)
      for (int b = 0; b <= n_; ++b)
        if (const int i = at(row_, k, b)) {
          const double supply = k == 0 && b == 0 ? 1.0 : k == K_ && b == n_ ? -1.0 : 0.0;
          glp_set_row_bnds(lp_.get(), i, GLP_FX, supply, supply);
        }
    if (o_ == Objective::kThroughput) {
      cover_.resize(static_cast<size_t>(n_));
      compute_row_ = glp_add_rows(lp_.get(), K_);
      link_row_ = glp_add_rows(lp_.get(), K_);
      period_ = glp_add_cols(lp_.get(), 1);
      glp_set_col_bnds(lp_.get(), period_, GLP_LO, 0.0, 0.0);
      glp_set_obj_coef(lp_.get(), period_, 1.0);
      std::vector<int> ind{0};
      std::vector<double> val{0.0};
      for (int k = 0; k < K_; ++k) {
        glp_set_row_bnds(lp_.get(), compute_row_ + k, GLP_UP, 0.0, 0.0);  // sum compute x - P <= 0
        glp_set_row_bnds(lp_.get(), link_row_ + k, GLP_UP, 0.0, 0.0);     // sum link x - P <= 0
        ind.push_back(compute_row_ + k), val.push_back(-1.0);
        ind.push_back(link_row_ + k), val.push_back(-1.0);
      }
      glp_set_mat_col(lp_.get(), period_, static_cast<int>(ind.size()) - 1, ind.data(), val.data());
    } else if (o_ == Objective::kEnergy) {
      latency_row_ = glp_add_rows(lp_.get(), 1);
      glp_set_row_bnds(lp_.get(), latency_row_, GLP_UP, 0.0, kScale * p_.latency_bound_s);
      slack_ = glp_add_cols(lp_.get(), 1);  // sum stage x - slack <= bound
      glp_set_col_bnds(lp_.get(), slack_, GLP_LO, 0.0, 0.0);
      glp_set_obj_coef(lp_.get(), slack_, 1e6);
      const int ind[] = {0, latency_row_};
      const double val[] = {0.0, -1.0};
      glp_set_mat_col(lp_.get(), slack_, 1, ind, val);
    }
    // Arcs of one tail are consecutive, skip first, then by position and growing e: the skip (or
    // finish) arc and the longest stage of every position enter.
    for (size_t i = 0; i < arcs_.size(); ++i) {
      const Arc& a = arcs_[i];
      const auto same = [&](const Arc& x) { return x.tail == a.tail && x.b == a.b && x.k == a.k && !x.skip(); };
      const bool last = i + 1 == arcs_.size() || !same(arcs_[i + 1]);
      if (a.skip() || last) add_column(arcs_[i]);
    }
    // Throughput: cover rows of a few ops spread over the model from the start; the separation
    // in solve_lp adds the others it needs.
    if (o_ == Objective::kThroughput)
      for (int j = 0; j < kFirstCovers && j < n_; ++j) add_cover((2 * j + 1) * n_ / (2 * std::min(kFirstCovers, n_)));
  }

  void add_column(Arc& a) {
    a.col = glp_add_cols(lp_.get(), 1);
    glp_set_col_kind(lp_.get(), a.col, GLP_IV);
    glp_set_col_bnds(lp_.get(), a.col, GLP_LO, 0.0, 0.0);  // <= 1 follows from the flow
    glp_set_obj_coef(lp_.get(), a.col, objective(a));
    std::vector<int> ind{0, at(row_, a.tail, a.b), at(row_, a.k + 1, a.e)};
    std::vector<double> val{0.0, 1.0, -1.0};
    if (!a.skip() && o_ == Objective::kThroughput) {
      ind.push_back(compute_row_ + a.k), val.push_back(kScale * a.cost.compute);
      ind.push_back(link_row_ + a.k), val.push_back(kScale * a.cost.link);
      for (auto it = std::lower_bound(cover_ops_.begin(), cover_ops_.end(), a.b); it != cover_ops_.end() && *it < a.e; ++it) {
        const Cover& c = cover_[static_cast<size_t>(*it)];
        ind.push_back(c.compute_row), val.push_back(kScale * a.cost.compute);
        ind.push_back(c.link_row), val.push_back(kScale * a.cost.link);
      }
    } else if (!a.skip() && o_ == Objective::kEnergy) {
      ind.push_back(latency_row_), val.push_back(kScale * (a.cost.compute + a.cost.link));
    }
    glp_set_mat_col(lp_.get(), a.col, static_cast<int>(ind.size()) - 1, ind.data(), val.data());
  }

  // Throughput's cover rows for op i: sum_{a runs i} compute_a x_a <= P, the same for link_a.
  // Exactly one arc of a path runs op i, so they hold for every plan; in the LP the flow through
  // the arcs that run i is 1, while a position's flow may mostly take its skip arc, so these are
  // not watered down the way the per-position rows are.
  void add_cover(int i) {
    Cover& c = cover_[static_cast<size_t>(i)];
    c.compute_row = glp_add_rows(lp_.get(), 2);
    c.link_row = c.compute_row + 1;
    cover_ops_.insert(std::lower_bound(cover_ops_.begin(), cover_ops_.end(), i), i);
    std::vector<int> ind{0, period_};
    std::vector<double> compute{0.0, -1.0}, link{0.0, -1.0};
    for (const Arc& a : arcs_)
      if (a.col && !a.skip() && a.b <= i && i < a.e) {
        ind.push_back(a.col);
        compute.push_back(kScale * a.cost.compute);
        link.push_back(kScale * a.cost.link);
      }
    const int len = static_cast<int>(ind.size()) - 1;
    glp_set_row_bnds(lp_.get(), c.compute_row, GLP_UP, 0.0, 0.0);
    glp_set_mat_row(lp_.get(), c.compute_row, len, ind.data(), compute.data());
    glp_set_row_bnds(lp_.get(), c.link_row, GLP_UP, 0.0, 0.0);
    glp_set_mat_row(lp_.get(), c.link_row, len, ind.data(), link.data());
  }

  // The ops whose cover rows the LP solution violates most (a few a round; neighbours would
  // mostly repeat each other).
  std::vector<int> violated_covers() const {
    std::vector<double> compute(static_cast<size_t>(n_) + 1, 0.0), link = compute;  // difference arrays
    for (const Arc& a : arcs_) {
      if (!a.col || a.skip()) continue;
      const double x = glp_get_col_prim(lp_.get(), a.col);
      if (x <= 0.0) continue;
      compute[static_cast<size_t>(a.b)] += x * a.cost.compute, compute[static_cast<size_t>(a.e)] -= x * a.cost.compute;
      link[static_cast<size_t>(a.b)] += x * a.cost.link, link[static_cast<size_t>(a.e)] -= x * a.cost.link;
    }
    const double period = glp_get_col_prim(lp_.get(), period_);
    std::vector<std::pair<double, int>> excess;
    double c = 0.0, l = 0.0;
    for (int i = 0; i < n_; ++i) {
      c += compute[static_cast<size_t>(i)], l += link[static_cast<size_t>(i)];
      const double over = kScale * std::max(c, l) - period;
      if (over > 1e-6 * (1.0 + period) && cover_[static_cast<size_t>(i)].compute_row == 0) excess.push_back({-over, i});
    }
    std::sort(excess.begin(), excess.end());
    std::vector<int> ops;
    for (const auto& [v, i] : excess) {
      if (ops.size() == kCoversPerRound) break;
      ops.push_back(i);
    }
    return ops;
  }

  // Every arc's reduced cost under the current LP duals: c_a - sum_i a_ia y_i.
  std::vector<double> reduced_costs() const {
    const int rows = glp_get_num_rows(lp_.get());
    std::vector<double> y(static_cast<size_t>(rows) + 1, 0.0);
    for (int i = 1; i <= rows; ++i) y[static_cast<size_t>(i)] = glp_get_row_dual(lp_.get(), i);
    const auto dual = [&](int i) { return y[static_cast<size_t>(i)]; };
    // Prefix sums over ops of the cover rows' duals: an arc [b, e) is in the rows of ops b..e-1.
    std::vector<double> cover_compute(static_cast<size_t>(n_) + 1, 0.0), cover_link = cover_compute;
    for (size_t i = 0; i < cover_.size(); ++i) {
      cover_compute[i + 1] = cover_compute[i] + (cover_[i].compute_row ? dual(cover_[i].compute_row) : 0.0);
      cover_link[i + 1] = cover_link[i] + (cover_[i].link_row ? dual(cover_[i].link_row) : 0.0);
    }
    std::vector<double> d(arcs_.size());
    for (size_t i = 0; i < arcs_.size(); ++i) {
      const Arc& a = arcs_[i];
      double v = objective(a) - dual(at(row_, a.tail, a.b)) + dual(at(row_, a.k + 1, a.e));
      if (!a.skip() && o_ == Objective::kThroughput)
        v -= kScale * (a.cost.compute * (dual(compute_row_ + a.k) + cover_compute[static_cast<size_t>(a.e)] -
                                         cover_compute[static_cast<size_t>(a.b)]) +
                       a.cost.link * (dual(link_row_ + a.k) + cover_link[static_cast<size_t>(a.e)] -
                                      cover_link[static_cast<size_t>(a.b)]));
      else if (!a.skip() && o_ == Objective::kEnergy)
        v -= kScale * (a.cost.compute + a.cost.link) * dual(latency_row_);
      d[i] = v;
    }
    return d;
  }

  // From (0, 0), the out-arc with the most flow, to (K, n): a plan out of an LP solution (a
  // rounding heuristic), or the plan an integer solution holds.
  template <typename Value>
  std::vector<size_t> rounded_path(Value value) const {
    std::vector<size_t> path;
    for (int row = at(row_, 0, 0); row != at(row_, K_, n_);) {
      size_t best = arcs_.size();
      double most = 0.0;
      for (size_t i = out_[static_cast<size_t>(row) - 1]; i < out_[static_cast<size_t>(row)]; ++i)
        if (arcs_[i].col && value(arcs_[i].col) > most) most = value(arcs_[i].col), best = i;
      if (best == arcs_.size()) return {};  // no flow on (numerically)
      path.push_back(best);
      row = at(row_, arcs_[best].k + 1, arcs_[best].e);
    }
    return path;
  }

  // Throughput: a plan whose every stage takes at most `period_ms`, searched over all arcs (one
  // pass: arcs run from position to position); empty when there is none. Given the LP bound, a
  // plan that meets it is optimal, so the branch and bound starts from it and stops at its root.
  std::vector<size_t> path_within(double period_ms) const {
    std::vector<size_t> parent(out_.size(), arcs_.size());
    std::vector<char> reached(out_.size(), 0);
    reached[static_cast<size_t>(at(row_, 0, 0))] = 1;
    for (size_t i = 0; i < arcs_.size(); ++i) {
      const Arc& a = arcs_[i];
      const auto head = static_cast<size_t>(at(row_, a.k + 1, a.e));
      if (reached[head] || !reached[static_cast<size_t>(at(row_, a.tail, a.b))]) continue;
      if (kScale * std::max(a.cost.compute, a.cost.link) > period_ms) continue;
      reached[head] = 1;
      parent[head] = i;
    }
    std::vector<size_t> path;
    if (!reached[static_cast<size_t>(at(row_, K_, n_))]) return path;
    for (int row = at(row_, K_, n_); row != at(row_, 0, 0);) {
      const Arc& a = arcs_[parent[static_cast<size_t>(row)]];
      path.push_back(parent[static_cast<size_t>(row)]);
      row = at(row_, a.tail, a.b);
    }
    std::reverse(path.begin(), path.end());
    return path;
  }

  // A path's objective in seconds or joules, as the DP sums it; +inf when it breaks the latency
  // bound (energy).
  double path_value(const std::vector<size_t>& path) const {
    double value = 0.0, latency = 0.0;
    for (size_t i : path) {
      const Arc& a = arcs_[i];
      if (a.skip()) continue;
      if (o_ == Objective::kLatency) {
        value += a.cost.compute + a.cost.link;
      } else if (o_ == Objective::kThroughput) {
        value = std::max({value, a.cost.compute, a.cost.link});
      } else {
        latency += a.cost.compute + a.cost.link;
        if (latency > p_.latency_bound_s) return kInf;
        value += joules_per_s(a.k) * a.cost.compute;
      }
    }
    return value;
  }

  // Throughput: the arc's stage is slower than `period_ms`, so no plan of that period uses it.
  bool too_slow(const Arc& a, double period_ms) const {
    return o_ == Objective::kThroughput && kScale * std::max(a.cost.compute, a.cost.link) > period_ms * (1.0 + 1e-9);
  }

  // GLPK's callback. Before a node's LP: drop_slow_stages. After it: the given start plan (once)
  // and the plan rounded from the node's LP solution, which GLPK keeps when it is better.
  struct CallbackData {
    const ArcFlowMilp* self;
    std::vector<double> start;  // 1-based column values, empty when none
  };
  static void callback(glp_tree* tree, void* info) {
    auto* data = static_cast<CallbackData*>(info);
    if (glp_ios_reason(tree) == GLP_IPREPRO) return drop_slow_stages(tree, *data->self);
    if (glp_ios_reason(tree) != GLP_IHEUR) return;
    if (!data->start.empty()) {
      glp_ios_heur_sol(tree, data->start.data());
      data->start.clear();
    }
    glp_prob* node = glp_ios_get_prob(tree);
    const ArcFlowMilp& m = *data->self;
    const std::vector<size_t> path = m.rounded_path([&](int col) { return glp_get_col_prim(node, col); });
    const double value = path.empty() ? kInf : m.path_value(path);
    if (value == kInf) return;
    std::vector<double> x(static_cast<size_t>(glp_get_num_cols(node)) + 1, 0.0);
    for (size_t i : path) x[static_cast<size_t>(m.arcs_[i].col)] = 1.0;
    if (m.period_) x[static_cast<size_t>(m.period_)] = kScale * value;
    glp_ios_heur_sol(tree, x.data());
  }

  // Throughput, at every node: with a plan of period UB found (or UB the cutoff), no better one
  // has a stage slower than UB, so those arcs are fixed at 0 there (GLPK's own preprocessing finds
  // the same, at a pass over every row per node).
  static void drop_slow_stages(glp_tree* tree, const ArcFlowMilp& m) {
    glp_prob* node = glp_ios_get_prob(tree);
    if (!m.period_) return;
    const double upper = glp_mip_status(node) == GLP_FEAS ? std::min(glp_mip_obj_val(node), m.cutoff_) : m.cutoff_;
    if (upper == kInf) return;
    for (const Arc& a : m.arcs_)
      if (a.col && glp_get_col_type(node, a.col) != GLP_FX && m.too_slow(a, upper))
        glp_set_col_bnds(node, a.col, GLP_FX, 0.0, 0.0);
  }

  int remaining_ms() const {
    const double spent = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
    return kTimeLimitMs - static_cast<int>(spent);
  }
  static Status failed(const char* stage, int rc, int status) {
    return Status::error(std::string("the MILP solver (GLPK) did not reach an optimum (") + stage + ": code " +
                         std::to_string(rc) + ", status " + std::to_string(status) + "); try --solver dp");
  }

  // Column generation: simplex, then add the arcs with negative reduced cost (the most negative
  // first, a few thousand a round), until none is left; then, for throughput, cover rows while
  // they help. The basis carries over between rounds.
  Status solve_lp(bool may_be_infeasible = false) {
    glp_smcp params;
    glp_init_smcp(&params);
    params.msg_lev = GLP_MSG_OFF;
    for (;;) {
      params.tm_lim = remaining_ms();
      if (params.tm_lim <= 0) return failed("LP relaxation", GLP_ETMLIM, glp_get_status(lp_.get()));
      const int rc = glp_simplex(lp_.get(), &params);
      params.meth = GLP_PRIMAL;  // new columns leave the basis primal feasible
      const int status = glp_get_status(lp_.get());
      // The LP always has a path (and, for energy, the slack) unless arcs were fixed at 0, so
      // anything else but an optimum is a failure.
      if (rc == 0 && status == GLP_NOFEAS && may_be_infeasible) return Status::ok();
      if (rc != 0 || status != GLP_OPT) return failed("LP relaxation", rc, status);
      const std::vector<double> d = reduced_costs();
      std::vector<std::pair<double, size_t>> entering;
      for (size_t i = 0; i < arcs_.size(); ++i)
        if (!arcs_[i].col && d[i] < -1e-9) entering.push_back({d[i], i});
      if (entering.empty()) {
        if (o_ != Objective::kThroughput) return Status::ok();
        const double value = glp_get_obj_val(lp_.get());
        const double tolerance = 1e-9 * (1.0 + std::abs(value));
        // No more cover rows are needed once a plan meets the bound, ...
        if (std::vector<size_t> path = path_within(value + tolerance); !path.empty()) {
          incumbent_ = std::move(path);
          return Status::ok();
        }
        // ... or when the last ones did not raise it: they are optional (the per-position rows
        // alone make the model exact), and the branch and bound keeps those added.
        if (value <= bound_before_covers_ + tolerance) return Status::ok();
        bound_before_covers_ = value;
        const std::vector<int> ops = violated_covers();
        if (ops.empty()) return Status::ok();
        for (int i : ops) add_cover(i);
        params.meth = GLP_DUALP;  // new rows leave it dual feasible
        continue;
      }
      const size_t cap = std::max<size_t>(2000, static_cast<size_t>(glp_get_num_rows(lp_.get())));
      if (entering.size() > cap) {
        std::nth_element(entering.begin(), entering.begin() + static_cast<std::ptrdiff_t>(cap), entering.end());
        entering.resize(cap);
      }
      for (const auto& [v, i] : entering) add_column(arcs_[i]);
    }
  }

  // GLPK's branch and bound from the solved LP; `start`, when given, is a plan to begin from.
  Status branch_and_bound(std::vector<double> start) {
    glp_iocp params;
    glp_init_iocp(&params);
    params.msg_lev = GLP_MSG_OFF;
    params.presolve = GLP_OFF;  // keeps the optimal basis of solve_lp
    params.mip_gap = 0.0;
    // GLPK's bound tightening passes over every row at every node; with the dense cover rows that
    // cost more than it saved (hetero3 throughput: 4.7 s with it, 1.2 s without), and the fixing
    // that mattered is drop_slow_stages.
    params.pp_tech = GLP_PP_NONE;
    params.tm_lim = remaining_ms();
    if (params.tm_lim <= 0) return failed("branch and bound", GLP_ETMLIM, GLP_UNDEF);
    CallbackData data{this, std::move(start)};
    if (!data.start.empty()) data.start.insert(data.start.begin(), 0.0);
    params.cb_func = callback;
    params.cb_info = &data;
    const int rc = glp_intopt(lp_.get(), &params);
    const int status = glp_mip_status(lp_.get());
    if (rc == 0 && (status == GLP_OPT || status == GLP_NOFEAS)) return Status::ok();
    return failed("branch and bound", rc, status);
  }

  std::vector<double> column_values() const {
    std::vector<double> x(static_cast<size_t>(glp_get_num_cols(lp_.get())));
    for (size_t j = 0; j < x.size(); ++j) x[j] = glp_mip_col_val(lp_.get(), static_cast<int>(j) + 1);
    return x;
  }

  const PlanProblem& p_;
  const SegmentTables& t_;
  const std::vector<int>& order_;
  const Objective o_;
  const double cutoff_;  // scaled as the model; plans no better than it need not be found
  const int n_, K_;
  const bool jump_;  // per-pair links: jump arcs instead of skip arcs
  std::unique_ptr<glp_prob, GlpDeleter> lp_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::vector<Arc> arcs_;
  std::vector<std::vector<int>> row_;  // [k][b]: flow row of node (k, b), 0 when on no path
  std::vector<size_t> out_;            // arcs out of the node of row r: arcs_[out_[r - 1], out_[r])
  std::vector<size_t> incumbent_;      // throughput: a plan that meets the LP bound (arcs_ indexes)
  int compute_row_ = 0, link_row_ = 0, period_ = 0;  // throughput: first of K rows each, and P
  struct Cover {
    int compute_row = 0, link_row = 0;  // 0 until the cover rows of this op are added
  };
  std::vector<Cover> cover_;     // throughput: [op]
  std::vector<int> cover_ops_;   // the ops with cover rows, ascending
  double bound_before_covers_ = -kInf;  // the LP bound when cover rows were last added
  int latency_row_ = 0, slack_ = 0;                   // energy: the bound and its slack
  bool phase_one_ = false;                            // energy: minimizing the slack alone
};

}  // namespace

Expected<OrderResult> solve_order_milp(const PlanProblem& p, const SegmentTables& t, const std::vector<int>& order,
                                       Objective o, double cutoff) {
  return ArcFlowMilp(p, t, order, o, cutoff).solve();
}

}  // namespace lingua
