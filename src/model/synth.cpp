// write_synth_model: shape presets, the shared GGUF metadata, the architecture's own layout, and
// row-parallel, seed-deterministic random weights quantized straight into the output file.
#include "model/synth.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "model/arch_builder.h"
#include "model/gguf.h"
#include "model/synth_vocab.h"

namespace lingua {

namespace {
struct Preset {
  const char* name;
  const char* arch;
  int64_t dim, layers, heads, kv_heads, ffn, vocab, ctx;
  float rope_base;
  bool tied;
};
constexpr Preset kPresets[] = {
    {"tinyllama-1.1b", "llama", 2048, 22, 32, 4, 5632, 32000, 2048, 10000.0f, false},
    {"llama-3.2-1b", "llama", 2048, 16, 32, 8, 8192, 128256, 8192, 500000.0f, true},
    {"qwen2.5-0.5b", "qwen2", 896, 24, 14, 2, 4864, 151936, 32768, 1000000.0f, true},
    {"bloom-560m", "bloom", 1024, 24, 16, 16, 4096, 250880, 2048, 10000.0f, true},
    {"gemma3-1b", "gemma3", 1152, 26, 4, 1, 6912, 262144, 32768, 1000000.0f, true},
};
// Shape fields only some presets have.
struct PresetExtras {
  const char* name;
  int64_t head_dim, sliding_window, sliding_window_pattern;
  float rope_base_swa;
};
constexpr PresetExtras kPresetExtras[] = {
    {"gemma3-1b", 256, 512, 6, 10000.0f},
};

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint32_t file_type_of(DType t) {
  switch (t) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q8_0: return 7;
    case DType::BF16: return 32;
    case DType::Q5_0: return 8;
    case DType::Q4_K: return 14;  // "mostly Q4_K_S": every matrix Q4_K
    case DType::Q5_K: return 16;  // "mostly Q5_K_S"
    case DType::Q6_K: return 18;
    default: return 0;
  }
}

// The layout the spec's architecture declares, or the reason there is none.
Expected<const ArchitectureDef*> synth_architecture(const std::string& arch) {
  LINGUA_ASSIGN_OR_RETURN(const ArchitectureDef* def, find_architecture(arch));
  if (!def->synth) return Status::error("synth cannot write the '" + arch + "' architecture");
  return def;
}
}  // namespace

size_t SynthLayout::matrix(const std::string& name, int64_t cols, int64_t rows) {
  tensors.push_back({name, {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)}, spec.type, Fill::kRandom,
                     tensors.size()});
  return tensors.size() - 1;
}

size_t SynthLayout::copy_of(size_t tensor, const std::string& name) {
  Tensor t = tensors.at(tensor);
  t.name = name;
  tensors.push_back(std::move(t));
  return tensors.size() - 1;
}

void SynthLayout::vector(const std::string& name, int64_t n, Fill fill) {
  tensors.push_back({name, {static_cast<uint64_t>(n)}, DType::F32, fill, tensors.size()});
}

void SynthLayout::llama_family_tensors(const LlamaFamily& f) {
  const SynthSpec& p = spec;
  const int64_t head_dim = p.dim / p.heads, kv_dim = head_dim * p.kv_heads;
  matrix("token_embd.weight", p.dim, p.vocab);
  for (int64_t l = 0; l < p.layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    vector(b + "attn_norm.weight", p.dim, f.norms);
    for (const auto& [name, rows] : {std::pair{"attn_q", p.dim}, std::pair{"attn_k", kv_dim}}) {
      matrix(b + name + ".weight", p.dim, rows);
      if (f.qkv_bias) vector(b + name + ".bias", rows, Fill::kRandom);
      if (f.qk_norm) vector(b + name + "_norm.weight", head_dim, f.norms);
    }
    matrix(b + "attn_v.weight", p.dim, kv_dim);
    if (f.qkv_bias) vector(b + "attn_v.bias", kv_dim, Fill::kRandom);
    matrix(b + "attn_output.weight", p.dim, p.dim);
    vector(b + "ffn_norm.weight", p.dim, f.norms);
    matrix(b + "ffn_gate.weight", p.dim, p.ffn);
    matrix(b + "ffn_up.weight", p.dim, p.ffn);
    matrix(b + "ffn_down.weight", p.ffn, p.dim);
  }
  vector("output_norm.weight", p.dim, f.norms);
  if (!p.tied_output) matrix("output.weight", p.dim, p.vocab);
}

std::string synth_presets() {
  std::string out;
  for (const auto& p : kPresets) out += (out.empty() ? "" : ", ") + std::string(p.name);
  return out;
}

std::string synth_architectures() {
  std::string out;
  for (const ArchitectureDef* def : architectures())
    if (def->synth) out += (out.empty() ? "" : ", ") + std::string(def->name);
  return out;
}

Status apply_synth_preset(const std::string& preset, SynthSpec& spec) {
  for (const auto& p : kPresets) {
    if (preset != p.name) continue;
    spec.arch = p.arch;
    spec.dim = p.dim;
    spec.layers = p.layers;
    spec.heads = p.heads;
    spec.kv_heads = p.kv_heads;
    spec.ffn = p.ffn;
    spec.vocab = p.vocab;
    spec.ctx = p.ctx;
    spec.rope_base = p.rope_base;
    spec.tied_output = p.tied;
    if (spec.name.empty()) spec.name = std::string("synth-") + p.name;
    for (const auto& e : kPresetExtras) {
      if (preset != e.name) continue;
      spec.head_dim = e.head_dim;
      spec.sliding_window = e.sliding_window;
      spec.sliding_window_pattern = e.sliding_window_pattern;
      spec.rope_base_swa = e.rope_base_swa;
    }
    return Status::ok();
  }
  return Status::error("unknown preset '" + preset + "' (supported: " + synth_presets() + ")");
}

Status resolve_vocab_from(SynthSpec& spec, int64_t requested) {
  if (spec.vocab_from.empty()) return Status::ok();
  LINGUA_ASSIGN_OR_RETURN(VocabKeys borrowed, read_vocab_keys(spec.vocab_from));
  if (requested >= 0 && requested != borrowed.size)
    return Status::error("--vocab " + std::to_string(requested) + " disagrees with --vocab-from " + spec.vocab_from +
                         ", which has " + std::to_string(borrowed.size) + " tokens");
  spec.vocab = borrowed.size;
  return Status::ok();
}

Status validate(const SynthSpec& s) {
  LINGUA_TRY(synth_architecture(s.arch).status());
  auto positive = [](int64_t v, int64_t max) { return v > 0 && v <= max; };
  if (!positive(s.dim, 1 << 16) || !positive(s.layers, 1024) || !positive(s.heads, 1024) ||
      !positive(s.kv_heads, 1024) || !positive(s.ffn, 1 << 18) || !positive(s.ctx, 1 << 20))
    return Status::error("every size (--dim --layers --heads --kv-heads --ffn --ctx) must be positive and sane");
  if (!s.vocab_from.empty()) {
    if (s.vocab < 1 || s.vocab > (1 << 20))
      return Status::error("--vocab-from " + s.vocab_from + ": the vocabulary must have 1 to 1048576 tokens");
  } else if (s.vocab < kMinSynthVocab || s.vocab > (1 << 20))
    return Status::error("--vocab must be between " + std::to_string(kMinSynthVocab) +
                         " (3 special + 256 byte tokens + 1) and 1048576");
  if (s.head_dim < 0 || s.head_dim > 4096 || s.sliding_window < 0 || s.sliding_window > (1 << 20) ||
      s.sliding_window_pattern < 0 || s.sliding_window_pattern > 1024 || !(s.rope_base_swa >= 0.0f))
    return Status::error("--head-dim, --sliding-window and --sliding-window-pattern must be 0 (the default) or positive and sane");
  if (s.head_dim == 0 && s.dim % s.heads != 0) return Status::error("--dim must be a multiple of --heads");
  if (s.heads % s.kv_heads != 0) return Status::error("--heads must be a multiple of --kv-heads");
  if ((s.head_dim > 0 ? s.head_dim : s.dim / s.heads) % 2 != 0)
    return Status::error("the head dimension (--head-dim, or dim/heads) must be even for RoPE");
  if (!dtype_info(s.type).computable) return Status::error(std::string("cannot write type ") + dtype_name(s.type));
  const uint32_t block = dtype_info(s.type).block_size;
  if (s.dim % block != 0 || s.ffn % block != 0)
    return Status::error(std::string("--dim and --ffn must be multiples of ") + std::to_string(block) + " for " +
                         dtype_name(s.type));
  return Status::ok();
}

Status write_synth_model(const SynthSpec& spec, const std::string& path,
                         const std::function<void(uint64_t, uint64_t)>& progress) {
  LINGUA_TRY(validate(spec));
  LINGUA_ASSIGN_OR_RETURN(const ArchitectureDef* def, synth_architecture(spec.arch));
  SynthLayout layout(spec);
  def->synth(layout);
  if (!layout.error.empty()) return Status::error("synth --arch " + spec.arch + ": " + layout.error);
  // Shape options an architecture has no key for would be silently dropped: refuse them.
  auto declares = [&](const std::string& key, int64_t value) {
    for (const auto& [k, v] : layout.metadata)
      if (k == key) {
        const auto declared = v.as_u64();
        return value == 0 || (declared && *declared == static_cast<uint64_t>(value));
      }
    return value == 0;
  };
  if (!declares("attention.key_length", spec.head_dim))
    return Status::error("--head-dim: the " + spec.arch + " architecture's heads are dim/heads wide");
  if (!declares("attention.sliding_window", spec.sliding_window) ||
      !declares("attention.sliding_window_pattern", spec.sliding_window_pattern))
    return Status::error("--sliding-window: the " + spec.arch + " architecture has no sliding-window layers");

  gguf::Writer w;
  using gguf::Value;
  const std::string a = spec.arch + ".";
  auto u32 = [](int64_t v) { return Value::u32(static_cast<uint32_t>(v)); };
  w.set("general.architecture", Value::str(spec.arch));
  w.set("general.name", Value::str(spec.name.empty() ? "synth-" + spec.arch : spec.name));
  w.set("general.file_type", Value::u32(file_type_of(spec.type)));
  w.set(a + "context_length", u32(spec.ctx));
  w.set(a + "embedding_length", u32(spec.dim));
  w.set(a + "block_count", u32(spec.layers));
  w.set(a + "feed_forward_length", u32(spec.ffn));
  w.set(a + "attention.head_count", u32(spec.heads));
  w.set(a + "attention.head_count_kv", u32(spec.kv_heads));
  w.set(a + "vocab_size", u32(spec.vocab));
  for (auto& [key, value] : layout.metadata) w.set(a + key, std::move(value));

  if (!spec.vocab_from.empty()) {
    LINGUA_ASSIGN_OR_RETURN(VocabKeys borrowed, read_vocab_keys(spec.vocab_from));
    if (borrowed.size != spec.vocab)
      return Status::error("--vocab-from " + spec.vocab_from + " has " + std::to_string(borrowed.size) +
                           " tokens, but the model's vocab is " + std::to_string(spec.vocab));
    for (auto& [key, value] : borrowed.keys) w.set(key, std::move(value));
  } else {
    const Vocab vocab = make_synth_vocab(spec.vocab);
    std::vector<Value> tokens, scores, types;
    for (int32_t i = 0; i < vocab.size(); ++i) {
      tokens.push_back(Value::str(vocab.pieces[static_cast<size_t>(i)]));
      scores.push_back(Value::f32(vocab.scores[static_cast<size_t>(i)]));
      types.push_back(Value::i32(static_cast<int32_t>(vocab.types[static_cast<size_t>(i)])));
    }
    w.set("tokenizer.ggml.model", Value::str("llama"));
    w.set("tokenizer.ggml.pre", Value::str("default"));
    w.set("tokenizer.ggml.tokens", Value::array(gguf::ValueType::STRING, std::move(tokens)));
    w.set("tokenizer.ggml.scores", Value::array(gguf::ValueType::FLOAT32, std::move(scores)));
    w.set("tokenizer.ggml.token_type", Value::array(gguf::ValueType::INT32, std::move(types)));
    w.set("tokenizer.ggml.bos_token_id", Value::u32(1));
    w.set("tokenizer.ggml.eos_token_id", Value::u32(2));
    w.set("tokenizer.ggml.unknown_token_id", Value::u32(0));
    w.set("tokenizer.ggml.add_bos_token", Value::boolean(true));
    w.set("tokenizer.ggml.add_eos_token", Value::boolean(false));
  }

  const auto& plan = layout.tensors;
  uint64_t total = 0;
  for (const auto& t : plan) {
    const uint32_t block = dtype_info(t.type).block_size;
    if (t.dims[0] % block != 0)
      return Status::error("tensor '" + t.name + "' has " + std::to_string(t.dims[0]) + " columns, not a multiple of " +
                           std::to_string(block) + " as " + dtype_name(t.type) + " needs");
    LINGUA_TRY(w.add_tensor(t.name, t.type, t.dims));
    uint64_t elements = 1;
    for (uint64_t d : t.dims) elements *= d;
    total += dtype_bytes(t.type, elements).value();
  }

  ThreadPool pool(ThreadPool::hardware_threads());
  uint64_t done = 0;
  // Uniform weights with the spread of N(0, 0.02): the usual initialisation scale keeps
  // activations finite through any depth, and uniform draws are cheap for billions of values.
  const float half_width = 0.02f * std::sqrt(3.0f);
  auto fill = [&](size_t index, uint8_t* dst, uint64_t bytes) -> Status {
    const SynthLayout::Tensor& t = plan[index];
    const int64_t cols = static_cast<int64_t>(t.dims[0]);
    const int64_t rows = t.dims.size() > 1 ? static_cast<int64_t>(t.dims[1]) : 1;
    const uint64_t row_bytes = bytes / static_cast<uint64_t>(rows);
    pool.parallel_for(rows, [&](int64_t begin, int64_t end, int) {
      std::vector<float> row(static_cast<size_t>(cols));
      for (int64_t r = begin; r < end; ++r) {
        uint64_t state = spec.seed * 0x100000001b3ull ^ (static_cast<uint64_t>(t.stream) << 40) ^ static_cast<uint64_t>(r);
        auto uniform = [&] {  // in [-1, 1)
          return static_cast<float>(splitmix64(state) >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f;
        };
        for (auto& x : row) {
          switch (t.fill) {
            case SynthLayout::Fill::kRandom: x = uniform() * half_width; break;
            case SynthLayout::Fill::kOnes: x = 1.0f; break;
            case SynthLayout::Fill::kNearOne: x = 1.0f + 0.1f * uniform(); break;
          }
        }
        kernels::quantize_row(t.type, row.data(), dst + static_cast<uint64_t>(r) * row_bytes, cols);
      }
    });
    done += bytes;
    if (progress) progress(done, total);
    return Status::ok();
  };
  return w.write(path, fill);
}

}  // namespace lingua
