// The rotation angles of RoPE as ggml makes them (its rope_yarn without the YaRN ramp): shared by
// the public kernel API, the per-ISA tables and the graph's RoPE op.
#pragma once

namespace lingua::kernels {

// Pair i of a head rotates by theta_i = scale * (pos * base^(-2i/n_rot) / factors[i]), and both
// cos and sin are multiplied by mscale.
struct RopeFreqs {
  float base = 10000.0f;
  float scale = 1.0f;               // linear context scaling (1 / rope.scaling.factor)
  const float* factors = nullptr;   // n_rot/2 per-pair divisors (Llama 3.1 rope_freqs, Phi-3 long/short), or none
  float mscale = 1.0f;              // magnitude of the rotation (Phi-3.5's attention factor), 1 = plain
};

}  // namespace lingua::kernels
