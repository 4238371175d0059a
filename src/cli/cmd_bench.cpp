// `lingua bench`: prompt-processing and generation speed (tokens/s), as llama-bench measures.
#include <cstdio>

#include "cli/command.h"
#include "cli/json_out.h"
#include "runtime/bench.h"

namespace lingua::cli {
namespace {

class BenchCommand : public Command {
 public:
  const char* name() const override { return "bench"; }
  const char* summary() const override { return "measure prompt and generation speed"; }

  void setup(CLI::App& app) override {
    app.add_option("-m,--model", model_, "GGUF model file")->required();
    app.add_option("-p,--prompt-tokens", opts_.prompt_tokens, "prompt tokens (0 = skip)")->capture_default_str();
    app.add_option("-n,--gen-tokens", opts_.gen_tokens, "generated tokens (0 = skip)")->capture_default_str();
    app.add_option("-t,--threads", opts_.threads, "compute threads")->capture_default_str();
    app.add_option("-r,--repetitions", opts_.repetitions, "timed runs of each test")->capture_default_str();
    app.add_option("-b,--batch", opts_.batch, "prompt tokens per forward pass")->capture_default_str();
    app.add_flag("--json", json_, "print one JSON document");
  }

  int run() override {
    if (auto e = check_threads(opts_.threads); !e.empty()) return fail(name(), e);
    if (opts_.batch < 1) return fail(name(), "--batch must be at least 1");
    auto model = Model::load(model_);
    if (!model) return fail(name(), model.error());
    auto r = run_bench(**model, opts_);
    if (!r) return fail(name(), r.error());
    if (json_) {
      print_json({{"model", model_}, {"threads", opts_.threads}, {"pp_tokens", opts_.prompt_tokens},
                  {"tg_tokens", opts_.gen_tokens}, {"pp_tokens_per_s", r->pp_tokens_per_s},
                  {"tg_tokens_per_s", r->tg_tokens_per_s}, {"weight_bytes", r->weight_bytes}});
      return 0;
    }
    std::printf("| model | threads | test | tokens/s |\n|---|---:|---:|---:|\n");
    if (opts_.prompt_tokens > 0)
      std::printf("| %s | %d | pp%lld | %.2f |\n", model_.c_str(), opts_.threads,
                  static_cast<long long>(opts_.prompt_tokens), r->pp_tokens_per_s);
    if (opts_.gen_tokens > 0)
      std::printf("| %s | %d | tg%lld | %.2f |\n", model_.c_str(), opts_.threads,
                  static_cast<long long>(opts_.gen_tokens), r->tg_tokens_per_s);
    return 0;
  }

 private:
  std::string model_;
  BenchOptions opts_;
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_bench_command() { return std::make_unique<BenchCommand>(); }

}  // namespace lingua::cli
