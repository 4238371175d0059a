// SegmentedExecutor: one Executor per segment, tensors handed over along the transmission map.
#include "graph/segmented_executor.h"

#include <chrono>

namespace lingua {

Expected<SegmentedExecutor> SegmentedExecutor::create(const Graph& graph, const Partition& partition,
                                                      const ExecutorConfig& config) {
  SegmentedExecutor se(partition, transmission_map(graph, partition));
  for (const Segment& s : partition.segments()) {
    ExecutorConfig c = config;
    c.segment = s;
    LINGUA_ASSIGN_OR_RETURN(Executor ex, Executor::create(graph, c));
    se.segments_.push_back(std::move(ex));
  }
  se.seconds_.assign(se.segments_.size(), 0.0);
  return se;
}

Status SegmentedExecutor::forward_batch(const std::vector<BatchGroup>& groups, ThreadPool& pool,
                                        std::vector<float>& logits, bool all_logits) {
  bytes_sent_ = 0;
  int64_t total = 0;
  for (const BatchGroup& g : groups) total += g.n;
  const auto n_groups = static_cast<int64_t>(groups.size());
  for (int s = 0; s < size(); ++s) {
    Executor& ex = segments_[static_cast<size_t>(s)];
    const auto start = std::chrono::steady_clock::now();
    LINGUA_TRY(ex.forward_batch(groups, pool, logits, all_logits));
    seconds_[static_cast<size_t>(s)] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (const Transmission& t : transmissions_) {
      if (t.from != s) continue;
      const int64_t rows = ex.rows_of(t.op, total, n_groups, all_logits);
      for (int to : t.to) {
        LINGUA_TRY(segments_[static_cast<size_t>(to)].set_input(t.op, ex.output(t.op), rows));
        bytes_sent_ += static_cast<uint64_t>(rows) * t.bytes_per_token;
      }
    }
  }
  return Status::ok();
}

void SegmentedExecutor::end_sequence(uint64_t sequence) {
  for (Executor& ex : segments_) ex.end_sequence(sequence);
}

uint64_t SegmentedExecutor::kv_bytes() const {
  uint64_t total = 0;
  for (const Executor& ex : segments_) total += ex.kv_bytes();
  return total;
}

uint64_t SegmentedExecutor::activation_bytes() const {
  uint64_t total = 0;
  for (const Executor& ex : segments_) total += ex.activation_bytes();
  return total;
}

}  // namespace lingua
