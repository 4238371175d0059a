// A model's vocabulary as GGUF metadata describes it (tokenizer.ggml.*): pieces, scores, token
// types and special ids. Shared by every tokenizer kind.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"

namespace lingua {
namespace gguf { class File; }

using TokenId = int32_t;

enum class TokenType : int32_t {
  UNDEFINED = 0, NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6,
};

struct Vocab {
  std::string model;                 // tokenizer.ggml.model: "llama" (SentencePiece BPE), "gpt2", ...
  std::string pre;                   // tokenizer.ggml.pre, may be empty
  std::vector<std::string> pieces;   // tokenizer.ggml.tokens
  std::vector<float> scores;         // tokenizer.ggml.scores (0 when absent)
  std::vector<TokenType> types;      // tokenizer.ggml.token_type (NORMAL when absent)
  std::vector<std::string> merges;   // tokenizer.ggml.merges (BPE only)
  TokenId bos = -1, eos = -1, unk = -1, pad = -1;
  TokenId eot = -1, eom = -1;        // end of turn / end of message (tokenizer.ggml.eot_token_id, ...)
  // Every token that ends generation: eos, eot, eom and the tokens llama.cpp recognises by their
  // text (<|eot_id|>, <|im_end|>, <end_of_turn>, ...). Sorted; filled by find_end_of_generation.
  std::vector<TokenId> eog;
  // Unicode normalisation applied to text before pre-tokenizing: "" (none) or "nfc"
  // (tokenizer.lingua.normalizer; Qwen 2/3 vocabularies normalise to NFC as their tokenizer.json says).
  std::string normalizer;
  bool add_bos = true;               // tokenizer.ggml.add_bos_token
  bool add_eos = false;              // tokenizer.ggml.add_eos_token
  bool add_space_prefix = true;      // tokenizer.ggml.add_space_prefix (SentencePiece dummy prefix)

  int32_t size() const { return static_cast<int32_t>(pieces.size()); }
  bool is_eog(TokenId id) const;

  // Finds eot/eom by text when they are unset, fills `eog`, and marks those tokens CONTROL (as
  // llama.cpp does, so they are never produced from plain text).
  void find_end_of_generation();

  // Array lengths agree with the number of pieces; special ids are -1 (none) or in range.
  Status validate() const;

  // Reads and validates the tokenizer.ggml.* keys (sizes agree, special ids in range).
  static Expected<Vocab> from_gguf(const gguf::File& file);
};

}  // namespace lingua
