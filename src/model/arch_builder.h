// What an architecture file sees: hyper-parameters from GGUF metadata ("<arch>.<key>"), weights
// by tensor name with shape and type checks, and one call per op. Errors are sticky: the first
// one is kept and finish() returns it, so a graph builder reads like the forward pass it is.
#pragma once
#include <cstdint>
#include <deque>
#include <string>
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
  int64_t hparam(const std::string& key);
  int64_t hparam_or(const std::string& key, int64_t fallback);
  float fparam_or(const std::string& key, float fallback);
  bool has_tensor(const std::string& name) const { return file_.find_tensor(name) != nullptr; }

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
  int slice(const std::string& name, int input, int64_t offset, int64_t width);

  // Blocks several architectures share.
  // Records an error unless heads divide evenly (n_head_kv divides n_head; `need_divisible_embd`:
  // and n_head divides n_embd). Returns whether they do.
  bool check_heads(int64_t n_embd, int64_t n_head, int64_t n_head_kv, bool need_divisible_embd = true);
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
  int64_t width(int op) const;
  int push(Op op);

  const gguf::File& file_;
  std::string arch_;
  std::deque<std::vector<float>>& owned_;
  Graph graph_;
  Status error_;
  std::vector<WeightRef> pending_weights_;  // tensors read by the op being built
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
