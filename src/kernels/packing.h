// Weight repacking: the active kernel family may store a matrix's rows interleaved so its
// micro-kernel reads one weight stream per group of rows and keeps each row's sum in its own
// vector lane (no horizontal sums, one scale load per block of all the group's rows).
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/matrix_view.h"

namespace lingua::kernels {

// Rows interleaved per group by the AVX-512 layouts (one per 32-bit lane of a 512-bit register).
inline constexpr int64_t kPackRows = 16;

// The AVX-512 packed layouts, lossless rearrangements of Q4_0 / Q8_0 rows of the same total size.
// Groups of kPackRows consecutive rows follow one another; inside a group, per 32-element block
// column b (in order):
//   Q4_0x16 (288 bytes = 16 x 18):
//     bytes 0-31     the 16 rows' f16 scales d, row i at 2i
//     bytes 32-287   4 chunks of 64 bytes: chunk c holds, at 4i, row i's qs[4c..4c+3], so one
//                    register's low nibbles are elements 4c..4c+3 and its high nibbles elements
//                    16+4c..16+4c+3 of every row (Q4_0's own nibble order: qs[j] = j | j+16 << 4)
//   Q8_0x16 (544 bytes = 16 x 34):
//     bytes 0-31     the 16 rows' f16 scales d
//     bytes 32-543   8 chunks of 64 bytes: chunk c holds, at 4i, row i's qs[4c..4c+3] + 128
//                    (as unsigned bytes: VNNI's dpbusd multiplies unsigned by signed; the +128
//                    comes back as 128 * the activation block's sum)
// Group g starts at g * (cols / 32) * block-column bytes.
inline constexpr size_t kQ4_0x16ColumnBytes = 288;
inline constexpr size_t kQ8_0x16ColumnBytes = 544;

// Bytes W takes packed by the active family, or 0 when it multiplies W as stored (no packed
// layout for the type on this CPU, rows not a multiple of the group, LINGUA_SIMD forcing another
// family, or W already packed).
size_t packed_bytes(const MatrixView& W);

// Writes W packed into dst (packed_bytes(W) bytes, 64-byte aligned) and returns the view of it,
// which kernels::matmul multiplies exactly as it multiplies W (same sums, within float rounding).
MatrixView pack_weights(const MatrixView& W, uint8_t* dst);

}  // namespace lingua::kernels
