// Graph construction and structural validation.
#include "graph/graph.h"

#include <cmath>

namespace lingua {

const char* op_kind_name(OpKind kind) {
  switch (kind) {
    case OpKind::kEmbed: return "embed";
    case OpKind::kRmsNorm: return "rms_norm";
    case OpKind::kMatMul: return "matmul";
    case OpKind::kRope: return "rope";
    case OpKind::kAttention: return "attention";
    case OpKind::kAdd: return "add";
    case OpKind::kSwiGLU: return "swiglu";
    case OpKind::kLayerNorm: return "layer_norm";
    case OpKind::kGelu: return "gelu";
    case OpKind::kSlice: return "slice";
    case OpKind::kGeGLU: return "geglu";
    case OpKind::kScale: return "scale";
    case OpKind::kSoftcap: return "softcap";
  }
  return "unknown";
}

int Graph::add(Op op) {
  op.id = size();
  if (op.kind == OpKind::kAttention) op.kv_slot = n_kv_slots_++;
  ops_.push_back(std::move(op));
  return ops_.back().id;
}

Status Graph::validate() const {
  if (ops_.empty()) return Status::error("the graph has no ops");
  for (const Op& op : ops_) {
    auto fail = [&](const std::string& what) {
      return Status::error("op " + std::to_string(op.id) + " '" + op.name + "' (" + op_kind_name(op.kind) +
                           "): " + what);
    };
    for (int in : op.inputs)
      if (in < 0 || in >= op.id) return fail("reads op " + std::to_string(in) + ", which does not come before it");
    auto in_dim = [&](size_t i) { return ops_[static_cast<size_t>(op.inputs[i])].out_dim; };
    auto need_inputs = [&](size_t n) { return op.inputs.size() == n; };
    if (op.out_dim <= 0) return fail("output has no width");
    switch (op.kind) {
      case OpKind::kEmbed:
        if (!op.inputs.empty()) return fail("an embedding takes no op inputs");
        if (op.weight.cols != op.out_dim) return fail("embedding width differs from its output");
        break;
      case OpKind::kRmsNorm:
        if (!need_inputs(1) || in_dim(0) != op.out_dim || !op.norm || op.norm_group < 0 ||
            (op.norm_group > 0 && op.out_dim % op.norm_group != 0))
          return fail("bad norm shape or weight");
        break;
      case OpKind::kLayerNorm:
        if (!need_inputs(1) || in_dim(0) != op.out_dim || !op.norm) return fail("bad norm shape or weight");
        break;
      case OpKind::kGelu:
        if (!need_inputs(1) || in_dim(0) != op.out_dim) return fail("input differs in width");
        break;
      case OpKind::kScale:
      case OpKind::kSoftcap:
        if (!need_inputs(1) || in_dim(0) != op.out_dim) return fail("input differs in width");
        if (!std::isfinite(op.factor) || (op.kind == OpKind::kSoftcap && !(op.factor > 0.0f)))
          return fail("factor " + std::to_string(op.factor) + (op.kind == OpKind::kSoftcap ? " is not a positive cap" : " is not finite"));
        break;
      case OpKind::kSlice:
        if (!need_inputs(1) || op.slice_offset < 0 || op.slice_offset + op.out_dim > in_dim(0))
          return fail("columns " + std::to_string(op.slice_offset) + ".." + std::to_string(op.slice_offset + op.out_dim) +
                      " lie outside an input of width " + std::to_string(op.inputs.empty() ? 0 : in_dim(0)));
        break;
      case OpKind::kMatMul:
        if (!need_inputs(1) || op.weight.cols != in_dim(0) || op.weight.rows != op.out_dim)
          return fail("weight " + std::to_string(op.weight.rows) + "x" + std::to_string(op.weight.cols) +
                      " does not fit input width " + std::to_string(op.inputs.empty() ? 0 : in_dim(0)));
        break;
      case OpKind::kRope:
        if (!need_inputs(1) || in_dim(0) != op.out_dim || op.rope.n_heads * op.rope.head_dim != op.out_dim ||
            op.rope.n_rot > op.rope.head_dim || op.rope.n_rot % 2 != 0)
          return fail("bad rope shape");
        break;
      case OpKind::kAttention: {
        const auto& a = op.attn;
        if (!need_inputs(3) || a.n_kv_heads <= 0 || a.n_heads % a.n_kv_heads != 0 ||
            in_dim(0) != a.n_heads * a.head_dim || in_dim(1) != a.n_kv_heads * a.head_dim ||
            in_dim(2) != a.n_kv_heads * a.head_dim || op.out_dim != a.n_heads * a.head_dim || a.alibi_max_bias < 0.0f)
          return fail("bad attention shape");
        if (a.sliding_window < 0) return fail("sliding window of " + std::to_string(a.sliding_window) + " positions");
        break;
      }
      case OpKind::kAdd:
      case OpKind::kSwiGLU:
      case OpKind::kGeGLU:
        if (!need_inputs(2) || in_dim(0) != op.out_dim || in_dim(1) != op.out_dim)
          return fail("inputs differ in width");
        break;
    }
  }
  return Status::ok();
}

}  // namespace lingua
