// Table of GGUF/ggml tensor types: block geometry for validation, and what Lingua computes.
#include "core/dtype.h"

#include <algorithm>
#include <cctype>

namespace lingua {
namespace {
constexpr DTypeInfo kTypes[] = {
    {DType::F32, "f32", 1, 4, true},        {DType::F16, "f16", 1, 2, true},
    {DType::Q4_0, "q4_0", 32, 18, true},    {DType::Q4_1, "q4_1", 32, 20, false},
    {DType::Q5_0, "q5_0", 32, 22, true},    {DType::Q5_1, "q5_1", 32, 24, false},
    {DType::Q8_0, "q8_0", 32, 34, true},    {DType::Q8_1, "q8_1", 32, 36, false},
    {DType::Q2_K, "q2_k", 256, 84, false},  {DType::Q3_K, "q3_k", 256, 110, false},
    {DType::Q4_K, "q4_k", 256, 144, true},  {DType::Q5_K, "q5_k", 256, 176, true},
    {DType::Q6_K, "q6_k", 256, 210, true},  {DType::Q8_K, "q8_k", 256, 292, false},
    {DType::IQ2_XXS, "iq2_xxs", 256, 66, false}, {DType::IQ2_XS, "iq2_xs", 256, 74, false},
    {DType::IQ3_XXS, "iq3_xxs", 256, 98, false}, {DType::IQ1_S, "iq1_s", 256, 50, false},
    {DType::IQ4_NL, "iq4_nl", 32, 18, false},    {DType::IQ3_S, "iq3_s", 256, 110, false},
    {DType::IQ2_S, "iq2_s", 256, 82, false},     {DType::IQ4_XS, "iq4_xs", 256, 136, false},
    {DType::I8, "i8", 1, 1, false},   {DType::I16, "i16", 1, 2, false},
    {DType::I32, "i32", 1, 4, false}, {DType::I64, "i64", 1, 8, false},
    {DType::F64, "f64", 1, 8, false}, {DType::IQ1_M, "iq1_m", 256, 56, false},
    {DType::BF16, "bf16", 1, 2, true},
    {DType::TQ1_0, "tq1_0", 256, 54, false}, {DType::TQ2_0, "tq2_0", 256, 66, false},
};
}  // namespace

const DTypeInfo* dtype_info(uint32_t id) {
  for (const auto& t : kTypes)
    if (static_cast<uint32_t>(t.type) == id) return &t;
  return nullptr;
}

const DTypeInfo& dtype_info(DType type) {
  const DTypeInfo* info = dtype_info(static_cast<uint32_t>(type));
  assert(info);
  return *info;
}

const char* dtype_name(DType type) {
  const DTypeInfo* info = dtype_info(static_cast<uint32_t>(type));
  return info ? info->name : "unknown";
}

std::string computable_dtype_names() {
  std::string out;
  for (const auto& t : kTypes) {
    if (!t.computable) continue;
    if (!out.empty()) out += ", ";
    out += t.name;
  }
  return out;
}

Expected<DType> parse_dtype(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const auto& t : kTypes)
    if (lower == t.name) return t.type;
  return Status::error("unknown tensor type '" + name + "' (supported: " + computable_dtype_names() + ")");
}

Expected<uint64_t> dtype_bytes(DType type, uint64_t elements) {
  const DTypeInfo& info = dtype_info(type);
  if (elements % info.block_size != 0)
    return Status::error(std::to_string(elements) + " elements is not a whole number of " + info.name +
                         " blocks of " + std::to_string(info.block_size));
  const uint64_t blocks = elements / info.block_size;
  if (blocks > UINT64_MAX / info.block_bytes) return Status::error("tensor size overflows 64 bits");
  return blocks * info.block_bytes;
}

}  // namespace lingua
