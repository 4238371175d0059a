// What an architecture file sees: hyper-parameters from GGUF metadata ("<arch>.<key>"), weights
// by tensor name with shape and type checks, and one call per op. Errors are sticky: the first
// one is kept and finish() returns it, so a graph builder reads like the forward pass it is.
#pragma once
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/matrix_view.h"
#include "core/status.h"
#include "graph/graph.h"
#include "model/gguf.h"
#include "model/synth.h"

namespace lingua {

class ArchBuilder {
 public:
  ArchBuilder(const gguf::File& file, std::string arch, std::deque<std::vector<float>>& owned);

  // Hyper-parameter "<arch>.<key>": required (records an error when missing) or with a default.
  // They are sizes and counts, so 0 is refused as well as values beyond 2^31-1.
  int64_t hparam(const std::string& key);
  int64_t hparam_or(const std::string& key, int64_t fallback);
  // A float "<arch>.<key>": NaN and infinities are refused, and values outside `range`.
  enum class Range { kFinite, kPositive, kNonNegative };
  float fparam_or(const std::string& key, float fallback, Range range = Range::kFinite);

  // The settings every transformer architecture has, read and checked here once, so that an
  // architecture (and any new one) refuses a file that gets them wrong with the key named:
  // block_count equal to the blocks whose tensors the file has, head counts that divide, a
  // positive finite norm epsilon. head_dim is attention.key_length when `head_width_key` and the
  // file has it, otherwise embedding/heads (which must then divide).
  struct Shape {
    int64_t n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, head_dim = 0;
    float norm_eps = 0;
  };
  struct ShapeKeys {
    const char* norm_eps;  // e.g. "attention.layer_norm_rms_epsilon"
    float norm_eps_default;
    bool head_width_key = false;
  };
  std::optional<Shape> shape(const ShapeKeys& keys);
  // RoPE for heads `head_dim` wide: rope.dimension_count (even, at most head_dim), rope.freq_base
  // (positive), rope.scaling.* (type none, linear or longrope, the kinds the kernels implement:
  // yarn and others are refused rather than run as linear; factor, attn_factor,
  // original_context_length), and the per-pair frequency factors when the file has them
  // (rope_freqs.weight, or rope_factors_long/short.weight), one per rotated pair. n_heads is left
  // for the caller.
  RopeParams rope_params(int64_t head_dim, bool neox);
  bool has_tensor(const std::string& name) const { return file_.find_tensor(name) != nullptr; }
  int64_t width(int op) const;  // floats per token an op gives (0 for a failed op)

  // Ops. Weight names are GGUF tensor names; `name` is the op's name in the graph.
  int embed(const std::string& name, const std::string& tensor);
  // group > 0 normalizes each run of `group` floats on its own with a `group`-long weight
  // (per-head Q/K norms); 0 normalizes the whole row.
  int rms_norm(const std::string& name, int input, const std::string& tensor, float eps, int64_t group = 0);
  int layer_norm(const std::string& name, int input, const std::string& weight, const std::string& bias, float eps);
  int matmul(const std::string& name, int input, const std::string& tensor, const std::string& bias = "");
  int rope(const std::string& name, int input, const RopeParams& params);
  int attention(const std::string& name, int q, int k, int v, const AttentionParams& params);
  int add(const std::string& name, int a, int b);
  int swiglu(const std::string& name, int gate, int up);
  int gelu(const std::string& name, int input);
  int geglu(const std::string& name, int gate, int up);
  int scale(const std::string& name, int input, float factor);
  int softcap(const std::string& name, int input, float cap);
  int slice(const std::string& name, int input, int64_t offset, int64_t width);

  // Blocks several architectures share.
  // x + ffn_down(silu(ffn_gate(h)) * ffn_up(h)) with h = RMSNorm(x): the llama-family FFN of block
  // `prefix` ("blk.N.").
  int swiglu_ffn(const std::string& prefix, int x, float eps);
  // RMSNorm then the output matrix (output.weight, or the embedding when tied): the logits.
  int rms_norm_output(int x, float eps);

  void fail(const std::string& message);
  Expected<Graph> finish();

 private:
  const gguf::TensorInfo* tensor(const std::string& name, size_t n_dims);
  MatrixView matrix(const std::string& tensor_name);
  const float* vector_f32(const std::string& tensor_name, int64_t n);
  const float* rope_factors(const std::string& tensor_name, int64_t n_rot);  // null when absent
  int push(Op op);
  std::string key(const std::string& name) const { return arch_ + "." + name; }
  int blocks_in_file() const;  // 1 + the largest N of the file's "blk.N." tensors

  const gguf::File& file_;
  std::string arch_;
  std::deque<std::vector<float>>& owned_;
  Graph graph_;
  Status error_;
  std::vector<WeightRef> pending_weights_;  // tensors read by the op being built
  std::vector<std::pair<const float*, WeightRef>> rope_factor_tensors_;  // read by the RoPE ops given them
};

// One architecture: the GGUF general.architecture name it handles, its graph builder, and (when
// `lingua synth` can write it) the metadata and tensors of a random model of a given shape.
struct ArchitectureDef {
  const char* name;
  void (*build)(ArchBuilder& b);
  void (*synth)(SynthLayout& layout);
};

// Looks the architecture up by name; the error names it and lists the supported ones.
Expected<const ArchitectureDef*> find_architecture(const std::string& name);
std::string supported_architectures();
const std::vector<const ArchitectureDef*>& architectures();  // every arch/*.cpp, in name order

}  // namespace lingua
