// `lingua quantize IN.gguf OUT.gguf TYPE`: shrink a model with llama.cpp's preset type choices
// (see model/quantize.cpp), so an f32 conversion becomes a practical file without other tools.
#include <cstdio>

#include "cli/command.h"
#include "cli/progress.h"
#include "model/quantize.h"

namespace lingua::cli {
namespace {

class QuantizeCommand : public Command {
 public:
  const char* name() const override { return "quantize"; }
  const char* summary() const override { return "requantize a GGUF model (Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K)"; }

  void setup(CLI::App& app) override {
    app.add_option("input", in_, "input GGUF model")->required();
    app.add_option("output", out_, "output GGUF file")->required();
    app.add_option("type", type_, "target: " + quant_preset_names())->required();
    app.add_option("-t,--threads", threads_, "worker threads")->capture_default_str();
    app.footer("example:\n  lingua quantize model-f32.gguf model-q4_k_m.gguf Q4_K_M");
  }

  int run() override {
    auto preset = parse_quant_preset(type_);
    if (!preset) return fail(name(), preset.error());
    if (auto msg = check_threads(threads_); !msg.empty()) return fail(name(), msg);
    ProgressBar bar("quantize " + out_);
    auto stats = quantize_model(in_, out_, *preset, threads_, [&](uint64_t done, uint64_t total) { bar.update(done, total); });
    bar.finish();
    if (!stats) return fail(name(), stats.error());
    std::fprintf(stderr, "lingua: wrote %s (%s) from %s: %llu matrices requantized, %llu tensors copied, weight RMS error %.3g (%.2f%% of RMS %.3g)\n",
                 out_.c_str(), quant_preset_name(*preset), in_.c_str(),
                 static_cast<unsigned long long>(stats->tensors_quantized),
                 static_cast<unsigned long long>(stats->tensors_copied), stats->rms_error,
                 stats->rms_weight > 0 ? 100.0 * stats->rms_error / stats->rms_weight : 0.0, stats->rms_weight);
    return 0;
  }

 private:
  std::string in_, out_, type_;
  int threads_ = default_threads();
};

}  // namespace

std::unique_ptr<Command> make_quantize_command() { return std::make_unique<QuantizeCommand>(); }

}  // namespace lingua::cli
