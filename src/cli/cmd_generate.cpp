// `lingua generate`: answer a prompt with a model, streaming text to stdout (or one JSON
// document with --json) and timings to stderr.
#include <cstdio>
#include <random>

#include "cli/command.h"
#include "cli/json_out.h"
#include "model/model.h"
#include "plan/plan_file.h"
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
    app.add_option("--seed", seed_, "random seed (default: a random one, printed)");
    app.add_option("-t,--threads", threads_, "compute threads")->capture_default_str();
    app.add_option("-c,--ctx-size", opts_.context, "context size in tokens (0 = the model's)")->capture_default_str();
    app.add_option("-b,--batch", opts_.batch, "prompt tokens per forward pass")->capture_default_str();
    app.add_flag("--truncate", opts_.truncate_prompt, "drop the oldest prompt tokens when the prompt is too long");
    app.add_flag("--ignore-eos", opts_.ignore_eos, "keep generating past end-of-text");
    app.add_flag("--special", opts_.parse_special, "parse special-token text such as <s> in the prompt");
    app.add_option("--segments", opts_.segments, "run as K cost-balanced segments in this process (tests, debugging)");
    app.add_option("--split", opts_.split, "run as segments starting at these op ids, e.g. 40,81 (see lingua graph)")
        ->delimiter(',');
    app.add_option("--plan", plan_, "run the segments of a plan file (lingua plan --out) in this process");
    app.add_flag("--json", json_, "print one JSON document on stdout");
  }

  int run() override {
    if (n_ < 1) return fail(name(), "-n must be at least 1 (got " + std::to_string(n_) + ")");
    if (auto e = check_threads(threads_); !e.empty()) return fail(name(), e);
    if (opts_.batch < 1) return fail(name(), "--batch must be at least 1");
    if (opts_.context < 0) return fail(name(), "--ctx-size must be 0 (the model's) or more");
    if (seed_ < 0) seed_ = static_cast<int64_t>(std::random_device{}() & 0x7fffffff);
    opts_.sampling.seed = static_cast<uint64_t>(seed_);
    opts_.n_predict = n_;
    if (auto st = validate(opts_.sampling); !st.is_ok()) return fail(name(), st.message());

    auto model = Model::load(model_);
    if (!model) return fail(name(), model.error());
    if (!plan_.empty()) {
      if (!opts_.split.empty() || opts_.segments > 1) return fail(name(), "give --plan or --split/--segments, not both");
      auto plan = read_plan_file(plan_, (*model)->graph());
      if (!plan) return fail(name(), plan.error());
      opts_.split = plan->starts();
      std::fprintf(stderr, "lingua: running the %s plan from %s as %zu segments in this process\n", plan->name.c_str(),
                   plan_.c_str(), plan->segments.size());
    }
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
    const double tg = r.gen_ms > 0 ? r.tokens.size() * 1000.0 / r.gen_ms : 0;
    if (json_) {
      nlohmann::json doc;
      doc["tokens"] = r.tokens;
      doc["text"] = r.text;
      doc["prompt_tokens"] = r.prompt_tokens;
      doc["devices"] = 1;
      doc["segments"] = r.segments;
      doc["stop_reason"] = r.stop_reason;
      doc["seed"] = seed_;
      doc["timings"] = {{"prompt_tokens_per_s", pp}, {"gen_tokens_per_s", tg}, {"per_token_ms", r.per_token_ms}};
      doc["migrations"] = nlohmann::json::array();
      print_json(doc);
    } else {
      std::fputc('\n', stdout);
    }
    std::fflush(stdout);
    std::fprintf(stderr, "lingua: prompt %zu tokens %.1f tok/s | generated %zu tokens %.1f tok/s | stop: %s | seed %lld | %d threads\n",
                 r.prompt_tokens.size(), pp, r.tokens.size(), tg, r.stop_reason.c_str(),
                 static_cast<long long>(seed_), threads_);
    return 0;
  }

 private:
  std::string model_, prompt_, plan_;
  int n_ = 128;
  int64_t seed_ = -1;
  int threads_ = default_threads();
  bool json_ = false;
  GenerateOptions opts_;
};

}  // namespace

std::unique_ptr<Command> make_generate_command() { return std::make_unique<GenerateCommand>(); }

}  // namespace lingua::cli
