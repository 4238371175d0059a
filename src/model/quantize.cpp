// quantize_model: per-tensor type choice following llama.cpp's presets (so files we write load and
// behave like theirs), then row-parallel dequantize -> requantize straight into the output file.
#include "model/quantize.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/matrix_view.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "model/gguf.h"

namespace lingua {

// Which type each weight matrix gets (facts from llama.cpp's llama_tensor_get_type; 1-D tensors
// such as norms and biases are never requantized and keep their type):
//
//   preset  default  output.weight (*)  token_embd  attn_v / ffn_down                       attn_qkv
//   Q8_0    Q8_0     Q8_0               Q8_0        Q8_0                                    Q8_0
//   Q4_0    Q4_0     Q6_K               Q4_0        Q4_0                                    Q4_0
//   Q4_K_M  Q4_K     Q6_K               Q4_K        Q6_K in "more bits" layers, else Q4_K   Q5_K
//   Q5_K_M  Q5_K     Q6_K               Q5_K        Q6_K in "more bits" layers, else Q5_K   Q6_K
//   Q6_K    Q6_K     Q6_K               Q6_K        Q6_K                                    Q6_K
//
// (*) also token_embd.weight when the model has no output.weight (tied embeddings), since that
//     matrix then produces the logits. If its width is not a multiple of the default type's
//     block, output gets Q8_0.
// "More bits" layers of n: i < n/8, i >= 7n/8, or (i - n/8) % 3 == 2 (integer division).
// Width fallback: a matrix whose row width is not a multiple of the chosen type's block gets
// Q4_K -> Q5_0, Q6_K -> Q8_0 (as llama.cpp), Q5_K -> Q8_0 (llama.cpp uses Q5_1, which Lingua does
// not compute); if still not a multiple of 32, F16.

namespace {

struct PresetInfo {
  QuantPreset preset;
  const char* name;
  DType base;
  uint32_t file_type;
};
constexpr PresetInfo kPresets[] = {
    {QuantPreset::Q8_0, "Q8_0", DType::Q8_0, 7},     {QuantPreset::Q4_0, "Q4_0", DType::Q4_0, 2},
    {QuantPreset::Q4_K_M, "Q4_K_M", DType::Q4_K, 15}, {QuantPreset::Q5_K_M, "Q5_K_M", DType::Q5_K, 17},
    {QuantPreset::Q6_K, "Q6_K", DType::Q6_K, 18},
};

const PresetInfo& info(QuantPreset p) {
  for (const auto& i : kPresets)
    if (i.preset == p) return i;
  return kPresets[0];
}

bool use_more_bits(int64_t layer, int64_t n) { return layer < n / 8 || layer >= 7 * n / 8 || (layer - n / 8) % 3 == 2; }

// Layer index from "blk.<i>.<...>", or -1.
int64_t layer_of(const std::string& name) {
  long long layer = -1;
  if (std::sscanf(name.c_str(), "blk.%lld.", &layer) != 1) return -1;
  return layer;
}

bool fits(DType t, uint64_t cols) { return cols % dtype_info(t).block_size == 0; }

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

}  // namespace

Expected<QuantPreset> parse_quant_preset(const std::string& name) {
  std::string upper = name;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  for (const auto& i : kPresets)
    if (upper == i.name) return i.preset;
  return Status::error("unknown quantization type '" + name + "' (supported: " + quant_preset_names() + ")");
}

std::string quant_preset_names() {
  std::string out;
  for (const auto& i : kPresets) out += (out.empty() ? "" : ", ") + std::string(i.name);
  return out;
}

const char* quant_preset_name(QuantPreset p) { return info(p).name; }
uint32_t quant_file_type(QuantPreset p) { return info(p).file_type; }

DType quant_tensor_type(QuantPreset preset, const std::string& name, uint64_t cols, int64_t n_layers,
                        bool has_output) {
  const DType base = info(preset).base;
  DType t = base;
  const bool is_output = name == "output.weight" || (!has_output && name == "token_embd.weight");
  if (is_output) {
    if (!fits(base, cols)) t = DType::Q8_0;
    else if (base != DType::Q8_0) t = DType::Q6_K;
  } else if (contains(name, "attn_v.weight") || contains(name, "ffn_down")) {
    const int64_t layer = layer_of(name);
    if ((preset == QuantPreset::Q4_K_M || preset == QuantPreset::Q5_K_M) && layer >= 0 &&
        use_more_bits(layer, n_layers))
      t = DType::Q6_K;
  } else if (contains(name, "attn_qkv.weight")) {  // fused QKV (BLOOM and others)
    if (preset == QuantPreset::Q4_K_M) t = DType::Q5_K;
    else if (preset == QuantPreset::Q5_K_M) t = DType::Q6_K;
  }
  if (!fits(t, cols)) {
    switch (t) {
      case DType::Q4_K: t = DType::Q5_0; break;
      case DType::Q5_K: t = DType::Q8_0; break;
      case DType::Q6_K: t = DType::Q8_0; break;
      default: break;
    }
    if (!fits(t, cols)) t = DType::F16;
  }
  return t;
}

Expected<QuantizeStats> quantize_model(const std::string& in_path, const std::string& out_path, QuantPreset preset,
                                       int threads, const std::function<void(uint64_t, uint64_t)>& progress) {
  auto file = gguf::File::open(in_path);
  if (!file) return file.status();
  const gguf::File& in = *file;
  // The output only replaces the path once complete, so this would not corrupt the mapping we read
  // from, but losing the input to a slip of the arguments costs a reconversion.
  std::error_code ec;
  if (std::filesystem::equivalent(in_path, out_path, ec))
    return Status::error("output '" + out_path + "' is the input file; choose another path");

  gguf::Writer w;
  for (const auto& [key, value] : in.metadata())
    if (key != "general.alignment") w.set(key, value);
  w.set_alignment(in.alignment());
  w.set("general.file_type", gguf::Value::u32(quant_file_type(preset)));
  w.set("general.quantization_version", gguf::Value::u32(2));

  // Layer count: blocks seen in tensor names, so any architecture's naming works.
  int64_t n_layers = 0;
  bool has_output = false;
  for (const auto& t : in.tensors()) {
    n_layers = std::max(n_layers, layer_of(t.name) + 1);
    has_output = has_output || t.name == "output.weight";
  }

  struct Plan {
    DType type;
    bool requantize;
    uint64_t bytes;
  };
  std::vector<Plan> plan;
  uint64_t total = 0;
  for (const auto& t : in.tensors()) {
    Plan p{t.type, t.dims.size() >= 2 && t.elements() > 0, t.bytes};
    if (p.requantize) {
      if (!dtype_info(t.type).computable)
        return Status::error("tensor '" + t.name + "' has type " + dtype_name(t.type) + ", which cannot be dequantized");
      p.type = quant_tensor_type(preset, t.name, t.dims[0], n_layers, has_output);
      auto bytes = dtype_bytes(p.type, t.elements());
      if (!bytes) return Status::error("tensor '" + t.name + "': " + bytes.error());
      p.bytes = *bytes;
    }
    LINGUA_TRY(w.add_tensor(t.name, p.type, t.dims));
    plan.push_back(p);
    total += p.bytes;
  }

  ThreadPool pool(threads > 0 ? threads : ThreadPool::hardware_threads());
  // Per-thread sums: squared error and squared weight, in double so billions of terms stay exact enough.
  std::vector<double> err2(static_cast<size_t>(pool.size()), 0.0), w2(static_cast<size_t>(pool.size()), 0.0);
  QuantizeStats stats;
  uint64_t done = 0;
  auto fill = [&](size_t index, uint8_t* dst, uint64_t bytes) -> Status {
    const gguf::TensorInfo& t = in.tensors()[index];
    const Plan& p = plan[index];
    if (!p.requantize) {
      std::memcpy(dst, t.data, bytes);
      ++stats.tensors_copied;
    } else {
      const int64_t cols = static_cast<int64_t>(t.dims[0]);
      const int64_t rows = static_cast<int64_t>(t.elements() / t.dims[0]);
      const MatrixView src{t.type, t.data, rows, cols, static_cast<size_t>(t.bytes / static_cast<uint64_t>(rows))};
      const size_t out_row = static_cast<size_t>(bytes / static_cast<uint64_t>(rows));
      const MatrixView out{p.type, dst, rows, cols, out_row};
      pool.parallel_for(rows, [&](int64_t begin, int64_t end, int thread) {
        std::vector<float> row(static_cast<size_t>(cols)), back(static_cast<size_t>(cols));
        double e = 0.0, s = 0.0;
        for (int64_t r = begin; r < end; ++r) {
          kernels::dequantize_row(src, r, row.data());
          kernels::quantize_row(p.type, row.data(), dst + static_cast<size_t>(r) * out_row, cols);
          kernels::dequantize_row(out, r, back.data());
          for (int64_t c = 0; c < cols; ++c) {
            const double d = static_cast<double>(back[static_cast<size_t>(c)]) - row[static_cast<size_t>(c)];
            e += d * d;
            s += static_cast<double>(row[static_cast<size_t>(c)]) * row[static_cast<size_t>(c)];
          }
        }
        err2[static_cast<size_t>(thread)] += e;
        w2[static_cast<size_t>(thread)] += s;
      });
      ++stats.tensors_quantized;
      stats.weights += t.elements();
    }
    done += bytes;
    if (progress) progress(done, total);
    return Status::ok();
  };
  LINGUA_TRY(w.write(out_path, fill));
  if (stats.weights > 0) {
    double e = 0.0, s = 0.0;
    for (size_t i = 0; i < err2.size(); ++i) e += err2[i], s += w2[i];
    stats.rms_error = std::sqrt(e / static_cast<double>(stats.weights));
    stats.rms_weight = std::sqrt(s / static_cast<double>(stats.weights));
  }
  return stats;
}

}  // namespace lingua
