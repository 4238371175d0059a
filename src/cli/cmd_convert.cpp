// `lingua convert <format> ...`: turn a checkpoint from another project's format into a GGUF file
// the engine loads. The format is a positional word so later formats slot in beside llama2c.
#include <cstdio>

#include "cli/command.h"
#include "cli/progress.h"
#include "model/llama2c.h"

namespace lingua::cli {
namespace {

constexpr const char* kFormats = "llama2c";

class ConvertCommand : public Command {
 public:
  const char* name() const override { return "convert"; }
  const char* summary() const override { return "convert a model from another format to GGUF"; }

  void setup(CLI::App& app) override {
    app.add_option("format", format_, std::string("source format: ") + kFormats)->required();
    // Not ->required(): an unknown format should be reported before missing files are.
    app.add_option("model", model_, "llama2c: the checkpoint (.bin, run.c format)");
    app.add_option("tokenizer", tokenizer_, "llama2c: the tokenizer (.bin, e.g. tokenizer.bin, tok512.bin)");
    app.add_option("-o,--output", out_, "output GGUF file")->required();
    app.footer("example:\n  lingua convert llama2c stories15M.bin tokenizer.bin -o stories15M.gguf");
  }

  int run() override {
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
  std::string format_, model_, tokenizer_, out_;
};

}  // namespace

std::unique_ptr<Command> make_convert_command() { return std::make_unique<ConvertCommand>(); }

}  // namespace lingua::cli
