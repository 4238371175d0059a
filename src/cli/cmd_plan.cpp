// `lingua plan`: the optimized assignment of a model to the devices of a devices file, beside the
// even, memory-proportional and single-device baselines, priced by the same cost model.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "cli/command.h"
#include "cli/cluster_json.h"
#include "cli/json_out.h"
#include "graph/cost_model.h"
#include "model/model.h"
#include "plan/cluster_plans.h"
#include "plan/plan_file.h"
#include "plan/planner.h"
#include "plan/units.h"
#include "runtime/survey.h"

namespace lingua::cli {
namespace {

// "3-7" for the blocks an op range touches, "-" when none (embedding or output only).
std::string layers_of(const Graph& g, const Assignment& a) {
  int lo = -1, hi = -1;
  for (int i = a.first_op; i <= a.last_op; ++i) {
    int b = -1;
    if (std::sscanf(g.op(i).name.c_str(), "blk.%d.", &b) != 1) continue;
    if (lo < 0) lo = b;
    hi = b;
  }
  if (lo < 0) return "-";
  return lo == hi ? std::to_string(lo) : std::to_string(lo) + "-" + std::to_string(hi);
}

class PlanCommand : public Command {
 public:
  const char* name() const override { return "plan"; }
  const char* summary() const override { return "assign a model's ops to devices (optimized and baseline plans)"; }

  void setup(CLI::App& app) override {
    app.add_option("-m,--model", model_, "GGUF model file")->required();
    app.add_option("--devices", devices_, "devices file (YAML, see examples/hetero3.yaml)")->required();
    app.add_option("--objective", objective_, "latency | throughput | energy")->capture_default_str();
    app.add_option("--latency-bound-ms", latency_bound_ms_,
                   "energy objective: the slowest token time allowed (0 = 1.5x the fastest plan's)")
        ->capture_default_str();
    app.add_option("--solver", solver_, "dp (exact dynamic program) | milp (GLPK)")->capture_default_str();
    app.add_option("--pick", pick_, "plan written by --out: optimized | even | memory | single")->capture_default_str();
    app.add_option("--out", out_, "write the picked plan here, for generate --plan");
    app.add_option("--evaluate", evaluate_,
                   "also price this plan file (lingua plan --out) on these devices, as the row 'evaluated': how a plan made "
                   "elsewhere (from other figures) would do here");
    app.add_option("-c,--ctx-size", context_, "KV cache positions each device must hold (0 = the model's)")
        ->capture_default_str();
    app.add_flag("--refresh-profile", refresh_, "measure this machine again instead of using the cached profile");
    app.add_option("--keys", keys_, "devices with endpoints: the head's keys directory (default $LINGUA_KEYS or ~/.config/lingua/keys)");
    app.add_flag("--insecure", insecure_, "devices with endpoints: plain connections without CURVE keys (loopback only)");
    app.add_flag("--allow-insecure-network", allow_insecure_network_, "with --insecure: allow endpoints off this machine");
    app.add_flag("--no-measure", no_measure_,
                 "do not reach the workers of devices with endpoints: price them from the file and this machine's profile");
    app.add_flag("--json", json_, "print one JSON document");
  }

  int run() override {
    auto objective = parse_objective(objective_);
    if (!objective) return fail(name(), objective.error());
    if (solver_ != "dp" && solver_ != "milp") return fail(name(), "unknown solver '" + solver_ + "' (supported: dp, milp)");
    if (pick_ != "optimized" && pick_ != "even" && pick_ != "memory" && pick_ != "single")
      return fail(name(), "unknown plan '" + pick_ + "' for --pick (supported: optimized, even, memory, single)");
    if (context_ < 0) return fail(name(), "--ctx-size must be 0 (the model's) or more");
    auto file = load_devices_file(devices_);
    if (!file) return fail(name(), file.error());
    auto model = Model::load(model_);
    if (!model) return fail(name(), model.error());
    const Graph& graph = (*model)->graph();
    if (latency_bound_ms_ < 0) return fail(name(), "--latency-bound-ms must be 0 (automatic) or more");
    ClusterPlanOptions po;
    po.objective = *objective;
    po.solver = solver_ == "dp" ? Solver::kDp : Solver::kMilp;
    po.context = context_;
    po.train_context = (*model)->train_context();
    po.latency_bound_s = latency_bound_ms_ / 1e3;
    po.refresh_profile = refresh_;
    bool remote = false;
    for (const DeviceSpec& d : file->devices) remote |= !d.endpoint.empty();
    if (remote && !no_measure_) {
      // The workers say what they measured about themselves; the links between them are probed.
      ReachOptions ro;
      ro.keys_dir = keys_;
      ro.insecure = insecure_;
      ro.allow_insecure_network = allow_insecure_network_;
      if (!json_) std::fprintf(stderr, "lingua plan: reaching the workers of %s and measuring the links between them\n", devices_.c_str());
      auto survey = survey_devices(*file, ro);
      if (!survey) return fail(name(), survey.error());
      po.measured = survey->measured;
      for (const SurveyedDevice& d : survey->devices)
        if (!d.reached && !d.endpoint.empty())
          po.measured.notes.push_back(d.name + " not reached (priced from the file and this machine's profile): " + d.error);
    }
    auto planned = plan_cluster(graph, *file, po);
    if (!planned) return fail(name(), planned.error());
    const Cluster* cluster = &planned->cluster;
    const PlanProblem& problem = planned->problem;
    std::vector<Plan> plans = planned->plans;
    if (!evaluate_.empty()) {
      auto given = read_plan_file(evaluate_, graph);
      if (!given) return fail(name(), given.error());
      std::vector<Assignment> segments;
      for (const PlanFileSegment& s : given->segments) {
        auto it = std::find_if(problem.devices.begin(), problem.devices.end(), [&](const PlanDevice& d) { return d.name == s.device; });
        if (it == problem.devices.end())
          return fail(name(), "plan '" + evaluate_ + "' puts ops on device '" + s.device + "', which " + devices_ + " does not list");
        Assignment a;
        a.device = static_cast<int>(it - problem.devices.begin());
        a.first_op = s.first_op;
        a.last_op = s.last_op;
        segments.push_back(a);
      }
      plans.push_back(evaluate_plan(problem, "evaluated", std::move(segments)));
    }
    const Plan* optimized = &plans.front();
    const std::string& single_note = planned->single_note;
    const bool single = single_note.empty();
    const double solve_ms = planned->solve_ms;
    const int64_t context = context_ > 0 ? context_ : std::max<int64_t>(1, (*model)->train_context());
    if (!out_.empty()) {
      auto picked = planned->pick(pick_);
      if (!picked) return fail(name(), "cannot write the plan: " + picked.error());
      if (auto st = write_plan_file(out_, model_, graph, problem, *picked, *objective); !st.is_ok())
        return fail(name(), st.message());
    }
    if (json_) {
      nlohmann::json list = nlohmann::json::array();
      for (const Plan& p : plans) {
        nlohmann::json assignments = nlohmann::json::array();
        for (const Assignment& a : p.assignments)
          assignments.push_back({{"device", problem.devices[static_cast<size_t>(a.device)].name}, {"first_op", a.first_op},
                                 {"last_op", a.last_op}, {"layers", layers_of(graph, a)}, {"memory_bytes", a.memory_bytes},
                                 {"memory_budget_bytes", problem.devices[static_cast<size_t>(a.device)].memory_bytes},
                                 {"compute_ms", a.compute_s * 1e3}, {"link_ms", a.link_s * 1e3}});
        list.push_back({{"name", p.name}, {"predicted_tokens_per_s", p.feasible ? p.tokens_per_s(*objective) : 0.0},
                        {"latency_ms", p.latency_s * 1e3}, {"period_ms", p.period_s * 1e3},
                        {"joules_per_token", p.energy_j}, {"feasible", p.feasible},
                        {"note", p.note}, {"assignments", assignments}});
      }
      print_json({{"model", model_}, {"devices", devices_}, {"objective", objective_name(*objective)}, {"solver", solver_},
                  {"solve_ms", solve_ms}, {"context", context}, {"notes", cluster->notes},
                  {"links", links_json(*cluster)}, {"device_figures", device_figures_json(*cluster)}, {"plans", list},
                  {"single_note", single_note}});
      return 0;
    }
    std::printf("model %s, %d ops; devices %s; objective %s; solver %s (%.1f ms); context %lld\n", model_.c_str(),
                graph.size(), devices_.c_str(), objective_name(*objective), solver_.c_str(), solve_ms,
                static_cast<long long>(context));
    for (const std::string& n : cluster->notes) std::printf("  %s\n", n.c_str());
    if (!problem.links_uniform()) {
      std::printf("\nper-pair links (the others are the default, %s, %s):\n| from | to | bandwidth | latency | source |\n"
                  "|---|---|---:|---:|---|\n",
                  format_bandwidth(problem.link.bytes_per_s).c_str(), format_duration(problem.link.latency_s).c_str());
      for (size_t a = 0; a < problem.devices.size(); ++a)
        for (size_t b = 0; b < problem.devices.size(); ++b) {
          const PlanLink& l = problem.link_between(static_cast<int>(a), static_cast<int>(b));
          if (a == b || l == problem.link) continue;
          std::printf("| %s | %s | %s | %s | %s |\n", problem.devices[a].name.c_str(), problem.devices[b].name.c_str(),
                      format_bandwidth(l.bytes_per_s).c_str(), format_duration(l.latency_s).c_str(),
                      a < cluster->link_sources.size() ? cluster->link_sources[a][b].c_str() : kLinkDefault);
        }
    }
    std::printf("\n| plan | tokens/s | latency ms | slowest stage ms | J/token | fits |\n|---|---:|---:|---:|---:|---|\n");
    for (const Plan& p : plans)
      std::printf("| %s | %.2f | %.1f | %.1f | %.3f | %s |\n", p.name.c_str(), p.feasible ? p.tokens_per_s(*objective) : 0.0,
                  p.latency_s * 1e3, p.period_s * 1e3, p.energy_j, p.feasible ? "yes" : ("no: " + p.note).c_str());
    if (!single) std::printf("| single | - | - | - | - | no: %s |\n", single_note.c_str());
    if (*objective == Objective::kEnergy) std::printf("optimized: %s\n", optimized->note.c_str());
    for (const Plan& p : plans) {
      std::printf("\n%s plan:\n| device | ops | layers | memory used / budget | compute ms | link ms |\n|---|---|---|---|---:|---:|\n",
                  p.name.c_str());
      for (const Assignment& a : p.assignments) {
        const PlanDevice& d = problem.devices[static_cast<size_t>(a.device)];
        std::printf("| %s | %d..%d | %s | %s / %s | %.2f | %.2f |\n", d.name.c_str(), a.first_op, a.last_op,
                    layers_of(graph, a).c_str(), format_bytes(a.memory_bytes).c_str(), format_bytes(d.memory_bytes).c_str(),
                    a.compute_s * 1e3, a.link_s * 1e3);
      }
    }
    if (!out_.empty()) std::printf("\nwrote the %s plan to %s\n", pick_.c_str(), out_.c_str());
    return 0;
  }

 private:
  std::string model_, devices_, objective_ = "latency", solver_ = "dp", pick_ = "optimized", out_, evaluate_;
  int64_t context_ = 0;
  double latency_bound_ms_ = 0;
  std::string keys_;
  bool refresh_ = false, json_ = false, insecure_ = false, allow_insecure_network_ = false, no_measure_ = false;
};

}  // namespace

std::unique_ptr<Command> make_plan_command() { return std::make_unique<PlanCommand>(); }

}  // namespace lingua::cli
