// Continuous batching through InProcessPipeline::submit_batch on real model files: the shipped
// model, a gemma3 synth with sliding-window layers and a llama synth with q4_0 weights, whole and
// cut into three segments. 2 to 8 sequences share each forward pass (some feeding prompt chunks,
// some decoding one token) and every sequence gets the logits and greedy tokens it gets alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <unistd.h>

#include "model/model.h"
#include "model/synth.h"
#include "runtime/pipeline.h"
#include "llamacpp_logits.h"
#include "test_paths.h"

namespace lingua {
namespace {

// Logits may differ by what the kernels' own rounding gives: a matmul over several rows sums in
// another order than one over a single row (the same drift a prompt pass shows against token by
// token), and with quantized weights a last-bit change can move an activation across a q8
// rounding step (measured up to 0.008 on these synths, 6e-6 on the f32 model).
struct TestModel {
  std::string name;
  std::string path;
  float tolerance;
};

const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("lingua-batch-pipeline-" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] { std::filesystem::remove_all(scratch()); });
    return d;
  }();
  return dir;
}

const std::vector<TestModel>& test_models() {
  static const std::vector<TestModel> models = [] {
    std::vector<TestModel> out{{"kjv", testing::source_dir() + "/models/kjv-fortunes-3M-f32.gguf", 1e-4f}};
    // Windows of 3 with every other layer global: the prompts and 32 generated tokens wrap the rings.
    SynthSpec gemma;
    gemma.arch = "gemma3";
    gemma.dim = 64, gemma.layers = 4, gemma.heads = 4, gemma.kv_heads = 2, gemma.ffn = 128, gemma.vocab = 300;
    gemma.sliding_window = 3, gemma.sliding_window_pattern = 2;
    gemma.type = DType::Q8_0;
    gemma.seed = 11;
    std::string path = (scratch() / "gemma3.gguf").string();
    if (write_synth_model(gemma, path).is_ok()) out.push_back({"gemma3", path, 0.05f});
    SynthSpec llama;
    llama.dim = 128, llama.layers = 2, llama.heads = 4, llama.kv_heads = 2, llama.ffn = 256, llama.vocab = 300;
    llama.type = DType::Q4_0;
    llama.seed = 3;
    path = (scratch() / "llama-q4_0.gguf").string();
    if (write_synth_model(llama, path).is_ok()) out.push_back({"llama-q4_0", path, 0.05f});
    return out;
  }();
  return models;
}

const Model& loaded(size_t index) {
  static std::vector<std::unique_ptr<Model>> cache(test_models().size());
  if (!cache[index]) {
    auto m = testing::load_as_generate_does(test_models()[index].path);
    EXPECT_TRUE(m) << m.error();
    cache[index] = std::move(*m);
  }
  return *cache[index];
}

int32_t argmax(const std::vector<float>& row) {
  return static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

struct Script {
  std::vector<int32_t> tokens;  // prompt, then what greedy decoding chose
  int64_t prompt = 0;
  int64_t chunk = 1;
  int start_step = 0;
  int64_t fed = 0;
};

struct Outcome {
  float max_diff = 0;
  int greedy_mismatches = 0;
  int answers = 0;
  int max_sequences_in_a_step = 0;
  std::vector<std::vector<int32_t>> generated;
};

// `count` sequences with prompts of 3..17 tokens fed 1..6 at a time, joining one step after
// another, each decoding `decode` tokens; one batched pipeline against one run of each alone.
Outcome run_scenario(const Model& model, const Partition& partition, size_t count, int decode) {
  const Graph& g = model.graph();
  ExecutorConfig config;
  config.context = 96;
  config.max_batch = 64;
  config.max_sequences = static_cast<int>(count);
  ThreadPool pool(2);
  InProcessPipeline batched(g, partition, config, pool);
  InProcessPipeline alone(g, partition, config, pool);  // one sequence per pass (submit)
  std::vector<Script> scripts(count);
  for (size_t i = 0; i < count; ++i) {
    Script& s = scripts[i];
    s.prompt = 3 + static_cast<int64_t>((i * 7) % 15);
    for (int64_t t = 0; t < s.prompt; ++t)
      s.tokens.push_back(static_cast<int32_t>((i * 31 + static_cast<size_t>(t) * 17 + 5) % static_cast<size_t>(g.vocab_size())));
    s.chunk = 1 + static_cast<int64_t>((i * 5) % 6);
    s.start_step = static_cast<int>(i);
  }
  Outcome outcome;
  for (int step = 0;; ++step) {
    std::vector<SequenceStep> steps;
    std::vector<size_t> who;
    for (size_t i = 0; i < count; ++i) {
      Script& s = scripts[i];
      if (step < s.start_step || s.fed >= s.prompt + decode) continue;
      const int64_t n = std::min(static_cast<int64_t>(s.tokens.size()) - s.fed, s.chunk);
      SequenceStep st;
      st.sequence = 1000 + i;
      st.tokens.assign(s.tokens.begin() + s.fed, s.tokens.begin() + s.fed + n);
      st.pos0 = s.fed;
      st.want_logits = s.fed + n == static_cast<int64_t>(s.tokens.size());  // prompt chunks before the last: none
      steps.push_back(st);
      who.push_back(i);
    }
    if (steps.empty()) break;
    outcome.max_sequences_in_a_step = std::max(outcome.max_sequences_in_a_step, static_cast<int>(steps.size()));
    const Status st = batched.submit_batch(steps);
    EXPECT_TRUE(st.is_ok()) << st.message();
    if (!st.is_ok()) return outcome;
    for (size_t k = 0; k < steps.size(); ++k) {
      const SequenceStep& s = steps[k];
      EXPECT_TRUE(alone.submit(s.sequence, s.tokens.data(), static_cast<int64_t>(s.tokens.size()), s.pos0, s.want_logits).is_ok());
      Script& script = scripts[who[k]];
      script.fed += static_cast<int64_t>(s.tokens.size());
      if (!s.want_logits) continue;
      auto got = batched.next();
      auto want = alone.next();
      EXPECT_TRUE(got && want);
      if (!got || !want) return outcome;
      EXPECT_EQ(got->sequence, s.sequence) << "answers come in the order of the steps";
      EXPECT_EQ(got->position, s.pos0);
      EXPECT_EQ(got->logits.size(), static_cast<size_t>(g.vocab_size()));
      for (size_t v = 0; v < want->logits.size(); ++v)
        outcome.max_diff = std::max(outcome.max_diff, std::fabs(got->logits[v] - want->logits[v]));
      outcome.greedy_mismatches += argmax(got->logits) != argmax(want->logits);
      ++outcome.answers;
      script.tokens.push_back(argmax(want->logits));
    }
    EXPECT_FALSE(batched.next()) << "no answers beyond the steps that wanted logits";
  }
  EXPECT_EQ(batched.active_sequences(), static_cast<int>(count));
  for (size_t i = 0; i < count; ++i) {
    EXPECT_TRUE(batched.end_sequence(1000 + i).is_ok());
    outcome.generated.emplace_back(scripts[i].tokens.begin() + scripts[i].prompt, scripts[i].tokens.end());
  }
  EXPECT_EQ(batched.active_sequences(), 0) << "every KV cache is freed";
  EXPECT_EQ(batched.kv_bytes(), 0u);
  return outcome;
}

TEST(BatchPipeline, SequencesTogetherEqualEachAloneOnModelFiles) {
  for (size_t m = 0; m < test_models().size(); ++m) {
    const Model& model = loaded(m);
    const Graph& g = model.graph();
    auto split = Partition::from_starts(g, {g.size() / 3, 2 * g.size() / 3});
    ASSERT_TRUE(split) << split.error();
    for (const Partition& partition : {Partition::whole(g), *split}) {
      for (size_t count : {2u, 5u, 8u}) {
        const std::string what = test_models()[m].name + ", " + std::to_string(partition.size()) + " segment(s), " +
                                 std::to_string(count) + " sequences";
        const Outcome o = run_scenario(model, partition, count, 32);
        EXPECT_EQ(o.max_sequences_in_a_step, static_cast<int>(count)) << what;
        EXPECT_EQ(o.answers, static_cast<int>(count) * 33) << what;  // the prompt's last chunk, then 32 decodes
        EXPECT_EQ(o.greedy_mismatches, 0) << what;
        EXPECT_LT(o.max_diff, test_models()[m].tolerance) << what;
        std::cerr << what << ": largest |batched - alone| logit difference " << o.max_diff << "\n";
      }
    }
  }
  EXPECT_EQ(test_models().size(), 3u) << "a synth model could not be written";
}

TEST(BatchPipeline, LimitsAreErrorsThatNameThem) {
  const Model& model = loaded(0);
  ExecutorConfig config;
  config.context = 64;
  config.max_batch = 8;
  config.max_sequences = 2;
  ThreadPool pool(1);
  InProcessPipeline p(model.graph(), Partition::whole(model.graph()), config, pool);
  SequenceStep a{1, {1, 2, 3, 4, 5}, 0, true};
  SequenceStep b{2, {1, 2, 3, 4}, 0, true};
  Status over = p.submit_batch({a, b});
  ASSERT_FALSE(over.is_ok());
  EXPECT_NE(over.message().find("exceeds the maximum of 8"), std::string::npos) << over.message();
  b.tokens.resize(3);
  ASSERT_TRUE(p.submit_batch({a, b}).is_ok());
  EXPECT_EQ(p.active_sequences(), 2);
  Status third = p.submit_batch({SequenceStep{3, {1}, 0, true}});
  EXPECT_NE(third.message().find("limit of 2 sequences"), std::string::npos) << third.message();
  ASSERT_TRUE(p.end_sequence(1).is_ok());
  EXPECT_TRUE(p.submit_batch({SequenceStep{3, {1}, 0, true}}).is_ok()) << "an ended sequence's place is free again";
  Status empty = p.submit_batch({SequenceStep{4, {}, 0, true}});
  EXPECT_FALSE(empty.is_ok());
}

TEST(BatchPipeline, AllLogitsForOneStepBesideLastLogitsForOthers) {
  const Model& model = loaded(0);
  ExecutorConfig config;
  config.context = 64;
  ThreadPool pool(1);
  InProcessPipeline batched(model.graph(), Partition::whole(model.graph()), config, pool);
  InProcessPipeline alone(model.graph(), Partition::whole(model.graph()), config, pool);
  SequenceStep every{1, {1, 40, 50, 60}, 0, true, true};
  SequenceStep last{2, {1, 70, 80}, 0, true, false};
  ASSERT_TRUE(batched.submit_batch({every, last}).is_ok());
  ASSERT_TRUE(alone.submit(1, every.tokens.data(), 4, 0, true, true).is_ok());
  ASSERT_TRUE(alone.submit(2, last.tokens.data(), 3, 0, true, false).is_ok());
  const auto vocab = static_cast<size_t>(model.graph().vocab_size());
  for (size_t rows : {4u, 1u}) {
    auto got = batched.next();
    auto want = alone.next();
    ASSERT_TRUE(got && want);
    ASSERT_EQ(got->logits.size(), rows * vocab);
    ASSERT_EQ(want->logits.size(), rows * vocab);
    for (size_t i = 0; i < got->logits.size(); ++i) ASSERT_NEAR(got->logits[i], want->logits[i], 1e-4) << i;
  }
}

}  // namespace
}  // namespace lingua
