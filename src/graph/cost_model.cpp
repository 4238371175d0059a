// Op costs from shapes: FLOP counts per op kind, first-reader attribution of file tensors, and the
// roofline prediction.
#include "graph/cost_model.h"

#include <algorithm>
#include <set>
#include <string>

namespace lingua {

std::vector<OpCost> op_costs(const Graph& graph, const CostShape& shape) {
  std::vector<OpCost> costs(static_cast<size_t>(graph.size()));
  std::set<std::string> seen;  // file tensors already attributed to an earlier op
  const double prompt_context = static_cast<double>(shape.prompt + 1) / 2.0;
  const auto decode_context = static_cast<double>(shape.context + 1);
  for (const Op& op : graph.ops()) {
    OpCost& c = costs[static_cast<size_t>(op.id)];
    const auto d = static_cast<double>(op.out_dim);
    for (const WeightRef& w : op.weights)
      if (seen.insert(w.tensor).second) c.weight_bytes += w.bytes;
    c.out_bytes_per_token = static_cast<uint64_t>(op.out_dim) * sizeof(float);
    double flops = 0;  // per token, except attention (below)
    switch (op.kind) {
      case OpKind::kEmbed:
        c.decode_bytes_read = static_cast<double>(op.weight.row_bytes);  // one row per token
        break;
      case OpKind::kRmsNorm: flops = 4 * d; break;
      case OpKind::kLayerNorm: flops = 7 * d; break;
      case OpKind::kMatMul: {
        const auto rows = static_cast<double>(op.weight.rows), cols = static_cast<double>(op.weight.cols);
        flops = 2 * rows * cols + (op.bias ? rows : 0);
        c.decode_bytes_read = rows * static_cast<double>(op.weight.row_bytes);
        c.compute_type = op.weight.type;
        c.parallel = true;
        break;
      }
      case OpKind::kRope: flops = 3 * d; break;
      case OpKind::kAdd: flops = d; break;
      case OpKind::kSwiGLU: flops = 5 * d; break;
      case OpKind::kGelu: flops = 2 * d; break;
      case OpKind::kGeGLU: flops = 3 * d; break;
      case OpKind::kScale: flops = d; break;
      case OpKind::kSoftcap: flops = 3 * d; break;
      case OpKind::kSlice: break;
      case OpKind::kAttention: {
        const AttentionParams& a = op.attn;
        const auto kv_dim = static_cast<double>(a.n_kv_heads * a.head_dim);
        // Per key: q·k and the weighted sum of v (2 FLOPs per element each), softmax (~3). A
        // sliding-window layer reads at most its window of keys.
        const double per_key = static_cast<double>(a.n_heads) * (4.0 * static_cast<double>(a.head_dim) + 3.0);
        const double window = a.sliding_window > 0 ? static_cast<double>(a.sliding_window) : decode_context;
        c.flops_prefill_per_token = per_key * std::min(prompt_context, window);
        c.flops_decode = per_key * std::min(decode_context, window);
        c.kv_bytes_per_token = static_cast<uint64_t>(2 * kv_dim * sizeof(float));
        c.kv_window = a.sliding_window;
        c.decode_bytes_read = 2 * kv_dim * sizeof(float) * std::min(decode_context, window);
        c.parallel = true;
        continue;
      }
    }
    c.flops_prefill_per_token = flops;
    c.flops_decode = flops;
  }
  return costs;
}

uint64_t kv_bytes(const OpCost& cost, int64_t context) {
  const int64_t rows = cost.kv_window > 0 && cost.kv_window < context ? cost.kv_window : context;
  return cost.kv_bytes_per_token * static_cast<uint64_t>(std::max<int64_t>(rows, 0));
}

double ComputeRates::flops_for(DType t) const {
  const auto slot = static_cast<size_t>(t);
  if (slot < kTypeSlots && flops_per_s[slot] > 0) return flops_per_s[slot];
  return flops_per_s[static_cast<size_t>(DType::F32)];
}

double predicted_decode_seconds(const OpCost& cost, const ComputeRates& rates) {
  const double rate = rates.flops_for(cost.compute_type);
  const double compute = rate > 0 ? cost.flops_decode / rate : 0;
  const double memory = rates.bytes_per_s > 0 ? cost.decode_bytes_read / rates.bytes_per_s : 0;
  return std::max(compute, memory) + (cost.parallel ? rates.seconds_per_op : 0.0);
}

ComputeRates default_compute_rates() {
  ComputeRates r;
  for (double& f : r.flops_per_s) f = 40e9;
  r.flops_per_s[static_cast<size_t>(DType::F32)] = 20e9;
  r.bytes_per_s = 10e9;
  r.seconds_per_op = 3e-6;
  return r;
}

std::vector<double> predicted_decode_seconds(const std::vector<OpCost>& costs, const ComputeRates& rates) {
  std::vector<double> out;
  out.reserve(costs.size());
  for (const OpCost& c : costs) out.push_back(predicted_decode_seconds(c, rates));
  return out;
}

}  // namespace lingua
