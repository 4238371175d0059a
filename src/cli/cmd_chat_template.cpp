// `lingua chat-template`: print the prompt a model's chat template makes of a conversation (a
// debugging aid: what `generate --chat` feeds the model, special tokens and all).
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/chat_prompt.h"
#include "cli/command.h"
#include "model/chat_template.h"
#include "model/model.h"

namespace lingua::cli {
namespace {

constexpr const char* kExampleConversation = R"([{"role": "user", "content": "Hello! What can you do?"}])";

class ChatTemplateCommand : public Command {
 public:
  const char* name() const override { return "chat-template"; }
  const char* summary() const override { return "print the prompt a model's chat template makes"; }

  void setup(CLI::App& app) override {
    app.add_option("-m,--model", model_, "GGUF model or vocabulary file (its tokenizer.chat_template)")->required();
    app.add_option("--messages", messages_, "JSON file: an array of {\"role\": ..., \"content\": ...} "
                   "(default: one user message)");
    app.add_flag("--add-generation-prompt", add_generation_prompt_, "end with the assistant turn's opening");
    app.add_option("--chat-template", template_file_, "use this Jinja template file instead of the model's");
  }

  int run() override {
    std::string json = kExampleConversation;
    if (!messages_.empty()) {
      std::ifstream in(messages_, std::ios::binary);
      if (!in) return fail(name(), "cannot read the messages file " + messages_);
      std::stringstream ss;
      ss << in.rdbuf();
      json = ss.str();
    }
    auto messages = json_to_template_value(json);
    if (!messages) return fail(name(), (messages_.empty() ? "" : messages_ + ": ") + messages.error());
    if (auto st = check_messages(*messages); !st.is_ok()) return fail(name(), messages_ + ": " + st.message());
    auto file = gguf::File::open(model_);
    if (!file) return fail(name(), file.error());
    auto tokenizer = load_tokenizer(model_);
    if (!tokenizer) return fail(name(), tokenizer.error());
    const Vocab& vocab = (*tokenizer)->vocab();
    auto prompt = render_chat_prompt(*file, vocab, template_file_, *messages, add_generation_prompt_);
    if (!prompt) return fail(name(), prompt.error());
    std::fwrite(prompt->data(), 1, prompt->size(), stdout);
    std::fflush(stdout);
    TokenizeOptions o;
    o.parse_special = true;
    o.add_bos = vocab.add_bos && vocab.bos >= 0 && !starts_with_bos_text(vocab, *prompt);
    auto ids = (*tokenizer)->encode(*prompt, o);
    if (!ids) return fail(name(), ids.error());
    const size_t n = messages->items().size();
    // The prompt is printed as rendered; a line break before the summary only when it lacks one.
    const bool newline = !prompt->empty() && prompt->back() != '\n';
    std::fprintf(stderr, "%slingua: %zu message%s, %zu bytes, %zu tokens with special tokens parsed%s\n",
                 newline ? "\n" : "", n, n == 1 ? "" : "s", prompt->size(), ids->size(),
                 o.add_bos ? " (a BOS added)" : "");
    return 0;
  }

 private:
  std::string model_, messages_, template_file_;
  bool add_generation_prompt_ = false;
};

}  // namespace

std::unique_ptr<Command> make_chat_template_command() { return std::make_unique<ChatTemplateCommand>(); }

}  // namespace lingua::cli
