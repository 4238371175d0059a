// Segmented execution changes nothing: for the shipped model and a synth model of every
// architecture, a cut at every single op boundary (one test each, registered below), random K-way
// partitions and the unsegmented run give the same greedy tokens and bit-identical logits. Also
// the transmission map's invariants, the cost model's weight bytes, and KV cache snapshots.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <unistd.h>

#include "graph/cost_model.h"
#include "graph/partition.h"
#include "graph/segmented_executor.h"
#include "model/gguf.h"
#include "model/model.h"
#include "model/synth.h"
#include "runtime/generator.h"
#include "test_paths.h"

namespace lingua {
namespace {

// The default sequence's KV cache, made empty when the executor has none yet.
KVCache& kv_of(Executor& ex) { return *ex.open_sequence(Executor::kDefaultSequence).value(); }


// The models under test, written once per process into a private temp dir.
struct TestModel {
  std::string name;
  std::string path;
};

const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("lingua-segmentation-" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] { std::filesystem::remove_all(scratch()); });
    return d;
  }();
  return dir;
}

const std::vector<TestModel>& test_models() {
  static const std::vector<TestModel> models = [] {
    std::vector<TestModel> out{{"kjv", testing::source_dir() + "/models/kjv-fortunes-3M-f32.gguf"}};
    for (const char* arch : {"llama", "qwen2", "qwen3", "bloom"}) {
      SynthSpec spec;
      spec.arch = arch;
      spec.dim = 64, spec.layers = 2, spec.heads = 4, spec.kv_heads = 2, spec.ffn = 128, spec.vocab = 300;
      spec.type = DType::Q8_0;
      spec.seed = 11;
      const std::string path = (scratch() / (std::string(arch) + ".gguf")).string();
      if (write_synth_model(spec, path).is_ok()) out.push_back({arch, path});
    }
    // gemma3 with sliding-window layers (window 3, every other layer global): the prompt and the
    // 8 generated tokens outgrow the window, so cuts and KV snapshots meet rings that wrapped.
    SynthSpec gemma;
    gemma.arch = "gemma3";
    gemma.dim = 64, gemma.layers = 4, gemma.heads = 4, gemma.kv_heads = 2, gemma.ffn = 128, gemma.vocab = 300;
    gemma.sliding_window = 3, gemma.sliding_window_pattern = 2;
    gemma.type = DType::Q8_0;
    gemma.seed = 11;
    const std::string path = (scratch() / "gemma3.gguf").string();
    if (write_synth_model(gemma, path).is_ok()) out.push_back({"gemma3", path});
    return out;
  }();
  return models;
}

struct GenRun {
  std::vector<TokenId> tokens;
  std::vector<std::vector<float>> logits;
};

// One thread: these tests run hundreds of short generations, where waking workers would cost
// more than the work (results do not depend on the thread count).
GenRun generate(const Model& model, const std::vector<int>& split) {
  Generator gen(model, 1);
  GenerateOptions o;
  o.n_predict = 8;
  o.sampling.temperature = 0.0f;
  o.ignore_eos = true;
  o.keep_all_logits = true;
  o.batch = 3;  // the prompt goes in two batches, so segments see prefill and decode shapes
  o.split = split;
  auto r = gen.generate("a b c d", o);
  EXPECT_TRUE(r) << r.error();
  return r ? GenRun{r->tokens, r->logits} : GenRun{};
}

void expect_identical(const GenRun& got, const GenRun& want, const std::string& what) {
  EXPECT_EQ(got.tokens, want.tokens) << what;
  ASSERT_EQ(got.logits.size(), want.logits.size()) << what;
  for (size_t i = 0; i < want.logits.size(); ++i) {
    ASSERT_EQ(got.logits[i].size(), want.logits[i].size()) << what;
    EXPECT_EQ(std::memcmp(got.logits[i].data(), want.logits[i].data(), want.logits[i].size() * sizeof(float)), 0)
        << what << ": logits of position " << i << " differ";
  }
}

// A loaded model and its unsegmented run, cached per process.
struct Reference {
  std::unique_ptr<Model> model;
  GenRun run;
};

Reference& reference(size_t model_index) {
  static std::vector<std::unique_ptr<Reference>> cache(test_models().size());
  auto& slot = cache[model_index];
  if (!slot) {
    slot = std::make_unique<Reference>();
    auto m = Model::load(test_models()[model_index].path);
    if (m) {
      slot->model = std::move(*m);
      slot->run = generate(*slot->model, {});
    }
  }
  return *slot;
}

class CutAt : public ::testing::Test {
 public:
  CutAt(size_t model_index, int cut) : model_index_(model_index), cut_(cut) {}
  void TestBody() override {
    Reference& ref = reference(model_index_);
    ASSERT_TRUE(ref.model) << "cannot load " << test_models()[model_index_].path;
    ASSERT_EQ(ref.run.tokens.size(), 8u);
    std::string what = "cut before op ";
    what += std::to_string(cut_);
    expect_identical(generate(*ref.model, {cut_}), ref.run, what);
  }

 private:
  size_t model_index_;
  int cut_;
};

// One test per op boundary of every model: Segmentation/<model>.CutBeforeOp<N>.
const bool kRegistered = [] {
  for (size_t m = 0; m < test_models().size(); ++m) {
    auto model = Model::load(test_models()[m].path);
    if (!model) continue;
    const int n_ops = (*model)->graph().size();
    for (int cut = 1; cut < n_ops; ++cut) {
      std::string suite = "Segmentation/";
      suite += test_models()[m].name;
      std::string name = "CutBeforeOp";
      name += std::to_string(cut);
      name += '_';
      name += (*model)->graph().op(cut).name;
      ::testing::RegisterTest(suite.c_str(), name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                              [m, cut]() -> ::testing::Test* { return new CutAt(m, cut); });
    }
  }
  return true;
}();

TEST(Segmentation, EveryModelWasRegistered) {
  ASSERT_TRUE(kRegistered);
  EXPECT_EQ(test_models().size(), 6u) << "a synth model could not be written";
}

TEST(Segmentation, RandomPartitionsUpToEightSegments) {
  for (size_t m = 0; m < test_models().size(); ++m) {
    Reference& ref = reference(m);
    ASSERT_TRUE(ref.model);
    const int n_ops = ref.model->graph().size();
    for (uint32_t seed = 1; seed <= 4; ++seed) {
      std::mt19937 rng(seed);
      for (int k = 2; k <= 8; ++k) {
        std::vector<int> all(static_cast<size_t>(n_ops - 1));
        for (int i = 0; i < n_ops - 1; ++i) all[static_cast<size_t>(i)] = i + 1;
        std::shuffle(all.begin(), all.end(), rng);
        std::vector<int> starts(all.begin(), all.begin() + (k - 1));
        std::sort(starts.begin(), starts.end());
        std::string what = test_models()[m].name;
        what += " split";
        for (int s : starts) {
          what += ' ';
          what += std::to_string(s);
        }
        expect_identical(generate(*ref.model, starts), ref.run, what);
      }
    }
  }
}

TEST(Segmentation, CostBalancedSegmentsGiveTheSameTokens) {
  Reference& ref = reference(0);
  ASSERT_TRUE(ref.model);
  Generator gen(*ref.model, 1);
  GenerateOptions o;
  o.n_predict = 8;
  o.sampling.temperature = 0.0f;
  o.ignore_eos = true;
  o.batch = 3;
  o.keep_all_logits = true;
  o.segments = 4;
  auto r = gen.generate("a b c d", o);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->segments, 4);
  expect_identical(GenRun{r->tokens, r->logits}, ref.run, "4 balanced segments");
}

TEST(TransmissionMap, EachTensorOnceForwardOnlyAndEveryCrossingCovered) {
  for (size_t m = 0; m < test_models().size(); ++m) {
    Reference& ref = reference(m);
    ASSERT_TRUE(ref.model);
    const Graph& g = ref.model->graph();
    for (int k = 2; k <= 6; ++k) {
      const Partition p = Partition::balanced(g, std::vector<double>(static_cast<size_t>(g.size()), 1.0), k);
      ASSERT_EQ(p.size(), k);
      const auto map = transmission_map(g, p);
      std::set<int> sent;
      for (const Transmission& t : map) {
        EXPECT_TRUE(sent.insert(t.op).second) << "tensor " << t.tensor << " sent twice";
        EXPECT_EQ(p.segment_of(t.op), t.from);
        ASSERT_FALSE(t.to.empty());
        for (size_t i = 0; i < t.to.size(); ++i) {
          EXPECT_GT(t.to[i], t.from) << t.tensor << " flows backwards";
          if (i) {
            EXPECT_GT(t.to[i], t.to[i - 1]) << t.tensor << " lists a segment twice";
          }
        }
        EXPECT_EQ(t.bytes_per_token, static_cast<uint64_t>(g.op(t.op).out_dim) * sizeof(float));
      }
      // Every input read across a cut arrives by exactly the transmission of its producer.
      for (const Op& op : g.ops())
        for (int in : op.inputs) {
          const int from = p.segment_of(in), to = p.segment_of(op.id);
          if (from == to) continue;
          auto it = std::find_if(map.begin(), map.end(), [&](const Transmission& t) { return t.op == in; });
          ASSERT_NE(it, map.end()) << op.name << " reads " << g.op(in).name << " across a cut without a transmission";
          EXPECT_NE(std::find(it->to.begin(), it->to.end(), to), it->to.end());
        }
    }
  }
}

TEST(CostModel, WeightBytesSumToTheFileTensors) {
  for (size_t m = 0; m < test_models().size(); ++m) {
    Reference& ref = reference(m);
    ASSERT_TRUE(ref.model);
    auto file = gguf::File::open(test_models()[m].path);
    ASSERT_TRUE(file) << file.error();
    uint64_t in_file = 0;
    for (const auto& t : file->tensors()) in_file += t.bytes;
    uint64_t in_ops = 0;
    for (const OpCost& c : op_costs(ref.model->graph())) in_ops += c.weight_bytes;
    EXPECT_EQ(in_ops, in_file) << test_models()[m].name;
    // Segments together need at least the file's bytes; a tied embedding counts in both ends.
    const Graph& g = ref.model->graph();
    const Partition p = Partition::balanced(g, std::vector<double>(static_cast<size_t>(g.size()), 1.0), 3);
    uint64_t in_segments = 0;
    for (const Segment& s : p.segments()) in_segments += segment_weight_bytes(g, s);
    EXPECT_GE(in_segments, in_file);
  }
}

TEST(CostModel, DecodeCostsFollowTheShapes) {
  Reference& ref = reference(0);  // kjv: dim 192
  ASSERT_TRUE(ref.model);
  const Graph& g = ref.model->graph();
  const auto costs = op_costs(g, CostShape{64, 100});
  for (const Op& op : g.ops()) {
    const OpCost& c = costs[static_cast<size_t>(op.id)];
    EXPECT_EQ(c.out_bytes_per_token, static_cast<uint64_t>(op.out_dim) * 4) << op.name;
    if (op.kind == OpKind::kMatMul) {
      EXPECT_DOUBLE_EQ(c.flops_decode, 2.0 * static_cast<double>(op.weight.rows * op.weight.cols)) << op.name;
      EXPECT_DOUBLE_EQ(c.decode_bytes_read, static_cast<double>(op.weight.rows) * static_cast<double>(op.weight.row_bytes));
    }
    if (op.kind == OpKind::kAttention) {
      EXPECT_EQ(c.kv_bytes_per_token, static_cast<uint64_t>(2 * op.attn.n_kv_heads * op.attn.head_dim * 4));
      EXPECT_GT(c.flops_decode, c.flops_prefill_per_token) << "decode at context 100 vs prompt mean 32.5";
    } else {
      EXPECT_EQ(c.kv_bytes_per_token, 0u) << op.name;
    }
  }
  ComputeRates rates;
  rates.flops_per_s[static_cast<size_t>(DType::F32)] = 1e9;
  rates.bytes_per_s = 1e9;
  OpCost c;
  c.flops_decode = 2e6;
  c.decode_bytes_read = 1e6;
  EXPECT_DOUBLE_EQ(predicted_decode_seconds(c, rates), 2e-3);  // compute bound
  c.decode_bytes_read = 5e6;
  EXPECT_DOUBLE_EQ(predicted_decode_seconds(c, rates), 5e-3);  // memory bound
}

// A KV snapshot moved into a fresh executor continues bit for bit (what live migration relies on).
TEST(KvSnapshot, ImportedCacheContinuesBitExact) {
  for (size_t m = 0; m < test_models().size(); ++m) {
    Reference& ref = reference(m);
    ASSERT_TRUE(ref.model);
    const Graph& g = ref.model->graph();
    auto p = Partition::from_starts(g, {g.size() / 3, 2 * g.size() / 3});
    ASSERT_TRUE(p) << p.error();
    ExecutorConfig config;
    config.context = 32;
    config.max_batch = 8;
    auto a = SegmentedExecutor::create(g, *p, config);
    auto b = SegmentedExecutor::create(g, *p, config);
    ASSERT_TRUE(a && b);
    ThreadPool pool(2);
    std::vector<float> la, lb;
    const std::vector<int32_t> prompt = {1, 5, 9, 13, 17};
    ASSERT_TRUE(a->forward(prompt.data(), 5, 0, pool, la).is_ok());
    for (int s = 0; s < a->size(); ++s) {
      const auto snapshot = kv_of(a->segment(s)).serialize(5);
      auto positions = kv_of(b->segment(s)).deserialize(snapshot.data(), snapshot.size());
      ASSERT_TRUE(positions) << positions.error();
      EXPECT_EQ(*positions, 5);
    }
    int32_t token = 7;
    for (int64_t pos = 5; pos < 12; ++pos) {
      ASSERT_TRUE(a->forward(&token, 1, pos, pool, la).is_ok());
      ASSERT_TRUE(b->forward(&token, 1, pos, pool, lb).is_ok());
      ASSERT_EQ(la.size(), lb.size());
      EXPECT_EQ(std::memcmp(la.data(), lb.data(), la.size() * sizeof(float)), 0) << test_models()[m].name << " pos " << pos;
      token = static_cast<int32_t>(std::max_element(la.begin(), la.end()) - la.begin());
    }
  }
}

// Moving a boundary live: the attention layers that change hands go over as slot snapshots, the
// ones that stay are copied, and generation continues bit for bit like the run that never moved.
TEST(KvSnapshot, MovedBoundaryContinuesBitExact) {
  for (size_t m = 0; m < test_models().size(); ++m) {
    Reference& ref = reference(m);
    ASSERT_TRUE(ref.model);
    const Graph& g = ref.model->graph();
    // Before: every attention layer on the first device. After: the first stays, the rest move.
    std::vector<int> attention;
    for (const Op& op : g.ops())
      if (op.kind == OpKind::kAttention) attention.push_back(op.id);
    ASSERT_GE(attention.size(), 2u);
    auto before = Partition::from_starts(g, {attention.back() + 1});
    auto after = Partition::from_starts(g, {attention.front() + 1});
    ASSERT_TRUE(before && after);
    const Partition whole = Partition::whole(g);
    ExecutorConfig config;
    config.context = 32;
    config.max_batch = 8;
    auto reference_run = SegmentedExecutor::create(g, whole, config);
    auto old_run = SegmentedExecutor::create(g, *before, config);
    auto new_run = SegmentedExecutor::create(g, *after, config);
    ASSERT_TRUE(reference_run && old_run && new_run);
    ThreadPool pool(2);
    std::vector<float> lr, lo, ln;
    const std::vector<int32_t> prompt = {1, 5, 9, 13, 17};
    ASSERT_TRUE(reference_run->forward(prompt.data(), 5, 0, pool, lr).is_ok());
    ASSERT_TRUE(old_run->forward(prompt.data(), 5, 0, pool, lo).is_ok());
    // Every graph-wide slot goes from its old owner to its new one, whatever the owners are.
    int moved = 0;
    for (int s = 0; s < old_run->size(); ++s) {
      Executor& from = old_run->segment(s);
      for (int slot = 0; slot < kv_of(from).n_slots(); ++slot) {
        const int global = from.kv_base() + slot;
        for (int t = 0; t < new_run->size(); ++t) {
          Executor& to = new_run->segment(t);
          if (kv_of(to).n_slots() == 0 || global < to.kv_base() || global >= to.kv_base() + kv_of(to).n_slots()) continue;
          const auto bytes = kv_of(from).serialize(5, slot, 1);
          auto got = kv_of(to).deserialize(bytes.data(), bytes.size(), global - to.kv_base());
          ASSERT_TRUE(got) << got.error();
          moved += s != t;
        }
      }
    }
    EXPECT_GT(moved, 0) << test_models()[m].name << ": the boundary move should hand over an attention layer";
    int32_t token = 7;
    for (int64_t pos = 5; pos < 12; ++pos) {
      ASSERT_TRUE(reference_run->forward(&token, 1, pos, pool, lr).is_ok());
      ASSERT_TRUE(new_run->forward(&token, 1, pos, pool, ln).is_ok());
      ASSERT_EQ(lr.size(), ln.size());
      EXPECT_EQ(std::memcmp(lr.data(), ln.data(), lr.size() * sizeof(float)), 0) << test_models()[m].name << " pos " << pos;
      token = static_cast<int32_t>(std::max_element(lr.begin(), lr.end()) - lr.begin());
    }
  }
}

TEST(KvSnapshot, MismatchedOrDamagedSnapshotsAreRefused) {
  Reference& ref = reference(0);
  ASSERT_TRUE(ref.model);
  const Graph& g = ref.model->graph();
  auto p = Partition::from_starts(g, {g.size() / 2});
  ASSERT_TRUE(p);
  ExecutorConfig config;
  config.context = 16;
  auto a = SegmentedExecutor::create(g, *p, config);
  ASSERT_TRUE(a);
  auto snapshot = kv_of(a->segment(0)).serialize(4);
  KVCache& first = kv_of(a->segment(0));
  ASSERT_GT(first.n_slots(), 1);
  EXPECT_FALSE(first.deserialize(snapshot.data(), snapshot.size(), 1)) << "more layers than there are from layer 1";
  EXPECT_FALSE(first.deserialize(snapshot.data(), snapshot.size(), -1));
  EXPECT_FALSE(first.deserialize(snapshot.data(), snapshot.size() - 1)) << "truncated";
  auto bad_magic = snapshot;
  bad_magic[0] = 'X';
  EXPECT_FALSE(first.deserialize(bad_magic.data(), bad_magic.size()));
  auto too_long = first.serialize(16);
  auto small = KVCache::create(KVCache::full_layers({first.kv_dim(0)}), 8);
  ASSERT_TRUE(small) << small.error();
  EXPECT_FALSE(small->deserialize(too_long.data(), too_long.size()));
}

TEST(Partition, BadSplitsAreNamed) {
  Reference& ref = reference(0);
  ASSERT_TRUE(ref.model);
  const Graph& g = ref.model->graph();
  for (const std::vector<int>& bad : std::vector<std::vector<int>>{{0}, {g.size()}, {10, 10}, {20, 10}, {-3}}) {
    auto p = Partition::from_starts(g, bad);
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().find("cannot start a segment at op"), std::string::npos) << p.error();
  }
  const Partition whole = Partition::whole(g);
  ASSERT_EQ(whole.size(), 1);
  EXPECT_TRUE(transmission_map(g, whole).empty());
  EXPECT_EQ(Partition::balanced(g, std::vector<double>(static_cast<size_t>(g.size()), 1.0), 1000).size(), g.size());
}

}  // namespace
}  // namespace lingua
