// InProcessPipeline: submit runs the step at once; next hands back the answers in order.
#include "runtime/pipeline.h"

namespace lingua {

Status InProcessPipeline::submit(uint64_t sequence, const int32_t* tokens, int64_t n, int64_t pos0, bool want_logits,
                                 bool all_logits) {
  SegmentedExecutor* ex = nullptr;
  for (auto& [id, e] : executors_)
    if (id == sequence) ex = e.get();
  if (!ex) {
    LINGUA_ASSIGN_OR_RETURN(SegmentedExecutor made, SegmentedExecutor::create(graph_, partition_, config_));
    executors_.emplace_back(sequence, std::make_unique<SegmentedExecutor>(std::move(made)));
    ex = executors_.back().second.get();
  }
  LINGUA_TRY(ex->forward(tokens, n, pos0, pool_, logits_, all_logits));
  if (want_logits) answers_.push_back({sequence, pos0, logits_});
  return Status::ok();
}

Expected<StepLogits> InProcessPipeline::next() {
  if (answers_.empty()) return Status::error("no step is waiting for an answer");
  StepLogits s = std::move(answers_.front());
  answers_.erase(answers_.begin());
  return s;
}

Status InProcessPipeline::end_sequence(uint64_t sequence) {
  std::erase_if(executors_, [&](const auto& e) { return e.first == sequence; });
  return Status::ok();
}

}  // namespace lingua
