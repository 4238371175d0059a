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
  bool add_bos = true;               // tokenizer.ggml.add_bos_token
  bool add_eos = false;              // tokenizer.ggml.add_eos_token
  bool add_space_prefix = true;      // tokenizer.ggml.add_space_prefix (SentencePiece dummy prefix)

  int32_t size() const { return static_cast<int32_t>(pieces.size()); }
  bool is_eog(TokenId id) const { return id == eos; }

  // Array lengths agree with the number of pieces; special ids are -1 (none) or in range.
  Status validate() const;

  // Reads and validates the tokenizer.ggml.* keys (sizes agree, special ids in range).
  static Expected<Vocab> from_gguf(const gguf::File& file);
};

}  // namespace lingua
