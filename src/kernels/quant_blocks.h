// On-disk block layouts of the quantized types, byte-identical to ggml's so GGUF tensors are used
// in place and the files we write load in llama.cpp (plus Q8_K, the K-quants' activation format).
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

// ---- Q5_0 and the K-quants ----------------------------------------------------------------------

// Q5_0: 22 bytes, no padding. Like Q4_0 with a fifth bit per element.
//   bytes 0-1   d      IEEE half scale
//   bytes 2-5   qh     32-bit little-endian word: bit j is the high bit of element j
//   bytes 6-21  qs[j]  low nibble = low 4 bits of element j, high nibble = of element j + 16
// Value = (q - 16) * d with q = nibble | (bit << 4) in 0..31. Quantizing: d = m / -16 where m is
// the element of largest magnitude (sign kept), q = min(31, int(x / d + 16.5)).
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};

inline constexpr int kQK_K = 256;  // elements per K-quant super-block

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block, from its 12 packed bytes:
//   j < 4:  scale = s[j] & 63,                        min = s[j + 4] & 63
//   j >= 4: scale = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4,
//           min   = (s[j + 4] >> 4) | (s[j] >> 6) << 4
// i.e. bytes 0-3 hold scales 0-3 and bytes 4-7 mins 0-3 in their low 6 bits; bytes 8-11 hold the
// low 4 bits of scale 4-7 (low nibble) and min 4-7 (high nibble), whose top 2 bits sit in the
// spare top bits of bytes 0-3 (scales) and 4-7 (mins).
inline void kquant_scale_min(int j, const uint8_t* s, int& scale, int& min) {
  if (j < 4) {
    scale = s[j] & 63;
    min = s[j + 4] & 63;
  } else {
    scale = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
    min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Q4_K: 144 bytes, 256 elements in 8 sub-blocks of 32.
//   bytes 0-1    d       IEEE half, super-scale of the sub-block scales
//   bytes 2-3    dmin    IEEE half, super-scale of the sub-block mins
//   bytes 4-15   scales  eight 6-bit scales and eight 6-bit mins (kquant_scale_min)
//   bytes 16-143 qs      4 chunks of 32 bytes; chunk c holds sub-block 2c in the low nibbles and
//                        sub-block 2c + 1 in the high nibbles (byte l: elements 64c + l, 64c + 32 + l)
// Value of element l of sub-block j = d * scale_j * q - dmin * min_j, q in 0..15.
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[kQK_K / 2];
};

// Q5_K: 176 bytes. Q4_K plus a fifth bit per element.
//   bytes 0-15   d, dmin, scales as in Q4_K
//   bytes 16-47  qh      bit j of qh[l] is the high bit of element 32j + l (sub-block j, index l)
//   bytes 48-175 qs      low 4 bits, packed as Q4_K's qs
// Value = d * scale_j * q - dmin * min_j with q = nibble | (bit << 4) in 0..31.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};

// Q6_K: 210 bytes, 256 elements in 16 sub-blocks of 16, each with a signed 8-bit scale.
//   bytes 0-127   ql      low 4 bits; two halves of 64 bytes, each covering 128 elements: byte l
//                         (l < 32) holds elements l (low nibble) and l + 64 (high), byte 32 + l
//                         elements l + 32 (low) and l + 96 (high), relative to the half
//   bytes 128-191 qh      high 2 bits; two halves of 32 bytes: byte l holds bits 4-5 of elements
//                         l, l + 32, l + 64, l + 96 of its half in bit pairs 0-1, 2-3, 4-5, 6-7
//   bytes 192-207 scales  int8 scale of sub-block g (elements 16g .. 16g + 15)
//   bytes 208-209 d       IEEE half super-scale (last, unlike the other types)
// Value = d * scales[g] * (q - 32), q in 0..63.
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};

// Q8_K: 292 bytes, only ever an activation format (what K-quant weights are multiplied with).
//   bytes 0-3     d      f32 scale (not a half)
//   bytes 4-259   qs     int8 quants, value = qs[j] * d
//   bytes 260-291 bsums  int16 sum of qs[16g .. 16g + 15], used for the K-quants' offsets
// Quantizing: m = element of largest magnitude (sign kept), iscale = -127 / m, qs = min(127,
// round_half_even(x * iscale)), d = 1 / iscale; an all-zero block has d = 0 and zero sums.
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};

static_assert(sizeof(BlockQ5_0) == 22 && alignof(BlockQ5_0) == 2, "Q5_0 block must match ggml");
static_assert(sizeof(BlockQ4_K) == 144 && alignof(BlockQ4_K) == 2, "Q4_K block must match ggml");
static_assert(sizeof(BlockQ5_K) == 176 && alignof(BlockQ5_K) == 2, "Q5_K block must match ggml");
static_assert(sizeof(BlockQ6_K) == 210 && alignof(BlockQ6_K) == 2, "Q6_K block must match ggml");
static_assert(sizeof(BlockQ8_K) == 292 && alignof(BlockQ8_K) == 4, "Q8_K block must match ggml");
static_assert(offsetof(BlockQ5_0, qs) == 6 && offsetof(BlockQ4_K, qs) == 16 && offsetof(BlockQ5_K, qh) == 16 &&
                  offsetof(BlockQ5_K, qs) == 48 && offsetof(BlockQ6_K, d) == 208 && offsetof(BlockQ8_K, bsums) == 260,
              "field offsets must match ggml");

}  // namespace lingua::kernels
