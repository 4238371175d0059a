// The tokenizer.* GGUF keys of a Vocab, the inverse of Vocab::from_gguf, for converters that
// produce a vocabulary (hf-tokenizer) rather than read one.
#pragma once
#include <string>

#include "model/gguf.h"
#include "model/vocab.h"

namespace lingua {

// Sets tokenizer.ggml.{model,pre,tokens,token_type,scores,merges}, the special ids that exist,
// add_bos/add_eos (and add_space_prefix for "llama"), tokenizer.lingua.normalizer when there is
// one, and tokenizer.chat_template when `chat_template` is not empty.
void set_vocab_keys(gguf::Writer& writer, const Vocab& vocab, const std::string& chat_template);

}  // namespace lingua
