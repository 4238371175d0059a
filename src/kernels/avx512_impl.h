// Declarations of the AVX-512 kernels (*_avx512.cpp): the packed-weight matmuls and their packer.
// Only dispatch.cpp takes their addresses; calling one is valid only after cpu_has_avx512().
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/kernel_table.h"
#include "kernels/packing.h"

namespace lingua::kernels::avx512 {

size_t packed_bytes(DType type, int64_t rows, int64_t cols);
void pack(const MatrixView& w, uint8_t* dst);
void matmul_q4_0_packed(const MatmulArgs& a, int64_t r0, int64_t r1);
void matmul_q8_0_packed(const MatmulArgs& a, int64_t r0, int64_t r1);

}  // namespace lingua::kernels::avx512
