// Runs one segment of a Graph (by default the whole graph, the single-device run) on a batch of
// tokens: one f32 row per token per op, activations in a few reused buffers (liveness-planned),
// the KV cache of the segment's own attention ops. Tensors from earlier segments come in through
// set_input; tensors later segments need stay readable through output() after forward.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "graph/graph.h"
#include "graph/kv_cache.h"
#include "graph/partition.h"

namespace lingua {

// ALiBi slope of each head for the given maximum bias (empty when max_bias <= 0).
std::vector<float> alibi_slopes(int64_t n_heads, float max_bias);

struct ExecutorConfig {
  int64_t context = 2048;   // KV positions
  int64_t max_batch = 64;   // tokens per forward call
  Segment segment{0, -1};   // ops to run; last_op -1 = to the end of the graph
};

class Executor {
 public:
  // The graph must outlive the executor.
  static Expected<Executor> create(const Graph& graph, const ExecutorConfig& config);

  // Rows an op's output has in a call of n tokens: ops after the graph's last attention are per
  // token, so when only the last token's logits are wanted they run on that row alone.
  int64_t rows_of(int op, int64_t n, bool all_logits) const;

  // Ops outside the segment whose outputs it reads, and ops inside whose outputs are read outside
  // (after it) or are the logits, both in op order.
  const std::vector<int>& imports() const { return imports_; }
  const std::vector<int>& exports() const { return exports_; }

  // Hands in an imported op's output for the next forward: rows_of(op, n, all_logits) rows.
  Status set_input(int op, const float* data, int64_t rows);

  // Evaluates `n` tokens at positions pos0..pos0+n-1 (n <= max_batch, pos0+n <= context). Token
  // ids are needed when the segment embeds them (may be null otherwise); every import must have
  // been set for this call. When the segment ends the graph, writes logits for the last token
  // into `logits` (vocab floats), or for every token ([n][vocab]) when all_logits; otherwise
  // clears it. Errors: out-of-range token ids, context full, missing inputs.
  Status forward(const int32_t* tokens, int64_t n, int64_t pos0, ThreadPool& pool,
                 std::vector<float>& logits, bool all_logits = false);

  // Called after every op of a forward (nullptr: nothing). A device emulating a slower one uses it
  // to spread its extra time over the step, as a slower device would, instead of one burst.
  void set_after_op(std::function<void()> hook) { after_op_ = std::move(hook); }

  // An exported op's output from the last forward (rows_of(op, ...) rows of out_dim floats).
  const float* output(int op) const;

  const ExecutorConfig& config() const { return config_; }
  const Segment& segment() const { return config_.segment; }
  const KVCache& kv_cache() const { return kv_; }
  KVCache& kv_cache() { return kv_; }
  // Graph-wide KV slot (Op::kv_slot) of the cache's slot 0; meaningful when it has slots.
  int kv_base() const { return kv_base_; }
  uint64_t activation_bytes() const;  // memory held by activation buffers

 private:
  Executor(const Graph& graph, const ExecutorConfig& config);
  bool in_segment(int op) const { return op >= config_.segment.first_op && op <= config_.segment.last_op; }
  void plan_buffers();
  std::vector<float>& buffer(int op) { return buffers_[static_cast<size_t>(buffer_of_[static_cast<size_t>(op)])]; }
  const std::vector<float>& buffer(int op) const {
    return buffers_[static_cast<size_t>(buffer_of_[static_cast<size_t>(op)])];
  }
  void run_op(const Op& op, int64_t n, int64_t pos0, ThreadPool& pool);
  void run_attention(const Op& op, int64_t n, int64_t pos0, ThreadPool& pool);

  const Graph* graph_;
  ExecutorConfig config_;
  KVCache kv_;
  int kv_base_ = 0;                            // graph-wide KV slot of the segment's first attention
  bool embeds_ = false;                        // the segment holds the embedding (reads token ids)
  std::vector<int> imports_, exports_;
  std::vector<char> import_set_;               // per import: handed in for the coming forward
  std::vector<int> buffer_of_;                 // op id -> buffer index (-1: not used here)
  std::vector<std::vector<float>> buffers_;    // reused activation storage
  std::vector<int64_t> rows_;                  // op id -> rows computed this call
  std::vector<int64_t> row_offset_;            // op id -> first token row this call
  struct AttentionScratch {
    std::vector<float> scores;
    std::vector<const float*> keys, values;  // the rows one query head sees
  };
  std::vector<AttentionScratch> scratch_;      // per thread
  const int32_t* tokens_ = nullptr;
  std::function<void()> after_op_;
  int first_tail_op_ = 0;                      // ops from here on are per-token (after the last attention)
};

}  // namespace lingua
