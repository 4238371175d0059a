// Tensor element types, numbered as in GGUF/ggml so file type ids map directly. Knows every
// type's block size and byte size (to validate any file), and which ones Lingua can compute.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "core/status.h"

namespace lingua {

enum class DType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22,
  IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
  TQ1_0 = 34, TQ2_0 = 35,
};

struct DTypeInfo {
  DType type;
  const char* name;      // lower case, as on the command line: "f32", "q8_0"
  uint32_t block_size;   // elements per block
  uint32_t block_bytes;  // bytes per block
  bool computable;       // Lingua has kernels for it (matmul rows / dequantize)
};

// nullptr for an id no GGUF writer uses.
const DTypeInfo* dtype_info(uint32_t id);
const DTypeInfo& dtype_info(DType type);
const char* dtype_name(DType type);
// Parses "f32", "F16", "q4_0"...; error lists the accepted names.
Expected<DType> parse_dtype(const std::string& name);
// Names of the computable types, comma separated (for error messages).
std::string computable_dtype_names();

// Bytes of `elements` elements, or an error when not a whole number of blocks or on overflow.
Expected<uint64_t> dtype_bytes(DType type, uint64_t elements);

}  // namespace lingua
