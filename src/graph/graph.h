// The model as an op graph: a topologically ordered list of ops (embedding lookup, norms, matmul,
// RoPE, attention, residual add, activations, column slices), each producing one f32 row per token. An
// architecture builds it; the executor runs any contiguous range of it; later layers cut it into
// segments. The graph never knows which architecture made it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/matrix_view.h"
#include "core/status.h"

namespace lingua {

enum class OpKind {
  kEmbed,      // row lookup of token ids in `weight` (rows = vocab); the graph's only input
  kRmsNorm,    // x / rms(x) * norm, over the whole row or per group of norm_group floats (per head)
  kLayerNorm,  // (x - mean) / std * norm + bias (bias optional)
  kMatMul,     // x · weightᵀ (+ bias when present)
  kRope,       // rotary embedding in place of a copy, per head
  kAttention,  // causal multi-head attention over the KV cache (inputs: q, k, v)
  kAdd,        // elementwise sum of two inputs (residual connections)
  kSwiGLU,     // silu(input0) * input1
  kGelu,       // gelu(input0), tanh approximation
  kSlice,      // columns [slice_offset, slice_offset + out_dim) of input0 (splits a fused QKV)
  kGeGLU,      // gelu(input0) * input1 (gelu as kGelu)
  kScale,      // input0 * factor
  kSoftcap,    // tanh(input0 / factor) * factor (final logit soft-capping)
};
const char* op_kind_name(OpKind kind);

struct RopeParams {
  int64_t n_heads = 0;
  int64_t head_dim = 0;
  int64_t n_rot = 0;  // dims rotated per head (<= head_dim)
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;
  bool neox = false;  // pair layout: false = adjacent pairs, true = halves
  // Per-pair divisors of the frequencies (n_rot/2 floats owned by the model, null = none): Llama
  // 3.1's rope_freqs. Phi-3 long-context files have two sets: factors_long replaces factors when
  // the run's context is longer than long_context_above (the original training context).
  const float* factors = nullptr;
  const float* factors_long = nullptr;
  int64_t long_context_above = 0;
  float attn_factor = 1.0f;  // multiplies cos and sin (rope.scaling.attn_factor)
};

struct AttentionParams {
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;  // grouped-query attention: n_heads / n_kv_heads queries share a KV head
  int64_t head_dim = 0;
  float scale = 1.0f;      // applied to q·k
  // ALiBi (BLOOM): when > 0, head h adds -slope(h) * (query pos - key pos) to its scores, with
  // slopes in the geometric sequence of the ALiBi paper built from this maximum bias.
  float alibi_max_bias = 0.0f;
  // Sliding-window attention (gemma3 local layers): when > 0, a query at position p sees only keys
  // at positions in (p - sliding_window, p], as llama.cpp's standard SWA mask; 0 = full causal.
  int64_t sliding_window = 0;
};

// A tensor of the model file an op reads, for costs and for knowing which bytes a segment needs.
// Tied weights (one tensor read by two ops) appear in both ops under the same name.
struct WeightRef {
  std::string tensor;   // GGUF tensor name
  uint64_t bytes = 0;   // its size in the file
};

struct Op {
  int id = 0;
  std::string name;            // "blk.3.attn_q", "output", ...; block ops start with "blk.N."
  OpKind kind = OpKind::kAdd;
  std::vector<int> inputs;     // ids of the ops whose outputs this op reads (earlier ops)
  int64_t out_dim = 0;         // floats per token of the output
  MatrixView weight;           // kEmbed, kMatMul
  const float* bias = nullptr; // kMatMul, kLayerNorm: optional, out_dim floats
  const float* norm = nullptr; // kRmsNorm (norm_group floats), kLayerNorm (out_dim floats)
  int64_t norm_group = 0;      // kRmsNorm: floats normalized together; 0 = the whole row
  float eps = 1e-5f;           // kRmsNorm, kLayerNorm
  int64_t slice_offset = 0;    // kSlice: first input column taken
  float factor = 1.0f;         // kScale: the multiplier; kSoftcap: the cap (> 0)
  RopeParams rope;             // kRope
  AttentionParams attn;        // kAttention
  int kv_slot = -1;            // kAttention: index of its KV cache (0..n_attention-1)
  std::vector<WeightRef> weights;  // file tensors this op reads (matrix, norm, bias)
};

class Graph {
 public:
  // Appends an op, assigning its id; inputs must name earlier ops.
  int add(Op op);
  Status validate() const;  // shapes and references agree; message names the op

  const std::vector<Op>& ops() const { return ops_; }
  const Op& op(int id) const { return ops_[static_cast<size_t>(id)]; }
  // Points a kMatMul op at another copy of its matrix (the model's packed one, or back to the
  // file's); only between forward passes.
  void set_weight(int id, const MatrixView& weight) { ops_[static_cast<size_t>(id)].weight = weight; }
  int size() const { return static_cast<int>(ops_.size()); }
  int output() const { return size() - 1; }  // the last op gives the logits
  int n_kv_slots() const { return n_kv_slots_; }
  int64_t vocab_size() const { return ops_.empty() ? 0 : ops_.back().out_dim; }

 private:
  std::vector<Op> ops_;
  int n_kv_slots_ = 0;
};

}  // namespace lingua
