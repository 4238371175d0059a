// `lingua quantize`: rewrite an f32/f16/quantized GGUF model with llama.cpp-style preset types, so
// a converted model shrinks without a trip through another project's tools.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace lingua {

enum class QuantPreset { Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K };

// Case-insensitive ("q4_k_m", "Q4_K_M"); the error lists the supported names.
Expected<QuantPreset> parse_quant_preset(const std::string& name);
std::string quant_preset_names();  // "Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K"
const char* quant_preset_name(QuantPreset p);
uint32_t quant_file_type(QuantPreset p);  // general.file_type (llama_ftype) of the preset

// The type `preset` gives a weight matrix of `cols` columns named `name` (table in quantize.cpp).
// n_layers: number of blocks; has_output: the model has its own output.weight (not tied).
DType quant_tensor_type(QuantPreset preset, const std::string& name, uint64_t cols, int64_t n_layers,
                        bool has_output);

struct QuantizeStats {
  uint64_t tensors_quantized = 0;
  uint64_t tensors_copied = 0;
  uint64_t weights = 0;       // elements requantized
  double rms_error = 0.0;     // sqrt(mean((requantized - original)^2)) over those elements
  double rms_weight = 0.0;    // sqrt(mean(original^2)), to put rms_error in scale
};

// progress(bytes_done, bytes_total) of the output's tensor data; called from the calling thread.
// threads <= 0 uses every hardware thread.
Expected<QuantizeStats> quantize_model(const std::string& in_path, const std::string& out_path, QuantPreset preset,
                                       int threads = 0,
                                       const std::function<void(uint64_t, uint64_t)>& progress = {});

}  // namespace lingua
