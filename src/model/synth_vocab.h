// The synthetic SentencePiece vocabulary written by `lingua synth`: specials, 256 byte tokens,
// then pieces of growing length whose scores make every piece reachable by merges.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "model/gguf.h"
#include "model/vocab.h"

namespace lingua {

constexpr int64_t kMinSynthVocab = 3 + 256 + 1;

// A Vocab (model "llama") of exactly `size` tokens (size >= kMinSynthVocab).
Vocab make_synth_vocab(int64_t size);

// A real tokenizer for a synthetic model (`synth --vocab-from`): every tokenizer.* key of a GGUF
// file (a vocabulary from `convert hf-tokenizer`, or any model), checked by loading it as a Vocab.
struct VocabKeys {
  std::vector<std::pair<std::string, gguf::Value>> keys;
  int64_t size = 0;  // tokens, which becomes the model's vocab_size
};
Expected<VocabKeys> read_vocab_keys(const std::string& path);

}  // namespace lingua
