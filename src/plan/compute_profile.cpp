// measure_compute_rates: timed kernel runs. Each figure is the median of several repetitions: a
// plan is judged by how fast its devices typically run, and the best of many runs on a shared
// machine is a speed a long generation never keeps.
#include "plan/compute_profile.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "core/host_limits.h"
#include "core/huge_pages.h"
#include "kernels/kernels.h"
#include "kernels/packing.h"

namespace lingua {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Median time of `fn` over at least 3 samples that together last about `budget` seconds; each
// sample runs `fn` until at least `min_window` seconds have passed and counts the time per run.
template <class Fn>
double typical_seconds(Fn&& fn, double budget, double min_window) {
  std::vector<double> times;
  double spent = 0;
  for (int rep = 0; rep < 1000 && (rep < 3 || spent < budget); ++rep) {
    const auto t0 = Clock::now();
    int runs = 0;
    double elapsed = 0;
    do {
      fn();
      ++runs;
      elapsed = since(t0);
    } while (elapsed < min_window);
    times.push_back(elapsed / runs);
    spent += elapsed;
  }
  std::nth_element(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2), times.end());
  return times[times.size() / 2];
}

// The most one buffer of the measurement may take: a quarter of the memory this process may use
// (MemAvailable, and a cgroup limit, which a device with 400 MiB must not be OOM-killed over), and
// never less than 32 MiB. Below twice the cache, a small device's figures come out optimistic.
uint64_t measurement_memory_cap() {
  const uint64_t usable = read_host_limits().usable_memory_bytes(0);
  return usable > 0 ? std::max<uint64_t>(32ull << 20, usable / 4) : (1ull << 30);
}

// Bytes a measurement walks through so that nothing it reads is still cached: twice the last-level
// cache (servers have hundreds of MiB of it, and a model split over devices is larger than any
// one device's cache), at least 96 MiB, at most 1 GiB and measurement_memory_cap().
uint64_t streaming_region_bytes() {
  uint64_t llc = 0;
  for (int name : {_SC_LEVEL3_CACHE_SIZE, _SC_LEVEL2_CACHE_SIZE}) {
    const long v = ::sysconf(name);
    if (v > 0) llc = std::max(llc, static_cast<uint64_t>(v));
  }
  uint64_t region = std::clamp<uint64_t>(2 * llc, 96ull << 20, 1ull << 30);
  return std::min(region, measurement_memory_cap());
}

// One-token matmuls (a decode step's shape) of the sizes transformer blocks have, each on weights
// not in any cache (streaming_region_bytes() are walked through, as a decode step streams a model
// larger than the caches). The time of a call is fitted as fixed + bytes / bandwidth: the fixed part is
// what every matmul pays (waking the pool, quantizing the activations, the slowest thread), the
// slope the kernel's streaming rate. Every row is the same quantized row: values do not change the
// speed, and copying is fast.
struct MatmulFit {
  double flops_per_s;     // arithmetic rate as streamed: FLOPs per byte / slope
  double bytes_per_s;     // 1 / slope
  double fixed_seconds;   // intercept
};

MatmulFit matmul_fit(DType type, ThreadPool& pool, double min_window) {
  const int64_t cols = 2048;
  const uint64_t row_bytes = dtype_bytes(type, static_cast<uint64_t>(cols)).value();
  const uint64_t region = streaming_region_bytes();
  int64_t region_rows = static_cast<int64_t>(region / row_bytes) / kernels::kPackRows * kernels::kPackRows;
  std::vector<float> source(static_cast<size_t>(cols));
  for (size_t i = 0; i < source.size(); ++i) source[i] = static_cast<float>((i * 7919) % 200) / 100.0f - 1.0f;
  // In huge pages, as a worker keeps its weights (Model::keep_in_huge_pages).
  // Half the region at a time while the memory is not there (at most a quarter of what was free).
  auto region_memory = HugePageBuffer::allocate(static_cast<uint64_t>(region_rows) * row_bytes);
  while (!region_memory && region_rows >= 2 * 8192) {  // the largest matrix timed has 8192 rows
    region_rows /= 2;
    region_memory = HugePageBuffer::allocate(static_cast<uint64_t>(region_rows) * row_bytes);
  }
  std::vector<uint8_t> fallback;  // ordinary pages when even that is refused
  if (!region_memory) fallback.resize(static_cast<size_t>(region_rows) * row_bytes);
  uint8_t* weights = region_memory ? region_memory->data() : fallback.data();
  kernels::quantize_row(type, source.data(), weights, cols);
  for (int64_t r = 1; r < region_rows; ++r) std::memcpy(weights + r * row_bytes, weights, row_bytes);
  // Packed as a segment's matrices are when the kernels have a layout for the type: every group of
  // identical rows packs to the same bytes, and a packed matrix takes the bytes it took as stored,
  // so the matrices timed below start at the same offsets either way.
  const MatrixView group{type, weights, kernels::kPackRows, cols, static_cast<size_t>(row_bytes)};
  const size_t group_packed = kernels::packed_bytes(group);
  if (group_packed > 0) {
    std::vector<uint8_t> packed(group_packed);
    kernels::pack_weights(group, packed.data());
    for (int64_t g = 0; g < region_rows / kernels::kPackRows; ++g)
      std::memcpy(weights + static_cast<size_t>(g) * group_packed, packed.data(), group_packed);
  }
  std::vector<float> x(source), y(16384);
  // Seconds per call for matrices of `rows` rows, consecutive in the region so each call reads
  // cold memory; the median of repeated passes.
  auto per_call = [&](int64_t rows) {
    const int64_t calls = region_rows / rows;
    return typical_seconds(
               [&] {
                 for (int64_t c = 0; c < calls; ++c) {
                   MatrixView w{type, weights + static_cast<size_t>(c * rows) * row_bytes, rows, cols,
                                static_cast<size_t>(row_bytes)};
                   w.packed = group_packed > 0;
                   kernels::matmul(w, x.data(), 1, y.data(), pool);
                 }
               },
               0.15, min_window) /
           static_cast<double>(calls);
  };
  // Least squares over the block-sized matrices a decode step multiplies: what matters is how a
  // model's mix of sizes behaves, and the fit captures the fixed cost and how mid-sized matrices
  // stream, which two extreme sizes alone do not.
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  int points = 0;
  for (int64_t rows : {256, 1024, 2048, 5632, 8192}) {
    const double bytes = static_cast<double>(rows) * static_cast<double>(row_bytes);
    const double seconds = per_call(rows);
    sx += bytes, sy += seconds, sxx += bytes * bytes, sxy += bytes * seconds;
    ++points;
  }
  const double slope = std::max(1e-15, (points * sxy - sx * sy) / (points * sxx - sx * sx));
  const double intercept = std::max(0.0, (sy - slope * sx) / points);
  const double flops_per_byte = 2.0 * static_cast<double>(cols) / static_cast<double>(row_bytes);
  return {flops_per_byte / slope, 1.0 / slope, intercept};
}

// Streaming read of a region larger than the caches, split over the pool, as a decode step
// streams its weights.
double read_bytes_per_s(ThreadPool& pool, double min_window) {
  const size_t n = std::min(std::max<uint64_t>(256ull << 20, streaming_region_bytes()), measurement_memory_cap()) / sizeof(float);
  auto memory = HugePageBuffer::allocate(n * sizeof(float));
  std::vector<float> fallback(memory ? 0 : n);
  auto* data = memory ? reinterpret_cast<float*>(memory->data()) : fallback.data();
  std::fill(data, data + n, 1.0f);
  std::vector<double> sums(static_cast<size_t>(pool.size()) * 8, 0.0);
  const double s = typical_seconds(
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
      0.5, min_window);
  return static_cast<double>(n * sizeof(float)) / s;
}

}  // namespace

std::vector<DType> profiled_types() {
  return {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q5_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};
}

ComputeRates measure_compute_rates(ThreadPool& pool, const std::vector<DType>& types, const MeasureProgress& progress,
                                   double min_window_s) {
  ComputeRates r;
  const int total = static_cast<int>(types.size()) + 1;
  int done = 0;
  auto step_done = [&] {
    if (progress) progress(++done, total);
  };
  if (progress) progress(0, total);
  // Bandwidth (for KV cache reads and other streams): the better of a plain streaming read and
  // what the matmul kernels achieve. The fixed cost per parallel op: the median of the types'.
  r.bytes_per_s = read_bytes_per_s(pool, min_window_s);
  step_done();
  std::vector<double> fixed;
  for (DType t : types) {
    const MatmulFit m = matmul_fit(t, pool, min_window_s);
    step_done();
    r.flops_per_s[static_cast<size_t>(t)] = m.flops_per_s;
    r.bytes_per_s = std::max(r.bytes_per_s, m.bytes_per_s);
    fixed.push_back(m.fixed_seconds);
  }
  if (!fixed.empty()) {
    std::nth_element(fixed.begin(), fixed.begin() + static_cast<std::ptrdiff_t>(fixed.size() / 2), fixed.end());
    r.seconds_per_op = fixed[fixed.size() / 2];
  }
  return r;
}

}  // namespace lingua
