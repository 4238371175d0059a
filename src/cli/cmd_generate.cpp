// `lingua generate`: answer a prompt with a model, streaming text to stdout (or one JSON
// document with --json) and timings to stderr.
#include <algorithm>
#include <cstdio>
#include <random>

#include "cli/chat_prompt.h"
#include "cli/cluster_start.h"
#include "cli/command.h"
#include "cli/cluster_json.h"
#include "cli/json_out.h"
#include "model/chat_template.h"
#include "model/model.h"
#include "plan/plan_file.h"
#include "plan/cluster_plans.h"
#include "runtime/cluster_run.h"
#include "runtime/generator.h"

namespace lingua::cli {
namespace {

class GenerateCommand : public Command {
 public:
  const char* name() const override { return "generate"; }
  const char* summary() const override { return "continue a prompt with a model"; }

  void setup(CLI::App& app) override {
    app.add_option("-m,--model", model_, "GGUF model file")->required();
    app.add_option("-p,--prompt", prompt_, "prompt text (\"\" = BOS only)")->required();
    app.add_option("-n,--n-predict", n_, "tokens to generate")->capture_default_str();
    app.add_option("--temp", opts_.sampling.temperature, "temperature (0 = greedy)")->capture_default_str();
    app.add_option("--top-k", opts_.sampling.top_k, "keep the K most likely tokens (0 = all)")->capture_default_str();
    app.add_option("--top-p", opts_.sampling.top_p, "nucleus sampling mass")->capture_default_str();
    app.add_option("--min-p", opts_.sampling.min_p, "drop tokens below this fraction of the best")->capture_default_str();
    app.add_option("--repeat-penalty", opts_.sampling.repeat_penalty, "penalty for recent tokens (1 = off)")
        ->capture_default_str();
    app.add_option("--repeat-last-n", opts_.sampling.repeat_last_n, "how many recent tokens the penalty sees")
        ->capture_default_str();
    seed_opt_ = app.add_option("--seed", seed_, "random seed, 0 or more (default: a random one, printed)");
    app.add_option("-t,--threads", threads_, "compute threads")->capture_default_str();
    app.add_option("-c,--ctx-size", opts_.context, "context size in tokens (0 = the model's, at most " +
                   std::to_string(Model::kMaxDefaultContext) + " and what fits in memory)")->capture_default_str();
    app.add_option("-b,--batch", opts_.batch, "prompt tokens per forward pass")->capture_default_str();
    app.add_flag("--truncate", opts_.truncate_prompt, "drop the oldest prompt tokens when the prompt is too long");
    app.add_flag("--ignore-eos", opts_.ignore_eos, "keep generating past end-of-text");
    app.add_flag("--special", opts_.parse_special, "parse special-token text such as <s> in the prompt");
    app.add_flag("--chat", chat_, "format -p as one user message with the model's chat template (tokenizer.chat_template), "
                 "ending with the assistant's turn; special tokens parsed");
    app.add_option("--chat-template", chat_template_, "Jinja chat template file to use instead of the model's "
                   "(implies --chat)");
    segments_opt_ =
        app.add_option("--segments", opts_.segments, "run as K cost-balanced segments in this process (tests, debugging)");
    app.add_option("--split", opts_.split, "run as segments starting at these op ids, e.g. 40,81 (see lingua graph)")
        ->delimiter(',');
    app.add_option("--plan", plan_, "run the segments of a plan file (lingua plan --out): on its devices with "
                   "--devices/--local-devices, otherwise in this process");
    local_devices_opt_ =
        app.add_option("--local-devices", local_devices_, "split the model across K worker processes started here");
    app.add_option("--devices", devices_, "devices file (YAML): plan on these devices and run there");
    app.add_option("--wire-dtype", wire_dtype_, "activations on the wire: f32 (exact) | f16 (half the bytes)")
        ->capture_default_str();
    app.add_option("--keys", keys_, "the head's key directory (lingua.key, workers/NAME.pub); default $LINGUA_KEYS "
                   "or ~/.config/lingua/keys");
    app.add_flag("--insecure", insecure_, "plain sockets to the workers (loopback only, unless --allow-insecure-network)");
    app.add_flag("--allow-insecure-network", allow_insecure_network_, "allow --insecure beyond loopback");
    app.add_flag("--no-balance", no_balance_, "with devices: keep the plan as it started (no live re-planning; failover stays on)");
    app.add_flag("--json", json_, "print one JSON document on stdout");
  }

  int run() override {
    if (n_ < 1) return fail(name(), "-n must be at least 1 (got " + std::to_string(n_) + ")");
    if (auto e = check_threads(threads_); !e.empty()) return fail(name(), e);
    if (opts_.batch < 1) return fail(name(), "--batch must be at least 1");
    if (opts_.context < 0) return fail(name(), "--ctx-size must be 0 (the model's) or more");
    if (segments_opt_->count() > 0 && opts_.segments < 1)
      return fail(name(), "--segments must be 1 or more (got " + std::to_string(opts_.segments) + ")");
    if (seed_opt_->count() > 0 && seed_ < 0)
      return fail(name(), "--seed must be 0 or more (got " + std::to_string(seed_) + "; leave it out for a random one)");
    if (seed_opt_->count() == 0) seed_ = static_cast<int64_t>(std::random_device{}() & 0x7fffffff);
    opts_.sampling.seed = static_cast<uint64_t>(seed_);
    opts_.n_predict = n_;
    if (auto st = validate(opts_.sampling); !st.is_ok()) return fail(name(), st.message());

    auto model = Model::load(model_);
    if (!model) return fail(name(), model.error());
    if (chat_ || !chat_template_.empty()) {
      jinja::Dict message;
      message.set("role", jinja::Value::string("user"));
      message.set("content", jinja::Value::string(prompt_));
      auto rendered = render_chat_prompt((*model)->file(), (*model)->vocab(), chat_template_,
                                         jinja::Value::list({jinja::Value::dict(std::move(message))}), true);
      if (!rendered) return fail(name(), rendered.error());
      prompt_ = std::move(*rendered);
      opts_.parse_special = true;
      // A template that writes the BOS text itself gets no second one (as llama.cpp).
      opts_.no_bos = starts_with_bos_text((*model)->vocab(), prompt_);
    }
    // Resolved here, once, so the cluster and the in-process run get the same context and the
    // user hears about it before the output starts.
    const bool on_devices = local_devices_opt_->count() > 0 || !devices_.empty();
    std::vector<std::string> notes;
    auto context = choose_context(**model, opts_.context, !on_devices, notes);
    if (!context) return fail(name(), context.error());
    opts_.context = *context;
    for (const std::string& note : notes) std::fprintf(stderr, "lingua: %s\n", note.c_str());
    std::unique_ptr<ClusterRun> cluster;
    if (local_devices_opt_->count() > 0 || !devices_.empty()) {
      auto run = start_cluster(**model);
      if (!run) return fail(name(), run.error());
      cluster = std::move(*run);
      opts_.pipeline = cluster.get();
    } else if (!plan_.empty()) {
      if (!opts_.split.empty() || opts_.segments > 1) return fail(name(), "give --plan or --split/--segments, not both");
      auto plan = read_plan_file(plan_, (*model)->graph());
      if (!plan) return fail(name(), plan.error());
      opts_.split = plan->starts();
      std::fprintf(stderr, "lingua: running the %s plan from %s as %zu segments in this process\n", plan->name.c_str(),
                   plan_.c_str(), plan->segments.size());
    }
    if (!cluster) keep_weights_in_huge_pages(name(), **model);
    Generator gen(**model, threads_);
    auto on_text = [&](const std::string& piece) {
      if (json_) return;
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    };
    auto result = gen.generate(prompt_, opts_, on_text);
    if (!result) return fail(name(), result.error());
    const auto& r = *result;
    const double pp = r.prompt_ms > 0 ? r.prompt_tokens.size() * 1000.0 / r.prompt_ms : 0;
    // Forward passes over their time: the last token is sampled without one.
    const double tg = r.gen_ms > 0 ? static_cast<double>(r.per_token_ms.size()) * 1000.0 / r.gen_ms : 0;
    if (json_) {
      nlohmann::json doc;
      doc["tokens"] = r.tokens;
      doc["text"] = r.text;
      doc["prompt_tokens"] = r.prompt_tokens;
      doc["devices"] = cluster ? static_cast<int>(cluster->remote().all_devices().size()) : 1;
      doc["segments"] = r.segments;
      doc["stop_reason"] = r.stop_reason;
      doc["seed"] = seed_;
      doc["timings"] = {{"prompt_tokens_per_s", pp}, {"gen_tokens_per_s", tg}, {"per_token_ms", r.per_token_ms}};
      doc["migrations"] = nlohmann::json::array();
      if (cluster) {
        for (const Migration& m : cluster->migrations())
          doc["migrations"].push_back({{"at_token", m.at_token}, {"from", m.from}, {"to", m.to}, {"ops", {m.first_op, m.last_op}},
                                       {"ms", m.ms}, {"kv_bytes", m.kv_bytes}});
        doc["link_remeasures"] = link_remeasures_json(cluster->link_remeasures());
        doc["failovers"] = nlohmann::json::array();
        for (const Failover& f : cluster->failovers())
          doc["failovers"].push_back({{"at_token", f.at_token}, {"device", f.device}, {"what", f.what}, {"new_plan", f.new_plan}, {"ms", f.ms}});
        doc["monitor"] = monitor_json(*cluster);
        nlohmann::json plan = nlohmann::json::array();
        for (const PlannedSegment& p : cluster->current_plan()) plan.push_back({{"device", p.device}, {"first_op", p.first_op}, {"last_op", p.last_op}});
        doc["final_plan"] = plan;
        doc["predicted_tokens_per_s"] = cluster->predicted_tokens_per_s();
        doc["links"] = links_json(cluster->priced_cluster());
        doc["device_figures"] = device_figures_json(cluster->priced_cluster());
        doc["notes"] = cluster->priced_cluster().notes;
      }
      print_json(doc);
    } else {
      std::fputc('\n', stdout);
    }
    std::fflush(stdout);
    if (cluster && !json_) print_monitor(*cluster);
    const std::string where = cluster ? std::to_string(cluster->remote().all_devices().size()) + " devices"
                                      : std::to_string(threads_) + " threads";
    std::fprintf(stderr, "lingua: prompt %zu tokens %.1f tok/s | generated %zu tokens %.1f tok/s | stop: %s | seed %lld | %s\n",
                 r.prompt_tokens.size(), pp, r.tokens.size(), tg, r.stop_reason.c_str(),
                 static_cast<long long>(seed_), where.c_str());
    return 0;
  }

 private:
  // Each device's moving estimates: what the balancer decides on.
  static nlohmann::json monitor_json(const ClusterRun& cluster) {
    nlohmann::json out = nlohmann::json::array();
    for (const DeviceEstimate& e : cluster.estimates()) {
      nlohmann::json d = {{"device", e.name}, {"measured", e.measured}, {"compute_ms_per_token", e.compute_s * 1000},
                          {"predicted_ms_per_token", e.predicted_s * 1000}, {"speed_factor", e.speed_factor},
                          {"wait_ms", e.wait_s * 1000}, {"link_ms", e.link_s * 1000}, {"memory_bytes", e.memory_bytes}};
      nlohmann::json links = nlohmann::json::array();
      for (const auto& [to, seconds] : e.link_to)
        links.push_back({{"to", cluster.estimates()[static_cast<size_t>(to)].name}, {"ms", seconds * 1000}});
      d["links"] = links;
      if (e.temperature_c >= 0) d["temperature_c"] = e.temperature_c;
      if (e.battery >= 0) d["battery"] = e.battery;
      out.push_back(d);
    }
    return out;
  }
  static void print_monitor(const ClusterRun& cluster) {
    for (const DeviceEstimate& e : cluster.estimates()) {
      if (!e.measured) continue;
      std::fprintf(stderr, "lingua: %s: %.1f ms/token computing (%.2fx the profile), %.1f ms waiting, %.1f ms on links, %.0f MiB\n",
                   e.name.c_str(), e.compute_s * 1000, e.speed_factor, e.wait_s * 1000, e.link_s * 1000,
                   static_cast<double>(e.memory_bytes) / (1 << 20));
    }
  }

  Expected<std::unique_ptr<ClusterRun>> start_cluster(const Model& model) {
    if (!opts_.split.empty() || opts_.segments > 1)
      return Status::error("--split/--segments cut the model in this process; with devices use --plan");
    ClusterFlags flags;
    flags.model_path = model_;
    flags.plan = plan_;
    flags.devices = devices_;
    flags.local_devices = local_devices_;
    flags.local_devices_given = local_devices_opt_->count() > 0;
    flags.keys = keys_;
    flags.wire_dtype = wire_dtype_;
    flags.insecure = insecure_;
    flags.allow_insecure_network = allow_insecure_network_;
    flags.no_balance = no_balance_;
    flags.threads = threads_;
    flags.context = opts_.context;
    flags.batch = opts_.batch;
    return cli::start_cluster(model, flags);
  }

  std::string model_, prompt_, plan_, devices_, keys_, wire_dtype_ = "f32";
  int local_devices_ = 0;  // 0: not given (see local_devices_opt_)
  CLI::Option* local_devices_opt_ = nullptr;
  CLI::Option* seed_opt_ = nullptr;
  CLI::Option* segments_opt_ = nullptr;
  bool insecure_ = false, allow_insecure_network_ = false, no_balance_ = false;
  bool chat_ = false;
  std::string chat_template_;
  int n_ = 128;
  int64_t seed_ = -1;
  int threads_ = default_threads();
  bool json_ = false;
  GenerateOptions opts_;
};

}  // namespace

std::unique_ptr<Command> make_generate_command() { return std::make_unique<GenerateCommand>(); }

}  // namespace lingua::cli
