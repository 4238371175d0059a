// Formats a conversation as the model's chat template says (the tokenizer.chat_template GGUF
// key), rendering the Jinja template as Hugging Face transformers renders it.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "model/jinja/value.h"

namespace lingua {

struct ChatTemplateInput {
  jinja::Value messages = jinja::Value::list();  // [{role, content, ...}, ...]
  bool add_generation_prompt = false;
  std::string bos_token;
  std::string eos_token;
  // More template variables; `tools` and `documents` are none unless given here (as transformers).
  std::vector<std::pair<std::string, jinja::Value>> extra;
};

class ChatTemplate {
 public:
  // A syntax error or an unsupported construct: "line 12: filter 'wordwrap' is not supported".
  static Expected<ChatTemplate> parse(const std::string& source);

  // A template that raises gives "line N: template raised: <its message>".
  Expected<std::string> render(const ChatTemplateInput& input) const;

 private:
  struct Parsed;
  std::shared_ptr<const Parsed> parsed_;
};

// JSON text to template values (objects keep their key order): a messages file, test data.
Expected<jinja::Value> json_to_template_value(const std::string& json_text);

// A messages array checked for the shape chat templates expect: objects with a string "role".
Status check_messages(const jinja::Value& messages);

}  // namespace lingua
