// token_logprob: a stable log-sum-exp, then a partial sort for the alternatives.
#include "server/logprobs.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace lingua::server {

TokenLogprob token_logprob(const float* logits, int32_t n_vocab, TokenId chosen, int top) {
  TokenLogprob out;
  if (n_vocab <= 0) return out;
  const float max = *std::max_element(logits, logits + n_vocab);
  double sum = 0;
  for (int32_t i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - max);
  const double log_norm = max + std::log(sum);
  auto logprob = [&](TokenId id) { return static_cast<float>(logits[id] - log_norm); };
  out.chosen.id = chosen;
  out.chosen.logprob = chosen >= 0 && chosen < n_vocab ? logprob(chosen) : -INFINITY;
  const int k = std::clamp(top, 0, static_cast<int>(n_vocab));
  std::vector<TokenId> ids(static_cast<size_t>(n_vocab));
  std::iota(ids.begin(), ids.end(), 0);
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](TokenId a, TokenId b) {
    return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
  });
  for (int i = 0; i < k; ++i) out.top.push_back({ids[static_cast<size_t>(i)], "", logprob(ids[static_cast<size_t>(i)])});
  return out;
}

}  // namespace lingua::server
