// What the seed's tasks (summarize, sentiment, translate, chat) need from a model, whatever runs
// it (one device, the cluster, the server's scheduler): its answer to a conversation, and how
// likely given answers are.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

namespace lingua::apps {

struct ChatTurn {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

struct AnswerOptions {
  int64_t max_tokens = 256;
  float temperature = 0.0f;  // 0: greedy, the same answer every time
  uint64_t seed = 0;
  std::function<bool()> should_stop;  // asked after each token: true ends the answer there
};

class TextEngine {
 public:
  virtual ~TextEngine() = default;
  // The model's reply to the conversation (its chat template applied), streamed piece by piece
  // to on_text; stops at end-of-turn or max_tokens.
  virtual Expected<std::string> answer(const std::vector<ChatTurn>& conversation, const AnswerOptions& options,
                                       const std::function<void(const std::string&)>& on_text = {}) = 0;
  // The natural-log probability of each candidate, taken whole, as the start of the model's reply
  // to the conversation (the sum over the candidate's tokens).
  virtual Expected<std::vector<double>> answer_logprobs(const std::vector<ChatTurn>& conversation,
                                                        const std::vector<std::string>& candidates) = 0;
  // Tokens `text` takes in this model's vocabulary.
  virtual Expected<int64_t> count_tokens(const std::string& text) = 0;
  // KV positions a conversation may fill, prompt and answer together.
  virtual int64_t context() const = 0;
};

}  // namespace lingua::apps
