// Plan files: JSON out, JSON in with every field checked against the model.
#include "plan/plan_file.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/file_kind.h"
#include "core/output_file.h"

namespace lingua {

std::vector<int> PlanFile::starts() const {
  std::vector<int> out;
  for (size_t i = 1; i < segments.size(); ++i) out.push_back(segments[i].first_op);
  return out;
}

Status write_plan_file(const std::string& path, const std::string& model_path, const Graph& graph, const PlanProblem& p,
                       const Plan& plan, Objective objective) {
  nlohmann::json segs = nlohmann::json::array();
  for (const Assignment& a : plan.assignments)
    segs.push_back({{"device", p.devices[static_cast<size_t>(a.device)].name}, {"first_op", a.first_op}, {"last_op", a.last_op},
                    {"first_op_name", graph.op(a.first_op).name}, {"last_op_name", graph.op(a.last_op).name},
                    {"memory_bytes", a.memory_bytes}});
  const nlohmann::json doc = {{"format", "lingua-plan"}, {"version", 1}, {"model", model_path}, {"n_ops", graph.size()},
                              {"objective", objective_name(objective)}, {"name", plan.name},
                              {"predicted_tokens_per_s", plan.tokens_per_s(objective)}, {"segments", segs}};
  return write_output_file(path, doc.dump(2) + "\n");
}

Expected<PlanFile> read_plan_file(const std::string& path, const Graph& graph) {
  if (const std::string why = why_not_an_input_file(path); !why.empty())
    return Status::error("cannot open plan file '" + path + "': " + why);
  std::ifstream in(path);
  if (!in) return Status::error("cannot open plan file '" + path + "'");
  PlanFile plan;
  try {
    const nlohmann::json doc = nlohmann::json::parse(in);
    if (doc.value("format", "") != "lingua-plan" || doc.value("version", 0) != 1)
      return Status::error("'" + path + "' is not a lingua plan file (version 1)");
    const int n_ops = doc.at("n_ops").get<int>();
    if (n_ops != graph.size())
      return Status::error("plan '" + path + "' was made for a model of " + std::to_string(n_ops) + " ops, this one has " +
                           std::to_string(graph.size()) + " (made for " + doc.value("model", std::string("?")) + ")");
    plan.name = doc.value("name", std::string());
    plan.objective = doc.value("objective", std::string());
    int next = 0;
    for (const auto& s : doc.at("segments")) {
      PlanFileSegment seg{s.at("device").get<std::string>(), s.at("first_op").get<int>(), s.at("last_op").get<int>()};
      if (seg.first_op != next || seg.last_op < seg.first_op || seg.last_op >= graph.size())
        return Status::error("plan '" + path + "': segment " + std::to_string(plan.segments.size()) + " (ops " +
                             std::to_string(seg.first_op) + ".." + std::to_string(seg.last_op) +
                             ") does not continue the previous one within the model's ops");
      for (const auto& [key, op] : {std::pair{"first_op_name", seg.first_op}, std::pair{"last_op_name", seg.last_op}})
        if (s.at(key).get<std::string>() != graph.op(op).name)
          return Status::error("plan '" + path + "' names op " + std::to_string(op) + " '" + s.at(key).get<std::string>() +
                               "', but in this model it is '" + graph.op(op).name + "': the plan is for another model");
      next = seg.last_op + 1;
      plan.segments.push_back(std::move(seg));
    }
    if (next != graph.size()) return Status::error("plan '" + path + "' does not cover the model's last ops");
  } catch (const nlohmann::json::exception& e) {
    return Status::error("plan file '" + path + "' is malformed: " + std::string(e.what()));
  }
  return plan;
}

}  // namespace lingua
