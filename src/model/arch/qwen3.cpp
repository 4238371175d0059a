// The qwen3 architecture (dense Qwen3) as a graph builder: qwen2's block without Q/K/V biases, with
// an RMSNorm over each head of Q and of K before RoPE, and a head width that need not be
// embedding/heads (attention.key_length).
#include <cmath>
#include <string>

#include "model/arch_builder.h"

namespace lingua {
namespace {

void build_qwen3(ArchBuilder& b) {
  const auto shape = b.shape({"attention.layer_norm_rms_epsilon", 1e-6f, /*head_width_key=*/true});
  if (!shape) return;
  const int64_t n_layer = shape->n_layer, n_head = shape->n_head, n_head_kv = shape->n_head_kv;
  const int64_t head_dim = shape->head_dim;
  const float eps = shape->norm_eps;
  if (b.hparam_or("attention.value_length", head_dim) != head_dim) {
    b.fail("different key and value head widths are not supported");
    return;
  }
  const RopeParams rope = b.rope_params(head_dim, /*neox=*/true);
  RopeParams rope_q = rope, rope_k = rope;
  rope_q.n_heads = n_head;
  rope_k.n_heads = n_head_kv;
  AttentionParams attn{n_head, n_head_kv, head_dim, 1.0f / std::sqrt(static_cast<float>(head_dim))};

  int x = b.embed("token_embd", "token_embd.weight");
  for (int64_t l = 0; l < n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const int h = b.rms_norm(p + "attn_norm", x, p + "attn_norm.weight", eps);
    int q = b.rms_norm(p + "attn_q_norm", b.matmul(p + "attn_q", h, p + "attn_q.weight"), p + "attn_q_norm.weight",
                       eps, head_dim);
    int k = b.rms_norm(p + "attn_k_norm", b.matmul(p + "attn_k", h, p + "attn_k.weight"), p + "attn_k_norm.weight",
                       eps, head_dim);
    q = b.rope(p + "rope_q", q, rope_q);
    k = b.rope(p + "rope_k", k, rope_k);
    int v = b.matmul(p + "attn_v", h, p + "attn_v.weight");
    int a = b.attention(p + "attention", q, k, v, attn);
    x = b.add(p + "attn_residual", x, b.matmul(p + "attn_output", a, p + "attn_output.weight"));
    x = b.swiglu_ffn(p, x, eps);
  }
  b.rms_norm_output(x, eps);
}

void synth_qwen3(SynthLayout& s) {
  const SynthSpec& p = s.spec;
  const int64_t head_dim = p.dim / p.heads;
  s.u32("attention.key_length", head_dim);
  s.u32("attention.value_length", head_dim);
  s.f32("attention.layer_norm_rms_epsilon", 1e-6f);
  s.f32("rope.freq_base", p.rope_base);
  s.llama_family_tensors({/*qkv_bias=*/false, /*qk_norm=*/true, SynthLayout::Fill::kNearOne});
}

}  // namespace

extern const ArchitectureDef lingua_architecture_qwen3;
const ArchitectureDef lingua_architecture_qwen3 = {"qwen3", build_qwen3, synth_qwen3};

}  // namespace lingua
