// Measures this machine's compute rates with the real kernels (matmul rate per weight type and the
// fixed cost per matmul, fitted on cold block-sized matrices; streaming bandwidth), so the cost
// model can predict how long a segment takes here (`lingua profile`, `bench --predict`).
#pragma once
#include <functional>
#include <vector>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "graph/cost_model.h"

namespace lingua {

// The weight types measured by default: every computable matmul type.
std::vector<DType> profiled_types();

// Told after each of the `total` measurements (`done` of them made so far): a profile takes long
// enough that a user must see what the pause is.
using MeasureProgress = std::function<void(int done, int total)>;

// Takes about 1 s per type (five matrix sizes) plus 0.5 s for bandwidth, on the pool's threads.
// `min_window_s` > 0: every timed sample repeats its work for at least that long (under a CPU
// quota, so a sample spans many quota periods and sees the share, not a burst); longer then.
ComputeRates measure_compute_rates(ThreadPool& pool, const std::vector<DType>& types = profiled_types(),
                                   const MeasureProgress& progress = {}, double min_window_s = 0);

}  // namespace lingua
