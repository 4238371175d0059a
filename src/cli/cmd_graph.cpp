// `lingua graph`: a model's op graph with the cost of every op, its segments for a given cut
// (`--cuts K` cost-balanced, `--split I,J,...` explicit) and the transmission map between them,
// as a table, one JSON document (--json) or a Graphviz drawing (--dot).
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "cli/command.h"
#include "cli/format.h"
#include "cli/json_out.h"
#include "graph/cost_model.h"
#include "graph/partition.h"
#include "model/model.h"
#include "runtime/generator.h"

namespace lingua::cli {
namespace {

// 1234567 -> "1.23 M": FLOP counts span nine orders of magnitude in one column.
std::string human_count(double v) {
  char buf[32];
  if (v >= 1e9) std::snprintf(buf, sizeof buf, "%.2f G", v / 1e9);
  else if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.2f M", v / 1e6);
  else if (v >= 1e3) std::snprintf(buf, sizeof buf, "%.2f k", v / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

std::string join_ints(const std::vector<int>& v, const char* sep) {
  std::string s;
  for (int x : v) s += (s.empty() ? "" : sep) + std::to_string(x);
  return s;
}

// "3,17,40" -> {3,17,40}; the error names the piece that is not an integer.
std::string parse_split(const std::string& text, std::vector<int>& out) {
  size_t pos = 0;
  while (true) {
    const size_t comma = text.find(',', pos);
    const std::string piece = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    int v = 0;
    const char* end = piece.data() + piece.size();
    auto [p, ec] = std::from_chars(piece.data(), end, v);
    if (piece.empty()) return "--split has an empty op id in '" + text + "' (give ids like 3,17,40)";
    if (ec != std::errc() || p != end)
      return "--split takes comma-separated op ids, and '" + piece + "' in '" + text + "' is not one";
    out.push_back(v);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return "";
}

// Graphviz wants quotes and backslashes escaped inside "..." strings.
std::string dot_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o.push_back('\\');
    o.push_back(c);
  }
  return o;
}

class GraphCommand : public Command {
 public:
  const char* name() const override { return "graph"; }
  const char* summary() const override { return "show a model's op graph, costs, segments and transmissions"; }

  void setup(CLI::App& app) override {
    app.add_option("-m,--model", model_, "GGUF model file")->required();
    app.add_flag("--json", json_, "print one JSON document on stdout");
    app.add_flag("--dot", dot_, "print a Graphviz DOT drawing on stdout (render with dot -Tsvg)");
    cuts_opt_ = app.add_option("--cuts", cuts_, "K cost-balanced segments");
    app.add_option("--split", split_, "a new segment starts at each op id given: I,J,...");
    app.add_option("--context", shape_.context, "KV positions a decode step attends to, for costs")
        ->capture_default_str();
    app.add_option("--prompt", shape_.prompt, "prompt length, for prefill FLOPs")->capture_default_str();
  }

  int run() override {
    if (json_ && dot_) return fail(name(), "give either --json or --dot, not both");
    const bool have_cuts = cuts_opt_->count() > 0;
    if (have_cuts && !split_.empty()) return fail(name(), "give either --cuts or --split, not both");
    if (have_cuts && cuts_ < 1) return fail(name(), "--cuts must be 1 or more (got " + std::to_string(cuts_) + ")");
    std::vector<int> starts;
    if (!split_.empty())
      if (auto e = parse_split(split_, starts); !e.empty()) return fail(name(), e);
    if (shape_.context < 0) return fail(name(), "--context must be 0 or more");
    if (shape_.prompt < 1) return fail(name(), "--prompt must be 1 or more");

    auto model = Model::load(model_);
    if (!model) return fail(name(), model.error());
    const Graph& graph = (*model)->graph();
    if (have_cuts && cuts_ > graph.size())
      return fail(name(), "--cuts " + std::to_string(cuts_) + " is more segments than the graph has ops (" +
                              std::to_string(graph.size()) + ")");
    auto partition = partition_for(graph, starts, have_cuts ? cuts_ : 0);
    if (!partition) return fail(name(), partition.error());
    const Partition& part = *partition;

    costs_ = op_costs(graph, shape_);
    seconds_ = predicted_decode_seconds(costs_, default_compute_rates());
    transmissions_ = transmission_map(graph, part);

    if (json_) print_json_doc(graph, part);
    else if (dot_) print_dot(graph, part);
    else print_table(graph, part);
    std::fflush(stdout);
    return 0;
  }

 private:
  double segment_seconds(const Segment& s) const {
    double t = 0;
    for (int i = s.first_op; i <= s.last_op; ++i) t += seconds_[static_cast<size_t>(i)];
    return t;
  }

  void print_json_doc(const Graph& graph, const Partition& part) const {
    nlohmann::json ops = nlohmann::json::array();
    for (const Op& op : graph.ops()) {
      const OpCost& c = costs_[static_cast<size_t>(op.id)];
      ops.push_back({{"id", op.id}, {"name", op.name}, {"kind", op_kind_name(op.kind)}, {"inputs", op.inputs},
                     {"flops_prefill_per_token", c.flops_prefill_per_token}, {"flops_decode", c.flops_decode},
                     {"weight_bytes", c.weight_bytes}, {"kv_bytes_per_token", c.kv_bytes_per_token}, {"kv_window", c.kv_window},
                     {"out_bytes_per_token", c.out_bytes_per_token}, {"segment", part.segment_of(op.id)},
                     {"predicted_decode_s", seconds_[static_cast<size_t>(op.id)]}});
    }
    nlohmann::json segs = nlohmann::json::array();
    for (const Segment& s : part.segments())
      segs.push_back({{"first_op", s.first_op}, {"last_op", s.last_op},
                      {"weight_bytes", segment_weight_bytes(graph, s)}, {"predicted_decode_s", segment_seconds(s)}});
    nlohmann::json tx = nlohmann::json::array();
    for (const Transmission& t : transmissions_)
      tx.push_back({{"tensor", t.tensor}, {"op", t.op}, {"from", t.from}, {"to", t.to},
                    {"bytes_per_token", t.bytes_per_token}});
    print_json({{"model", model_}, {"context", shape_.context}, {"prompt", shape_.prompt}, {"ops", ops},
                {"segments", segs}, {"transmissions", tx}});
  }

  void print_table(const Graph& graph, const Partition& part) const {
    size_t name_w = 4, inputs_w = 6;
    for (const Op& op : graph.ops()) {
      name_w = std::max(name_w, op.name.size());
      inputs_w = std::max(inputs_w, join_ints(op.inputs, ",").size());
    }
    const int nw = static_cast<int>(name_w), iw = static_cast<int>(inputs_w);
    std::printf("%s: %d ops, %d segment%s (costs at context %lld; predicted with default_compute_rates)\n\n",
                model_.c_str(), graph.size(), part.size(), part.size() == 1 ? "" : "s",
                static_cast<long long>(shape_.context));
    std::printf("%4s  %-*s  %-10s  %-*s  %10s  %11s  %10s  %10s  %9s  %3s\n", "id", nw, "name", "kind", iw, "inputs",
                "weights", "FLOPs/tok", "KV/tok", "out/tok", "decode us", "seg");
    for (const Op& op : graph.ops()) {
      const OpCost& c = costs_[static_cast<size_t>(op.id)];
      std::printf("%4d  %-*s  %-10s  %-*s  %10s  %11s  %10s  %10s  %9.2f  %3d\n", op.id, nw, op.name.c_str(),
                  op_kind_name(op.kind), iw, join_ints(op.inputs, ",").c_str(),
                  c.weight_bytes ? human_bytes(c.weight_bytes).c_str() : "-", human_count(c.flops_decode).c_str(),
                  c.kv_bytes_per_token ? human_bytes(c.kv_bytes_per_token).c_str() : "-",
                  human_bytes(c.out_bytes_per_token).c_str(), seconds_[static_cast<size_t>(op.id)] * 1e6,
                  part.segment_of(op.id));
    }
    std::printf("\nsegments:\n%4s  %8s  %7s  %5s  %10s  %10s\n", "seg", "first_op", "last_op", "ops", "weights",
                "decode ms");
    for (int i = 0; i < part.size(); ++i) {
      const Segment& s = part.segments()[static_cast<size_t>(i)];
      std::printf("%4d  %8d  %7d  %5d  %10s  %10.3f\n", i, s.first_op, s.last_op, s.last_op - s.first_op + 1,
                  human_bytes(segment_weight_bytes(graph, s)).c_str(), segment_seconds(s) * 1e3);
    }
    std::printf("\ntransmissions:");
    if (transmissions_.empty()) {
      std::printf(" none (one segment)\n");
      return;
    }
    uint64_t total = 0;
    size_t tw = 6;
    for (const Transmission& t : transmissions_) tw = std::max(tw, t.tensor.size());
    std::printf("\n%4s  %-*s  %4s  %-8s  %10s\n", "op", static_cast<int>(tw), "tensor", "from", "to", "bytes/tok");
    for (const Transmission& t : transmissions_) {
      std::printf("%4d  %-*s  %4d  %-8s  %10s\n", t.op, static_cast<int>(tw), t.tensor.c_str(), t.from,
                  join_ints(t.to, ",").c_str(), human_bytes(t.bytes_per_token).c_str());
      total += t.bytes_per_token * t.to.size();
    }
    std::printf("total sent per token (each destination counted): %s\n", human_bytes(total).c_str());
  }

  void print_dot(const Graph& graph, const Partition& part) const {
    static const char* kFill[] = {"#dbe9f6", "#fde2c8", "#d9f2d0", "#f6d5e5", "#e8e0f5", "#fff2b3"};
    constexpr size_t kColors = sizeof kFill / sizeof kFill[0];
    std::printf("digraph lingua {\n");
    std::printf("  graph [rankdir=TB, fontname=\"Helvetica\", fontsize=11, nodesep=0.15, ranksep=0.22];\n");
    std::printf("  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"Helvetica\", fontsize=9, "
                "height=0.25, margin=\"0.06,0.02\"];\n");
    std::printf("  edge [color=\"#777777\", arrowsize=0.5, fontname=\"Helvetica\", fontsize=8];\n");
    uint64_t sent = 0;
    for (const Transmission& t : transmissions_) sent += t.bytes_per_token * t.to.size();
    const size_t slash = model_.find_last_of('/');
    const std::string base = slash == std::string::npos ? model_ : model_.substr(slash + 1);
    std::printf("  labelloc=t; label=\"%s: %d ops, %d segment%s, %s sent per token (red: across a cut)\";\n",
                dot_escape(base).c_str(), graph.size(), part.size(), part.size() == 1 ? "" : "s",
                human_bytes(sent).c_str());
    for (int i = 0; i < part.size(); ++i) {
      const Segment& s = part.segments()[static_cast<size_t>(i)];
      std::printf("  subgraph cluster_%d {\n", i);
      std::printf("    style=\"filled,rounded\"; fillcolor=\"%s\"; color=\"#999999\";\n",
                  kFill[static_cast<size_t>(i) % kColors]);
      std::printf("    label=\"segment %d: ops %d-%d, weights %s\";\n", i, s.first_op, s.last_op,
                  human_bytes(segment_weight_bytes(graph, s)).c_str());
      for (int id = s.first_op; id <= s.last_op; ++id) {
        const Op& op = graph.op(id);
        std::printf("    op%d [label=\"%d %s\\n%s\"];\n", id, id, dot_escape(op.name).c_str(), op_kind_name(op.kind));
      }
      std::printf("  }\n");
    }
    // A crossing tensor is sent once per destination segment: only the first edge into each
    // segment carries the size, further readers there get the same copy.
    std::set<std::pair<int, int>> labelled;  // (producer op, destination segment)
    for (const Op& op : graph.ops()) {
      const int to_seg = part.segment_of(op.id);
      for (int in : op.inputs) {
        if (part.segment_of(in) == to_seg) {
          std::printf("  op%d -> op%d;\n", in, op.id);
        } else if (labelled.insert({in, to_seg}).second) {
          std::printf("  op%d -> op%d [color=red, penwidth=2, fontcolor=red, label=\"%s/tok\"];\n", in, op.id,
                      human_bytes(costs_[static_cast<size_t>(in)].out_bytes_per_token).c_str());
        } else {
          std::printf("  op%d -> op%d [color=red, penwidth=2, style=dashed];\n", in, op.id);
        }
      }
    }
    std::printf("}\n");
  }

  std::string model_, split_;
  bool json_ = false, dot_ = false;
  int cuts_ = 0;
  CLI::Option* cuts_opt_ = nullptr;
  CostShape shape_;
  std::vector<OpCost> costs_;
  std::vector<double> seconds_;
  std::vector<Transmission> transmissions_;
};

}  // namespace

std::unique_ptr<Command> make_graph_command() { return std::make_unique<GraphCommand>(); }

}  // namespace lingua::cli
