// Random-weight models of any shape and type, with a working SentencePiece vocabulary, for tests
// and benchmarks when no real model of that shape is at hand (`lingua synth`). llama.cpp loads
// what this writes.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "model/gguf.h"

namespace lingua {

struct SynthSpec {
  std::string arch = "llama";  // any architecture whose file declares a synth layout
  int64_t dim = 256, layers = 4, heads = 8, kv_heads = 4, ffn = 768, vocab = 512, ctx = 2048;
  float rope_base = 10000.0f;
  // gemma3 (0: the architecture's default): head width when not dim/heads, the local layers'
  // sliding window, every how many layers one is global, the local layers' RoPE base.
  int64_t head_dim = 0, sliding_window = 0, sliding_window_pattern = 0;
  float rope_base_swa = 0.0f;
  bool tied_output = false;
  DType type = DType::F32;   // of the 2-D matrices; norms stay f32
  uint64_t seed = 1;
  std::string name;          // general.name
  // A GGUF whose tokenizer.* keys replace the synthetic vocabulary; `vocab` must then equal its
  // token count (resolve_vocab_from sets it).
  std::string vocab_from;
};

// What an architecture file declares for synth: its own metadata keys ("<arch>." is prefixed) and
// its tensors in file order. synth.cpp writes the shape keys every architecture shares
// (context_length, embedding_length, block_count, feed_forward_length, head counts, vocab_size).
class SynthLayout {
 public:
  enum class Fill {
    kRandom,   // uniform with the spread of N(0, 0.02): matrices and biases
    kOnes,     // exactly 1
    kNearOne,  // 1 +- 0.1, so a norm weight that is applied wrongly shows in the output
  };
  struct Tensor {
    std::string name;
    std::vector<uint64_t> dims;  // GGUF order: columns first
    DType type;
    Fill fill;
    size_t stream;  // random stream: a copy of tensor k (tied weights stored twice) reuses k's
  };

  explicit SynthLayout(const SynthSpec& shape) : spec(shape) {}
  const SynthSpec& spec;

  void u32(const std::string& key, int64_t value) { metadata.emplace_back(key, gguf::Value::u32(static_cast<uint32_t>(value))); }
  void f32(const std::string& key, float value) { metadata.emplace_back(key, gguf::Value::f32(value)); }
  // A weight matrix of spec.type; returns its index for copy_of.
  size_t matrix(const std::string& name, int64_t cols, int64_t rows);
  size_t copy_of(size_t tensor, const std::string& name);
  void vector(const std::string& name, int64_t n, Fill fill);
  void fail(const std::string& message) { if (error.empty()) error = message; }

  // The tensors of a llama-family model (llama, qwen2, qwen3) in file order: embedding, then per
  // block attn_norm, q (+bias, +per-head norm), k (likewise), v (+bias), output, ffn_norm, gate,
  // up, down; then output_norm and, unless tied, output. Norm weights get `norms`.
  struct LlamaFamily {
    bool qkv_bias = false;  // qwen2
    bool qk_norm = false;   // qwen3: RMSNorm weights of one head width on Q and K
    Fill norms = Fill::kOnes;
  };
  void llama_family_tensors(const LlamaFamily& f);

  std::vector<std::pair<std::string, gguf::Value>> metadata;
  std::vector<Tensor> tensors;
  std::string error;
};

// Fills the architecture and shape fields from a preset name ("tinyllama-1.1b", "qwen2.5-0.5b",
// "bloom-560m", ...); the error lists them.
Status apply_synth_preset(const std::string& preset, SynthSpec& spec);
std::string synth_presets();
std::string synth_architectures();  // the architectures synth can write

// Sets spec.vocab to the token count of spec.vocab_from (when set); an error when the file has no
// usable tokenizer, or when `requested` (a --vocab the user gave, -1 for none) differs.
Status resolve_vocab_from(SynthSpec& spec, int64_t requested);

// Checks the shape (positive sizes, heads divide dim, block-aligned widths for the type).
Status validate(const SynthSpec& spec);

// progress(bytes_done, bytes_total) is called as tensors are written.
Status write_synth_model(const SynthSpec& spec, const std::string& path,
                         const std::function<void(uint64_t, uint64_t)>& progress = {});

}  // namespace lingua
