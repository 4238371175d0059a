// A one-block transformer over random f32 weights, built op by op, for executor tests that need
// every op kind a llama block has without loading a model file.
#pragma once
#include <random>
#include <vector>

#include "graph/graph.h"

namespace lingua::testing {

inline MatrixView f32_matrix(const std::vector<float>& data, int64_t rows, int64_t cols) {
  return MatrixView{DType::F32, data.data(), rows, cols, static_cast<size_t>(cols) * sizeof(float)};
}

// A one-block transformer over random f32 weights: embed, norm, q/k/v, rope, attention, output
// projection, residual, swiglu ffn, residual, norm, logits. A window > 0 makes the attention
// sliding-window (its KV cache a ring).
struct TinyModel {
  static constexpr int64_t kVocab = 11, kDim = 8, kHeads = 2, kKvHeads = 1, kHeadDim = 4, kFfn = 12;
  std::vector<std::vector<float>> store;
  Graph graph;

  const std::vector<float>& random(size_t n, std::mt19937& rng) {
    std::normal_distribution<float> dist(0.0f, 0.5f);
    store.emplace_back(n);
    for (auto& x : store.back()) x = dist(rng);
    return store.back();
  }
  int matmul(const char* name, int in, int64_t rows, int64_t cols, std::mt19937& rng) {
    Op op;
    op.name = name;
    op.kind = OpKind::kMatMul;
    op.inputs = {in};
    op.weight = f32_matrix(random(static_cast<size_t>(rows * cols), rng), rows, cols);
    op.out_dim = rows;
    return graph.add(op);
  }
  int simple(const char* name, OpKind kind, std::vector<int> inputs, int64_t dim) {
    Op op;
    op.name = name;
    op.kind = kind;
    op.inputs = std::move(inputs);
    op.out_dim = dim;
    if (kind == OpKind::kRmsNorm) {
      store.emplace_back(static_cast<size_t>(dim), 1.0f);
      op.norm = store.back().data();
    }
    return graph.add(op);
  }
  int rope(const char* name, int in, int64_t heads) {
    Op op;
    op.name = name;
    op.kind = OpKind::kRope;
    op.inputs = {in};
    op.out_dim = heads * kHeadDim;
    op.rope = RopeParams{heads, kHeadDim, kHeadDim, 10000.0f, 1.0f, false};
    return graph.add(op);
  }
  explicit TinyModel(int64_t window = 0) {
    store.reserve(64);
    std::mt19937 rng(42);
    Op e;
    e.name = "token_embd";
    e.kind = OpKind::kEmbed;
    e.weight = f32_matrix(random(kVocab * kDim, rng), kVocab, kDim);
    e.out_dim = kDim;
    int x = graph.add(e);
    int h = simple("blk.0.attn_norm", OpKind::kRmsNorm, {x}, kDim);
    int q = rope("blk.0.rope_q", matmul("blk.0.attn_q", h, kHeads * kHeadDim, kDim, rng), kHeads);
    int k = rope("blk.0.rope_k", matmul("blk.0.attn_k", h, kKvHeads * kHeadDim, kDim, rng), kKvHeads);
    int v = matmul("blk.0.attn_v", h, kKvHeads * kHeadDim, kDim, rng);
    Op a;
    a.name = "blk.0.attention";
    a.kind = OpKind::kAttention;
    a.inputs = {q, k, v};
    a.out_dim = kHeads * kHeadDim;
    a.attn = AttentionParams{kHeads, kKvHeads, kHeadDim, 0.5f};
    a.attn.sliding_window = window;
    int att = graph.add(a);
    x = simple("blk.0.attn_residual", OpKind::kAdd, {x, matmul("blk.0.attn_output", att, kDim, kHeads * kHeadDim, rng)}, kDim);
    h = simple("blk.0.ffn_norm", OpKind::kRmsNorm, {x}, kDim);
    int g = simple("blk.0.ffn_swiglu", OpKind::kSwiGLU,
                   {matmul("blk.0.ffn_gate", h, kFfn, kDim, rng), matmul("blk.0.ffn_up", h, kFfn, kDim, rng)}, kFfn);
    x = simple("blk.0.ffn_residual", OpKind::kAdd, {x, matmul("blk.0.ffn_down", g, kDim, kFfn, rng)}, kDim);
    x = simple("output_norm", OpKind::kRmsNorm, {x}, kDim);
    matmul("output", x, kVocab, kDim, rng);
  }
};

}  // namespace lingua::testing
