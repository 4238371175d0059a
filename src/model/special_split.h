// Cutting special-token texts ("<|endoftext|>", "<s>") out of input before a tokenizer's own
// rules see it. Every tokenizer kind does this the same way, so it lives here once.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "model/vocab.h"

namespace lingua {

// A piece of the input after the cut: raw text still to tokenize, or a finished special id.
struct TextFragment {
  TokenId id;     // -1 for text
  size_t offset;  // text only: where in the input
  size_t length;
};

// The type of `id`, NORMAL when the vocabulary has no types (hand-built vocabularies).
TokenType token_type(const Vocab& vocab, TokenId id);

// Control, user-defined and unknown tokens with a non-empty text, longest text first (so
// "<|im_start|>" is cut before a shorter special inside it), ties in id order.
std::vector<TokenId> special_token_candidates(const Vocab& vocab);

// Splits `text` at every occurrence of the candidates' texts. User-defined tokens are always cut;
// control and unknown ones only with parse_special. Each candidate in turn splits every remaining
// text fragment, which is how the reference decides overlaps between specials.
std::vector<TextFragment> split_special_tokens(const std::string& text, const Vocab& vocab,
                                               const std::vector<TokenId>& candidates,
                                               bool parse_special);

}  // namespace lingua
