// The same assignment problem as the DP, for one device order, as a mixed-integer linear program
// solved by GLPK. Variables (k = position in the order, i = op, n ops, K positions):
//   z[k][i] in {0,1}  op i runs on a position <= k   (z[K-1][i] = 1; z[-1][i] = 0)
//                     so x[k][i] = z[k][i] - z[k-1][i] says op i runs on position k
//   u[k]    in {0,1}  position k's device takes part
//   s[k][p] in [0,1]  op p's output is sent into position k
//   P       >= 0      the slowest stage (throughput objective)
// Constraints: z[k][i] >= z[k][i+1] (every position holds a contiguous range, in op order),
// z[k][i] <= z[k+1][i]; sum_i x[k][i] <= n u[k]; memory: sum_i x[k][i] mem_i + overhead u[k] <=
// memory_k; s[k][p] >= x[k][c] + z[k-1][p] - 1 for every reader c of p (a tensor made earlier and
// read here is received, once).
// Per position: compute_k = sum_i x[k][i] t[k][i], link_k = latency u[k] + sum_p s[k][p] bytes_p / bw.
// Latency: minimize sum_k compute_k + link_k. Throughput: minimize P with P >= compute_k, P >= link_k.
// Energy: minimize sum_k w_k (busy_k - idle_k) compute_k with sum_k compute_k + link_k <= the bound.
#include <glpk.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "plan/solvers.h"

namespace lingua {
namespace {

struct GlpDeleter {
  void operator()(glp_prob* p) const { glp_delete_prob(p); }
};

// Sparse rows for glp_load_matrix (1-based, as GLPK wants).
struct Rows {
  std::vector<int> ia{0}, ja{0};
  std::vector<double> ar{0.0};
  void add(int row, int col, double v) {
    ia.push_back(row);
    ja.push_back(col);
    ar.push_back(v);
  }
};

}  // namespace

Expected<OrderResult> solve_order_milp(const PlanProblem& p, const SegmentTables& t, const std::vector<int>& order,
                                       Objective o) {
  (void)t;
  const int n = p.n_ops, K = static_cast<int>(order.size());
  std::unique_ptr<glp_prob, GlpDeleter> lp(glp_create_prob());
  glp_set_obj_dir(lp.get(), GLP_MIN);

  // Columns.
  auto add_cols = [&](int count) { return glp_add_cols(lp.get(), count); };
  std::vector<std::vector<int>> z(static_cast<size_t>(K), std::vector<int>(static_cast<size_t>(n), 0));
  for (int k = 0; k + 1 < K; ++k)
    for (int i = 0; i < n; ++i) {
      const int c = add_cols(1);
      glp_set_col_kind(lp.get(), c, GLP_BV);
      z[static_cast<size_t>(k)][static_cast<size_t>(i)] = c;
    }
  std::vector<int> u(static_cast<size_t>(K));
  for (int k = 0; k < K; ++k) {
    u[static_cast<size_t>(k)] = add_cols(1);
    glp_set_col_kind(lp.get(), u[static_cast<size_t>(k)], GLP_BV);
  }
  std::vector<std::vector<int>> s(static_cast<size_t>(K), std::vector<int>(static_cast<size_t>(n), 0));
  for (int k = 1; k < K; ++k)
    for (int q = 0; q < n; ++q)
      if (!p.consumers[static_cast<size_t>(q)].empty()) {
        const int c = add_cols(1);
        glp_set_col_bnds(lp.get(), c, GLP_DB, 0.0, 1.0);
        s[static_cast<size_t>(k)][static_cast<size_t>(q)] = c;
      }
  const int period = o == Objective::kThroughput ? add_cols(1) : 0;
  if (period) glp_set_col_bnds(lp.get(), period, GLP_LO, 0.0, 0.0);

  // x[k][i] as a list of (column, coefficient) terms, plus a constant.
  struct Terms {
    std::vector<std::pair<int, double>> cols;
    double constant = 0;
  };
  auto x = [&](int k, int i) {
    Terms e;
    if (k == K - 1) e.constant += 1.0;
    else e.cols.push_back({z[static_cast<size_t>(k)][static_cast<size_t>(i)], 1.0});
    if (k >= 1) e.cols.push_back({z[static_cast<size_t>(k) - 1][static_cast<size_t>(i)], -1.0});
    return e;
  };

  Rows m;
  // GLPK aborts the process on a repeated column within a row, so terms are merged first.
  auto add_row = [&](std::vector<std::pair<int, double>> cols, int type, double lo, double hi) {
    const int r = glp_add_rows(lp.get(), 1);
    glp_set_row_bnds(lp.get(), r, type, lo, hi);
    std::sort(cols.begin(), cols.end());
    for (size_t i = 0; i < cols.size(); ++i) {
      double v = cols[i].second;
      while (i + 1 < cols.size() && cols[i + 1].first == cols[i].first) v += cols[++i].second;
      if (v != 0.0) m.add(r, cols[i].first, v);
    }
  };
  // Contiguity and nesting of the prefixes.
  for (int k = 0; k + 1 < K; ++k)
    for (int i = 0; i + 1 < n; ++i)
      add_row({{z[static_cast<size_t>(k)][static_cast<size_t>(i)], 1.0}, {z[static_cast<size_t>(k)][static_cast<size_t>(i) + 1], -1.0}},
              GLP_LO, 0.0, 0.0);
  for (int k = 0; k + 2 < K; ++k)
    for (int i = 0; i < n; ++i)
      add_row({{z[static_cast<size_t>(k) + 1][static_cast<size_t>(i)], 1.0}, {z[static_cast<size_t>(k)][static_cast<size_t>(i)], -1.0}},
              GLP_LO, 0.0, 0.0);
  // Per position: use, memory, compute and link expressions.
  std::vector<std::vector<std::pair<int, double>>> compute(static_cast<size_t>(K)), link(static_cast<size_t>(K));
  std::vector<double> compute_const(static_cast<size_t>(K), 0.0);
  for (int k = 0; k < K; ++k) {
    const int d = order[static_cast<size_t>(k)];
    const PlanDevice& dev = p.devices[static_cast<size_t>(d)];
    std::vector<std::pair<int, double>> count, memory;
    double count_const = 0, memory_const = 0;
    for (int i = 0; i < n; ++i) {
      const Terms e = x(k, i);
      const double mem = static_cast<double>(p.op_memory[static_cast<size_t>(i)]);
      const double sec = p.op_seconds[static_cast<size_t>(d)][static_cast<size_t>(i)];
      for (const auto& [c, v] : e.cols) {
        count.push_back({c, v});
        memory.push_back({c, v * mem});
        compute[static_cast<size_t>(k)].push_back({c, v * sec});
      }
      count_const += e.constant;
      memory_const += e.constant * mem;
      compute_const[static_cast<size_t>(k)] += e.constant * sec;
    }
    // sum_i x[k][i] - n u[k] <= 0
    count.push_back({u[static_cast<size_t>(k)], -static_cast<double>(n)});
    add_row(count, GLP_UP, 0.0, -count_const);
    // memory + overhead u[k] <= memory_k
    memory.push_back({u[static_cast<size_t>(k)], static_cast<double>(p.device_overhead_bytes)});
    add_row(memory, GLP_UP, 0.0, static_cast<double>(dev.memory_bytes) - memory_const);
    link[static_cast<size_t>(k)].push_back({u[static_cast<size_t>(k)], p.link.latency_s});
    if (k == 0) continue;
    for (int q = 0; q < n; ++q) {
      const int sc = s[static_cast<size_t>(k)][static_cast<size_t>(q)];
      if (!sc) continue;
      link[static_cast<size_t>(k)].push_back({sc, static_cast<double>(p.out_bytes[static_cast<size_t>(q)]) / p.link.bytes_per_s});
      for (int c : p.consumers[static_cast<size_t>(q)]) {
        // s - x[k][c] - z[k-1][q] >= -1
        std::vector<std::pair<int, double>> row{{sc, 1.0}};
        const Terms e = x(k, c);
        for (const auto& [col, v] : e.cols) row.push_back({col, -v});
        row.push_back({z[static_cast<size_t>(k) - 1][static_cast<size_t>(q)], -1.0});
        add_row(row, GLP_LO, -1.0 + e.constant, 0.0);
      }
    }
  }
  // Objective.
  if (o == Objective::kEnergy) {
    // min sum_k w_k (busy - idle) compute_k  subject to  sum_k compute_k + link_k <= bound.
    std::vector<std::pair<int, double>> latency_row;
    double latency_const = 0;
    for (int k = 0; k < K; ++k) {
      const PlanDevice& dev = p.devices[static_cast<size_t>(order[static_cast<size_t>(k)])];
      const double joules_per_s = dev.energy_weight() * (dev.power_busy_w - dev.power_idle_w);
      for (const auto& [c, v] : compute[static_cast<size_t>(k)]) {
        glp_set_obj_coef(lp.get(), c, glp_get_obj_coef(lp.get(), c) + joules_per_s * v);
        latency_row.push_back({c, v});
      }
      glp_set_obj_coef(lp.get(), 0, glp_get_obj_coef(lp.get(), 0) + joules_per_s * compute_const[static_cast<size_t>(k)]);
      latency_const += compute_const[static_cast<size_t>(k)];
      for (const auto& [c, v] : link[static_cast<size_t>(k)]) latency_row.push_back({c, v});
    }
    add_row(latency_row, GLP_UP, 0.0, p.latency_bound_s - latency_const);
  } else if (o == Objective::kLatency) {
    for (int k = 0; k < K; ++k) {
      for (const auto& [c, v] : compute[static_cast<size_t>(k)]) glp_set_obj_coef(lp.get(), c, glp_get_obj_coef(lp.get(), c) + v);
      for (const auto& [c, v] : link[static_cast<size_t>(k)]) glp_set_obj_coef(lp.get(), c, glp_get_obj_coef(lp.get(), c) + v);
      glp_set_obj_coef(lp.get(), 0, glp_get_obj_coef(lp.get(), 0) + compute_const[static_cast<size_t>(k)]);
    }
  } else {
    glp_set_obj_coef(lp.get(), period, 1.0);
    for (int k = 0; k < K; ++k) {
      auto stage = compute[static_cast<size_t>(k)];
      stage.push_back({period, -1.0});  // compute_k - P <= 0
      add_row(stage, GLP_UP, 0.0, -compute_const[static_cast<size_t>(k)]);
      auto wire = link[static_cast<size_t>(k)];
      wire.push_back({period, -1.0});
      add_row(wire, GLP_UP, 0.0, 0.0);
    }
  }
  glp_load_matrix(lp.get(), static_cast<int>(m.ia.size()) - 1, m.ia.data(), m.ja.data(), m.ar.data());

  glp_iocp params;
  glp_init_iocp(&params);
  params.presolve = GLP_ON;
  params.msg_lev = GLP_MSG_OFF;
  params.mip_gap = 0.0;
  params.tm_lim = 60000;
  const int rc = glp_intopt(lp.get(), &params);
  OrderResult r;
  const int status = glp_mip_status(lp.get());
  if (rc == GLP_ENOPFS || rc == GLP_ENODFS || status == GLP_NOFEAS) {
    r.value = std::numeric_limits<double>::infinity();
    return r;
  }
  if (rc != 0 || status != GLP_OPT)
    return Status::error("the MILP solver (GLPK) did not reach an optimum (code " + std::to_string(rc) + ", status " +
                         std::to_string(status) + "); try --solver dp");
  r.value = glp_mip_obj_val(lp.get());
  // Read the ranges back from the prefixes.
  int first = 0;
  for (int k = 0; k < K; ++k) {
    int end = n;
    if (k + 1 < K) {
      end = 0;
      while (end < n && glp_mip_col_val(lp.get(), z[static_cast<size_t>(k)][static_cast<size_t>(end)]) > 0.5) ++end;
    }
    if (end > first) r.segments.push_back({order[static_cast<size_t>(k)], first, end - 1});
    first = std::max(first, end);
  }
  return r;
}

}  // namespace lingua
