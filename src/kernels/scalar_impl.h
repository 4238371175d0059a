// Declarations of the scalar reference kernels (scalar_*.cpp), gathered into a KernelTable by
// dispatch.cpp; the AVX2 files also call a few of them for leftovers.
#pragma once
#include <cstdint>

#include "kernels/kernel_table.h"

namespace lingua::kernels::scalar {

void f32_to_f16(const float* x, uint16_t* y, int64_t n);
void f32_to_bf16(const float* x, uint16_t* y, int64_t n);
void quantize_act_q8(const float* x, uint8_t* y, int64_t n);
void f16_to_f32(const uint16_t* x, float* y, int64_t n);
void bf16_to_f32(const uint16_t* x, float* y, int64_t n);
void dequantize_q8_0(const BlockQ8_0* x, float* y, int64_t n);
void dequantize_q4_0(const BlockQ4_0* x, float* y, int64_t n);
void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t n);
void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t n);

void matmul_f32(const MatmulArgs& a, int64_t r0, int64_t r1);
void matmul_f16(const MatmulArgs& a, int64_t r0, int64_t r1);
void matmul_bf16(const MatmulArgs& a, int64_t r0, int64_t r1);
void matmul_q8_0(const MatmulArgs& a, int64_t r0, int64_t r1);
void matmul_q4_0(const MatmulArgs& a, int64_t r0, int64_t r1);

void rms_norm(const float* x, const float* w, float eps, int64_t n, float* out);
void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, int64_t pos, float freq_base,
          float freq_scale, bool neox);
void softmax(float* x, int64_t n);
void swiglu(const float* gate, const float* up, int64_t n, float* out);
void add(const float* a, const float* b, int64_t n, float* out);
float dot_f32(const float* a, const float* b, int64_t n);
void axpy_f32(float alpha, const float* x, float* y, int64_t n);

void quantize_act_q8k(const float* x, uint8_t* y, int64_t n);
void matmul_q5_0(const MatmulArgs& a, int64_t r0, int64_t r1);
void matmul_q4_k(const MatmulArgs& a, int64_t r0, int64_t r1);
void matmul_q5_k(const MatmulArgs& a, int64_t r0, int64_t r1);
void matmul_q6_k(const MatmulArgs& a, int64_t r0, int64_t r1);
void dequantize_q5_0(const BlockQ5_0* x, float* y, int64_t n);
void dequantize_q4_k(const BlockQ4_K* x, float* y, int64_t n);
void dequantize_q5_k(const BlockQ5_K* x, float* y, int64_t n);
void dequantize_q6_k(const BlockQ6_K* x, float* y, int64_t n);
void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t n);
void quantize_q4_k(const float* x, BlockQ4_K* y, int64_t n);
void quantize_q5_k(const float* x, BlockQ5_K* y, int64_t n);
void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t n);

}  // namespace lingua::kernels::scalar
