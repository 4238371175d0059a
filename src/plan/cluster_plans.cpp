// plan_cluster: profile -> problem -> the optimized plan and the baselines.
#include "plan/cluster_plans.h"

#include <chrono>

namespace lingua {

Expected<Plan> ClusterPlans::pick(const std::string& name) const {
  for (const Plan& p : plans)
    if (p.name == name) {
      if (!p.feasible) return Status::error("the " + name + " plan does not fit: " + p.note);
      return p;
    }
  if (name == "single") return Status::error("no single-device plan: " + single_note);
  return Status::error("unknown plan '" + name + "' (supported: optimized, even, memory, single)");
}

Expected<ClusterPlans> plan_cluster(const Graph& graph, const DevicesFile& devices, const ClusterPlanOptions& o) {
  ClusterPlans r;
  LINGUA_ASSIGN_OR_RETURN(r.cluster, make_cluster(devices, o.measured.profiles, o.refresh_profile));
  apply_measured_links(r.cluster, o.measured);
  const int64_t context = o.context > 0 ? o.context : std::max<int64_t>(1, o.train_context);
  const auto costs = op_costs(graph, CostShape{64, o.decode_position > 0 ? o.decode_position : context / 2});
  r.problem = make_plan_problem(graph, costs, r.cluster.devices, r.cluster.link, context);
  if (!r.cluster.links.empty()) r.problem.links = r.cluster.links;  // what the runtime shapes, per pair
  r.problem.head_links = r.cluster.head_links;
  r.problem.latency_bound_s = o.latency_bound_s;
  const auto t0 = std::chrono::steady_clock::now();
  LINGUA_ASSIGN_OR_RETURN(Plan optimized, plan_optimized(r.problem, o.objective, o.solver));
  r.solve_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  r.plans = {optimized, plan_even(r.problem, graph), plan_memory(r.problem, graph)};
  auto single = plan_single(r.problem);
  if (single) r.plans.push_back(*single);
  else r.single_note = single.error();
  return r;
}

}  // namespace lingua
