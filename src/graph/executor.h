// Runs one segment of a Graph (by default the whole graph, the single-device run) on a batch of
// tokens of one or several sequences: one f32 row per token per op, every op but attention once
// over all rows (one matrix-matrix pass per weight), attention per sequence against that
// sequence's own KV cache. Activations live in a few reused buffers (liveness-planned). Tensors
// from earlier segments come in through set_input; tensors later segments need stay readable
// through output() after forward.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
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
  int64_t context = 2048;   // KV positions of each sequence
  int64_t max_batch = 64;   // token rows per forward call, over all its sequences
  Segment segment{0, -1};   // ops to run; last_op -1 = to the end of the graph
  int max_sequences = 64;   // sequences holding a KV cache at once
};

// One sequence's share of a batched forward: n tokens at positions pos0..pos0+n-1, attending to
// that sequence's earlier positions in its own KV cache.
struct BatchGroup {
  uint64_t sequence = 0;
  const int32_t* tokens = nullptr;  // n ids; may be null when the segment does not embed tokens
  int64_t n = 0;
  int64_t pos0 = 0;
};

class Executor {
 public:
  // The sequence forward() runs (single-sequence callers need not name one).
  static constexpr uint64_t kDefaultSequence = 0;

  // The graph must outlive the executor. A context whose KV cache cannot fit in memory is refused
  // here; the caches themselves are made as sequences first appear.
  static Expected<Executor> create(const Graph& graph, const ExecutorConfig& config);

  // Rows an op's output has in a call of `rows` tokens over `groups` sequences: ops after the
  // graph's last attention are per token, so when only the last tokens' logits are wanted they
  // run on each sequence's last row alone (`groups` rows, in group order).
  int64_t rows_of(int op, int64_t rows, int64_t groups, bool all_logits) const;
  int64_t rows_of(int op, int64_t n, bool all_logits) const { return rows_of(op, n, 1, all_logits); }

  // Ops outside the segment whose outputs it reads, and ops inside whose outputs are read outside
  // (after it) or are the logits, both in op order.
  const std::vector<int>& imports() const { return imports_; }
  const std::vector<int>& exports() const { return exports_; }

  // Hands in an imported op's output for the next forward: rows_of(op, ...) rows.
  Status set_input(int op, const float* data, int64_t rows);

  // Evaluates the tokens of several sequences in one pass, their rows in group order (at most
  // max_batch rows in all; each sequence at most once, pos0+n <= context). A sequence's KV cache
  // is made on its first appearance, up to max_sequences of them. Token ids are needed when the
  // segment embeds them; every import must have been set for this call. When the segment ends
  // the graph, writes into `logits` the last token's logits of each group ([groups][vocab]), or
  // every token's ([rows][vocab]) when all_logits; otherwise clears it. Errors: out-of-range
  // token ids, a context full, too many rows or sequences, missing inputs.
  Status forward_batch(const std::vector<BatchGroup>& groups, ThreadPool& pool, std::vector<float>& logits,
                       bool all_logits = false);
  // One group of kDefaultSequence.
  Status forward(const int32_t* tokens, int64_t n, int64_t pos0, ThreadPool& pool,
                 std::vector<float>& logits, bool all_logits = false) {
    return forward_batch({BatchGroup{kDefaultSequence, tokens, n, pos0}}, pool, logits, all_logits);
  }

  // Called after every op of a forward (nullptr: nothing). A device emulating a slower one uses it
  // to spread its extra time over the step, as a slower device would, instead of one burst.
  void set_after_op(std::function<void()> hook) { after_op_ = std::move(hook); }

  // An exported op's output from the last forward (rows_of(op, ...) rows of out_dim floats).
  const float* output(int op) const;

  const ExecutorConfig& config() const { return config_; }
  const Segment& segment() const { return config_.segment; }

  // A sequence's KV cache (null: the sequence has none here yet).
  KVCache* kv_cache(uint64_t sequence = kDefaultSequence);
  const KVCache* kv_cache(uint64_t sequence = kDefaultSequence) const;
  // The sequence's KV cache, made empty if it has none (refused beyond max_sequences), e.g. to
  // load a snapshot into before its first forward.
  Expected<KVCache*> open_sequence(uint64_t sequence);
  // Frees the sequence's KV cache; a sequence without one is no error.
  void end_sequence(uint64_t sequence);
  int sequences() const { return static_cast<int>(caches_.size()); }
  // Graph-wide KV slot (Op::kv_slot) of the cache's slot 0; meaningful when it has slots.
  int kv_base() const { return kv_base_; }
  int kv_slots() const { return static_cast<int>(kv_layers_.size()); }
  uint64_t kv_bytes() const;          // address space of every sequence's cache (touched as it fills)
  uint64_t activation_bytes() const;  // memory held by activation buffers

 private:
  Executor(const Graph& graph, const ExecutorConfig& config);
  bool in_segment(int op) const { return op >= config_.segment.first_op && op <= config_.segment.last_op; }
  void plan_buffers();
  std::vector<float>& buffer(int op) { return buffers_[static_cast<size_t>(buffer_of_[static_cast<size_t>(op)])]; }
  const std::vector<float>& buffer(int op) const {
    return buffers_[static_cast<size_t>(buffer_of_[static_cast<size_t>(op)])];
  }
  Status check_batch(const std::vector<BatchGroup>& groups, bool all_logits) const;
  void lay_out_rows(const std::vector<BatchGroup>& groups, bool all_logits);
  // Row of the full batch that row r of op `op` holds (differs for per-group tail rows).
  int64_t batch_row(int op, int64_t r) const {
    return compact_[static_cast<size_t>(op)] ? last_rows_[static_cast<size_t>(r)] : r;
  }
  const float* input(const Op& op, size_t i);
  void run_op(const Op& op, ThreadPool& pool);
  void run_attention(const Op& op, ThreadPool& pool);

  const Graph* graph_;
  ExecutorConfig config_;
  std::vector<KVLayer> kv_layers_;             // the segment's attention layers
  std::map<uint64_t, KVCache> caches_;         // per sequence
  int kv_base_ = 0;                            // graph-wide KV slot of the segment's first attention
  bool embeds_ = false;                        // the segment holds the embedding (reads token ids)
  std::vector<int> imports_, exports_;
  std::vector<char> import_set_;               // per import: handed in for the coming forward
  std::vector<int> buffer_of_;                 // op id -> buffer index (-1: not used here)
  std::vector<std::vector<float>> buffers_;    // reused activation storage
  std::vector<int64_t> rows_;                  // op id -> rows computed this call
  // This call's layout: every token's row in group order, except that an op after the last
  // attention (when only last logits are wanted) is "compact": one row per group, its last.
  std::vector<char> compact_;                  // op id -> compact this call
  std::vector<int64_t> group_start_;           // group -> its first row
  std::vector<int64_t> row_group_;             // row -> its group
  std::vector<int64_t> row_position_;          // row -> its token's position
  std::vector<int32_t> row_token_;             // row -> its token id (segments that embed)
  std::vector<int64_t> last_rows_;             // group -> its last row
  std::vector<KVCache*> group_caches_;         // group -> its sequence's cache
  std::vector<float> gathered_[3];             // a compact op's inputs picked from full ones
  struct AttentionScratch {
    std::vector<float> scores;
    std::vector<const float*> keys, values;  // the rows one query head sees
  };
  std::vector<AttentionScratch> scratch_;      // per thread
  std::function<void()> after_op_;
  int first_tail_op_ = 0;                      // ops from here on are per-token (after the last attention)
};

}  // namespace lingua
