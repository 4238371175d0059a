// `lingua bench`: prompt-processing and generation speed (tokens/s), as llama-bench measures.
#include <cstdio>

#include "cli/command.h"
#include "cli/cluster_json.h"
#include "cli/json_out.h"
#include "core/svg_chart.h"
#include "graph/cost_model.h"
#include "net/wire.h"
#include "plan/devices_file.h"
#include "runtime/bench.h"
#include "runtime/cluster_bench.h"
#include "plan/compute_profile.h"

namespace lingua::cli {
namespace {

class BenchCommand : public Command {
 public:
  const char* name() const override { return "bench"; }
  const char* summary() const override { return "measure prompt and generation speed"; }

  void setup(CLI::App& app) override {
    app.add_option("-m,--model", model_, "GGUF model file (required)");
    app.add_option("-p,--prompt-tokens", opts_.prompt_tokens, "prompt tokens (0 = skip)")->capture_default_str();
    app.add_option("-n,--gen-tokens", opts_.gen_tokens, "generated tokens (0 = skip)")->capture_default_str();
    app.add_option("-t,--threads", opts_.threads, "compute threads")->capture_default_str();
    app.add_option("-r,--repetitions", opts_.repetitions, "timed runs of each test")->capture_default_str();
    app.add_option("-b,--batch", opts_.batch, "prompt tokens per forward pass")->capture_default_str();
    app.add_option("--segments", opts_.segments, "cut into K cost-balanced segments and time each");
    app.add_option("--split", opts_.split, "cut at these op ids (see lingua graph) and time each segment")->delimiter(',');
    app.add_option("--only-segment", opts_.only_segment, "run only this segment (inputs fed as zeros): its speed and memory alone");
    app.add_option("--parallel", opts_.parallel, "also decode S sequences together (one batched forward per step): total tokens/s");
    app.add_option("--local-devices", opts_.local_devices,
                   "decode through K local worker processes (tg alone and, with --parallel, S sequences batched); no pp");
    app.add_flag("--predict", predict_, "measure this machine's compute rates and show each segment's predicted decode time");
    app.add_flag("--json", json_, "print one JSON document");
    cluster_ = app.add_subcommand("cluster", "run each plan on emulated local devices or the workers of a devices file: measured vs predicted tokens/s");
    cluster_->add_option("-m,--model", model_, "GGUF model file")->required();
    cluster_->add_option("--devices", devices_, "devices file (YAML), e.g. examples/hetero3.yaml")->required();
    cluster_->add_option("--plans", cluster_opts_.plans,
                         "plans to run, e.g. optimized,even,memory,single,balanced (balanced: the even split, re-planned live)")
        ->delimiter(',');
    cluster_->add_option("--slowdown", slowdowns_,
                         "scenario: device NAME turns FACTOR times slower after AFTER decode tokens (NAME:AFTER:FACTOR; repeatable)");
    cluster_->add_option("--plot-latency", plot_latency_, "also draw each plan's per-token latency over the run (SVG), migrations marked");
    cluster_->add_option("--streams", cluster_opts_.streams, "sequences in flight at once (pipelined)")->capture_default_str();
    cluster_->add_option("--objective", objective_, "what the optimized plan optimizes: latency | throughput | energy")
        ->capture_default_str();
    cluster_->add_option("-n,--gen-tokens", cluster_opts_.gen_tokens, "tokens generated per stream")->capture_default_str();
    cluster_->add_option("-c,--ctx-size", cluster_opts_.context, "KV positions planned per device (0 = the model's)")
        ->capture_default_str();
    cluster_->add_option("--wire-dtype", wire_dtype_, "activations on the wire: f32 | f16")->capture_default_str();
    cluster_->add_option("--plot", plot_, "also draw measured and predicted tokens/s per plan as an SVG bar chart");
    cluster_->add_flag("--cached-profile", cached_profile_, "use the cached machine profile instead of measuring it first (about 20 s)");
    cluster_->add_option("--keys", cluster_opts_.keys_dir, "devices with endpoints: the head's keys directory (default $LINGUA_KEYS or ~/.config/lingua/keys)");
    cluster_->add_flag("--insecure", cluster_opts_.insecure, "devices with endpoints: plain connections without CURVE keys");
    cluster_->add_flag("--allow-insecure-network", cluster_opts_.allow_insecure_network, "with --insecure: allow endpoints off this machine");
    cluster_->add_flag("--json", json_, "print one JSON document");
  }

  int run() override {
    if (cluster_->parsed()) return run_cluster();
    if (model_.empty()) return fail(name(), "-m MODEL is required");
    if (auto e = check_threads(opts_.threads); !e.empty()) return fail(name(), e);
    if (opts_.batch < 1) return fail(name(), "--batch must be at least 1");
    auto model = Model::load(model_);
    if (!model) return fail(name(), model.error());
    keep_weights_in_huge_pages(name(), **model);
    if (opts_.local_devices < 0) return fail(name(), "--local-devices must be 1 or more");
    opts_.model_path = model_;
    auto r = run_bench(**model, opts_);
    if (!r) return fail(name(), r.error());
    // Predictions use the mean decode context of the run: the cache grows from 0 to -n.
    std::vector<double> predicted;
    ComputeRates rates;
    if (predict_) {
      ThreadPool pool(opts_.threads);
      rates = measure_compute_rates(pool);
      const auto op_seconds =
          predicted_decode_seconds(op_costs((*model)->graph(), CostShape{opts_.prompt_tokens, opts_.gen_tokens / 2}), rates);
      for (const Segment& seg : r->segments) {
        double total = 0;
        for (int op = seg.first_op; op <= seg.last_op; ++op) total += op_seconds[static_cast<size_t>(op)];
        predicted.push_back(total);
      }
    }
    const bool segmented = r->segments.size() > 1 || opts_.only_segment >= 0;
    if (json_) {
      nlohmann::json doc = {{"model", model_}, {"threads", opts_.threads}, {"pp_tokens", opts_.prompt_tokens},
                            {"tg_tokens", opts_.gen_tokens}, {"pp_tokens_per_s", r->pp_tokens_per_s},
                            {"tg_tokens_per_s", r->tg_tokens_per_s}, {"weight_bytes", r->weight_bytes},
                            {"kv_bytes", r->kv_bytes}, {"peak_rss_bytes", r->peak_rss_bytes}};
      if (opts_.local_devices > 0) doc["local_devices"] = opts_.local_devices;
      if (opts_.parallel > 1) doc["tg_parallel"] = {{"sequences", opts_.parallel}, {"tokens_per_s", r->tg_parallel_tokens_per_s}};
      if (segmented || predict_) {
        nlohmann::json segs = nlohmann::json::array();
        for (size_t i = 0; i < r->segments.size(); ++i) {
          nlohmann::json seg = {{"first_op", r->segments[i].first_op}, {"last_op", r->segments[i].last_op},
                                {"weight_bytes", segment_weight_bytes((*model)->graph(), r->segments[i])},
                                {"decode_ms", r->segment_decode_seconds[i] * 1e3}};
          if (predict_) seg["predicted_decode_ms"] = predicted[i] * 1e3;
          segs.push_back(seg);
        }
        doc["segments"] = segs;
      }
      if (predict_) {
        nlohmann::json flops;
        for (DType t : profiled_types()) flops[dtype_name(t)] = rates.flops_for(t);
        doc["profile"] = {{"flops_per_s", flops}, {"bytes_per_s", rates.bytes_per_s}, {"seconds_per_op", rates.seconds_per_op}};
      }
      print_json(doc);
      return 0;
    }
    std::printf("| model | threads | test | tokens/s |\n|---|---:|---:|---:|\n");
    if (opts_.prompt_tokens > 0 && opts_.only_segment < 0 && opts_.local_devices == 0)
      std::printf("| %s | %d | pp%lld | %.2f |\n", model_.c_str(), opts_.threads,
                  static_cast<long long>(opts_.prompt_tokens), r->pp_tokens_per_s);
    if (opts_.gen_tokens > 0)
      std::printf("| %s | %d | tg%lld | %.2f |\n", model_.c_str(), opts_.threads,
                  static_cast<long long>(opts_.gen_tokens), r->tg_tokens_per_s);
    if (opts_.gen_tokens > 0 && opts_.parallel > 1)
      std::printf("| %s | %d | tg%lld x %d sequences | %.2f |\n", model_.c_str(), opts_.threads,
                  static_cast<long long>(opts_.gen_tokens), opts_.parallel, r->tg_parallel_tokens_per_s);
    if (segmented || predict_) {
      std::printf("\n| segment | ops | weights MiB | decode ms |%s\n|---|---|---:|---:|%s\n",
                  predict_ ? " predicted ms | measured/predicted |" : "", predict_ ? "---:|---:|" : "");
      for (size_t i = 0; i < r->segments.size(); ++i) {
        const Segment& seg = r->segments[i];
        const int index = opts_.only_segment >= 0 ? opts_.only_segment : static_cast<int>(i);
        std::printf("| %d | %d..%d | %.1f | %.3f |", index, seg.first_op, seg.last_op,
                    static_cast<double>(segment_weight_bytes((*model)->graph(), seg)) / (1 << 20),
                    r->segment_decode_seconds[i] * 1e3);
        if (predict_) std::printf(" %.3f | %.2f |", predicted[i] * 1e3, r->segment_decode_seconds[i] / predicted[i]);
        std::printf("\n");
      }
      std::printf("\npeak resident memory: %.1f MiB (weights in the file: %.1f MiB)\n",
                  static_cast<double>(r->peak_rss_bytes) / (1 << 20), static_cast<double>(r->weight_bytes) / (1 << 20));
    }
    return 0;
  }

 private:
  int run_cluster() {
    auto objective = parse_objective(objective_);
    if (!objective) return fail("bench cluster", objective.error());
    auto wire = parse_wire_dtype(wire_dtype_);
    if (!wire) return fail("bench cluster", wire.error());
    cluster_opts_.objective = *objective;
    cluster_opts_.wire_dtype = *wire;
    cluster_opts_.model_path = model_;
    cluster_opts_.refresh_profile = !cached_profile_;
    for (const std::string& p : cluster_opts_.plans)
      if (p != "optimized" && p != "even" && p != "memory" && p != "single" && p != "balanced")
        return fail("bench cluster", "unknown plan '" + p + "' (supported: optimized, even, memory, single, balanced)");
    for (const std::string& text : slowdowns_) {
      auto sc = parse_slowdown_scenario(text);
      if (!sc) return fail("bench cluster", sc.error());
      cluster_opts_.slowdowns.push_back(*sc);
    }
    auto file = load_devices_file(devices_);
    if (!file) return fail("bench cluster", file.error());
    auto model = Model::load(model_);
    if (!model) return fail("bench cluster", model.error());
    auto rows = run_cluster_bench(**model, *file, cluster_opts_,
                                  [](const std::string& line) { std::fprintf(stderr, "lingua bench cluster: %s\n", line.c_str()); });
    if (!rows) return fail("bench cluster", rows.error());
    if (!plot_.empty()) {
      std::vector<BarGroup> groups;
      for (const ClusterBenchRow& r : *rows)
        if (r.ran) groups.push_back({r.plan, {r.tokens_per_s, r.predicted_tokens_per_s}});
      const std::string title = std::string("tokens/s, ") + std::to_string(cluster_opts_.streams) + " stream(s), " +
                                objective_name(*objective) + " objective";
      if (Status st = write_chart(plot_, bar_chart_svg(title, {"measured", "predicted"}, groups)); !st)
        return fail("bench cluster", st.message());
      std::fprintf(stderr, "lingua bench cluster: wrote %s\n", plot_.c_str());
    }
    if (!plot_latency_.empty()) {
      std::vector<LineSeries> series;
      std::vector<ChartMarker> markers;
      for (const ClusterBenchRow& r : *rows) {
        if (!r.ran || r.per_token_ms.empty()) continue;
        series.push_back({r.plan, r.per_token_ms});
        int64_t last = -1;
        for (const Migration& m : r.migrations)
          if (m.at_token != last) {
            markers.push_back({static_cast<double>(m.at_token), r.plan + ": migration " + m.from + "->" + m.to});
            last = m.at_token;
          }
      }
      std::string title = "ms per token (stream 0)";
      for (const SlowdownScenario& sc : cluster_opts_.slowdowns)
        title += ", " + sc.device + " " + format_factor(sc.factor) + "x slower from token " + std::to_string(sc.after_tokens);
      if (Status st = write_chart(plot_latency_, line_chart_svg(title, "token", "ms", series, markers)); !st)
        return fail("bench cluster", st.message());
      std::fprintf(stderr, "lingua bench cluster: wrote %s\n", plot_latency_.c_str());
    }
    if (json_) {
      nlohmann::json results = nlohmann::json::array();
      for (const ClusterBenchRow& r : *rows) {
        nlohmann::json links = nlohmann::json::array();
        for (const auto& l : r.links) links.push_back({{"from", l.from}, {"to", l.to}, {"bytes_per_token", l.bytes_per_token}});
        results.push_back({{"plan", r.plan}, {"ran", r.ran}, {"note", r.note}, {"tokens_per_s", r.tokens_per_s},
                           {"predicted_tokens_per_s", r.predicted_tokens_per_s}, {"bytes_per_token", r.bytes_per_token},
                           {"links", links}, {"devices", r.devices}, {"per_token_ms", r.per_token_ms}});
        nlohmann::json migrations = nlohmann::json::array();
        for (const Migration& m : r.migrations)
          migrations.push_back({{"at_token", m.at_token}, {"from", m.from}, {"to", m.to}, {"ops", {m.first_op, m.last_op}}, {"ms", m.ms}});
        results.back()["migrations"] = migrations;
        results.back()["link_remeasures"] = link_remeasures_json(r.link_remeasures);
        results.back()["failovers"] = r.failovers;
        results.back()["final_plan"] = r.final_plan;
        nlohmann::json monitor = nlohmann::json::array();
        for (const DeviceEstimate& e : r.monitor)
          if (e.measured)
            monitor.push_back({{"device", e.name}, {"compute_ms_per_step", e.compute_s * 1000}, {"predicted_ms", e.predicted_s * 1000},
                               {"speed_factor", e.speed_factor}, {"wait_ms", e.wait_s * 1000}, {"link_ms", e.link_s * 1000}});
        results.back()["monitor"] = monitor;
        if (!r.cluster.devices.empty()) {  // remote devices: what this run measured and priced
          results.back()["priced_links"] = links_json(r.cluster);
          results.back()["device_figures"] = device_figures_json(r.cluster);
          results.back()["notes"] = r.notes;
        }
      }
      print_json({{"model", model_}, {"devices", devices_}, {"streams", cluster_opts_.streams},
                  {"objective", objective_name(*objective)}, {"gen_tokens", cluster_opts_.gen_tokens}, {"results", results}});
      return 0;
    }
    std::printf("model %s; devices %s; %d stream(s); objective %s; %d tokens per stream\n\n", model_.c_str(), devices_.c_str(),
                cluster_opts_.streams, objective_name(*objective), cluster_opts_.gen_tokens);
    std::printf("| plan | measured tok/s | predicted tok/s | measured/predicted | bytes/token | devices |\n|---|---:|---:|---:|---:|---|\n");
    for (const ClusterBenchRow& r : *rows) {
      if (!r.ran) {
        std::printf("| %s | - | - | - | - | not run: %s |\n", r.plan.c_str(), r.note.c_str());
        continue;
      }
      std::string devs;
      for (const auto& d : r.devices) devs += (devs.empty() ? "" : " ") + d;
      if (!r.migrations.empty())
        devs += " -> " + r.final_plan + " (" + std::to_string(r.migrations.size()) + " range(s) moved, first at token " +
                std::to_string(r.migrations.front().at_token) + ")";
      std::printf("| %s | %.2f | %.2f | %.2f | %llu | %s |\n", r.plan.c_str(), r.tokens_per_s, r.predicted_tokens_per_s,
                  r.predicted_tokens_per_s > 0 ? r.tokens_per_s / r.predicted_tokens_per_s : 0.0,
                  static_cast<unsigned long long>(r.bytes_per_token), devs.c_str());
    }
    return 0;
  }

  static std::string format_factor(double f) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", f);
    return b;
  }
  // NAME:AFTER:FACTOR, e.g. b:8:3
  static Expected<SlowdownScenario> parse_slowdown_scenario(const std::string& text) {
    const auto a = text.find(':'), b = text.rfind(':');
    const std::string bad = "--slowdown '" + text + "' is not NAME:AFTER_TOKENS:FACTOR (e.g. b:8:3)";
    if (a == std::string::npos || a == b || a == 0) return Status::error(bad);
    SlowdownScenario sc;
    sc.device = text.substr(0, a);
    try {
      size_t used = 0;
      const std::string after = text.substr(a + 1, b - a - 1), factor = text.substr(b + 1);
      sc.after_tokens = std::stoll(after, &used);
      if (used != after.size()) return Status::error(bad);
      sc.factor = std::stod(factor, &used);
      if (used != factor.size()) return Status::error(bad);
    } catch (const std::exception&) {
      return Status::error(bad);
    }
    if (sc.after_tokens < 0 || !(sc.factor >= 1) || sc.factor > 1000)
      return Status::error("--slowdown '" + text + "': AFTER must be 0 or more and FACTOR between 1 and 1000");
    return sc;
  }

  std::string model_, devices_, objective_ = "latency", wire_dtype_ = "f32", plot_, plot_latency_;
  std::vector<std::string> slowdowns_;
  bool cached_profile_ = false;
  CLI::App* cluster_ = nullptr;
  ClusterBenchOptions cluster_opts_;
  BenchOptions opts_;
  bool json_ = false, predict_ = false;
};

}  // namespace

std::unique_ptr<Command> make_bench_command() { return std::make_unique<BenchCommand>(); }

}  // namespace lingua::cli
