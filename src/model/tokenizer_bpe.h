// Byte-level BPE (tokenizer.ggml.model "gpt2": GPT-2, Llama 3, Qwen, DeepSeek, Falcon, StarCoder,
// ...), token for token what llama.cpp produces, so prompts reach the model as it was trained.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/pretokenizer.h"
#include "model/tokenizer.h"

namespace lingua {

class BpeTokenizer final : public Tokenizer {
 public:
  // Errors: an unknown tokenizer.ggml.pre (listing the supported ones), a malformed merge or one
  // naming a piece the vocabulary lacks, arrays of different lengths, special ids out of range.
  static Expected<std::unique_ptr<Tokenizer>> create(Vocab vocab);

  // Order of work: special-token texts are cut out (user-defined always, control and unknown
  // only with parse_special); each remaining fragment is normalised when the vocabulary says so
  // (NFC); the pre-tokenizer splits each remaining fragment into words; each
  // word's bytes become printable characters (GPT-2's byte-to-unicode table) and are merged pair
  // by pair, lowest merge rank first.
  Expected<std::vector<TokenId>> encode(const std::string& text,
                                        const TokenizeOptions& options) const override;
  // Normal pieces map back through the byte table; `previous` does not matter here.
  std::string piece_bytes(TokenId id, TokenId previous, bool render_special = false) const override;

 private:
  struct Merge {
    int32_t rank;
    TokenId result;  // -1 when the merged text is not itself a piece
  };

  BpeTokenizer(Vocab vocab, PreTokenizer pre);
  Status load_merges();
  Status encode_word(std::string_view word, std::vector<TokenId>& out) const;
  TokenId find(std::string_view piece) const;

  static uint64_t pair_key(TokenId left, TokenId right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }

  PreTokenizer pre_;
  // Keys view into vocab_.pieces, which never changes after construction.
  std::unordered_map<std::string_view, TokenId> piece_to_id_;
  std::unordered_map<uint64_t, Merge> merges_;  // by (left id, right id)
  std::array<std::string, 256> byte_chars_;     // byte -> its printable character, UTF-8
  std::array<TokenId, 256> byte_to_id_{};       // byte -> the piece of that one character, or -1
  std::array<int16_t, 324> char_to_byte_{};    // code point -> byte (-1: none), for decoding
  std::vector<TokenId> specials_;
};

}  // namespace lingua
