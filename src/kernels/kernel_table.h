// Internal to src/kernels (and its tests): the per-ISA tables of kernels that dispatch.cpp picks
// from, so tests can run the scalar reference and the AVX2 variant side by side.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/matrix_view.h"
#include "core/thread_pool.h"
#include "kernels/quant_blocks.h"
#include "kernels/rope_freqs.h"

namespace lingua::kernels {

// Activations for Q8_0/Q4_0 weights are quantized per token row into this private layout rather
// than ggml's 34-byte blocks: the n int8 quants first (32-byte aligned blocks for aligned loads),
// then n/32 float scales (each the f16-rounded d, so values equal ggml's block_q8_0), then n/32
// int32 sums of each block's quants (the packed kernels fold the weights' zero point in with
// them; matmul.cpp fills them for every family). Rows are padded to 64 bytes so token rows never
// share a cache line.
inline size_t act_q8_row_bytes(int64_t n) {
  const size_t raw = static_cast<size_t>(n) + static_cast<size_t>(n / kQK) * (sizeof(float) + sizeof(int32_t));
  return (raw + 63) & ~size_t{63};
}
inline const float* act_q8_scales(const uint8_t* row, int64_t n) {
  return reinterpret_cast<const float*>(row + n);  // n is a multiple of 32, so 4-byte aligned
}
inline const int32_t* act_q8_sums(const uint8_t* row, int64_t n) {
  return reinterpret_cast<const int32_t*>(row + n + static_cast<size_t>(n / kQK) * sizeof(float));
}

// Activations for K-quant weights: a plain array of ggml's BlockQ8_K (the f32 scale and the per-16
// sums are what the K-quant dots need), rows padded to 64 bytes like act_q8.
inline size_t act_q8k_row_bytes(int64_t n) {
  return (static_cast<size_t>(n / kQK_K) * sizeof(BlockQ8_K) + 63) & ~size_t{63};
}

// One matmul over prepared activations; a row-range kernel computes y[t * ldy + r] for
// r in [r0, r1) and every token t.
struct MatmulArgs {
  const uint8_t* w;    // weight row 0
  size_t w_row_bytes;
  int64_t cols;
  const uint8_t* x;    // prepared activation row 0 (f32, f16, bf16 or act_q8 layout)
  size_t x_row_bytes;
  int64_t n_tokens;
  float* y;
  int64_t ldy;
};
using MatmulRowsFn = void (*)(const MatmulArgs& a, int64_t r0, int64_t r1);

struct KernelTable {
  const char* name;

  // Activation preparation: the dtype each weight type's dot product consumes.
  void (*f32_to_f16)(const float* x, uint16_t* y, int64_t n);    // round to nearest even
  void (*f32_to_bf16)(const float* x, uint16_t* y, int64_t n);   // round to nearest even
  // Quantizes n activations (multiple of 32) into act_q8 layout exactly as ggml's x86 SIMD
  // quantize_row_q8_0 does (id = 127/amax, round half to even), so integer dots match llama.cpp.
  void (*quantize_act_q8)(const float* x, uint8_t* y, int64_t n);

  MatmulRowsFn matmul_f32, matmul_f16, matmul_bf16, matmul_q8_0, matmul_q4_0;

  void (*f16_to_f32)(const uint16_t* x, float* y, int64_t n);
  void (*bf16_to_f32)(const uint16_t* x, float* y, int64_t n);
  void (*dequantize_q8_0)(const BlockQ8_0* x, float* y, int64_t n);
  void (*dequantize_q4_0)(const BlockQ4_0* x, float* y, int64_t n);
  // File quantization: bit-exact with ggml's quantize_row_*_ref (roundf, id = 1/d).
  void (*quantize_q8_0)(const float* x, BlockQ8_0* y, int64_t n);
  void (*quantize_q4_0)(const float* x, BlockQ4_0* y, int64_t n);

  void (*rms_norm)(const float* x, const float* w, float eps, int64_t n, float* out);
  void (*rope)(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, int64_t pos, const RopeFreqs& freqs,
               bool neox);
  void (*softmax)(float* x, int64_t n);
  void (*swiglu)(const float* gate, const float* up, int64_t n, float* out);
  void (*add)(const float* a, const float* b, int64_t n, float* out);
  float (*dot_f32)(const float* a, const float* b, int64_t n);
  void (*axpy_f32)(float alpha, const float* x, float* y, int64_t n);

  // Q5_0 (against act_q8) and the K-quants (against act_q8k). quantize_act_q8k follows ggml's
  // quantize_row_q8_K_ref (what llama.cpp runs on x86); the file quantizers follow ggml's reference
  // algorithms (see scalar_kquant.cpp) and are shared by both tables. Both were byte-identical to
  // libggml (llama.cpp c392e50) on 4096 blocks of N(0,1) data per type when this was written.
  void (*quantize_act_q8k)(const float* x, uint8_t* y, int64_t n);
  MatmulRowsFn matmul_q5_0, matmul_q4_k, matmul_q5_k, matmul_q6_k;
  void (*dequantize_q5_0)(const BlockQ5_0* x, float* y, int64_t n);
  void (*dequantize_q4_k)(const BlockQ4_K* x, float* y, int64_t n);
  void (*dequantize_q5_k)(const BlockQ5_K* x, float* y, int64_t n);
  void (*dequantize_q6_k)(const BlockQ6_K* x, float* y, int64_t n);
  void (*quantize_q5_0)(const float* x, BlockQ5_0* y, int64_t n);
  void (*quantize_q4_k)(const float* x, BlockQ4_K* y, int64_t n);
  void (*quantize_q5_k)(const float* x, BlockQ5_K* y, int64_t n);
  void (*quantize_q6_k)(const float* x, BlockQ6_K* y, int64_t n);

  // Repacked weights (kernels/packing.h): the bytes a packed matrix of `type` takes in this
  // family's layout, 0 when the family multiplies that matrix as the file stores it (every
  // family but AVX-512 today, whose fields stay null); the packer; the matmuls over packed rows.
  size_t (*packed_bytes)(DType type, int64_t rows, int64_t cols) = nullptr;
  void (*pack)(const MatrixView& w, uint8_t* dst) = nullptr;
  MatmulRowsFn matmul_q8_0_packed = nullptr, matmul_q4_0_packed = nullptr;
};

const KernelTable& scalar_kernels();
// Only meaningful when cpu_has_avx2(); its functions execute AVX2/FMA/F16C instructions.
const KernelTable& avx2_kernels();
bool cpu_has_avx2();  // AVX2 + FMA + F16C, as the *_avx2.cpp files are compiled for
// The AVX2 table with the AVX-512 kernels in place of some; only meaningful when cpu_has_avx512().
const KernelTable& avx512_kernels();
bool cpu_has_avx512();  // AVX-512 F/BW/VL/DQ + VNNI (and AVX2), as the *_avx512.cpp files are compiled for
// Every family this CPU can run, the scalar reference first (tests compare them all).
std::vector<const KernelTable*> runnable_kernel_tables();
const KernelTable& active_kernels();

// The whole matmul (activation preparation into reused scratch, then rows split over the pool)
// with an explicit table; kernels::matmul is this with active_kernels().
void matmul_with(const KernelTable& k, const MatrixView& W, const float* X, int64_t n_tokens, float* Y,
                 ThreadPool& pool);

// kernels::attend_head with an explicit table (tests run the scalar and AVX2 ones side by side).
struct AttendArgs;
void attend_head_with(const KernelTable& k, const AttendArgs& args);

// cos/sin of theta_i for i < n_rot/2 (times freqs.mscale), computed the way ggml does (float,
// theta *= theta_scale, then / factor, then * scale), shared
// by both ISAs so they rotate by identical angles. Returns a thread-local buffer of n_rot floats:
// cos at [0, n_rot/2), sin at [n_rot/2, n_rot).
const float* rope_angles(int64_t n_rot, int64_t pos, const RopeFreqs& freqs);

}  // namespace lingua::kernels
