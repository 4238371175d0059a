// InProcessPipeline: a step runs at once as one batched forward; next hands back the answers in order.
#include "runtime/pipeline.h"

namespace lingua {

Status InProcessPipeline::submit(uint64_t sequence, const int32_t* tokens, int64_t n, int64_t pos0, bool want_logits,
                                 bool all_logits) {
  if (n <= 0 || !tokens) return Status::error("no tokens to evaluate");
  return submit_batch({SequenceStep{sequence, std::vector<int32_t>(tokens, tokens + n), pos0, want_logits, all_logits}});
}

Status InProcessPipeline::submit_batch(const std::vector<SequenceStep>& steps) {
  if (!executor_) {
    LINGUA_ASSIGN_OR_RETURN(SegmentedExecutor made, SegmentedExecutor::create(graph_, partition_, config_));
    executor_ = std::make_unique<SegmentedExecutor>(std::move(made));
  }
  // Every token's logits for all when any step wants them all; the others then keep their last row.
  bool all_logits = false;
  groups_.clear();
  for (const SequenceStep& s : steps) {
    groups_.push_back({s.sequence, s.tokens.data(), static_cast<int64_t>(s.tokens.size()), s.pos0});
    all_logits = all_logits || (s.want_logits && s.all_logits);
  }
  LINGUA_TRY(executor_->forward_batch(groups_, pool_, logits_, all_logits));
  const auto vocab = static_cast<size_t>(graph_.vocab_size());
  size_t row = 0;  // first row of this step's logits
  for (const SequenceStep& s : steps) {
    const size_t rows = all_logits ? s.tokens.size() : 1;
    if (s.want_logits) {
      const size_t first = s.all_logits ? row : row + rows - 1;
      const auto begin = logits_.begin() + static_cast<std::ptrdiff_t>(first * vocab);
      const auto end = logits_.begin() + static_cast<std::ptrdiff_t>((row + rows) * vocab);
      answers_.push_back({s.sequence, s.pos0, std::vector<float>(begin, end)});
    }
    row += rows;
  }
  return Status::ok();
}

Expected<StepLogits> InProcessPipeline::next() {
  if (answers_.empty()) return Status::error("no step is waiting for an answer");
  StepLogits s = std::move(answers_.front());
  answers_.pop_front();
  return s;
}

Status InProcessPipeline::end_sequence(uint64_t sequence) {
  if (executor_) executor_->end_sequence(sequence);
  return Status::ok();
}

}  // namespace lingua
