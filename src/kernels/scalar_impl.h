// Declarations of the scalar reference kernels (scalar_*.cpp), gathered into a KernelTable by
// dispatch.cpp; the AVX2 files also call a few of them for leftovers.
#pragma once
#include <cstdint>

#include "kernels/kernel_table.h"

namespace lingua::kernels::scalar {

#include "kernels/kernel_decls.inc"  // NOLINT: declarations inside this namespace

// Scalar only: file (de)quantization of these types is shared by every table.
void dequantize_q5_0(const BlockQ5_0* x, float* y, int64_t n);
void dequantize_q4_k(const BlockQ4_K* x, float* y, int64_t n);
void dequantize_q5_k(const BlockQ5_K* x, float* y, int64_t n);
void dequantize_q6_k(const BlockQ6_K* x, float* y, int64_t n);
void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t n);
void quantize_q4_k(const float* x, BlockQ4_K* y, int64_t n);
void quantize_q5_k(const float* x, BlockQ5_K* y, int64_t n);
void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t n);

// Scalar only: element-wise ops of the LayerNorm/GELU families (BLOOM). They cost O(n) per token
// next to O(n^2) matmuls, so one implementation serves every table.
void layer_norm(const float* x, const float* w, const float* b, float eps, int64_t n, float* out);
void gelu(const float* x, int64_t n, float* out);
// Scalar only likewise (gemma3): gelu(gate) * up, x * factor, tanh(x / cap) * cap.
void geglu(const float* gate, const float* up, int64_t n, float* out);
void scale(const float* x, float factor, int64_t n, float* out);
void softcap(const float* x, float cap, int64_t n, float* out);

}  // namespace lingua::kernels::scalar
