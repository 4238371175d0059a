// The one interface generation runs through: forward passes of sequences over a partitioned
// graph, submitted in order and answered with logits. In-process (every segment here, the
// single-device run) or remote (segments on workers, runtime/remote_pipeline.h): same caller.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "graph/segmented_executor.h"

namespace lingua {

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
  // The next answered step; blocks until there is one. An error is final (a device is lost).
  virtual Expected<StepLogits> next() = 0;
  // Frees the sequence's KV caches.
  virtual Status end_sequence(uint64_t sequence) = 0;
  virtual int devices() const = 0;
};

// Every segment in this process, one after another (SegmentedExecutor), a KV cache set per sequence.
class InProcessPipeline : public Pipeline {
 public:
  InProcessPipeline(const Graph& graph, Partition partition, ExecutorConfig config, ThreadPool& pool)
      : graph_(graph), partition_(std::move(partition)), config_(config), pool_(pool) {}
  Status submit(uint64_t sequence, const int32_t* tokens, int64_t n, int64_t pos0, bool want_logits,
                bool all_logits = false) override;
  Expected<StepLogits> next() override;
  Status end_sequence(uint64_t sequence) override;
  int devices() const override { return 1; }
  int segments() const { return partition_.size(); }

 private:
  const Graph& graph_;
  Partition partition_;
  ExecutorConfig config_;
  ThreadPool& pool_;
  std::vector<std::pair<uint64_t, std::unique_ptr<SegmentedExecutor>>> executors_;
  std::vector<StepLogits> answers_;
  std::vector<float> logits_;
};

}  // namespace lingua
