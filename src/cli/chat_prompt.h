// The chat template a command uses (a --chat-template file or the model's tokenizer.chat_template)
// rendered for a conversation, with the model's BOS/EOS texts: shared by `chat-template` and
// `generate --chat`.
#pragma once
#include <string>

#include "core/status.h"
#include "model/gguf.h"
#include "model/jinja/value.h"
#include "model/vocab.h"

namespace lingua::cli {

// Errors name where the template came from and the template line: "the chat template of m.gguf
// (tokenizer.chat_template) does not parse: line 3: filter 'wordwrap' is not supported".
Expected<std::string> render_chat_prompt(const gguf::File& model, const Vocab& vocab,
                                         const std::string& template_file, const jinja::Value& messages,
                                         bool add_generation_prompt);

// Whether encoding `text` would start with the BOS token already (a rendered chat prompt often
// does): then the tokenizer adds none, as llama.cpp does not add a second one.
bool starts_with_bos_text(const Vocab& vocab, const std::string& text);

}  // namespace lingua::cli
