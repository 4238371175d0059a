// Prompt-processing and generation speed of a model on this machine, measured as llama-bench
// does: pp = one prompt of P tokens in batches from an empty cache, tg = G single-token steps
// from an empty cache, each repeated and averaged after a warm-up. With parallel > 1, also tg of
// that many sequences decoding together, one batched forward per step (continuous batching).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/partition.h"
#include "model/model.h"

namespace lingua {

struct BenchOptions {
  int64_t prompt_tokens = 512;
  int64_t gen_tokens = 128;
  int threads = 1;
  int repetitions = 3;
  int64_t batch = 512;
  std::vector<int> split;   // in-process segmentation, as GenerateOptions
  int segments = 0;
  // Run this segment alone (its inputs from other segments fed as zeros), so its speed and the
  // memory a device holding only it needs can be measured. -1: run them all.
  int only_segment = -1;
  int parallel = 1;  // sequences decoding together in a second tg test (1: none)
  // K > 0: tg and the parallel tg through K local worker processes (runtime/cluster_run.h), the
  // model cut as `generate --local-devices K` cuts it, threads shared among them; pp not measured.
  int local_devices = 0;
  std::string model_path;         // what the workers load (with local_devices)
  std::string worker_executable;  // "" = this program
};

struct BenchResult {
  double pp_tokens_per_s = 0;  // 0 when prompt_tokens == 0
  double tg_tokens_per_s = 0;  // 0 when gen_tokens == 0
  double tg_parallel_tokens_per_s = 0;  // tokens of every sequence per second; 0 unless parallel > 1
  uint64_t weight_bytes = 0;
  uint64_t kv_bytes = 0;
  std::vector<Segment> segments;              // the partition measured
  std::vector<double> segment_decode_seconds; // mean seconds per decode step of each segment
  uint64_t peak_rss_bytes = 0;                // of this process, after the runs
};

Expected<BenchResult> run_bench(const Model& model, const BenchOptions& options);
// The local_devices part of run_bench (runtime/bench_local_devices.cpp).
Expected<BenchResult> run_bench_local_devices(const Model& model, const BenchOptions& options);

}  // namespace lingua
