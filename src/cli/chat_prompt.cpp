// Finds, parses and renders the chat template for the CLI commands.
#include "cli/chat_prompt.h"

#include <fstream>
#include <sstream>

#include "model/chat_template.h"

namespace lingua::cli {

namespace {
std::string token_text(const Vocab& vocab, TokenId id) {
  return id >= 0 && id < vocab.size() ? vocab.pieces[static_cast<size_t>(id)] : "";
}
}  // namespace

Expected<std::string> render_chat_prompt(const gguf::File& model, const Vocab& vocab,
                                         const std::string& template_file, const jinja::Value& messages,
                                         bool add_generation_prompt) {
  std::string source, origin;
  if (!template_file.empty()) {
    std::ifstream in(template_file, std::ios::binary);
    if (!in) return Status::error("cannot read the chat template file " + template_file);
    std::stringstream ss;
    ss << in.rdbuf();
    source = ss.str();
    origin = "the chat template " + template_file;
  } else {
    const gguf::Value* v = model.find("tokenizer.chat_template");
    if (!v)
      return Status::error(model.path() + " has no chat template (no tokenizer.chat_template key); give one with "
                           "--chat-template FILE");
    auto text = v->as_string();
    if (!text) return Status::error(model.path() + ": tokenizer.chat_template is not a string");
    source = *text;
    origin = "the chat template of " + model.path() + " (tokenizer.chat_template)";
  }
  auto parsed = ChatTemplate::parse(source);
  if (!parsed) return Status::error(origin + " does not parse: " + parsed.error());
  ChatTemplateInput input;
  input.messages = messages;
  input.add_generation_prompt = add_generation_prompt;
  input.bos_token = token_text(vocab, vocab.bos);
  input.eos_token = token_text(vocab, vocab.eos);
  auto rendered = parsed->render(input);
  if (!rendered) return Status::error(origin + " failed: " + rendered.error());
  return rendered;
}

bool starts_with_bos_text(const Vocab& vocab, const std::string& text) {
  const std::string bos = token_text(vocab, vocab.bos);
  return !bos.empty() && text.compare(0, bos.size(), bos) == 0;
}

}  // namespace lingua::cli
