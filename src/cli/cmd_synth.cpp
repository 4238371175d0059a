// `lingua synth`: write a random-weight model of a real shape (for tests and benchmarks).
#include <cstdio>

#include "cli/command.h"
#include "cli/progress.h"
#include "model/synth.h"

namespace lingua::cli {
namespace {

class SynthCommand : public Command {
 public:
  const char* name() const override { return "synth"; }
  const char* summary() const override { return "write a random-weight model of any shape"; }

  void setup(CLI::App& app) override {
    app.add_option("--arch", arch_, "architecture: " + synth_architectures() + " (default llama, or the preset's)");
    app.add_option("--preset", preset_, "shape preset: " + synth_presets());
    app.add_option("--dim", dim_, "embedding width");
    app.add_option("--layers", layers_, "transformer blocks");
    app.add_option("--heads", heads_, "attention heads");
    app.add_option("--kv-heads", kv_heads_, "key/value heads (grouped-query attention)");
    app.add_option("--ffn", ffn_, "feed-forward width");
    app.add_option("--vocab", vocab_, "vocabulary size");
    app.add_option("--vocab-from", spec_.vocab_from,
                   "GGUF whose tokenizer (tokenizer.* keys, e.g. from `lingua convert hf-tokenizer`) the model "
                   "carries; its token count is the vocabulary size");
    app.add_option("--ctx", ctx_, "context length");
    app.add_option("--head-dim", head_dim_, "head width when not dim/heads (gemma3)");
    app.add_option("--sliding-window", sliding_window_, "sliding window of the local layers (gemma3; default 512)");
    app.add_option("--sliding-window-pattern", swa_pattern_, "every Nth layer is global, the others local (gemma3; default 6)");
    app.add_option("--type", type_, "type of the weight matrices: " + computable_dtype_names())->capture_default_str();
    app.add_option("--seed", seed_, "random seed")->capture_default_str();
    app.add_option("-o,--output", out_, "output GGUF file")->required();
  }

  int run() override {
    if (!preset_.empty())
      if (auto st = apply_synth_preset(preset_, spec_); !st.is_ok()) return fail(name(), st.message());
    if (!arch_.empty()) {
      if (!preset_.empty() && arch_ != spec_.arch)
        return fail(name(), "preset " + preset_ + " is a " + spec_.arch + " model, not " + arch_);
      spec_.arch = arch_;
    }
    auto set = [](int64_t v, int64_t& field) { if (v >= 0) field = v; };
    set(dim_, spec_.dim);
    set(layers_, spec_.layers);
    set(heads_, spec_.heads);
    set(kv_heads_, spec_.kv_heads);
    set(ffn_, spec_.ffn);
    set(vocab_, spec_.vocab);
    if (auto st = resolve_vocab_from(spec_, vocab_); !st.is_ok()) return fail(name(), st.message());
    set(ctx_, spec_.ctx);
    set(head_dim_, spec_.head_dim);
    set(sliding_window_, spec_.sliding_window);
    set(swa_pattern_, spec_.sliding_window_pattern);
    if (kv_heads_ < 0 && heads_ >= 0 && preset_.empty()) spec_.kv_heads = spec_.heads;
    auto type = parse_dtype(type_);
    if (!type) return fail(name(), type.error());
    spec_.type = *type;
    spec_.seed = seed_;
    if (spec_.name.empty()) spec_.name = "synth-" + spec_.arch;
    if (auto st = validate(spec_); !st.is_ok()) return fail(name(), st.message());
    ProgressBar bar("synth " + out_);
    auto st = write_synth_model(spec_, out_, [&](uint64_t done, uint64_t total) { bar.update(done, total); });
    bar.finish();
    if (!st.is_ok()) return fail(name(), st.message());
    std::fprintf(stderr, "lingua: wrote %s (%s %s, dim %lld, %lld layers, %lld/%lld heads, ffn %lld, vocab %lld)\n",
                 out_.c_str(), spec_.arch.c_str(), type_.c_str(), static_cast<long long>(spec_.dim), static_cast<long long>(spec_.layers),
                 static_cast<long long>(spec_.heads), static_cast<long long>(spec_.kv_heads),
                 static_cast<long long>(spec_.ffn), static_cast<long long>(spec_.vocab));
    return 0;
  }

 private:
  SynthSpec spec_;
  std::string arch_, preset_, type_ = "f32", out_;
  int64_t dim_ = -1, layers_ = -1, heads_ = -1, kv_heads_ = -1, ffn_ = -1, vocab_ = -1, ctx_ = -1;
  int64_t head_dim_ = -1, sliding_window_ = -1, swa_pattern_ = -1;
  uint64_t seed_ = 1;
};

}  // namespace

std::unique_ptr<Command> make_synth_command() { return std::make_unique<SynthCommand>(); }

}  // namespace lingua::cli
