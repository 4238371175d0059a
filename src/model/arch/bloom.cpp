// The bloom architecture (BLOOM, the LinguaLinked paper's models) as a graph builder: no position
// embedding but ALiBi biases in attention, LayerNorms with bias (one right after the token
// embedding), a fused QKV projection with bias, a GELU MLP with biases, tied output.
#include <cmath>
#include <string>

#include "model/arch_builder.h"

namespace lingua {
namespace {

void build_bloom(ArchBuilder& b) {
  const auto shape = b.shape({"attention.layer_norm_epsilon", 1e-5f});
  if (!shape) return;
  const int64_t n_embd = shape->n_embd, n_layer = shape->n_layer, n_head = shape->n_head, n_head_kv = shape->n_head_kv;
  const float eps = shape->norm_eps;
  const int64_t head_dim = n_embd / n_head, kv_dim = head_dim * n_head_kv;
  AttentionParams attn{n_head, n_head_kv, head_dim, 1.0f / std::sqrt(static_cast<float>(head_dim))};
  attn.alibi_max_bias = b.fparam_or("attention.max_alibi_bias", 8.0f, ArchBuilder::Range::kNonNegative);

  int x = b.embed("token_embd", "token_embd.weight");
  x = b.layer_norm("token_embd_norm", x, "token_embd_norm.weight", "token_embd_norm.bias", eps);
  for (int64_t l = 0; l < n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    int h = b.layer_norm(p + "attn_norm", x, p + "attn_norm.weight", p + "attn_norm.bias", eps);
    int qkv = b.matmul(p + "attn_qkv", h, p + "attn_qkv.weight", p + "attn_qkv.bias");
    int q = b.slice(p + "attn_q", qkv, 0, n_embd);
    int k = b.slice(p + "attn_k", qkv, n_embd, kv_dim);
    int v = b.slice(p + "attn_v", qkv, n_embd + kv_dim, kv_dim);
    int a = b.attention(p + "attention", q, k, v, attn);
    x = b.add(p + "attn_residual", x, b.matmul(p + "attn_output", a, p + "attn_output.weight", p + "attn_output.bias"));
    h = b.layer_norm(p + "ffn_norm", x, p + "ffn_norm.weight", p + "ffn_norm.bias", eps);
    int u = b.gelu(p + "ffn_gelu", b.matmul(p + "ffn_up", h, p + "ffn_up.weight", p + "ffn_up.bias"));
    x = b.add(p + "ffn_residual", x, b.matmul(p + "ffn_down", u, p + "ffn_down.weight", p + "ffn_down.bias"));
  }
  x = b.layer_norm("output_norm", x, "output_norm.weight", "output_norm.bias", eps);
  b.matmul("output", x, b.has_tensor("output.weight") ? "output.weight" : "token_embd.weight");
}

void synth_bloom(SynthLayout& s) {
  const SynthSpec& p = s.spec;
  const int64_t kv_dim = p.dim / p.heads * p.kv_heads;
  s.f32("attention.layer_norm_epsilon", 1e-5f);
  const auto near_one = SynthLayout::Fill::kNearOne, random = SynthLayout::Fill::kRandom;
  auto layer_norm = [&](const std::string& name) {
    s.vector(name + ".weight", p.dim, near_one);
    s.vector(name + ".bias", p.dim, random);
  };
  const size_t embedding = s.matrix("token_embd.weight", p.dim, p.vocab);
  layer_norm("token_embd_norm");
  for (int64_t l = 0; l < p.layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    layer_norm(b + "attn_norm");
    s.matrix(b + "attn_qkv.weight", p.dim, p.dim + 2 * kv_dim);
    s.vector(b + "attn_qkv.bias", p.dim + 2 * kv_dim, random);
    s.matrix(b + "attn_output.weight", p.dim, p.dim);
    s.vector(b + "attn_output.bias", p.dim, random);
    layer_norm(b + "ffn_norm");
    s.matrix(b + "ffn_up.weight", p.dim, p.ffn);
    s.vector(b + "ffn_up.bias", p.ffn, random);
    s.matrix(b + "ffn_down.weight", p.ffn, p.dim);
    s.vector(b + "ffn_down.bias", p.dim, random);
  }
  layer_norm("output_norm");
  // BLOOM ties the output to the embedding, but its GGUF files store the matrix twice (llama.cpp
  // builds before 2025 require output.weight), so a tied synth file does too.
  if (p.tied_output) s.copy_of(embedding, "output.weight");
  else s.matrix("output.weight", p.dim, p.vocab);
}

}  // namespace

extern const ArchitectureDef lingua_architecture_bloom;
const ArchitectureDef lingua_architecture_bloom = {"bloom", build_bloom, synth_bloom};

}  // namespace lingua
