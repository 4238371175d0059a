// On-disk block layouts of the quantized types, byte-identical to ggml's so GGUF tensors are used
// in place and the files we write load in llama.cpp.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lingua::kernels {

inline constexpr int kQK = 32;  // elements per Q8_0 / Q4_0 block

// Q8_0: 34 bytes, no padding.
//   bytes 0-1  d      IEEE half scale (little endian)
//   bytes 2-33 qs[j]  signed 8-bit quant of element j, value = qs[j] * d
// Quantizing: d = amax / 127, qs = round(x / d) (so |qs| <= 127).
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};

// Q4_0: 18 bytes, no padding.
//   bytes 0-1  d      IEEE half scale
//   bytes 2-17 qs[j]  low nibble = element j, high nibble = element j + 16 (j < 16)
// Value = (nibble - 8) * d. Quantizing: d = m / -8 where m is the element of largest magnitude
// (sign kept, so m itself maps to nibble 0 = -8 exactly), nibble = min(15, int(x / d + 8.5)).
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK / 2];
};

static_assert(sizeof(BlockQ8_0) == 34 && alignof(BlockQ8_0) == 2, "Q8_0 block must match ggml");
static_assert(sizeof(BlockQ4_0) == 18 && alignof(BlockQ4_0) == 2, "Q4_0 block must match ggml");
static_assert(offsetof(BlockQ8_0, qs) == 2 && offsetof(BlockQ4_0, qs) == 2, "scale comes first");

}  // namespace lingua::kernels
