// write_synth_model: shape presets, GGUF metadata for the llama family, and row-parallel,
// seed-deterministic random weights quantized straight into the output file.
#include "model/synth.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "model/gguf.h"
#include "model/synth_vocab.h"

namespace lingua {

namespace {
struct Preset {
  const char* name;
  int64_t dim, layers, heads, kv_heads, ffn, vocab, ctx;
  float rope_base;
  bool tied;
};
constexpr Preset kPresets[] = {
    {"tinyllama-1.1b", 2048, 22, 32, 4, 5632, 32000, 2048, 10000.0f, false},
    {"llama-3.2-1b", 2048, 16, 32, 8, 8192, 128256, 8192, 500000.0f, true},
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

struct TensorPlan {
  std::string name;
  std::vector<uint64_t> dims;  // GGUF order
  DType type;
  bool is_norm;
};
}  // namespace

std::string synth_presets() {
  std::string out;
  for (const auto& p : kPresets) out += (out.empty() ? "" : ", ") + std::string(p.name);
  return out;
}

Status apply_synth_preset(const std::string& preset, SynthSpec& spec) {
  for (const auto& p : kPresets) {
    if (preset != p.name) continue;
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
    return Status::ok();
  }
  return Status::error("unknown preset '" + preset + "' (supported: " + synth_presets() + ")");
}

Status validate(const SynthSpec& s) {
  if (s.arch != "llama") return Status::error("synth supports --arch llama (got '" + s.arch + "')");
  auto positive = [](int64_t v, int64_t max) { return v > 0 && v <= max; };
  if (!positive(s.dim, 1 << 16) || !positive(s.layers, 1024) || !positive(s.heads, 1024) ||
      !positive(s.kv_heads, 1024) || !positive(s.ffn, 1 << 18) || !positive(s.ctx, 1 << 20))
    return Status::error("every size (--dim --layers --heads --kv-heads --ffn --ctx) must be positive and sane");
  if (s.vocab < kMinSynthVocab || s.vocab > (1 << 20))
    return Status::error("--vocab must be between " + std::to_string(kMinSynthVocab) +
                         " (3 special + 256 byte tokens + 1) and 1048576");
  if (s.dim % s.heads != 0) return Status::error("--dim must be a multiple of --heads");
  if (s.heads % s.kv_heads != 0) return Status::error("--heads must be a multiple of --kv-heads");
  if ((s.dim / s.heads) % 2 != 0) return Status::error("the head dimension (dim/heads) must be even for RoPE");
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
  const auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
  const int64_t head_dim = spec.dim / spec.heads;
  const int64_t kv_dim = head_dim * spec.kv_heads;

  gguf::Writer w;
  using gguf::Value;
  w.set("general.architecture", Value::str("llama"));
  w.set("general.name", Value::str(spec.name.empty() ? "synth-llama" : spec.name));
  w.set("general.file_type", Value::u32(file_type_of(spec.type)));
  w.set("llama.context_length", Value::u32(static_cast<uint32_t>(spec.ctx)));
  w.set("llama.embedding_length", Value::u32(static_cast<uint32_t>(spec.dim)));
  w.set("llama.block_count", Value::u32(static_cast<uint32_t>(spec.layers)));
  w.set("llama.feed_forward_length", Value::u32(static_cast<uint32_t>(spec.ffn)));
  w.set("llama.rope.dimension_count", Value::u32(static_cast<uint32_t>(head_dim)));
  w.set("llama.attention.head_count", Value::u32(static_cast<uint32_t>(spec.heads)));
  w.set("llama.attention.head_count_kv", Value::u32(static_cast<uint32_t>(spec.kv_heads)));
  w.set("llama.attention.layer_norm_rms_epsilon", Value::f32(1e-5f));
  w.set("llama.rope.freq_base", Value::f32(spec.rope_base));
  w.set("llama.vocab_size", Value::u32(static_cast<uint32_t>(spec.vocab)));

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

  std::vector<TensorPlan> plan;
  auto matrix = [&](const std::string& name, int64_t cols, int64_t rows) {
    plan.push_back({name, {u(cols), u(rows)}, spec.type, false});
  };
  auto norm = [&](const std::string& name) { plan.push_back({name, {u(spec.dim)}, DType::F32, true}); };
  matrix("token_embd.weight", spec.dim, spec.vocab);
  for (int64_t l = 0; l < spec.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    norm(p + "attn_norm.weight");
    matrix(p + "attn_q.weight", spec.dim, spec.dim);
    matrix(p + "attn_k.weight", spec.dim, kv_dim);
    matrix(p + "attn_v.weight", spec.dim, kv_dim);
    matrix(p + "attn_output.weight", spec.dim, spec.dim);
    norm(p + "ffn_norm.weight");
    matrix(p + "ffn_gate.weight", spec.dim, spec.ffn);
    matrix(p + "ffn_up.weight", spec.dim, spec.ffn);
    matrix(p + "ffn_down.weight", spec.ffn, spec.dim);
  }
  norm("output_norm.weight");
  if (!spec.tied_output) matrix("output.weight", spec.dim, spec.vocab);

  uint64_t total = 0;
  for (const auto& t : plan) {
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
    const TensorPlan& t = plan[index];
    const int64_t cols = static_cast<int64_t>(t.dims[0]);
    const int64_t rows = t.dims.size() > 1 ? static_cast<int64_t>(t.dims[1]) : 1;
    const uint64_t row_bytes = bytes / static_cast<uint64_t>(rows);
    pool.parallel_for(rows, [&](int64_t begin, int64_t end, int) {
      std::vector<float> row(static_cast<size_t>(cols));
      for (int64_t r = begin; r < end; ++r) {
        if (t.is_norm) {
          std::fill(row.begin(), row.end(), 1.0f);
        } else {
          uint64_t state = spec.seed * 0x100000001b3ull ^ (static_cast<uint64_t>(index) << 40) ^ static_cast<uint64_t>(r);
          for (auto& x : row) {
            const uint64_t bits = splitmix64(state);
            x = (static_cast<float>(bits >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * half_width;
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
