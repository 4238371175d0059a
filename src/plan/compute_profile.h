// Measures this machine's compute rates with the real kernels (matmul FLOP/s per weight type on a
// matrix larger than the caches, streaming read bandwidth, the cost of one parallel op), so the cost
// model can predict how long a segment takes here. `lingua profile` will build on it.
#pragma once
#include <vector>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "graph/cost_model.h"

namespace lingua {

// The weight types measured by default: every computable matmul type.
std::vector<DType> profiled_types();

// Takes about 0.1 s per type plus 0.5 s for bandwidth, on `pool`'s threads.
ComputeRates measure_compute_rates(ThreadPool& pool, const std::vector<DType>& types = profiled_types());

}  // namespace lingua
