// The llama architecture (Llama 1/2/3, TinyLlama, Mistral-style dense models) as a graph builder:
// RMSNorm, RoPE (adjacent pairs; Llama 3.1+'s per-pair rope_freqs), grouped-query attention,
// SwiGLU, tied or untied output.
#include <cmath>
#include <string>

#include "model/arch_builder.h"

namespace lingua {
namespace {

void build_llama(ArchBuilder& b) {
  const auto shape = b.shape({"attention.layer_norm_rms_epsilon", 1e-5f, /*head_width_key=*/true});
  if (!shape) return;
  const int64_t n_layer = shape->n_layer, n_head = shape->n_head, n_head_kv = shape->n_head_kv;
  const int64_t head_dim = shape->head_dim;
  const float eps = shape->norm_eps;
  const RopeParams rope = b.rope_params(head_dim, /*neox=*/false);
  RopeParams rope_q = rope, rope_k = rope;
  rope_q.n_heads = n_head;
  rope_k.n_heads = n_head_kv;
  AttentionParams attn{n_head, n_head_kv, head_dim, 1.0f / std::sqrt(static_cast<float>(head_dim))};

  int x = b.embed("token_embd", "token_embd.weight");
  for (int64_t l = 0; l < n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const int h = b.rms_norm(p + "attn_norm", x, p + "attn_norm.weight", eps);
    int q = b.rope(p + "rope_q", b.matmul(p + "attn_q", h, p + "attn_q.weight"), rope_q);
    int k = b.rope(p + "rope_k", b.matmul(p + "attn_k", h, p + "attn_k.weight"), rope_k);
    int v = b.matmul(p + "attn_v", h, p + "attn_v.weight");
    int a = b.attention(p + "attention", q, k, v, attn);
    x = b.add(p + "attn_residual", x, b.matmul(p + "attn_output", a, p + "attn_output.weight"));
    x = b.swiglu_ffn(p, x, eps);
  }
  b.rms_norm_output(x, eps);
}

// Norm weights are exactly 1 so synth llama files stay byte-identical to earlier releases (the
// benchmarks in bench/RESULTS.md were measured on them).
void synth_llama(SynthLayout& s) {
  const SynthSpec& p = s.spec;
  s.u32("rope.dimension_count", p.dim / p.heads);
  s.f32("attention.layer_norm_rms_epsilon", 1e-5f);
  s.f32("rope.freq_base", p.rope_base);
  // First in the file, as llama.cpp's converter writes it.
  if (p.llama3_rope.factor > 0) s.given("rope_freqs.weight", llama3_rope_factors(p.llama3_rope, p.dim / p.heads, p.rope_base));
  s.llama_family_tensors({});  // norms exactly 1
}

}  // namespace

extern const ArchitectureDef lingua_architecture_llama;
const ArchitectureDef lingua_architecture_llama = {"llama", build_llama, synth_llama};

}  // namespace lingua
