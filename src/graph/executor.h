// Runs a Graph on a batch of tokens: one f32 row per token per op, activations in a few reused
// buffers (liveness-planned), KV cache for attention. The single inference path: one device runs
// the whole graph; a device in a cluster will run its segment of it.
#pragma once
#include <cstdint>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "graph/graph.h"
#include "graph/kv_cache.h"

namespace lingua {

// ALiBi slope of each head for the given maximum bias (empty when max_bias <= 0).
std::vector<float> alibi_slopes(int64_t n_heads, float max_bias);

struct ExecutorConfig {
  int64_t context = 2048;   // KV cache positions
  int64_t max_batch = 64;   // tokens per forward call
};

class Executor {
 public:
  // The graph must outlive the executor.
  static Expected<Executor> create(const Graph& graph, const ExecutorConfig& config);

  // Evaluates `n` tokens at positions pos0..pos0+n-1 (n <= max_batch, pos0+n <= context).
  // Writes logits for the last token into `logits` (vocab floats), or for every token
  // ([n][vocab]) when all_logits. Errors: out-of-range token ids, context full.
  Status forward(const int32_t* tokens, int64_t n, int64_t pos0, ThreadPool& pool,
                 std::vector<float>& logits, bool all_logits = false);

  const ExecutorConfig& config() const { return config_; }
  const KVCache& kv_cache() const { return kv_; }
  uint64_t activation_bytes() const;  // memory held by activation buffers

 private:
  Executor(const Graph& graph, const ExecutorConfig& config);
  void plan_buffers();
  void run_op(const Op& op, int64_t n, int64_t pos0, ThreadPool& pool);
  void run_attention(const Op& op, int64_t n, int64_t pos0, ThreadPool& pool);

  const Graph* graph_;
  ExecutorConfig config_;
  KVCache kv_;
  std::vector<int> buffer_of_;                 // op id -> buffer index
  std::vector<std::vector<float>> buffers_;    // reused activation storage
  std::vector<int64_t> rows_;                  // op id -> rows computed this call
  std::vector<int64_t> row_offset_;            // op id -> first token row this call
  std::vector<std::vector<float>> scratch_;    // per-thread attention scores
  const int32_t* tokens_ = nullptr;
  int first_tail_op_ = 0;                      // ops from here on are per-token (after the last attention)
};

}  // namespace lingua
