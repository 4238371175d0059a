// What each op of a graph costs, from its shapes alone: FLOPs, weight bytes, KV bytes and output
// bytes per token, and a roofline time on a device's compute rates, so a planner can price any cut.
#pragma once
#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "graph/graph.h"

namespace lingua {

struct OpCost {
  double flops_prefill_per_token = 0;  // per prompt token, attention at the prompt's mean context
  double flops_decode = 0;             // one decode step at the decode context
  uint64_t weight_bytes = 0;           // file bytes of the tensors this op is the first to read
  uint64_t kv_bytes_per_token = 0;     // KV cache growth per token (attention)
  int64_t kv_window = 0;               // sliding window: the cache stops growing there (0: never)
  uint64_t out_bytes_per_token = 0;    // f32 output row
  double decode_bytes_read = 0;        // bytes one decode step streams: weights it touches + KV
  DType compute_type = DType::F32;     // which compute rate applies (a matmul's weight type)
  bool parallel = false;               // split over the thread pool (matmul, attention)
};

struct CostShape {
  int64_t prompt = 64;     // prompt length for prefill FLOPs
  int64_t context = 512;   // positions already in the KV cache when decoding
};

// One entry per op, in op order. Weight bytes count each file tensor once, at its first reader,
// so they sum to the bytes of the tensors the graph uses.
std::vector<OpCost> op_costs(const Graph& graph, const CostShape& shape = {});

// KV cache bytes an op holds for a context of `context` positions (window-bound for a
// sliding-window layer, as KVCache keeps it).
uint64_t kv_bytes(const OpCost& cost, int64_t context);

// How fast a device computes: FLOP/s per weight type (f32 for everything that is not a matmul)
// and the memory bandwidth a decode step streams weights and KV at, plus the fixed cost of an op
// split over the thread pool (waking and joining the workers), which small matmuls feel.
struct ComputeRates {
  static constexpr size_t kTypeSlots = 40;  // above the largest GGUF type id Lingua knows
  double flops_per_s[kTypeSlots] = {};
  double bytes_per_s = 0;
  double seconds_per_op = 0;

  double flops_for(DType t) const;  // the type's rate, or f32's when unmeasured
};

// Rates of a generic laptop core pair (20 GFLOP/s f32, 40 for quantized matmuls, 10 GB/s, 3 us
// per op): what `--segments K` balances with when no device profile is given.
ComputeRates default_compute_rates();

// Per-op predicted decode seconds, the cost `--segments K` balances.
std::vector<double> predicted_decode_seconds(const std::vector<OpCost>& costs, const ComputeRates& rates);

// Roofline: the larger of FLOPs / rate and bytes / bandwidth, plus the pool's cost for parallel ops.
double predicted_decode_seconds(const OpCost& cost, const ComputeRates& rates);

}  // namespace lingua
