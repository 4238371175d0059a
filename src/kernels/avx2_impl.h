// Declarations of the AVX2/FMA/F16C kernels (*_avx2.cpp). Only dispatch.cpp takes their addresses;
// calling one is valid only after cpu_has_avx2().
#pragma once
#include <cstdint>

#include "kernels/kernel_table.h"
#include "kernels/scalar_impl.h"

namespace lingua::kernels::avx2 {

#include "kernels/kernel_decls.inc"  // NOLINT: declarations inside this namespace

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
