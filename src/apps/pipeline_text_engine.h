// A TextEngine that runs one conversation at a time through a Pipeline (one device in this
// process, or the cluster): what the task commands use. How a conversation becomes prompt text
// (the model's chat template, or a transcript without one) is the caller's renderer.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "apps/text_engine.h"
#include "model/model.h"
#include "runtime/generator.h"
#include "runtime/pipeline.h"

namespace lingua::apps {

struct RenderedConversation {
  std::string text;
  bool parse_special = true;       // the template's special-token text is those tokens
  bool no_bos = false;             // the text carries its own BOS
  std::vector<std::string> stop;   // the answer ends before any of these (a transcript's next turn)
};
using ConversationRenderer = std::function<Expected<RenderedConversation>(const std::vector<ChatTurn>&)>;

class PipelineTextEngine : public TextEngine {
 public:
  // model and pipeline outlive the engine; `context` is the pipeline's KV positions per sequence.
  PipelineTextEngine(const Model& model, Pipeline& pipeline, int64_t context, ConversationRenderer render);

  Expected<std::string> answer(const std::vector<ChatTurn>& conversation, const AnswerOptions& options,
                               const std::function<void(const std::string&)>& on_text = {}) override;
  Expected<std::vector<double>> answer_logprobs(const std::vector<ChatTurn>& conversation,
                                                const std::vector<std::string>& candidates) override;
  Expected<int64_t> count_tokens(const std::string& text) override;
  int64_t context() const override { return context_; }

  // Tokens of the prompt and the answer of the last answer() (usage lines, tests).
  int64_t last_prompt_tokens() const { return last_prompt_tokens_; }
  int64_t last_answer_tokens() const { return last_answer_tokens_; }

 private:
  const Model& model_;
  Pipeline& pipeline_;
  int64_t context_;
  ConversationRenderer render_;
  Generator generator_;
  uint64_t next_sequence_ = 1u << 20;  // scoring sequences, apart from the generator's
  int64_t last_prompt_tokens_ = 0, last_answer_tokens_ = 0;
};

}  // namespace lingua::apps
