// ChatFormatter: the template rendered as `generate --chat` renders it (BOS/EOS texts, a
// generation prompt, special tokens parsed, no second BOS), or the plain transcript.
#include "server/chat_format.h"

namespace lingua::server {
namespace {
std::string token_text(const Vocab& vocab, TokenId id) {
  return id >= 0 && id < vocab.size() ? vocab.pieces[static_cast<size_t>(id)] : "";
}
}  // namespace

Expected<std::unique_ptr<ChatFormatter>> ChatFormatter::create(const Model& model, const std::string& template_source,
                                                               const std::string& origin) {
  auto f = std::unique_ptr<ChatFormatter>(new ChatFormatter());
  f->bos_ = token_text(model.vocab(), model.vocab().bos);
  f->eos_ = token_text(model.vocab(), model.vocab().eos);
  std::string source = template_source, from = origin;
  if (source.empty()) {
    if (const gguf::Value* v = model.file().find("tokenizer.chat_template")) {
      auto text = v->as_string();
      if (!text) return Status::error(model.file().path() + ": tokenizer.chat_template is not a string");
      source = *text;
      from = "the chat template of " + model.file().path() + " (tokenizer.chat_template)";
    }
  }
  if (source.empty()) {
    f->description_ = "a plain transcript (the model has no chat template): \"role: content\" lines, then \"assistant:\"";
    return f;
  }
  auto parsed = ChatTemplate::parse(source);
  if (!parsed) return Status::error(from + " does not parse: " + parsed.error());
  f->template_ = std::move(*parsed);
  f->description_ = from;
  return f;
}

Expected<RenderedPrompt> ChatFormatter::render(const nlohmann::json& messages) const {
  RenderedPrompt out;
  if (!template_) {
    for (const auto& m : messages)
      out.text += m["role"].get<std::string>() + ": " + m["content"].get<std::string>() + "\n";
    out.text += "assistant:";
    out.stop = {"\nuser:"};
    return out;
  }
  LINGUA_ASSIGN_OR_RETURN(jinja::Value value, json_to_template_value(messages.dump()));
  LINGUA_TRY(check_messages(value));
  ChatTemplateInput input;
  input.messages = std::move(value);
  input.add_generation_prompt = true;
  input.bos_token = bos_;
  input.eos_token = eos_;
  std::lock_guard<std::mutex> lock(mutex_);
  auto rendered = template_->render(input);
  if (!rendered) return Status::error("the chat template failed on these messages: " + rendered.error());
  out.text = std::move(*rendered);
  out.parse_special = true;
  out.no_bos = !bos_.empty() && out.text.compare(0, bos_.size(), bos_) == 0;
  return out;
}

}  // namespace lingua::server
