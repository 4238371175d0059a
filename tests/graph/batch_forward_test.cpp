// Continuous batching in the executor: one forward pass over the tokens of several sequences,
// each at its own position with its own KV cache, gives every sequence the logits it gets alone
// (prefill chunks beside single-token decodes, staggered starts, sliding-window rings, segment
// cuts anywhere, one sequence's KV snapshot moved on its own); and the limits (rows per pass,
// sequences with a cache) are errors that name them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "graph/partition.h"
#include "graph/segmented_executor.h"
#include "tiny_model.h"

namespace lingua {
namespace {
using testing::TinyModel;

constexpr int64_t kVocab = TinyModel::kVocab;

int32_t argmax(const float* row) { return static_cast<int32_t>(std::max_element(row, row + kVocab) - row); }

// One sequence of a scenario: its prompt, fed in chunks, then greedy decoding.
struct Script {
  std::vector<int32_t> prompt;
  int64_t chunk = 1;
  int start_step = 0;  // joins the batch at this step
  std::vector<int32_t> tokens;  // prompt then generated, as far as fed
  int64_t fed = 0;
};

struct Outcome {
  float max_diff = 0;         // largest |batched - alone| logit over every step
  int greedy_mismatches = 0;  // steps whose argmax differs
  int steps = 0;
  int max_groups = 0;         // most sequences seen in one pass
};

// Runs every script through one batched SegmentedExecutor and through one executor per sequence
// alone, step by step with the same chunks, comparing each sequence's logits of each step.
Outcome run_scenario(const Graph& graph, const Partition& partition, std::vector<Script> scripts, int decode_steps) {
  ExecutorConfig config;
  config.context = 64;
  config.max_batch = 64;
  config.max_sequences = static_cast<int>(scripts.size());
  ThreadPool pool(2);
  auto batched = SegmentedExecutor::create(graph, partition, config);
  EXPECT_TRUE(batched) << batched.error();
  std::vector<std::unique_ptr<SegmentedExecutor>> alone;
  for (size_t i = 0; i < scripts.size(); ++i) {
    auto ex = SegmentedExecutor::create(graph, partition, config);
    EXPECT_TRUE(ex) << ex.error();
    alone.push_back(std::make_unique<SegmentedExecutor>(std::move(*ex)));
    scripts[i].tokens = scripts[i].prompt;
  }
  Outcome outcome;
  std::vector<float> logits, solo;
  for (int step = 0;; ++step) {
    std::vector<BatchGroup> groups;
    std::vector<size_t> who;
    for (size_t i = 0; i < scripts.size(); ++i) {
      Script& s = scripts[i];
      const auto end = static_cast<int64_t>(s.prompt.size()) + decode_steps;
      if (step < s.start_step || s.fed >= end) continue;
      const int64_t pending = static_cast<int64_t>(s.tokens.size()) - s.fed;
      const int64_t n = std::min(pending, s.chunk);
      groups.push_back({static_cast<uint64_t>(100 + i), s.tokens.data() + s.fed, n, s.fed});
      who.push_back(i);
    }
    if (groups.empty()) break;
    outcome.max_groups = std::max(outcome.max_groups, static_cast<int>(groups.size()));
    const Status st = batched->forward_batch(groups, pool, logits);
    EXPECT_TRUE(st.is_ok()) << st.message();
    if (!st.is_ok()) return outcome;
    EXPECT_EQ(logits.size(), groups.size() * static_cast<size_t>(kVocab));
    for (size_t g = 0; g < groups.size(); ++g) {
      Script& s = scripts[who[g]];
      EXPECT_TRUE(alone[who[g]]->forward(groups[g].tokens, groups[g].n, groups[g].pos0, pool, solo).is_ok());
      const float* row = logits.data() + g * static_cast<size_t>(kVocab);
      for (int64_t v = 0; v < kVocab; ++v)
        outcome.max_diff = std::max(outcome.max_diff, std::fabs(row[v] - solo[static_cast<size_t>(v)]));
      outcome.greedy_mismatches += argmax(row) != argmax(solo.data());
      ++outcome.steps;
      s.fed += groups[g].n;
      if (s.fed == static_cast<int64_t>(s.tokens.size())) s.tokens.push_back(argmax(solo.data()));
    }
  }
  return outcome;
}

// Five sequences, prompts of 2..11 tokens fed 1, 2, 3 or 5 at a time, joining at steps 0..4: most
// passes mix prefill chunks of some sequences with decode steps of others.
std::vector<Script> mixed_scripts(size_t count) {
  std::vector<Script> scripts;
  for (size_t i = 0; i < count; ++i) {
    Script s;
    for (size_t t = 0; t < 2 + (i * 5) % 10; ++t) s.prompt.push_back(static_cast<int32_t>((i * 3 + t * 7 + 1) % kVocab));
    s.chunk = std::vector<int64_t>{1, 3, 2, 5}[i % 4];
    s.start_step = static_cast<int>(i);
    scripts.push_back(s);
  }
  return scripts;
}

TEST(BatchForward, SequencesTogetherEqualEachAlone) {
  for (int64_t window : {0, 3}) {
    TinyModel m(window);
    for (size_t count : {2u, 5u, 8u}) {
      const Outcome o = run_scenario(m.graph, Partition::whole(m.graph), mixed_scripts(count), 20);
      EXPECT_EQ(o.max_groups, static_cast<int>(count));
      EXPECT_GT(o.steps, static_cast<int>(20 * count));
      EXPECT_LT(o.max_diff, 1e-5f) << count << " sequences, window " << window;
      EXPECT_EQ(o.greedy_mismatches, 0) << count << " sequences, window " << window;
    }
  }
}

TEST(BatchForward, CutAnywhereEqualsEachAlone) {
  TinyModel m(3);
  for (int cut = 1; cut < m.graph.size(); ++cut) {
    auto p = Partition::from_starts(m.graph, {cut});
    ASSERT_TRUE(p) << p.error();
    const Outcome o = run_scenario(m.graph, *p, mixed_scripts(4), 8);
    EXPECT_LT(o.max_diff, 1e-5f) << "cut before op " << cut << " (" << m.graph.op(cut).name << ")";
    EXPECT_EQ(o.greedy_mismatches, 0) << "cut before op " << cut;
  }
}

TEST(BatchForward, AllLogitsComeInRowOrder) {
  TinyModel m;
  ThreadPool pool(1);
  ExecutorConfig config{32, 16};
  auto batched = Executor::create(m.graph, config);
  auto a = Executor::create(m.graph, config);
  auto b = Executor::create(m.graph, config);
  ASSERT_TRUE(batched && a && b);
  const std::vector<int32_t> ta = {1, 2, 3}, tb = {9, 8, 7, 6, 5};
  std::vector<float> all, la, lb;
  ASSERT_TRUE(batched->forward_batch({{7, ta.data(), 3, 0}, {3, tb.data(), 5, 0}}, pool, all, true).is_ok());
  ASSERT_TRUE(a->forward(ta.data(), 3, 0, pool, la, true).is_ok());
  ASSERT_TRUE(b->forward(tb.data(), 5, 0, pool, lb, true).is_ok());
  ASSERT_EQ(all.size(), 8u * kVocab);
  la.insert(la.end(), lb.begin(), lb.end());
  for (size_t i = 0; i < all.size(); ++i) EXPECT_NEAR(all[i], la[i], 1e-5) << "row " << i / kVocab;
}

TEST(BatchForward, LimitsAreErrorsThatNameThem) {
  TinyModel m;
  ThreadPool pool(1);
  ExecutorConfig config{32, 6};
  config.max_sequences = 2;
  auto ex = Executor::create(m.graph, config);
  ASSERT_TRUE(ex) << ex.error();
  const std::vector<int32_t> t = {1, 2, 3, 4};
  std::vector<float> logits;
  Status rows = ex->forward_batch({{1, t.data(), 4, 0}, {2, t.data(), 3, 0}}, pool, logits);
  ASSERT_FALSE(rows.is_ok());
  EXPECT_NE(rows.message().find("batch of 7 tokens (2 sequences) exceeds the maximum of 6"), std::string::npos)
      << rows.message();
  EXPECT_EQ(ex->sequences(), 0) << "a refused batch makes no caches";
  Status twice = ex->forward_batch({{1, t.data(), 1, 0}, {1, t.data() + 1, 1, 1}}, pool, logits);
  EXPECT_NE(twice.message().find("sequence 1 appears twice"), std::string::npos) << twice.message();
  ASSERT_TRUE(ex->forward_batch({{1, t.data(), 2, 0}, {2, t.data(), 2, 0}}, pool, logits).is_ok());
  Status third = ex->forward_batch({{3, t.data(), 1, 0}}, pool, logits);
  ASSERT_FALSE(third.is_ok());
  EXPECT_NE(third.message().find("limit of 2 sequences"), std::string::npos) << third.message();
  EXPECT_FALSE(ex->open_sequence(3));
  Status full = ex->forward_batch({{1, t.data(), 1, 2}, {2, t.data(), 2, 31}}, pool, logits);
  EXPECT_NE(full.message().find("sequence 2: context is full: positions 31..32"), std::string::npos) << full.message();
  Status none = ex->forward_batch({}, pool, logits);
  EXPECT_FALSE(none.is_ok());
}

TEST(BatchForward, EndSequenceFreesItsCache) {
  TinyModel m;
  ThreadPool pool(1);
  ExecutorConfig config{32, 8};
  config.max_sequences = 2;
  auto ex = Executor::create(m.graph, config);
  ASSERT_TRUE(ex);
  EXPECT_EQ(ex->sequences(), 0);
  EXPECT_EQ(ex->kv_bytes(), 0u) << "no cache before a sequence appears";
  const std::vector<int32_t> t = {4, 5, 6};
  std::vector<float> first, again;
  ASSERT_TRUE(ex->forward_batch({{1, t.data(), 3, 0}, {2, t.data(), 1, 0}}, pool, first).is_ok());
  EXPECT_EQ(ex->sequences(), 2);
  const uint64_t one = KVCache::bytes_for(KVCache::layers_of(m.graph), 32);
  EXPECT_EQ(ex->kv_bytes(), 2 * one);
  ex->end_sequence(1);
  EXPECT_EQ(ex->sequences(), 1);
  EXPECT_EQ(ex->kv_bytes(), one);
  EXPECT_EQ(ex->kv_cache(1), nullptr);
  EXPECT_NE(ex->kv_cache(2), nullptr);
  ex->end_sequence(1);  // again: nothing to do
  // The freed place takes a new sequence; sequence 1 again starts from an empty cache.
  ASSERT_TRUE(ex->forward_batch({{2, t.data() + 1, 1, 1}, {1, t.data(), 3, 0}}, pool, again).is_ok());
  for (int64_t v = 0; v < kVocab; ++v)
    EXPECT_NEAR(again[static_cast<size_t>(kVocab + v)], first[static_cast<size_t>(v)], 1e-5);
  ex->end_sequence(1);
  ex->end_sequence(2);
  EXPECT_EQ(ex->sequences(), 0);
  EXPECT_EQ(ex->kv_bytes(), 0u);
}

// Migration per sequence: one sequence's snapshot, taken from an executor that batches it with
// another, continues in a second executor (here alone) exactly where the first goes on.
TEST(BatchForward, OneSequencesSnapshotMovesOnItsOwn) {
  TinyModel m(3);
  ThreadPool pool(1);
  ExecutorConfig config{32, 16};
  auto a = Executor::create(m.graph, config);
  auto b = Executor::create(m.graph, config);
  ASSERT_TRUE(a && b);
  const std::vector<int32_t> p1 = {1, 2, 3, 4, 5, 6}, p2 = {7, 8, 9, 10, 1, 2, 3};
  std::vector<float> batched, moved;
  ASSERT_TRUE(a->forward_batch({{1, p1.data(), 6, 0}, {2, p2.data(), 7, 0}}, pool, batched).is_ok());
  const auto snapshot = a->kv_cache(2)->serialize(7);
  auto target = b->open_sequence(42);
  ASSERT_TRUE(target) << target.error();
  auto positions = (*target)->deserialize(snapshot.data(), snapshot.size());
  ASSERT_TRUE(positions) << positions.error();
  EXPECT_EQ(*positions, 7);
  EXPECT_EQ(b->kv_cache(1), nullptr) << "only the moved sequence arrives";
  int32_t t1 = 5, t2 = 9;
  for (int64_t step = 0; step < 6; ++step) {
    ASSERT_TRUE(a->forward_batch({{1, &t1, 1, 6 + step}, {2, &t2, 1, 7 + step}}, pool, batched).is_ok());
    ASSERT_TRUE(b->forward_batch({{42, &t2, 1, 7 + step}}, pool, moved).is_ok());
    for (int64_t v = 0; v < kVocab; ++v)
      EXPECT_NEAR(batched[static_cast<size_t>(kVocab + v)], moved[static_cast<size_t>(v)], 1e-5) << "step " << step;
    t1 = argmax(batched.data());
    t2 = argmax(moved.data());
  }
}

}  // namespace
}  // namespace lingua
