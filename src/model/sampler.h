// Picking the next token from logits: greedy for reproducible runs and tests, or the usual
// penalty/top-k/top-p/min-p/temperature chain with a seeded generator for chat-style output.
#pragma once
#include <cstdint>
#include <deque>
#include <random>
#include <vector>

#include "core/status.h"
#include "model/vocab.h"

namespace lingua {

struct SamplerConfig {
  float temperature = 0.8f;    // <= 0: greedy (argmax; ties go to the lowest id)
  int top_k = 40;              // keep the k most likely; 0 keeps all
  float top_p = 0.95f;         // keep the smallest set whose probability reaches top_p; 1 keeps all
  float min_p = 0.05f;         // drop tokens less likely than min_p times the best one; 0 keeps all
  float repeat_penalty = 1.0f; // 1: off; > 1 discourages tokens seen in the last repeat_last_n
  int repeat_last_n = 64;      // how many accepted tokens the penalty looks back over; 0: none
  uint64_t seed = 0;           // same seed, same logits, same accepted tokens -> same choices
};

// Ok, or a message naming the first out-of-range setting and its allowed range.
Status validate(const SamplerConfig& config);

// Stages, in this order (each sees the survivors of the one before):
//   1. repetition penalty on the raw logits (llama.cpp style: a positive logit is divided by the
//      penalty, a negative one multiplied, once per distinct token in the recent history);
//   2. greedy: temperature <= 0 stops here with the argmax;
//   3. top-k on the penalised logits;
//   4. softmax of logit / temperature;
//   5. top-p on those probabilities (the most likely token always survives);
//   6. min-p relative to the most likely survivor;
//   7. one draw from the renormalised survivors with std::mt19937_64(seed), using 53 bits of one
//      64-bit output, so a seed gives the same sequence on every platform.
// The config should have passed validate(); out-of-range values are clamped to the nearest
// sensible meaning rather than trusted.
class Sampler {
 public:
  explicit Sampler(SamplerConfig config);

  // The chosen id, or -1 when n_vocab <= 0. Does not record the choice: call accept().
  TokenId sample(const float* logits, int32_t n_vocab);
  // Records a token (prompt or generated) in the repetition-penalty history.
  void accept(TokenId id);
  // Forgets the history and restarts the generator from the seed.
  void reset();

  const SamplerConfig& config() const { return config_; }

 private:
  struct Candidate {
    TokenId id;
    float logit;
    float p;
  };
  void apply_penalty(std::vector<Candidate>& candidates) const;

  SamplerConfig config_;
  std::mt19937_64 rng_;
  std::deque<TokenId> history_;
  std::vector<Candidate> candidates_;  // reused between calls; vocabularies are large
};

}  // namespace lingua
