// The qwen2 architecture (Qwen2, Qwen2.5) as a graph builder: llama's block with biases on the
// Q/K/V projections and NeoX-style RoPE (rotating the two halves of each head).
#include <cmath>
#include <string>

#include "model/arch_builder.h"

namespace lingua {
namespace {

void build_qwen2(ArchBuilder& b) {
  const auto shape = b.shape({"attention.layer_norm_rms_epsilon", 1e-6f});
  if (!shape) return;
  const int64_t n_layer = shape->n_layer, n_head = shape->n_head, n_head_kv = shape->n_head_kv;
  const int64_t head_dim = shape->head_dim;
  const float eps = shape->norm_eps;
  const RopeParams rope = b.rope_params(head_dim, /*neox=*/true);
  RopeParams rope_q = rope, rope_k = rope;
  rope_q.n_heads = n_head;
  rope_k.n_heads = n_head_kv;
  AttentionParams attn{n_head, n_head_kv, head_dim, 1.0f / std::sqrt(static_cast<float>(head_dim))};

  int x = b.embed("token_embd", "token_embd.weight");
  for (int64_t l = 0; l < n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const int h = b.rms_norm(p + "attn_norm", x, p + "attn_norm.weight", eps);
    int q = b.rope(p + "rope_q", b.matmul(p + "attn_q", h, p + "attn_q.weight", p + "attn_q.bias"), rope_q);
    int k = b.rope(p + "rope_k", b.matmul(p + "attn_k", h, p + "attn_k.weight", p + "attn_k.bias"), rope_k);
    int v = b.matmul(p + "attn_v", h, p + "attn_v.weight", p + "attn_v.bias");
    int a = b.attention(p + "attention", q, k, v, attn);
    x = b.add(p + "attn_residual", x, b.matmul(p + "attn_output", a, p + "attn_output.weight"));
    x = b.swiglu_ffn(p, x, eps);
  }
  b.rms_norm_output(x, eps);
}

void synth_qwen2(SynthLayout& s) {
  const SynthSpec& p = s.spec;
  s.f32("attention.layer_norm_rms_epsilon", 1e-6f);
  s.f32("rope.freq_base", p.rope_base);
  s.llama_family_tensors({/*qkv_bias=*/true, /*qk_norm=*/false, SynthLayout::Fill::kNearOne});
}

}  // namespace

extern const ArchitectureDef lingua_architecture_qwen2;
const ArchitectureDef lingua_architecture_qwen2 = {"qwen2", build_qwen2, synth_qwen2};

}  // namespace lingua
