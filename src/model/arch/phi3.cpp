// The phi3 architecture (Phi-3/3.5-mini, Phi-4-mini) as a graph builder: the llama block with a
// fused QKV matrix and a fused gate/up matrix (ffn_up holds gate then up), RoPE over halves, a
// sliding window where the file gives one, and Phi-3.5's long-context RoPE (rope_factors_long/
// short, attention factor).
#include <cmath>
#include <string>
#include <vector>

#include "model/arch_builder.h"

namespace lingua {
namespace {

// Fused attn_qkv (every converted Phi-3) or separate q/k/v with optional biases (what newer
// llama.cpp also accepts): the q, k and v ops.
struct Qkv {
  int q = -1, k = -1, v = -1;
};
Qkv qkv(ArchBuilder& b, const std::string& p, int h, int64_t q_width, int64_t kv_width) {
  if (!b.has_tensor(p + "attn_qkv.weight")) {
    auto bias = [&](const char* name) { return b.has_tensor(p + name + ".bias") ? p + name + ".bias" : std::string(); };
    const int q = b.matmul(p + "attn_q", h, p + "attn_q.weight", bias("attn_q"));
    const int k = b.matmul(p + "attn_k", h, p + "attn_k.weight", bias("attn_k"));
    const int v = b.matmul(p + "attn_v", h, p + "attn_v.weight", bias("attn_v"));
    return {q, k, v};
  }
  const int fused = b.matmul(p + "attn_qkv", h, p + "attn_qkv.weight");
  if (fused >= 0 && b.width(fused) != q_width + 2 * kv_width)
    b.fail("tensor '" + p + "attn_qkv.weight' has " + std::to_string(b.width(fused)) + " rows, expected " +
           std::to_string(q_width + 2 * kv_width) + " (Q, K and V of the file's head counts)");
  const int q = b.slice(p + "attn_q", fused, 0, q_width);
  const int k = b.slice(p + "attn_k", fused, q_width, kv_width);
  const int v = b.slice(p + "attn_v", fused, q_width + kv_width, kv_width);
  return {q, k, v};
}

void build_phi3(ArchBuilder& b) {
  const auto shape = b.shape({"attention.layer_norm_rms_epsilon", 1e-5f});
  if (!shape) return;
  const int64_t n_layer = shape->n_layer, n_head = shape->n_head, n_head_kv = shape->n_head_kv;
  const int64_t head_dim = shape->head_dim, n_ff = b.hparam("feed_forward_length");
  const float eps = shape->norm_eps;
  // Phi-3-mini-4k files carry a 2047-token window, every layer sliding (llama.cpp c392e50 and
  // Hugging Face apply it; newer llama.cpp ignores it for phi3); Phi-4-mini writes 0 for none.
  // A window as long as the context never bites (Phi-3-mini-128k: 262144), so it is left off.
  const auto window = static_cast<int64_t>(b.fparam_or("attention.sliding_window", 0.0f, ArchBuilder::Range::kNonNegative));
  const int64_t context = b.hparam("context_length");
  const RopeParams rope = b.rope_params(head_dim, /*neox=*/true);
  RopeParams rope_q = rope, rope_k = rope;
  rope_q.n_heads = n_head;
  rope_k.n_heads = n_head_kv;
  AttentionParams attn{n_head, n_head_kv, head_dim, 1.0f / std::sqrt(static_cast<float>(head_dim))};
  attn.sliding_window = window < context ? window : 0;

  int x = b.embed("token_embd", "token_embd.weight");
  for (int64_t l = 0; l < n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const int h = b.rms_norm(p + "attn_norm", x, p + "attn_norm.weight", eps);
    const Qkv in = qkv(b, p, h, n_head * head_dim, n_head_kv * head_dim);
    const int q = b.rope(p + "rope_q", in.q, rope_q);
    const int k = b.rope(p + "rope_k", in.k, rope_k);
    const int a = b.attention(p + "attention", q, k, in.v, attn);
    x = b.add(p + "attn_residual", x, b.matmul(p + "attn_output", a, p + "attn_output.weight"));
    const int f = b.rms_norm(p + "ffn_norm", x, p + "ffn_norm.weight", eps);
    const int gate_up = b.matmul(p + "ffn_up", f, p + "ffn_up.weight");
    if (gate_up >= 0 && b.width(gate_up) != 2 * n_ff)
      b.fail("tensor '" + p + "ffn_up.weight' has " + std::to_string(b.width(gate_up)) + " rows, expected gate and up: 2 x " +
             "phi3.feed_forward_length = " + std::to_string(2 * n_ff));
    const int gate = b.slice(p + "ffn_gate", gate_up, 0, n_ff);
    const int up = b.slice(p + "ffn_up_half", gate_up, n_ff, n_ff);
    const int g = b.swiglu(p + "ffn_swiglu", gate, up);
    x = b.add(p + "ffn_residual", x, b.matmul(p + "ffn_down", g, p + "ffn_down.weight"));
  }
  b.rms_norm_output(x, eps);
}

// Contexts beyond Phi-3's original 4096 get Phi-3.5-style long-context RoPE: short and long
// per-pair factors and the attention factor llama.cpp's converter computes from the ratio.
void synth_phi3(SynthLayout& s) {
  const SynthSpec& p = s.spec;
  const int64_t head_dim = p.dim / p.heads, kv_dim = head_dim * p.kv_heads;
  constexpr int64_t kOriginalContext = 4096;
  s.u32("rope.dimension_count", head_dim);
  s.f32("attention.layer_norm_rms_epsilon", 1e-5f);
  s.f32("rope.freq_base", p.rope_base);
  s.u32("attention.sliding_window", p.sliding_window);  // 0: none
  s.control_tokens = {"<|endoftext|>"};
  if (p.ctx > kOriginalContext) {
    s.u32("rope.scaling.original_context_length", kOriginalContext);
    const double ratio = static_cast<double>(p.ctx) / kOriginalContext;
    s.f32("rope.scaling.attn_factor", static_cast<float>(std::sqrt(1 + std::log(ratio) / std::log(kOriginalContext))));
    std::vector<float> long_factors, short_factors;
    for (int64_t i = 0; i < head_dim / 2; ++i) {
      const double t = static_cast<double>(i) / static_cast<double>(head_dim / 2);
      long_factors.push_back(static_cast<float>(1 + 40 * t * t));
      short_factors.push_back(static_cast<float>(1 + 0.5 * t));
    }
    s.given("rope_factors_long.weight", std::move(long_factors));
    s.given("rope_factors_short.weight", std::move(short_factors));
  }
  s.matrix("token_embd.weight", p.dim, p.vocab);
  for (int64_t l = 0; l < p.layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    s.vector(b + "attn_norm.weight", p.dim, SynthLayout::Fill::kNearOne);
    s.matrix(b + "attn_qkv.weight", p.dim, p.dim + 2 * kv_dim);
    s.matrix(b + "attn_output.weight", p.dim, p.dim);
    s.vector(b + "ffn_norm.weight", p.dim, SynthLayout::Fill::kNearOne);
    s.matrix(b + "ffn_up.weight", p.dim, 2 * p.ffn);
    s.matrix(b + "ffn_down.weight", p.ffn, p.dim);
  }
  s.vector("output_norm.weight", p.dim, SynthLayout::Fill::kNearOne);
  if (!p.tied_output) s.matrix("output.weight", p.dim, p.vocab);
}

}  // namespace

extern const ArchitectureDef lingua_architecture_phi3;
const ArchitectureDef lingua_architecture_phi3 = {"phi3", build_phi3, synth_phi3};

}  // namespace lingua
