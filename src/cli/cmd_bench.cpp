// `lingua bench`: prompt-processing and generation speed (tokens/s), as llama-bench measures.
#include <cstdio>

#include "cli/command.h"
#include "cli/json_out.h"
#include "graph/cost_model.h"
#include "runtime/bench.h"
#include "plan/compute_profile.h"

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
    app.add_option("--segments", opts_.segments, "cut into K cost-balanced segments and time each");
    app.add_option("--split", opts_.split, "cut at these op ids (see lingua graph) and time each segment")->delimiter(',');
    app.add_option("--only-segment", opts_.only_segment, "run only this segment (inputs fed as zeros): its speed and memory alone");
    app.add_flag("--predict", predict_, "measure this machine's compute rates and show each segment's predicted decode time");
    app.add_flag("--json", json_, "print one JSON document");
  }

  int run() override {
    if (auto e = check_threads(opts_.threads); !e.empty()) return fail(name(), e);
    if (opts_.batch < 1) return fail(name(), "--batch must be at least 1");
    auto model = Model::load(model_);
    if (!model) return fail(name(), model.error());
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
    if (opts_.prompt_tokens > 0 && opts_.only_segment < 0)
      std::printf("| %s | %d | pp%lld | %.2f |\n", model_.c_str(), opts_.threads,
                  static_cast<long long>(opts_.prompt_tokens), r->pp_tokens_per_s);
    if (opts_.gen_tokens > 0)
      std::printf("| %s | %d | tg%lld | %.2f |\n", model_.c_str(), opts_.threads,
                  static_cast<long long>(opts_.gen_tokens), r->tg_tokens_per_s);
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
  std::string model_;
  BenchOptions opts_;
  bool json_ = false, predict_ = false;
};

}  // namespace

std::unique_ptr<Command> make_bench_command() { return std::make_unique<BenchCommand>(); }

}  // namespace lingua::cli
