// Runs a partition of a graph in one process, segment after segment, handing each segment only
// the tensors the transmission map sends it. With one segment this is the plain run; the
// distributed runtime replaces the hand-over with the network and keeps everything else.
#pragma once
#include <cstdint>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "graph/executor.h"
#include "graph/partition.h"

namespace lingua {

class SegmentedExecutor {
 public:
  // The graph must outlive the executor. config.segment is ignored: the partition decides.
  static Expected<SegmentedExecutor> create(const Graph& graph, const Partition& partition,
                                            const ExecutorConfig& config);

  // As Executor::forward_batch for the whole graph: every segment runs the batch once, each
  // sequence keeping its own KV cache in every segment.
  Status forward_batch(const std::vector<BatchGroup>& groups, ThreadPool& pool, std::vector<float>& logits,
                       bool all_logits = false);
  // One group of Executor::kDefaultSequence.
  Status forward(const int32_t* tokens, int64_t n, int64_t pos0, ThreadPool& pool, std::vector<float>& logits,
                 bool all_logits = false) {
    return forward_batch({BatchGroup{Executor::kDefaultSequence, tokens, n, pos0}}, pool, logits, all_logits);
  }
  // Frees the sequence's KV caches in every segment.
  void end_sequence(uint64_t sequence);
  int sequences() const { return segments_.front().sequences(); }

  const Partition& partition() const { return partition_; }
  const std::vector<Transmission>& transmissions() const { return transmissions_; }
  Executor& segment(int s) { return segments_[static_cast<size_t>(s)]; }
  int size() const { return static_cast<int>(segments_.size()); }
  const ExecutorConfig& config() const { return segments_.front().config(); }
  uint64_t kv_bytes() const;
  uint64_t activation_bytes() const;
  // Seconds each segment's forward took in the last call (for benchmarks).
  const std::vector<double>& last_segment_seconds() const { return seconds_; }
  uint64_t bytes_sent_last_call() const { return bytes_sent_; }

 private:
  SegmentedExecutor(Partition partition, std::vector<Transmission> transmissions)
      : partition_(std::move(partition)), transmissions_(std::move(transmissions)) {}

  Partition partition_;
  std::vector<Transmission> transmissions_;
  std::vector<Executor> segments_;
  std::vector<double> seconds_;
  uint64_t bytes_sent_ = 0;
};

}  // namespace lingua
