// Sliding-window attention through the executor: logits equal a double reference that masks keys
// outside the window, for prompts fed in batches smaller and larger than the window; the cache of
// a windowed layer is a ring of `window` rows; a window beyond the context is full attention; and
// ring snapshots move to another executor (or are refused when they hold too little).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "graph/cost_model.h"
#include "graph/executor.h"
#include "graph/kv_cache.h"

namespace lingua {
namespace {

// The default sequence's KV cache, made empty when the executor has none yet.
KVCache& kv_of(Executor& ex) { return *ex.open_sequence(Executor::kDefaultSequence).value(); }


constexpr int64_t kVocab = 13, kEmbd = 16, kHeads = 2, kKvHeads = 1, kHeadDim = 4;

// embed -> q (2 heads), k, v (1 KV head) as slices of the embedding -> attention -> output matmul.
struct WindowModel {
  std::vector<float> embedding, output;
  Graph graph;
  explicit WindowModel(int64_t window) {
    std::mt19937 rng(5);
    std::normal_distribution<float> dist(0.0f, 0.7f);
    embedding.resize(kVocab * kEmbd);
    output.resize(kVocab * kHeads * kHeadDim);
    for (float& x : embedding) x = dist(rng);
    for (float& x : output) x = dist(rng);
    Op e;
    e.name = "token_embd";
    e.kind = OpKind::kEmbed;
    e.weight = MatrixView{DType::F32, embedding.data(), kVocab, kEmbd, kEmbd * sizeof(float)};
    e.out_dim = kEmbd;
    const int x = graph.add(e);
    auto slice = [&](const char* name, int64_t offset, int64_t width) {
      Op s;
      s.name = name;
      s.kind = OpKind::kSlice;
      s.inputs = {x};
      s.out_dim = width;
      s.slice_offset = offset;
      return graph.add(s);
    };
    const int q = slice("blk.0.q", 0, 8), k = slice("blk.0.k", 8, 4), v = slice("blk.0.v", 12, 4);
    Op a;
    a.name = "blk.0.attention";
    a.kind = OpKind::kAttention;
    a.inputs = {q, k, v};
    a.out_dim = kHeads * kHeadDim;
    a.attn = AttentionParams{kHeads, kKvHeads, kHeadDim, 0.5f};
    a.attn.sliding_window = window;
    const int att = graph.add(a);
    Op o;
    o.name = "output";
    o.kind = OpKind::kMatMul;
    o.inputs = {att};
    o.weight = MatrixView{DType::F32, output.data(), kVocab, kHeads * kHeadDim, kHeads * kHeadDim * sizeof(float)};
    o.out_dim = kVocab;
    graph.add(o);
  }

  // Logits of position `pos` given every token so far, masking keys with pos - j >= window.
  std::vector<double> reference(const std::vector<int32_t>& tokens, int64_t pos, int64_t window) const {
    auto row = [&](int64_t p) { return embedding.data() + tokens[static_cast<size_t>(p)] * kEmbd; };
    std::vector<double> att(kHeads * kHeadDim, 0.0);
    for (int64_t h = 0; h < kHeads; ++h) {
      std::vector<double> s;
      for (int64_t j = 0; j <= pos; ++j) {
        if (window > 0 && pos - j >= window) continue;
        double d = 0;
        for (int64_t i = 0; i < kHeadDim; ++i) d += static_cast<double>(row(pos)[h * kHeadDim + i]) * row(j)[8 + i];
        s.push_back(d * 0.5);
      }
      double max = -1e300, sum = 0;
      for (double x : s) max = std::max(max, x);
      for (double& x : s) sum += (x = std::exp(x - max));
      const int64_t first = pos - static_cast<int64_t>(s.size()) + 1;
      for (int64_t j = first; j <= pos; ++j)
        for (int64_t i = 0; i < kHeadDim; ++i)
          att[static_cast<size_t>(h * kHeadDim + i)] += s[static_cast<size_t>(j - first)] / sum * row(j)[12 + i];
    }
    std::vector<double> logits(kVocab, 0.0);
    for (int64_t r = 0; r < kVocab; ++r)
      for (int64_t c = 0; c < kHeads * kHeadDim; ++c)
        logits[static_cast<size_t>(r)] += output[static_cast<size_t>(r * kHeads * kHeadDim + c)] * att[static_cast<size_t>(c)];
    return logits;
  }
};

std::vector<int32_t> test_tokens(size_t n) {
  std::vector<int32_t> t;
  for (size_t i = 0; i < n; ++i) t.push_back(static_cast<int32_t>((i * 7 + 3) % kVocab));
  return t;
}

// Feeds `tokens` in batches of `batch`, keeping every position's logits.
std::vector<std::vector<float>> run(Executor& ex, const std::vector<int32_t>& tokens, int64_t batch, ThreadPool& pool,
                                    int64_t from = 0) {
  std::vector<std::vector<float>> out;
  std::vector<float> logits;
  for (int64_t p = from; p < static_cast<int64_t>(tokens.size()); p += batch) {
    const int64_t n = std::min<int64_t>(batch, static_cast<int64_t>(tokens.size()) - p);
    EXPECT_TRUE(ex.forward(tokens.data() + p, n, p, pool, logits, /*all_logits=*/true).is_ok());
    for (int64_t t = 0; t < n; ++t) out.emplace_back(logits.begin() + t * kVocab, logits.begin() + (t + 1) * kVocab);
  }
  return out;
}

TEST(SlidingWindowExecutor, MatchesMaskedReferenceForAnyBatching) {
  ThreadPool pool(2);
  const auto tokens = test_tokens(30);
  for (int64_t window : {1, 3, 7}) {
    WindowModel m(window);
    for (int64_t batch : {1, 2, 5, 8}) {
      ExecutorConfig c;
      c.context = 32;
      c.max_batch = 8;
      auto ex = Executor::create(m.graph, c);
      ASSERT_TRUE(ex) << ex.error();
      EXPECT_EQ(kv_of(*ex).rows(0), window);
      EXPECT_EQ(kv_of(*ex).bytes(), static_cast<uint64_t>(window * kKvHeads * kHeadDim * 2 * sizeof(float)));
      const auto got = run(*ex, tokens, batch, pool);
      ASSERT_EQ(got.size(), tokens.size());
      for (int64_t p = 0; p < static_cast<int64_t>(tokens.size()); ++p) {
        const auto want = m.reference(tokens, p, window);
        for (int64_t r = 0; r < kVocab; ++r)
          ASSERT_NEAR(got[static_cast<size_t>(p)][static_cast<size_t>(r)], want[static_cast<size_t>(r)], 1e-5)
              << "window " << window << " batch " << batch << " pos " << p;
      }
    }
  }
}

TEST(SlidingWindowExecutor, WindowBeyondTheContextIsFullAttention) {
  ThreadPool pool(2);
  const auto tokens = test_tokens(20);
  WindowModel windowed(64), full(0);
  ExecutorConfig c;
  c.context = 20;
  c.max_batch = 4;
  auto a = Executor::create(windowed.graph, c);
  auto b = Executor::create(full.graph, c);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(kv_of(*a).rows(0), 20) << "the ring is bounded by the context";
  EXPECT_EQ(kv_of(*a).bytes(), kv_of(*b).bytes());
  const auto la = run(*a, tokens, 4, pool), lb = run(*b, tokens, 4, pool);
  ASSERT_EQ(la.size(), lb.size());
  for (size_t p = 0; p < la.size(); ++p)
    EXPECT_EQ(std::memcmp(la[p].data(), lb[p].data(), kVocab * sizeof(float)), 0) << "pos " << p;
}

TEST(SlidingWindowExecutor, CostModelAndMemoryAreWindowBound) {
  WindowModel windowed(5), full(0);
  const auto cw = op_costs(windowed.graph, {64, 1000}), cf = op_costs(full.graph, {64, 1000});
  const auto att = static_cast<size_t>(4);
  EXPECT_EQ(cw[att].kv_window, 5);
  EXPECT_EQ(kv_bytes(cw[att], 1000), 5u * cw[att].kv_bytes_per_token);
  EXPECT_EQ(kv_bytes(cw[att], 3), 3u * cw[att].kv_bytes_per_token);
  EXPECT_EQ(kv_bytes(cf[att], 1000), 1000u * cf[att].kv_bytes_per_token);
  EXPECT_LT(cw[att].flops_decode * 100, cf[att].flops_decode) << "a decode step reads 5 keys, not 1001";
  EXPECT_EQ(KVCache::bytes_for(KVCache::layers_of(windowed.graph), 1000), kv_bytes(cw[att], 1000));
}

TEST(SlidingWindowExecutor, RingSnapshotsMoveAndShortOnesAreRefused) {
  ThreadPool pool(1);
  const auto tokens = test_tokens(25);
  WindowModel m(4);
  ExecutorConfig c;
  c.context = 32;
  c.max_batch = 8;
  auto a = Executor::create(m.graph, c);
  auto b = Executor::create(m.graph, c);
  ASSERT_TRUE(a && b);
  const std::vector<int32_t> prompt(tokens.begin(), tokens.begin() + 13);
  run(*a, prompt, 8, pool);
  const auto snapshot = kv_of(*a).serialize(13);
  // Header, one slot's width and rows, then 4 rows of K and of V: the window, not 13 positions.
  EXPECT_EQ(snapshot.size(), 4 + 4 + 8 + 16 + 2 * 4 * kKvHeads * kHeadDim * sizeof(float));
  auto positions = kv_of(*b).deserialize(snapshot.data(), snapshot.size());
  ASSERT_TRUE(positions) << positions.error();
  EXPECT_EQ(*positions, 13);
  const auto la = run(*a, tokens, 3, pool, 13), lb = run(*b, tokens, 3, pool, 13);
  ASSERT_EQ(la.size(), lb.size());
  for (size_t p = 0; p < la.size(); ++p)
    EXPECT_EQ(std::memcmp(la[p].data(), lb[p].data(), kVocab * sizeof(float)), 0) << "pos " << 13 + p;
  // A wider window needs more rows than a 4-row ring shipped.
  WindowModel wider(6);
  auto w = Executor::create(wider.graph, c);
  ASSERT_TRUE(w);
  auto refused = kv_of(*w).deserialize(snapshot.data(), snapshot.size());
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("needs the last 6"), std::string::npos) << refused.error();
  // A full-context layer takes what a full layer shipped; a ring takes the tail of it.
  WindowModel full(0);
  auto f = Executor::create(full.graph, c);
  ASSERT_TRUE(f);
  run(*f, prompt, 8, pool);
  const auto whole = kv_of(*f).serialize(13);
  auto ring = Executor::create(m.graph, c);
  ASSERT_TRUE(ring);
  ASSERT_TRUE(kv_of(*ring).deserialize(whole.data(), whole.size()));
  EXPECT_EQ(std::memcmp(kv_of(*ring).k(0, 12), kv_of(*f).k(0, 12), kKvHeads * kHeadDim * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(kv_of(*ring).v(0, 9), kv_of(*f).v(0, 9), kKvHeads * kHeadDim * sizeof(float)), 0);
}

}  // namespace
}  // namespace lingua
