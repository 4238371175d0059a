// Hugging Face tokenizers (tokenizer.json + tokenizer_config.json) as a Lingua Vocab, for
// `lingua convert hf-tokenizer`: the same tokenizer.ggml.* keys llama.cpp's converter writes, so
// a model of any shape can carry the vocabulary it was trained with.
#pragma once
#include <cstdint>
#include <string>

#include "core/status.h"
#include "model/vocab.h"

namespace lingua {

struct HfTokenizer {
  Vocab vocab;
  std::string chat_template;  // tokenizer_config.json's chat_template, "" when it has none
  std::string name;           // the directory's name, for general.name
};

struct HfTokenizerOptions {
  // Number of tokens to write: the model's embedding rows (config.json's vocab_size). -1 takes
  // DIR/config.json's vocab_size when present, otherwise every id tokenizer.json defines. Ids
  // past the last defined one are written as unused "[PAD<id>]" tokens; added tokens at or past
  // it are dropped (as llama.cpp drops them).
  int64_t vocab_size = -1;
};

// Supported: model type "BPE", either byte-level (a ByteLevel pre-tokenizer; the split regexes
// must be one Lingua implements: GPT-2, Llama 3, Qwen 2) or SentencePiece-style (spaces replaced
// by U+2581 in the normalizer, byte fallback), written as tokenizer model "llama" with scores.
// Errors name the file and what is not supported (another model type, an unknown pre-tokenizer,
// normalizer or merge format).
Expected<HfTokenizer> read_hf_tokenizer(const std::string& dir, const HfTokenizerOptions& options = {});

// A GGUF holding only metadata: general.name and the tokenizer keys (vocab_writer.h).
Status write_hf_tokenizer_gguf(const HfTokenizer& tokenizer, const std::string& path);

}  // namespace lingua
