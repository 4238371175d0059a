// `lingua tokenize`: show the token ids and pieces a model's tokenizer makes of a text.
#include <cstdio>

#include "cli/command.h"
#include "cli/json_out.h"
#include "model/model.h"

namespace lingua::cli {
namespace {

class TokenizeCommand : public Command {
 public:
  const char* name() const override { return "tokenize"; }
  const char* summary() const override { return "show the tokens of a text"; }

  void setup(CLI::App& app) override {
    app.add_option("-m,--model", model_, "GGUF model or vocabulary file")->required();
    app.add_option("text", text_, "the text to tokenize")->required();
    app.add_flag("--bos", bos_, "prepend the BOS token");
    app.add_flag("--special", special_, "parse special-token text such as <s>");
    app.add_flag("--json", json_, "print {\"tokens\":[ids], \"pieces\":[...]}");
  }

  int run() override {
    auto tok = load_tokenizer(model_);
    if (!tok) return fail(name(), tok.error());
    TokenizeOptions o;
    o.add_bos = bos_;
    o.parse_special = special_;
    auto ids = (*tok)->encode(text_, o);
    if (!ids) return fail(name(), ids.error());
    const Vocab& v = (*tok)->vocab();
    if (json_) {
      nlohmann::json pieces = nlohmann::json::array();
      for (TokenId id : *ids) pieces.push_back(v.pieces[static_cast<size_t>(id)]);
      print_json({{"tokens", *ids}, {"pieces", pieces}});
      return 0;
    }
    for (TokenId id : *ids) std::printf("%6d  '%s'\n", id, v.pieces[static_cast<size_t>(id)].c_str());
    std::fprintf(stderr, "lingua: %zu tokens\n", ids->size());
    return 0;
  }

 private:
  std::string model_, text_;
  bool bos_ = false, special_ = false, json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_tokenize_command() { return std::make_unique<TokenizeCommand>(); }

}  // namespace lingua::cli
