// run_bench: timed forward passes over the one executor path, with pseudo-random token ids.
#include "runtime/bench.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include <sys/resource.h>

#include "core/thread_pool.h"
#include "graph/segmented_executor.h"
#include "runtime/generator.h"
#include "runtime/pipeline.h"

namespace lingua {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

uint64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

// Decode steps of one segment alone; what it would receive from other segments is zeros of the
// right shape, which costs the same to compute as real activations.
Status bench_one_segment(const Model& model, const Segment& segment, const BenchOptions& o, ExecutorConfig config,
                         ThreadPool& pool, const std::vector<int32_t>& tokens, BenchResult& result) {
  if (o.gen_tokens <= 0) return Status::error("--only-segment measures decode steps: give -n > 0");
  config.segment = segment;
  config.max_batch = 1;
  std::vector<float> logits, zeros;
  double total = 0;
  for (int rep = -1; rep < o.repetitions; ++rep) {
    LINGUA_ASSIGN_OR_RETURN(Executor ex, Executor::create(model.graph(), config));
    const auto t0 = Clock::now();
    for (int64_t pos = 0; pos < o.gen_tokens; ++pos) {
      for (int op : ex.imports()) {
        zeros.assign(static_cast<size_t>(model.graph().op(op).out_dim), 0.0f);
        LINGUA_TRY(ex.set_input(op, zeros.data(), 1));
      }
      LINGUA_TRY(ex.forward(tokens.data(), 1, pos, pool, logits));
    }
    if (rep >= 0) total += seconds_since(t0);
    result.kv_bytes = ex.kv_bytes();
  }
  result.segments = {segment};
  result.segment_decode_seconds = {total / static_cast<double>(o.gen_tokens * o.repetitions)};
  result.tg_tokens_per_s = static_cast<double>(o.gen_tokens) * o.repetitions / total;
  return Status::ok();
}

// tg of o.parallel sequences at once: each step one token of every sequence in one batched
// forward (InProcessPipeline::submit_batch), each sequence from its own first token, greedy.
Expected<double> decode_together(const Model& model, const Partition& partition, const BenchOptions& o,
                                 ExecutorConfig config, ThreadPool& pool, const std::vector<int32_t>& tokens) {
  const auto streams = static_cast<size_t>(o.parallel);
  config.max_batch = o.parallel;
  config.max_sequences = o.parallel;
  double total = 0;
  for (int rep = -1; rep < o.repetitions; ++rep) {
    InProcessPipeline pipeline(model.graph(), partition, config, pool);
    std::vector<SequenceStep> steps(streams);
    for (size_t s = 0; s < streams; ++s) steps[s] = SequenceStep{s, {tokens[s % tokens.size()]}, 0, true};
    const auto t0 = Clock::now();
    for (int64_t pos = 0; pos < o.gen_tokens; ++pos) {
      LINGUA_TRY(pipeline.submit_batch(steps));
      for (SequenceStep& step : steps) {
        LINGUA_ASSIGN_OR_RETURN(StepLogits answer, pipeline.next());
        step.tokens[0] = static_cast<int32_t>(std::max_element(answer.logits.begin(), answer.logits.end()) - answer.logits.begin());
        step.pos0 = pos + 1;
      }
    }
    if (rep >= 0) total += seconds_since(t0);
  }
  return static_cast<double>(o.gen_tokens) * o.parallel * o.repetitions / total;
}

}  // namespace

Expected<BenchResult> run_bench(const Model& model, const BenchOptions& o) {
  if (o.prompt_tokens < 0 || o.gen_tokens < 0) return Status::error("-p and -n must be 0 or more");
  if (o.prompt_tokens == 0 && o.gen_tokens == 0) return Status::error("nothing to measure: -p and -n are both 0");
  if (o.repetitions < 1) return Status::error("repetitions must be at least 1");
  if (o.parallel < 1) return Status::error("--parallel must be at least 1");
  if (o.parallel > 1 && o.only_segment >= 0) return Status::error("--parallel runs every segment: not with --only-segment");
  if (o.local_devices > 0) {
    if (o.only_segment >= 0 || !o.split.empty() || o.segments > 0)
      return Status::error("--local-devices cuts the model itself: not with --split, --segments or --only-segment");
    return run_bench_local_devices(model, o);
  }
  const int64_t context = std::max<int64_t>(1, o.prompt_tokens + o.gen_tokens);
  ExecutorConfig config;
  config.context = context;
  config.max_batch = std::max<int64_t>(1, std::min(o.batch, std::max<int64_t>(1, o.prompt_tokens)));
  ThreadPool pool(o.threads);
  const int64_t vocab = model.graph().vocab_size();
  std::vector<int32_t> tokens(static_cast<size_t>(std::max<int64_t>(1, o.prompt_tokens)));
  uint32_t seed = 12345;
  for (auto& t : tokens) {
    seed = seed * 1664525u + 1013904223u;
    t = static_cast<int32_t>((seed >> 8) % static_cast<uint32_t>(vocab));
  }
  std::vector<float> logits;
  BenchResult result;
  result.weight_bytes = model.weight_bytes();
  LINGUA_ASSIGN_OR_RETURN(Partition partition, partition_for(model.graph(), o.split, o.segments));
  result.segments = partition.segments();
  result.segment_decode_seconds.assign(partition.segments().size(), 0.0);
  if (o.only_segment >= partition.size())
    return Status::error("--only-segment " + std::to_string(o.only_segment) + " does not exist: the model is cut into " +
                         std::to_string(partition.size()) + " segments (0.." + std::to_string(partition.size() - 1) + ")");
  if (o.only_segment >= 0) {
    LINGUA_TRY(bench_one_segment(model, partition.segments()[static_cast<size_t>(o.only_segment)], o, config, pool,
                                 tokens, result));
    result.peak_rss_bytes = peak_rss_bytes();
    return result;
  }

  using clock = std::chrono::steady_clock;
  auto seconds = [](clock::time_point t0) { return std::chrono::duration<double>(clock::now() - t0).count(); };

  if (o.prompt_tokens > 0) {
    double total = 0;
    for (int rep = -1; rep < o.repetitions; ++rep) {  // rep -1 warms up
      LINGUA_ASSIGN_OR_RETURN(SegmentedExecutor ex, SegmentedExecutor::create(model.graph(), partition, config));
      const auto t0 = clock::now();
      for (int64_t pos = 0; pos < o.prompt_tokens; pos += config.max_batch) {
        const int64_t n = std::min(config.max_batch, o.prompt_tokens - pos);
        LINGUA_TRY(ex.forward(tokens.data() + pos, n, pos, pool, logits));
      }
      if (rep >= 0) total += seconds(t0);
      result.kv_bytes = ex.kv_bytes();
    }
    result.pp_tokens_per_s = static_cast<double>(o.prompt_tokens) * o.repetitions / total;
  }
  if (o.gen_tokens > 0) {
    double total = 0;
    for (int rep = -1; rep < o.repetitions; ++rep) {
      LINGUA_ASSIGN_OR_RETURN(SegmentedExecutor ex, SegmentedExecutor::create(model.graph(), partition, config));
      int32_t token = tokens[0];
      const auto t0 = clock::now();
      for (int64_t pos = 0; pos < o.gen_tokens; ++pos) {
        LINGUA_TRY(ex.forward(&token, 1, pos, pool, logits));
        if (rep >= 0)
          for (size_t s = 0; s < result.segment_decode_seconds.size(); ++s)
            result.segment_decode_seconds[s] += ex.last_segment_seconds()[s];
        token = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      }
      if (rep >= 0) total += seconds(t0);
      result.kv_bytes = ex.kv_bytes();
    }
    result.tg_tokens_per_s = static_cast<double>(o.gen_tokens) * o.repetitions / total;
    for (double& s : result.segment_decode_seconds) s /= static_cast<double>(o.gen_tokens * o.repetitions);
    if (o.parallel > 1) {
      LINGUA_ASSIGN_OR_RETURN(result.tg_parallel_tokens_per_s, decode_together(model, partition, o, config, pool, tokens));
    }
  }
  result.peak_rss_bytes = peak_rss_bytes();
  return result;
}

}  // namespace lingua
