// PipelineTextEngine: answers through Generator on the given pipeline; candidate log-probabilities
// from the logits before each candidate token (the prompt, then the candidate, as one sequence).
#include "apps/pipeline_text_engine.h"

#include <algorithm>
#include <cmath>

namespace lingua::apps {
namespace {

// log softmax(logits)[id], in double so long candidates keep their precision.
double log_probability(const float* logits, int64_t vocab, TokenId id) {
  const float top = *std::max_element(logits, logits + vocab);
  double sum = 0;
  for (int64_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - top);
  return static_cast<double>(logits[id]) - top - std::log(sum);
}

}  // namespace

PipelineTextEngine::PipelineTextEngine(const Model& model, Pipeline& pipeline, int64_t context,
                                       ConversationRenderer render)
    : model_(model), pipeline_(pipeline), context_(context), render_(std::move(render)), generator_(model, 1) {}

Expected<std::string> PipelineTextEngine::answer(const std::vector<ChatTurn>& conversation, const AnswerOptions& options,
                                                 const std::function<void(const std::string&)>& on_text) {
  LINGUA_ASSIGN_OR_RETURN(RenderedConversation prompt, render_(conversation));
  GenerateOptions g;
  g.n_predict = static_cast<int>(std::clamp<int64_t>(options.max_tokens, 1, context_));
  g.sampling.temperature = options.temperature;
  g.sampling.seed = options.seed;
  g.context = context_;
  g.parse_special = prompt.parse_special;
  g.no_bos = prompt.no_bos;
  g.pipeline = &pipeline_;
  g.should_stop = options.should_stop;
  // Streams up to a stop string: text that may be the start of one is held back until it is not.
  std::string text, sent;
  bool stopped = false;
  auto forward = [&](const std::string& piece) {
    if (stopped) return;
    text += piece;
    size_t end = text.size();
    for (const std::string& s : prompt.stop) {
      const size_t at = text.find(s);
      if (at != std::string::npos) end = std::min(end, at), stopped = true;
    }
    if (!stopped)
      for (const std::string& s : prompt.stop)
        for (size_t k = std::min(s.size() - 1, text.size()); k > 0; --k)
          if (text.compare(text.size() - k, k, s, 0, k) == 0) {
            end = std::min(end, text.size() - k);
            break;
          }
    if (end > sent.size()) {
      const std::string more = text.substr(sent.size(), end - sent.size());
      sent += more;
      if (on_text) on_text(more);
    }
  };
  LINGUA_ASSIGN_OR_RETURN(GenerateResult r, generator_.generate(prompt.text, g, forward));
  if (!stopped && sent.size() < text.size()) {  // held back for a stop string that never came
    const std::string rest = text.substr(sent.size());
    sent += rest;
    if (on_text) on_text(rest);
  }
  last_prompt_tokens_ = static_cast<int64_t>(r.prompt_tokens.size());
  last_answer_tokens_ = static_cast<int64_t>(r.tokens.size());
  return sent;
}

Expected<std::vector<double>> PipelineTextEngine::answer_logprobs(const std::vector<ChatTurn>& conversation,
                                                                  const std::vector<std::string>& candidates) {
  LINGUA_ASSIGN_OR_RETURN(RenderedConversation prompt, render_(conversation));
  const Vocab& vocab = model_.vocab();
  TokenizeOptions popt;
  popt.add_bos = vocab.add_bos && vocab.bos >= 0 && !prompt.no_bos;
  popt.parse_special = prompt.parse_special;
  auto prompt_ids = model_.tokenizer().encode(prompt.text, popt);
  if (!prompt_ids) return prompt_ids.status().with_context("prompt");
  if (prompt_ids->empty()) return Status::error("the prompt gives no tokens");
  const int64_t vocab_size = model_.graph().vocab_size();
  std::vector<double> out;
  for (const std::string& candidate : candidates) {
    auto ids = model_.tokenizer().encode(candidate, TokenizeOptions{});
    if (!ids) return ids.status().with_context("candidate '" + candidate + "'");
    if (ids->empty()) return Status::error("the candidate '" + candidate + "' gives no tokens");
    std::vector<TokenId> all = *prompt_ids;
    all.insert(all.end(), ids->begin(), ids->end());
    if (static_cast<int64_t>(all.size()) > context_)
      return Status::error("the prompt and the candidate '" + candidate + "' take " + std::to_string(all.size()) +
                           " tokens, over the context of " + std::to_string(context_));
    // The prompt in batches, its last logits predicting the candidate's first token; then the
    // candidate one token at a time (the logits of every position are kept only in process, and a
    // label is a token or three).
    const uint64_t sequence = next_sequence_++;
    const auto n_prompt = static_cast<int64_t>(prompt_ids->size());
    double total = 0;
    int64_t scored = 0;
    constexpr int64_t kBatch = 64;
    Status failed = Status::ok();
    auto step = [&](const TokenId* tokens, int64_t n, int64_t pos, bool want) -> Expected<std::vector<float>> {
      LINGUA_TRY(pipeline_.submit(sequence, tokens, n, pos, want));
      if (!want) return std::vector<float>{};
      LINGUA_ASSIGN_OR_RETURN(StepLogits answer, pipeline_.next());
      return std::move(answer.logits);
    };
    for (int64_t pos = 0; pos < static_cast<int64_t>(all.size()) - 1 && failed.is_ok();) {
      const int64_t n = pos < n_prompt ? std::min(kBatch, n_prompt - pos) : 1;
      const bool want = pos + n >= n_prompt;
      auto logits = step(all.data() + pos, n, pos, want);
      if (!logits) {
        failed = logits.status();
        break;
      }
      pos += n;
      if (want) {
        total += log_probability(logits->data(), vocab_size, all[static_cast<size_t>(pos)]);
        ++scored;
      }
    }
    if (Status ended = pipeline_.end_sequence(sequence); failed.is_ok() && !ended.is_ok()) failed = ended;
    LINGUA_TRY(failed);
    if (scored != static_cast<int64_t>(ids->size()))
      return Status::error("scored " + std::to_string(scored) + " of the candidate's " + std::to_string(ids->size()) + " tokens");
    out.push_back(total);
  }
  return out;
}

Expected<int64_t> PipelineTextEngine::count_tokens(const std::string& text) {
  auto ids = model_.tokenizer().encode(text, TokenizeOptions{});
  if (!ids) return ids.status();
  return static_cast<int64_t>(ids->size());
}

}  // namespace lingua::apps
