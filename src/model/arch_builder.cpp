// ArchBuilder: weight look-up with validation, op construction, and the architecture registry
// (arch/*.cpp files, listed at configure time into arch_list.inc).
#include "model/arch_builder.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/kernels.h"

#include "arch_list.inc"  // generated: declares lingua_architecture_<file> for every arch/<file>.cpp

namespace lingua {

ArchBuilder::ArchBuilder(const gguf::File& file, std::string arch, std::deque<std::vector<float>>& owned)
    : file_(file), arch_(std::move(arch)), owned_(owned) {}

void ArchBuilder::fail(const std::string& message) {
  if (error_.is_ok()) error_ = Status::error(message);
}

int64_t ArchBuilder::hparam(const std::string& name) {
  auto v = file_.get_u64(key(name));
  if (!v) {
    fail(v.error());
    return 0;
  }
  if (*v == 0) {
    fail("metadata " + key(name) + " is 0, but it is a size or count and must be at least 1");
    return 0;
  }
  if (*v > static_cast<uint64_t>(INT32_MAX)) {
    fail("metadata " + key(name) + " = " + std::to_string(*v) + " is absurdly large");
    return 0;
  }
  return static_cast<int64_t>(*v);
}

int64_t ArchBuilder::hparam_or(const std::string& name, int64_t fallback) {
  if (!file_.find(key(name))) return fallback;
  return hparam(name);
}

float ArchBuilder::fparam_or(const std::string& name, float fallback, Range range) {
  auto v = file_.get_f64_or(key(name), fallback);
  if (!v) {
    fail(v.error());
    return fallback;
  }
  const double x = *v;
  const char* need = nullptr;
  if (!std::isfinite(x) || std::abs(x) > std::numeric_limits<float>::max()) need = "a finite number";
  else if (range == Range::kPositive && !(x > 0)) need = "positive";
  else if (range == Range::kNonNegative && !(x >= 0)) need = "0 or more";
  if (need) {
    fail("metadata " + key(name) + " = " + gguf::Value::f64(x).to_display() + " must be " + need);
    return fallback;
  }
  return static_cast<float>(x);
}

int ArchBuilder::blocks_in_file() const {
  int64_t blocks = 0;
  for (const gguf::TensorInfo& t : file_.tensors()) {
    if (t.name.rfind("blk.", 0) != 0) continue;
    int64_t n = 0;
    size_t i = 4;
    for (; i < t.name.size() && i < 14 && t.name[i] >= '0' && t.name[i] <= '9'; ++i) n = n * 10 + (t.name[i] - '0');
    if (i > 4 && i < t.name.size() && t.name[i] == '.') blocks = std::max(blocks, n + 1);
  }
  return static_cast<int>(std::min<int64_t>(blocks, INT32_MAX));
}

std::optional<ArchBuilder::Shape> ArchBuilder::shape(const ShapeKeys& keys) {
  Shape s;
  s.n_embd = hparam("embedding_length");
  s.n_layer = hparam("block_count");
  s.n_head = hparam("attention.head_count");
  s.n_head_kv = hparam_or("attention.head_count_kv", s.n_head);
  s.norm_eps = fparam_or(keys.norm_eps, keys.norm_eps_default, Range::kPositive);
  if (!error_.is_ok()) return std::nullopt;
  // Fewer blocks than the file has would run a truncated model; more would look for tensors that
  // are not there.
  if (const int present = blocks_in_file(); s.n_layer != present) {
    fail("metadata " + key("block_count") + " = " + std::to_string(s.n_layer) + ", but the file has the tensors of " +
         std::to_string(present) + " blocks" + (present > 0 ? " (blk.0 to blk." + std::to_string(present - 1) + ")" : ""));
    return std::nullopt;
  }
  if (s.n_head % s.n_head_kv != 0) {
    fail("metadata " + key("attention.head_count_kv") + " = " + std::to_string(s.n_head_kv) + " does not divide " +
         key("attention.head_count") + " = " + std::to_string(s.n_head));
    return std::nullopt;
  }
  if (keys.head_width_key && file_.find(key("attention.key_length"))) {
    s.head_dim = hparam("attention.key_length");
  } else if (s.n_embd % s.n_head != 0) {
    fail("metadata " + key("attention.head_count") + " = " + std::to_string(s.n_head) + " does not divide " +
         key("embedding_length") + " = " + std::to_string(s.n_embd));
    return std::nullopt;
  } else {
    s.head_dim = s.n_embd / s.n_head;
  }
  if (!error_.is_ok()) return std::nullopt;
  return s;
}

RopeParams ArchBuilder::rope_params(int64_t head_dim, bool neox) {
  RopeParams rope;
  rope.head_dim = head_dim;
  rope.neox = neox;
  rope.n_rot = hparam_or("rope.dimension_count", head_dim);
  if (error_.is_ok() && (rope.n_rot % 2 != 0 || rope.n_rot > head_dim))
    fail("metadata " + key("rope.dimension_count") + " = " + std::to_string(rope.n_rot) +
         " must be even and at most the head width, " + std::to_string(head_dim));
  rope.freq_base = fparam_or("rope.freq_base", 10000.0f, Range::kPositive);
  // llama.cpp's reading: no type means linear, and the factor is 1/freq_scale (0 = none).
  auto type = file_.get_string_or(key("rope.scaling.type"), "linear");
  if (!type) {
    fail(type.error());
    return rope;
  }
  if (*type != "linear" && *type != "none" && *type != "longrope") {
    fail("metadata " + key("rope.scaling.type") + " = '" + *type +
         "' is not supported (Lingua implements 'none', 'linear' and 'longrope' RoPE scaling)");
    return rope;
  }
  const float factor = fparam_or("rope.scaling.factor", 0.0f, Range::kNonNegative);
  const float linear = fparam_or("rope.scale_linear", 1.0f, Range::kPositive);
  if (*type == "none") rope.freq_scale = 1.0f;
  else rope.freq_scale = factor > 0.0f ? 1.0f / factor : linear;
  rope.attn_factor = fparam_or("rope.scaling.attn_factor", 1.0f, Range::kPositive);
  // Per-pair factors, as llama.cpp picks them: rope_freqs (Llama 3.1+) wherever it is present,
  // otherwise Phi-3's long and short sets, long when the run's context exceeds the original one.
  if (has_tensor("rope_freqs.weight")) {
    rope.factors = rope_factors("rope_freqs.weight", rope.n_rot);
  } else if (has_tensor("rope_factors_long.weight") || has_tensor("rope_factors_short.weight")) {
    rope.factors = rope_factors("rope_factors_short.weight", rope.n_rot);
    rope.factors_long = rope_factors("rope_factors_long.weight", rope.n_rot);
    rope.long_context_above =
        file_.find(key("rope.scaling.original_context_length")) ? hparam("rope.scaling.original_context_length")
                                                                : hparam("context_length");
  }
  return rope;
}

const float* ArchBuilder::rope_factors(const std::string& tensor_name, int64_t n_rot) {
  const gguf::TensorInfo* t = file_.find_tensor(tensor_name);
  if (!t || !error_.is_ok()) return nullptr;
  const int64_t pairs = n_rot / 2;
  if (t->dims.empty() || static_cast<int64_t>(t->dims[0]) != pairs) {
    fail("tensor '" + tensor_name + "' holds " + std::to_string(t->dims.empty() ? 0 : t->dims[0]) +
         " RoPE frequency factors, but it needs one per rotated pair: " + std::to_string(pairs) + " (" +
         key("rope.dimension_count") + " = " + std::to_string(n_rot) + ")");
    return nullptr;
  }
  const size_t before = pending_weights_.size();
  const float* factors = vector_f32(tensor_name, pairs);
  if (!factors) return nullptr;
  // Zero is let through: a worker's copy of the file holds zeros where its segment reads nothing.
  for (int64_t i = 0; i < pairs; ++i)
    if (!std::isfinite(factors[i]) || factors[i] < 0) {
      fail("tensor '" + tensor_name + "' has factor " + std::to_string(factors[i]) + " at pair " + std::to_string(i) +
           ", but RoPE frequency factors must be positive and finite");
      return nullptr;
    }
  // The factors belong to every RoPE op that uses them (rope() adds them), not to the next op.
  rope_factor_tensors_.emplace_back(factors, pending_weights_.back());
  pending_weights_.resize(before);
  return factors;
}

const gguf::TensorInfo* ArchBuilder::tensor(const std::string& name, size_t n_dims) {
  const gguf::TensorInfo* t = file_.find_tensor(name);
  if (!t) {
    fail("the model has no tensor '" + name + "' (needed by the " + arch_ + " architecture)");
    return nullptr;
  }
  size_t dims = t->dims.size();
  while (dims > n_dims && t->dims[dims - 1] == 1) --dims;  // trailing 1s are padding
  if (dims != n_dims) {
    fail("tensor '" + name + "' has " + std::to_string(t->dims.size()) + " dimensions, expected " +
         std::to_string(n_dims));
    return nullptr;
  }
  return t;
}

MatrixView ArchBuilder::matrix(const std::string& tensor_name) {
  const gguf::TensorInfo* t = tensor(tensor_name, 2);
  if (!t) return {};
  if (!dtype_info(t->type).computable) {
    fail("tensor '" + tensor_name + "' has type " + dtype_name(t->type) + ", which Lingua cannot compute (supported: " +
         computable_dtype_names() + ")");
    return {};
  }
  pending_weights_.push_back({tensor_name, t->bytes});
  MatrixView m;
  m.type = t->type;
  m.data = t->data;
  m.cols = static_cast<int64_t>(t->dims[0]);
  m.rows = static_cast<int64_t>(t->dims[1]);
  m.row_bytes = static_cast<size_t>(t->bytes / t->dims[1]);
  return m;
}

const float* ArchBuilder::vector_f32(const std::string& tensor_name, int64_t n) {
  const gguf::TensorInfo* t = tensor(tensor_name, 1);
  if (!t) return nullptr;
  if (static_cast<int64_t>(t->dims[0]) != n) {
    fail("tensor '" + tensor_name + "' has " + std::to_string(t->dims[0]) + " elements, expected " + std::to_string(n));
    return nullptr;
  }
  if (t->type != DType::F32 && t->type != DType::F16 && t->type != DType::BF16) {
    fail("tensor '" + tensor_name + "' has type " + dtype_name(t->type) + ", but the " + arch_ +
         " architecture expects a float vector (f32, f16 or bf16) for a norm or bias");
    return nullptr;
  }
  pending_weights_.push_back({tensor_name, t->bytes});
  // Norm and bias vectors are tiny: keep an f32 copy whatever the file stores.
  MatrixView row{t->type, t->data, 1, n, static_cast<size_t>(t->bytes)};
  owned_.emplace_back(static_cast<size_t>(n));
  kernels::dequantize_row(row, 0, owned_.back().data());
  return owned_.back().data();
}

int64_t ArchBuilder::width(int op) const {
  return op >= 0 && op < graph_.size() ? graph_.op(op).out_dim : 0;
}

int ArchBuilder::push(Op op) {
  op.weights = std::move(pending_weights_);
  pending_weights_.clear();
  if (!error_.is_ok()) return -1;
  for (int in : op.inputs)
    if (in < 0) return -1;
  return graph_.add(std::move(op));
}

int ArchBuilder::embed(const std::string& name, const std::string& tensor_name) {
  Op op;
  op.name = name;
  op.kind = OpKind::kEmbed;
  op.weight = matrix(tensor_name);
  op.out_dim = op.weight.cols;
  return push(std::move(op));
}

int ArchBuilder::rms_norm(const std::string& name, int input, const std::string& tensor_name, float eps,
                          int64_t group) {
  Op op;
  op.name = name;
  op.kind = OpKind::kRmsNorm;
  op.inputs = {input};
  op.out_dim = width(input);
  op.norm_group = group;
  op.norm = vector_f32(tensor_name, group > 0 ? group : op.out_dim);
  op.eps = eps;
  return push(std::move(op));
}

int ArchBuilder::layer_norm(const std::string& name, int input, const std::string& weight, const std::string& bias,
                            float eps) {
  Op op;
  op.name = name;
  op.kind = OpKind::kLayerNorm;
  op.inputs = {input};
  op.out_dim = width(input);
  op.norm = vector_f32(weight, op.out_dim);
  if (!bias.empty()) op.bias = vector_f32(bias, op.out_dim);
  op.eps = eps;
  return push(std::move(op));
}

int ArchBuilder::matmul(const std::string& name, int input, const std::string& tensor_name, const std::string& bias) {
  Op op;
  op.name = name;
  op.kind = OpKind::kMatMul;
  op.inputs = {input};
  op.weight = matrix(tensor_name);
  op.out_dim = op.weight.rows;
  if (error_.is_ok() && op.weight.cols != width(input))
    fail("tensor '" + tensor_name + "' takes " + std::to_string(op.weight.cols) + " inputs but op '" +
         graph_.op(input).name + "' gives " + std::to_string(width(input)));
  if (!bias.empty()) op.bias = vector_f32(bias, op.out_dim);
  return push(std::move(op));
}

int ArchBuilder::rope(const std::string& name, int input, const RopeParams& params) {
  Op op;
  op.name = name;
  op.kind = OpKind::kRope;
  op.inputs = {input};
  op.out_dim = width(input);
  op.rope = params;
  for (const auto& [data, ref] : rope_factor_tensors_)
    if (data == params.factors || data == params.factors_long) pending_weights_.push_back(ref);
  return push(std::move(op));
}

int ArchBuilder::attention(const std::string& name, int q, int k, int v, const AttentionParams& params) {
  Op op;
  op.name = name;
  op.kind = OpKind::kAttention;
  op.inputs = {q, k, v};
  op.out_dim = params.n_heads * params.head_dim;
  op.attn = params;
  return push(std::move(op));
}

int ArchBuilder::add(const std::string& name, int a, int b) {
  Op op;
  op.name = name;
  op.kind = OpKind::kAdd;
  op.inputs = {a, b};
  op.out_dim = width(a);
  return push(std::move(op));
}

int ArchBuilder::swiglu(const std::string& name, int gate, int up) {
  Op op;
  op.name = name;
  op.kind = OpKind::kSwiGLU;
  op.inputs = {gate, up};
  op.out_dim = width(gate);
  return push(std::move(op));
}

int ArchBuilder::gelu(const std::string& name, int input) {
  Op op;
  op.name = name;
  op.kind = OpKind::kGelu;
  op.inputs = {input};
  op.out_dim = width(input);
  return push(std::move(op));
}

int ArchBuilder::geglu(const std::string& name, int gate, int up) {
  Op op;
  op.name = name;
  op.kind = OpKind::kGeGLU;
  op.inputs = {gate, up};
  op.out_dim = width(gate);
  return push(std::move(op));
}

int ArchBuilder::scale(const std::string& name, int input, float factor) {
  Op op;
  op.name = name;
  op.kind = OpKind::kScale;
  op.inputs = {input};
  op.out_dim = width(input);
  op.factor = factor;
  return push(std::move(op));
}

int ArchBuilder::softcap(const std::string& name, int input, float cap) {
  Op op;
  op.name = name;
  op.kind = OpKind::kSoftcap;
  op.inputs = {input};
  op.out_dim = width(input);
  op.factor = cap;
  return push(std::move(op));
}

int ArchBuilder::slice(const std::string& name, int input, int64_t offset, int64_t count) {
  Op op;
  op.name = name;
  op.kind = OpKind::kSlice;
  op.inputs = {input};
  op.out_dim = count;
  op.slice_offset = offset;
  return push(std::move(op));
}

int ArchBuilder::swiglu_ffn(const std::string& prefix, int x, float eps) {
  // One statement per op: argument evaluation order is unspecified, and op ids must not depend on
  // the compiler.
  const int h = rms_norm(prefix + "ffn_norm", x, prefix + "ffn_norm.weight", eps);
  const int gate = matmul(prefix + "ffn_gate", h, prefix + "ffn_gate.weight");
  const int up = matmul(prefix + "ffn_up", h, prefix + "ffn_up.weight");
  const int g = swiglu(prefix + "ffn_swiglu", gate, up);
  return add(prefix + "ffn_residual", x, matmul(prefix + "ffn_down", g, prefix + "ffn_down.weight"));
}

int ArchBuilder::rms_norm_output(int x, float eps) {
  x = rms_norm("output_norm", x, "output_norm.weight", eps);
  return matmul("output", x, has_tensor("output.weight") ? "output.weight" : "token_embd.weight");
}

Expected<Graph> ArchBuilder::finish() {
  if (!error_.is_ok()) return error_;
  LINGUA_TRY(graph_.validate());
  return std::move(graph_);
}

const std::vector<const ArchitectureDef*>& architectures() {
  static const std::vector<const ArchitectureDef*> defs = {LINGUA_ARCHITECTURES};
  return defs;
}

std::string supported_architectures() {
  std::string out;
  for (const ArchitectureDef* d : architectures()) out += (out.empty() ? "" : ", ") + std::string(d->name);
  return out;
}

Expected<const ArchitectureDef*> find_architecture(const std::string& name) {
  for (const ArchitectureDef* d : architectures())
    if (name == d->name) return d;
  return Status::error("unknown architecture '" + name + "' (supported: " + supported_architectures() + ")");
}

}  // namespace lingua
