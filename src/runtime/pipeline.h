// The one interface generation runs through: forward passes of sequences over a partitioned
// graph, submitted in order and answered with logits. In-process (every segment here, the
// single-device run) or remote (segments on workers, runtime/remote_pipeline.h): same caller.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "graph/segmented_executor.h"

namespace lingua {

// One sequence's part of a batched step (Pipeline::submit_batch).
struct SequenceStep {
  uint64_t sequence = 0;
  std::vector<int32_t> tokens;  // at positions pos0..pos0+tokens.size()-1
  int64_t pos0 = 0;
  bool want_logits = true;      // the last token's logits come back through next()
  bool all_logits = false;      // with want_logits: every token's, not only the last one's
};

struct StepLogits {
  uint64_t sequence = 0;
  int64_t position = 0;       // first position of the step
  std::vector<float> logits;  // the last token's (or every token's, when all_logits)
};

class Pipeline {
 public:
  virtual ~Pipeline() = default;
  // Queues a forward pass of n tokens of `sequence` at positions pos0.. (each sequence's steps in
  // position order). Steps with want_logits answer through next(); others only fill KV caches.
  virtual Status submit(uint64_t sequence, const int32_t* tokens, int64_t n, int64_t pos0, bool want_logits,
                        bool all_logits = false) = 0;
  // One step of several sequences at once (continuous batching): each sequence's tokens go
  // through every stage together, one matrix-matrix pass per weight where the pipeline can; the
  // answers come back through next() in the order of `steps`. A sequence appears at most once.
  // The default runs them one after another through submit().
  virtual Status submit_batch(const std::vector<SequenceStep>& steps) {
    for (const SequenceStep& s : steps)
      if (Status st = submit(s.sequence, s.tokens.data(), static_cast<int64_t>(s.tokens.size()), s.pos0, s.want_logits,
                             s.all_logits);
          !st.is_ok())
        return st;
    return Status::ok();
  }
  // The next answered step; blocks until there is one. An error is final (a device is lost).
  virtual Expected<StepLogits> next() = 0;
  // Frees the sequence's KV caches.
  virtual Status end_sequence(uint64_t sequence) = 0;
  virtual int devices() const = 0;
};

// Every segment in this process, one after another (SegmentedExecutor), a KV cache set per
// sequence. A step of several sequences is one batched forward: config.max_batch bounds its
// tokens in all, config.max_sequences the sequences holding KV caches at once.
class InProcessPipeline : public Pipeline {
 public:
  InProcessPipeline(const Graph& graph, Partition partition, ExecutorConfig config, ThreadPool& pool)
      : graph_(graph), partition_(std::move(partition)), config_(config), pool_(pool) {}
  Status submit(uint64_t sequence, const int32_t* tokens, int64_t n, int64_t pos0, bool want_logits,
                bool all_logits = false) override;
  Status submit_batch(const std::vector<SequenceStep>& steps) override;
  Expected<StepLogits> next() override;
  Status end_sequence(uint64_t sequence) override;
  int devices() const override { return 1; }
  int segments() const { return partition_.size(); }
  // Sequences holding KV caches now, and the bytes those caches may grow to.
  int active_sequences() const { return executor_ ? executor_->sequences() : 0; }
  uint64_t kv_bytes() const { return executor_ ? executor_->kv_bytes() : 0; }

 private:
  const Graph& graph_;
  Partition partition_;
  ExecutorConfig config_;
  ThreadPool& pool_;
  std::unique_ptr<SegmentedExecutor> executor_;  // made at the first step
  std::deque<StepLogits> answers_;
  std::vector<float> logits_;
  std::vector<BatchGroup> groups_;
};

}  // namespace lingua
