// `lingua bench --local-devices K`: decode speed through K local worker processes, one sequence
// alone (a step per token) and --parallel S sequences together (one batch step per token).
#include <algorithm>
#include <chrono>

#include "runtime/bench.h"
#include "runtime/cluster_run.h"
#include "runtime/local_devices.h"

namespace lingua {
namespace {

using Clock = std::chrono::steady_clock;

// Tokens per second of `streams` sequences decoding gen_tokens greedy tokens each. streams == 1:
// one step per token (submit). Otherwise the sequences form `waves` batches, each one batch step
// per token (submit_batch), all waves in flight at once so every device of the pipeline has one to
// work on: a wave's next step goes out as soon as its answers are back.
Expected<double> decode_through(Pipeline& pipeline, int streams, int waves, const BenchOptions& o, const std::vector<int32_t>& tokens,
                                uint64_t* next_sequence) {
  waves = std::clamp(waves, 1, streams);
  double total = 0;
  for (int rep = -1; rep < o.repetitions; ++rep) {  // rep -1 warms up
    std::vector<std::vector<SequenceStep>> wave(static_cast<size_t>(waves));
    for (int s = 0; s < streams; ++s)
      wave[static_cast<size_t>(s % waves)].push_back(SequenceStep{++*next_sequence, {tokens[static_cast<size_t>(s) % tokens.size()]}, 0, true});
    auto send = [&](const std::vector<SequenceStep>& steps) {
      return streams == 1 ? pipeline.submit(steps[0].sequence, steps[0].tokens.data(), 1, steps[0].pos0, true) : pipeline.submit_batch(steps);
    };
    const auto t0 = Clock::now();
    for (const auto& steps : wave) LINGUA_TRY(send(steps));
    for (int64_t pos = 0; pos < o.gen_tokens; ++pos)
      for (auto& steps : wave) {
        for (SequenceStep& step : steps) {
          LINGUA_ASSIGN_OR_RETURN(StepLogits answer, pipeline.next());
          step.tokens[0] = static_cast<int32_t>(std::max_element(answer.logits.begin(), answer.logits.end()) - answer.logits.begin());
          step.pos0 = pos + 1;
        }
        if (pos + 1 < o.gen_tokens) LINGUA_TRY(send(steps));
      }
    if (rep >= 0) total += std::chrono::duration<double>(Clock::now() - t0).count();
    for (const auto& steps : wave)
      for (const SequenceStep& step : steps) LINGUA_TRY(pipeline.end_sequence(step.sequence));
  }
  return static_cast<double>(o.gen_tokens) * streams * o.repetitions / total;
}

}  // namespace

Expected<BenchResult> run_bench_local_devices(const Model& model, const BenchOptions& o) {
  if (o.gen_tokens <= 0) return Status::error("--local-devices measures decode steps: give -n > 0");
  if (o.model_path.empty()) return Status::error("--local-devices needs the model's path for the workers");
  const Graph& g = model.graph();
  const int k = o.local_devices;
  const DevicesFile file = local_devices_file(k, std::max(1, o.threads / k));
  const Partition cuts = local_devices_partition(g, k);
  std::vector<PlannedSegment> plan;
  for (int s = 0; s < cuts.size(); ++s)
    plan.push_back({file.devices[static_cast<size_t>(s)].name, cuts.segments()[static_cast<size_t>(s)].first_op,
                    cuts.segments()[static_cast<size_t>(s)].last_op});
  ClusterRunOptions ro;
  ro.model_path = o.model_path;
  ro.context = o.gen_tokens;
  ro.max_batch = std::max(1, o.parallel);
  ro.max_sequences = std::max(1, o.parallel);
  ro.all_local = true;
  ro.insecure = true;  // loopback processes of this run only
  ro.balance.enabled = false;  // the plan measured is the plan given
  ro.worker_executable = o.worker_executable;
  LINGUA_ASSIGN_OR_RETURN(auto run, ClusterRun::start(model, file, plan, ro));
  const int64_t vocab = g.vocab_size();
  std::vector<int32_t> tokens(16);
  uint32_t seed = 12345;
  for (auto& t : tokens) {
    seed = seed * 1664525u + 1013904223u;
    t = static_cast<int32_t>((seed >> 8) % static_cast<uint32_t>(vocab));
  }
  BenchResult result;
  result.weight_bytes = model.weight_bytes();
  // result.segments stays empty: per-segment times are the workers' (their step reports), not measured here.
  uint64_t next_sequence = 0;
  LINGUA_ASSIGN_OR_RETURN(result.tg_tokens_per_s, decode_through(*run, 1, 1, o, tokens, &next_sequence));
  if (o.parallel > 1) {
    LINGUA_ASSIGN_OR_RETURN(result.tg_parallel_tokens_per_s, decode_through(*run, o.parallel, k, o, tokens, &next_sequence));
  }
  return result;
}

}  // namespace lingua
