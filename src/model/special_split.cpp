// The special-token cut shared by all tokenizers; llama.cpp's tokenizer_st_partition defines the
// behaviour the parity tests check.
#include "model/special_split.h"

#include <algorithm>
#include <string_view>

namespace lingua {

TokenType token_type(const Vocab& vocab, TokenId id) {
  return static_cast<size_t>(id) < vocab.types.size() ? vocab.types[id] : TokenType::NORMAL;
}

std::vector<TokenId> special_token_candidates(const Vocab& vocab) {
  std::vector<TokenId> out;
  for (TokenId id = 0; id < vocab.size(); ++id) {
    const TokenType t = token_type(vocab, id);
    if ((t == TokenType::CONTROL || t == TokenType::USER_DEFINED || t == TokenType::UNKNOWN) &&
        !vocab.pieces[id].empty()) {
      out.push_back(id);
    }
  }
  // Stable so the result never depends on the sort implementation.
  std::stable_sort(out.begin(), out.end(), [&](TokenId a, TokenId b) {
    return vocab.pieces[a].size() > vocab.pieces[b].size();
  });
  return out;
}

std::vector<TextFragment> split_special_tokens(const std::string& text, const Vocab& vocab,
                                               const std::vector<TokenId>& candidates,
                                               bool parse_special) {
  std::vector<TextFragment> fragments;
  if (!text.empty()) fragments.push_back({-1, 0, text.size()});
  std::vector<TextFragment> next;
  for (TokenId special : candidates) {
    if (!parse_special && token_type(vocab, special) != TokenType::USER_DEFINED) continue;
    const std::string& needle = vocab.pieces[special];
    next.clear();
    for (const TextFragment& f : fragments) {
      if (f.id >= 0) {
        next.push_back(f);
        continue;
      }
      size_t start = f.offset;
      const size_t end = f.offset + f.length;
      // Searching a prefix of the input keeps matches from running past the fragment.
      const std::string_view upto_end = std::string_view(text).substr(0, end);
      while (start < end) {
        const size_t match = upto_end.find(needle, start);
        if (match == std::string_view::npos) break;
        if (match > start) next.push_back({-1, start, match - start});
        next.push_back({special, 0, 0});
        start = match + needle.size();
      }
      if (start < end) next.push_back({-1, start, end - start});
    }
    fragments.swap(next);
  }
  return fragments;
}

}  // namespace lingua
