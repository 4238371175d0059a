// SentencePiece BPE (tokenizer.ggml.model "llama"), token for token what llama.cpp produces, so
// prompts feed the model exactly the ids it was trained and verified with.
#pragma once
#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/tokenizer.h"

namespace lingua {

class SpmTokenizer final : public Tokenizer {
 public:
  // Errors when the vocabulary's arrays disagree in length or a special id is out of range.
  static Expected<std::unique_ptr<Tokenizer>> create(Vocab vocab);

  // Order of work: special-token texts are cut out first (user-defined always, control and
  // unknown only with parse_special, longest text first); each remaining text fragment gets the
  // dummy-prefix space when it starts the input or follows a special token, spaces become U+2581,
  // and the fragment is merged pair by pair, best-scoring piece first.
  Expected<std::vector<TokenId>> encode(const std::string& text,
                                        const TokenizeOptions& options) const override;
  std::string piece_bytes(TokenId id, TokenId previous, bool render_special = false) const override;

 private:
  explicit SpmTokenizer(Vocab vocab);
  float score(TokenId id) const;
  TokenType type(TokenId id) const;
  Status encode_fragment(const std::string& escaped, std::vector<TokenId>& out) const;

  // Keys view into vocab_.pieces, which never changes after construction.
  std::unordered_map<std::string_view, TokenId> piece_to_id_;
  std::array<TokenId, 256> byte_to_id_{};  // -1: no token can stand for that byte
  std::vector<TokenId> specials_;          // candidates for the special-token cut, longest first
};

}  // namespace lingua
