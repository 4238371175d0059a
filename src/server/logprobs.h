// Log-probabilities of a generated token and its most likely alternatives, from the raw logits
// (the model's distribution, before temperature or truncation): OpenAI's `logprobs`.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "model/vocab.h"

namespace lingua::server {

struct TokenAlternative {
  TokenId id = -1;
  std::string text;  // the token's bytes in the running text (may be part of a UTF-8 character)
  float logprob = 0;
};

struct TokenLogprob {
  TokenAlternative chosen;
  std::vector<TokenAlternative> top;  // most likely first
};

// log softmax(logits)[chosen] and the `top` best ids with theirs (ties: lower id first). The
// texts are left for the caller (they need the tokenizer and the previous token).
TokenLogprob token_logprob(const float* logits, int32_t n_vocab, TokenId chosen, int top);

}  // namespace lingua::server
