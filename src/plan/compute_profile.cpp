// measure_compute_rates: timed kernel runs. Each figure is the best of several repetitions, since
// a shared machine only ever makes a run slower.
#include "plan/compute_profile.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <vector>

#include "kernels/kernels.h"

namespace lingua {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Best time of `fn` over repetitions that together last about `budget` seconds.
template <class Fn>
double best_seconds(Fn&& fn, double budget) {
  double best = 1e30, spent = 0;
  for (int rep = 0; rep < 1000 && (rep < 3 || spent < budget); ++rep) {
    const auto t0 = Clock::now();
    fn();
    const double s = since(t0);
    best = std::min(best, s);
    spent += s;
  }
  return best;
}

// One-token matmul (a decode step's shape) over 32 MiB of weights, more than the caches hold, so
// the figure is what a decode step really gets from this kernel: arithmetic and memory together.
// Every row is the same quantized row: the values do not change the speed, and copying is fast.
struct MatmulRate {
  double flops_per_s;
  double bytes_per_s;  // weight bytes streamed per second
};

MatmulRate matmul_rate(DType type, ThreadPool& pool) {
  const int64_t cols = 4096;
  const uint64_t row_bytes = dtype_bytes(type, static_cast<uint64_t>(cols)).value();
  const int64_t rows = static_cast<int64_t>((32u << 20) / row_bytes);
  std::vector<float> source(static_cast<size_t>(cols));
  for (size_t i = 0; i < source.size(); ++i) source[i] = static_cast<float>((i * 7919) % 200) / 100.0f - 1.0f;
  std::vector<uint8_t> weights(static_cast<size_t>(rows) * row_bytes);
  kernels::quantize_row(type, source.data(), weights.data(), cols);
  for (int64_t r = 1; r < rows; ++r) std::memcpy(weights.data() + r * row_bytes, weights.data(), row_bytes);
  const MatrixView w{type, weights.data(), rows, cols, static_cast<size_t>(row_bytes)};
  std::vector<float> x(source), y(static_cast<size_t>(rows));
  const double call = best_seconds([&] { kernels::matmul(w, x.data(), 1, y.data(), pool); }, 0.15);
  return {2.0 * static_cast<double>(rows) * static_cast<double>(cols) / call,
          static_cast<double>(rows) * static_cast<double>(row_bytes) / call};
}

// Streaming read of 256 MiB split over the pool, as a decode step streams its weights.
double read_bytes_per_s(ThreadPool& pool) {
  const size_t n = (256u << 20) / sizeof(float);
  std::vector<float> data(n, 1.0f);
  std::vector<double> sums(static_cast<size_t>(pool.size()) * 8, 0.0);
  const double s = best_seconds(
      [&] {
        pool.parallel_for(static_cast<int64_t>(n / 4096), [&](int64_t begin, int64_t end, int thread) {
          float acc[8] = {};
          for (int64_t i = begin * 4096; i < end * 4096; i += 8)
            for (int j = 0; j < 8; ++j) acc[j] += data[static_cast<size_t>(i + j)];
          double total = 0;
          for (float a : acc) total += a;
          sums[static_cast<size_t>(thread) * 8] += total;  // keeps the loads alive
        });
      },
      0.5);
  return static_cast<double>(n * sizeof(float)) / s;
}

// Time of one parallel_for with next to no work: the fixed cost every op pays.
double seconds_per_op(ThreadPool& pool) {
  std::atomic<int64_t> sink{0};
  const int reps = 2000;
  const double s = best_seconds(
      [&] {
        for (int i = 0; i < reps; ++i)
          pool.parallel_for(pool.size(), [&](int64_t b, int64_t e, int) { sink.fetch_add(e - b, std::memory_order_relaxed); });
      },
      0.1);
  return s / reps;
}

}  // namespace

std::vector<DType> profiled_types() {
  return {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q5_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};
}

ComputeRates measure_compute_rates(ThreadPool& pool, const std::vector<DType>& types) {
  ComputeRates r;
  // Bandwidth: the better of a plain streaming read and what the matmul kernels achieve, since
  // the kernels' prefetching can beat a simple loop.
  r.bytes_per_s = read_bytes_per_s(pool);
  for (DType t : types) {
    const MatmulRate m = matmul_rate(t, pool);
    r.flops_per_s[static_cast<size_t>(t)] = m.flops_per_s;
    r.bytes_per_s = std::max(r.bytes_per_s, m.bytes_per_s);
  }
  r.seconds_per_op = seconds_per_op(pool);
  return r;
}

}  // namespace lingua
