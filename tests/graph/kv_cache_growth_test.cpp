// The KV cache is priced against the memory available before anything is reserved (a context that
// cannot fit is a quick, clear error, not gigabytes allocated), and a context that fits takes
// memory as positions are written, not all of it up front.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <limits>
#include <random>

#include "graph/executor.h"
#include "graph/kv_cache.h"

namespace lingua {
namespace {

uint64_t resident_bytes() {
  long pages = 0, resident = 0;
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  std::fclose(f);
  return static_cast<uint64_t>(resident) * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

constexpr uint64_t kMiB = 1ull << 20;

TEST(KvCacheGrowth, RefusesWhatDoesNotFitNamingBothSizes) {
  // 2 slots of 64 floats: 1 KiB per position; 10^7 positions is 9.5 GiB against 1 GiB.
  auto kv = KVCache::create(KVCache::full_layers({64, 64}), 10'000'000, 1ull << 30);
  ASSERT_FALSE(kv);
  EXPECT_NE(kv.error().find("10000000 positions"), std::string::npos) << kv.error();
  EXPECT_NE(kv.error().find("9.5 GiB"), std::string::npos) << kv.error();
  EXPECT_NE(kv.error().find("1.0 GiB"), std::string::npos) << kv.error();
  EXPECT_NE(kv.error().find("available"), std::string::npos) << kv.error();
  // Sizes whose byte count overflows 64 bits are refused too, not wrapped around.
  auto huge = KVCache::create(KVCache::full_layers({1 << 20}), std::numeric_limits<int64_t>::max() / 2, 1ull << 30);
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.error().find("available"), std::string::npos) << huge.error();
  // What fits is made.
  auto ok = KVCache::create(KVCache::full_layers({64, 64}), 1000, 1ull << 30);
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(ok->capacity(), 1000);
  EXPECT_EQ(ok->bytes(), 1000u * 1024u);
}

TEST(KvCacheGrowth, MemoryIsTakenAsPositionsAreWritten) {
  // 4 slots of 128 floats, 2^18 positions: 1 GiB of address space for K and V.
  const uint64_t before = resident_bytes();
  auto made = KVCache::create(KVCache::full_layers({128, 128, 128, 128}), 1 << 18, 8ull << 30);
  ASSERT_TRUE(made) << made.error();
  KVCache kv = std::move(*made);
  EXPECT_EQ(kv.bytes(), 1ull << 30);
  const uint64_t after_create = resident_bytes();
  EXPECT_LT(after_create - before, 32 * kMiB) << "the whole cache was touched up front";
  // Rows start zeroed, and what is written stays.
  for (int slot = 0; slot < kv.n_slots(); ++slot)
    for (int64_t pos = 0; pos < 100; ++pos) {
      EXPECT_EQ(kv.k(slot, pos)[5], 0.0f);
      for (int64_t i = 0; i < kv.kv_dim(slot); ++i) {
        kv.k(slot, pos)[i] = static_cast<float>(slot * 1000 + pos);
        kv.v(slot, pos)[i] = -static_cast<float>(slot * 1000 + pos);
      }
    }
  EXPECT_EQ(kv.k(3, 99)[127], 3099.0f);
  EXPECT_EQ(kv.v(2, 7)[0], -2007.0f);
  EXPECT_LT(resident_bytes() - before, 64 * kMiB) << "100 positions took memory for the whole context";
  // A snapshot of the positions in use round-trips through a fresh cache.
  const auto bytes = kv.serialize(100);
  auto copy = KVCache::create(KVCache::full_layers({128, 128, 128, 128}), 1 << 18, 8ull << 30);
  ASSERT_TRUE(copy) << copy.error();
  auto positions = copy->deserialize(bytes.data(), bytes.size());
  ASSERT_TRUE(positions) << positions.error();
  EXPECT_EQ(*positions, 100);
  EXPECT_EQ(copy->k(1, 42)[3], 1042.0f);
  EXPECT_EQ(copy->v(3, 0)[9], -3000.0f);
}

// A graph with one attention and nothing else worth computing: embed, q/k/v as slices, logits.
struct AttentionOnly {
  std::vector<float> embedding, output;
  Graph graph;
  AttentionOnly() {
    std::mt19937 rng(7);
    std::normal_distribution<float> dist(0.0f, 0.5f);
    embedding.resize(11 * 8);
    output.resize(11 * 4);
    for (float& x : embedding) x = dist(rng);
    for (float& x : output) x = dist(rng);
    Op e;
    e.name = "token_embd";
    e.kind = OpKind::kEmbed;
    e.weight = MatrixView{DType::F32, embedding.data(), 11, 8, 8 * sizeof(float)};
    e.out_dim = 8;
    const int x = graph.add(e);
    auto slice = [&](const char* name, int64_t offset) {
      Op s;
      s.name = name;
      s.kind = OpKind::kSlice;
      s.inputs = {x};
      s.out_dim = 4;
      s.slice_offset = offset;
      return graph.add(s);
    };
    const int q = slice("blk.0.q", 0), k = slice("blk.0.k", 4), v = slice("blk.0.v", 2);
    Op a;
    a.name = "blk.0.attention";
    a.kind = OpKind::kAttention;
    a.inputs = {q, k, v};
    a.out_dim = 4;
    a.attn = AttentionParams{1, 1, 4, 0.5f};
    const int att = graph.add(a);
    Op o;
    o.name = "output";
    o.kind = OpKind::kMatMul;
    o.inputs = {att};
    o.weight = MatrixView{DType::F32, output.data(), 11, 4, 4 * sizeof(float)};
    o.out_dim = 11;
    graph.add(o);
  }
};

TEST(KvCacheGrowth, ExecutorRefusesAContextBeyondMemoryQuickly) {
  AttentionOnly m;
  ExecutorConfig c;
  c.context = 10'000'000'000'000;  // 32 bytes a position: 291 TiB
  auto ex = Executor::create(m.graph, c);
  ASSERT_FALSE(ex);
  EXPECT_NE(ex.error().find("available"), std::string::npos) << ex.error();
}

TEST(KvCacheGrowth, ExecutorWithALargeContextTakesMemoryAsItGoes) {
  AttentionOnly m;
  ThreadPool pool(2);
  const uint64_t before = resident_bytes();
  ExecutorConfig c;
  c.context = 1 << 24;  // 512 MiB of K and V
  auto ex = Executor::create(m.graph, c);
  ASSERT_TRUE(ex) << ex.error();
  std::vector<float> logits;
  const int32_t tokens[3] = {1, 5, 9};
  ASSERT_TRUE(ex->forward(tokens, 3, 0, pool, logits).is_ok());
  ASSERT_TRUE(ex->forward(tokens, 1, 3, pool, logits).is_ok());
  EXPECT_EQ(logits.size(), 11u);
  EXPECT_LT(resident_bytes() - before, 64 * kMiB) << "4 positions took memory for the whole context";
}

}  // namespace
}  // namespace lingua
