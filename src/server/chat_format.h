// A chat request's messages made into the prompt text: the model's chat template (or the one
// serve was given), or, for a model without one, a plain transcript ("user: ...\nassistant:").
#pragma once
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/chat_template.h"
#include "model/model.h"

namespace lingua::server {

struct RenderedPrompt {
  std::string text;
  bool parse_special = false;      // template output: its special-token text is the tokens
  bool no_bos = false;             // the template wrote the BOS text itself
  std::vector<std::string> stop;   // stop strings the format implies (the transcript's next turn)
};

class ChatFormatter {
 public:
  // `template_source` "" uses the model's tokenizer.chat_template, or the transcript without one.
  // A template that does not parse is an error naming `origin`.
  static Expected<std::unique_ptr<ChatFormatter>> create(const Model& model, const std::string& template_source,
                                                         const std::string& origin);
  // `messages`: [{"role", "content", ...}] as parse_request leaves them. A template that raises
  // (roles that must alternate, ...) is an error in the request.
  Expected<RenderedPrompt> render(const nlohmann::json& messages) const;
  // Says which format is used (the startup log, docs).
  const std::string& description() const { return description_; }
  bool has_template() const { return template_.has_value(); }

 private:
  std::optional<ChatTemplate> template_;
  std::string bos_, eos_, description_;
  mutable std::mutex mutex_;  // template rendering is not promised to be reentrant
};

}  // namespace lingua::server
