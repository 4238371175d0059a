// Declarations of the AVX2/FMA/F16C kernels (*_avx2.cpp). Only dispatch.cpp takes their addresses;
// calling one is valid only after cpu_has_avx2().
#pragma once
#include <cstdint>

#include "kernels/kernel_table.h"
#include "kernels/scalar_impl.h"

namespace lingua::kernels::avx2 {

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

// File quantization and dequantization of these types is not on a hot path: both tables share
// the scalar versions.
using scalar::dequantize_q5_0;
using scalar::dequantize_q4_k;
using scalar::dequantize_q5_k;
using scalar::dequantize_q6_k;
using scalar::quantize_q5_0;
using scalar::quantize_q4_k;
using scalar::quantize_q5_k;
using scalar::quantize_q6_k;

}  // namespace lingua::kernels::avx2
