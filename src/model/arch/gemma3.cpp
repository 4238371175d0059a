// The gemma3 architecture (Gemma 3 text models) as a graph builder: a scaled token embedding,
// RMSNorms before and after both attention and FFN (GGUF stores Gemma's 1 + w, so they are plain
// RMSNorms), per-head Q/K norms, a GELU-gated FFN, and local sliding-window layers interleaved
// with global ones, each kind with its own RoPE base. Facts from llama.cpp's gemma3 model.
#include <cmath>
#include <string>

#include "model/arch_builder.h"

namespace lingua {
namespace {

constexpr int64_t kDefaultPattern = 6;  // llama.cpp's default: 5 local layers, then a global one

void build_gemma3(ArchBuilder& b) {
  const auto shape = b.shape({"attention.layer_norm_rms_epsilon", 1e-6f, /*head_width_key=*/true});
  if (!shape) return;
  const int64_t n_embd = shape->n_embd, n_layer = shape->n_layer, n_head = shape->n_head, n_head_kv = shape->n_head_kv;
  const int64_t head_dim = shape->head_dim;
  const float eps = shape->norm_eps;
  if (b.hparam_or("attention.value_length", head_dim) != head_dim) {
    b.fail("different key and value head widths are not supported");
    return;
  }
  // Without a window every layer is global. With one, layer l is local unless it ends a run of
  // `pattern` layers.
  const int64_t window = b.hparam_or("attention.sliding_window", 0);
  const int64_t pattern = window > 0 ? b.hparam_or("attention.sliding_window_pattern", kDefaultPattern) : 1;
  // Global layers take rope.freq_base and the file's RoPE scaling (linear on 4B and larger);
  // local ones rope.freq_base_swa, unscaled.
  const RopeParams global_rope = b.rope_params(head_dim, /*neox=*/true);
  RopeParams local_rope = global_rope;
  local_rope.freq_base = b.fparam_or("rope.freq_base_swa", 10000.0f, ArchBuilder::Range::kPositive);
  local_rope.freq_scale = 1.0f;
  // Gemma scales queries by query_pre_attn_scalar^-1/2: the head width, except on the 27B model
  // (62 blocks), where it is embedding/heads. llama.cpp tells them apart by block count too.
  const int64_t scalar = n_layer == 62 ? n_embd / n_head : head_dim;
  const float cap = b.fparam_or("final_logit_softcapping", 0.0f, ArchBuilder::Range::kNonNegative);

  int x = b.embed("token_embd", "token_embd.weight");
  x = b.scale("token_embd_scale", x, std::sqrt(static_cast<float>(n_embd)));
  for (int64_t l = 0; l < n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const bool local = pattern > 1 && l % pattern < pattern - 1;
    RopeParams rope_q = local ? local_rope : global_rope, rope_k = rope_q;
    rope_q.n_heads = n_head;
    rope_k.n_heads = n_head_kv;
    AttentionParams attn{n_head, n_head_kv, head_dim, 1.0f / std::sqrt(static_cast<float>(scalar))};
    attn.sliding_window = local ? window : 0;

    int h = b.rms_norm(p + "attn_norm", x, p + "attn_norm.weight", eps);
    int q = b.matmul(p + "attn_q", h, p + "attn_q.weight");
    q = b.rms_norm(p + "attn_q_norm", q, p + "attn_q_norm.weight", eps, head_dim);
    q = b.rope(p + "rope_q", q, rope_q);
    int k = b.matmul(p + "attn_k", h, p + "attn_k.weight");
    k = b.rms_norm(p + "attn_k_norm", k, p + "attn_k_norm.weight", eps, head_dim);
    k = b.rope(p + "rope_k", k, rope_k);
    const int v = b.matmul(p + "attn_v", h, p + "attn_v.weight");
    int a = b.attention(p + "attention", q, k, v, attn);
    a = b.matmul(p + "attn_output", a, p + "attn_output.weight");
    a = b.rms_norm(p + "post_attention_norm", a, p + "post_attention_norm.weight", eps);
    x = b.add(p + "attn_residual", x, a);

    h = b.rms_norm(p + "ffn_norm", x, p + "ffn_norm.weight", eps);
    const int gate = b.matmul(p + "ffn_gate", h, p + "ffn_gate.weight");
    const int up = b.matmul(p + "ffn_up", h, p + "ffn_up.weight");
    int f = b.geglu(p + "ffn_geglu", gate, up);
    f = b.matmul(p + "ffn_down", f, p + "ffn_down.weight");
    f = b.rms_norm(p + "post_ffw_norm", f, p + "post_ffw_norm.weight", eps);
    x = b.add(p + "ffn_residual", x, f);
  }
  const int logits = b.rms_norm_output(x, eps);
  if (cap > 0.0f) b.softcap("output_softcap", logits, cap);
}

void synth_gemma3(SynthLayout& s) {
  const SynthSpec& p = s.spec;
  const int64_t head_dim = p.head_dim > 0 ? p.head_dim : p.dim / p.heads;
  const int64_t q_dim = head_dim * p.heads, kv_dim = head_dim * p.kv_heads;
  s.u32("attention.key_length", head_dim);
  s.u32("attention.value_length", head_dim);
  s.f32("attention.layer_norm_rms_epsilon", 1e-6f);
  s.f32("rope.freq_base", p.rope_base);
  s.f32("rope.freq_base_swa", p.rope_base_swa > 0 ? p.rope_base_swa : 10000.0f);
  s.u32("attention.sliding_window", p.sliding_window > 0 ? p.sliding_window : 512);
  s.u32("attention.sliding_window_pattern", p.sliding_window_pattern > 0 ? p.sliding_window_pattern : kDefaultPattern);
  // Norm weights near one, as converted files hold 1 + Gemma's (near-zero) weights.
  const auto norm = SynthLayout::Fill::kNearOne;
  s.matrix("token_embd.weight", p.dim, p.vocab);
  for (int64_t l = 0; l < p.layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    s.vector(b + "attn_norm.weight", p.dim, norm);
    s.matrix(b + "attn_q.weight", p.dim, q_dim);
    s.vector(b + "attn_q_norm.weight", head_dim, norm);
    s.matrix(b + "attn_k.weight", p.dim, kv_dim);
    s.vector(b + "attn_k_norm.weight", head_dim, norm);
    s.matrix(b + "attn_v.weight", p.dim, kv_dim);
    s.matrix(b + "attn_output.weight", q_dim, p.dim);
    s.vector(b + "post_attention_norm.weight", p.dim, norm);
    s.vector(b + "ffn_norm.weight", p.dim, norm);
    s.matrix(b + "ffn_gate.weight", p.dim, p.ffn);
    s.matrix(b + "ffn_up.weight", p.dim, p.ffn);
    s.matrix(b + "ffn_down.weight", p.ffn, p.dim);
    s.vector(b + "post_ffw_norm.weight", p.dim, norm);
  }
  s.vector("output_norm.weight", p.dim, norm);
  if (!p.tied_output) s.matrix("output.weight", p.dim, p.vocab);
}

}  // namespace

extern const ArchitectureDef lingua_architecture_gemma3;
const ArchitectureDef lingua_architecture_gemma3 = {"gemma3", build_gemma3, synth_gemma3};

}  // namespace lingua
