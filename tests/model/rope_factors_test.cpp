// Per-pair RoPE frequency factors as the graph builders read them: Llama 3.1+'s rope_freqs reaches
// every RoPE op and counts as a tensor of every segment that rotates (a worker's copy of the file
// must hold it), a factor list of the wrong length or with bad values is refused naming the tensor,
// and Phi-3.5's long and short sets are chosen by the run's context as llama.cpp chooses them.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "graph/executor.h"
#include "graph/partition.h"
#include "model/gguf.h"
#include "model/model.h"
#include "model/synth.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;

class RopeFactors : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("lingua-rope-factors-" + std::to_string(::getpid()) + "-" + info->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const SynthSpec& spec, const std::string& name) {
    const std::string path = (dir_ / name).string();
    const Status st = write_synth_model(spec, path);
    EXPECT_TRUE(st.is_ok()) << st.message();
    return path;
  }

  // A copy of `from` whose f32 tensor `tensor` holds `values` instead (any length).
  std::string with_tensor(const std::string& from, const std::string& tensor, const std::vector<float>& values,
                          const std::string& name) {
    auto f = gguf::File::open(from);
    EXPECT_TRUE(f) << f.error();
    gguf::Writer w;
    for (const auto& [key, value] : f->metadata()) w.set(key, value);
    for (const gguf::TensorInfo& t : f->tensors()) {
      const Status st = t.name == tensor ? w.add_tensor(t.name, DType::F32, {values.size()}) : w.add_tensor(t.name, t.type, t.dims);
      EXPECT_TRUE(st.is_ok()) << st.message();
    }
    const std::string path = (dir_ / name).string();
    const Status st = w.write(path, [&](size_t index, uint8_t* dst, uint64_t bytes) {
      const gguf::TensorInfo& t = f->tensors()[index];
      std::memcpy(dst, t.name == tensor ? static_cast<const void*>(values.data()) : t.data, bytes);
      return Status::ok();
    });
    EXPECT_TRUE(st.is_ok()) << st.message();
    return path;
  }
  fs::path dir_;
};

// 2 heads of 64: 32 rotated pairs.
SynthSpec llama31() {
  SynthSpec s;
  s.dim = 128, s.layers = 2, s.heads = 2, s.kv_heads = 1, s.ffn = 256, s.vocab = 300, s.ctx = 256;
  s.rope_base = 500000.0f;
  s.llama3_rope.factor = 8.0f;
  return s;
}

TEST_F(RopeFactors, Llama3RuleKeepsHighFrequenciesAndSlowsLowOnes) {
  const SynthSpec s = llama31();
  const std::vector<float> f = llama3_rope_factors(s.llama3_rope, 64, s.rope_base);
  ASSERT_EQ(f.size(), 32u);
  EXPECT_EQ(f.front(), 1.0f);   // wavelength 2*pi, far under 8192/4
  EXPECT_EQ(f.back(), 8.0f);    // wavelength far over 8192
  EXPECT_TRUE(std::is_sorted(f.begin(), f.end()));
  EXPECT_TRUE(std::any_of(f.begin(), f.end(), [](float x) { return x > 1.0f && x < 8.0f; })) << "no smooth blend";
}

TEST_F(RopeFactors, RopeFreqsReachEveryRopeOpAndItsSegment) {
  const SynthSpec s = llama31();
  auto m = Model::load(write(s, "llama31.gguf"));
  ASSERT_TRUE(m) << m.error();
  const Graph& g = (*m)->graph();
  const std::vector<float> want = llama3_rope_factors(s.llama3_rope, 64, s.rope_base);
  int ropes = 0;
  for (const Op& op : g.ops()) {
    if (op.kind != OpKind::kRope) continue;
    ++ropes;
    ASSERT_NE(op.rope.factors, nullptr) << op.name;
    EXPECT_EQ(std::vector<float>(op.rope.factors, op.rope.factors + 32), want) << op.name;
    EXPECT_EQ(op.rope.factors_long, nullptr);
    // A segment holding just this op needs the factors in the worker's copy of the file.
    const std::vector<std::string> tensors = segment_tensors(g, Segment{op.id, op.id});
    EXPECT_EQ(tensors, std::vector<std::string>{"rope_freqs.weight"}) << op.name;
  }
  EXPECT_EQ(ropes, 4);
  // The embedding op does not read them (they were not left pending for the next op built).
  EXPECT_EQ(segment_tensors(g, Segment{0, 0}), std::vector<std::string>{"token_embd.weight"});
}

TEST_F(RopeFactors, WrongLengthOrBadValuesAreRefusedNamingTheTensor) {
  const std::string good = write(llama31(), "llama31.gguf");
  for (size_t n : {size_t{1}, size_t{31}, size_t{33}, size_t{64}}) {
    auto m = Model::load(with_tensor(good, "rope_freqs.weight", std::vector<float>(n, 1.0f), "len.gguf"));
    ASSERT_FALSE(m) << n << " factors were accepted";
    EXPECT_NE(m.error().find("rope_freqs.weight"), std::string::npos) << m.error();
    EXPECT_NE(m.error().find("32"), std::string::npos) << "the error should say how many: " << m.error();
  }
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), -2.0f}) {
    std::vector<float> values(32, 1.0f);
    values[7] = bad;
    auto m = Model::load(with_tensor(good, "rope_freqs.weight", values, "bad.gguf"));
    ASSERT_FALSE(m) << bad << " was accepted";
    EXPECT_NE(m.error().find("rope_freqs.weight"), std::string::npos) << m.error();
  }
}

// Phi-3 with a 16384 context: synth writes Phi-3.5's long-context RoPE (original context 4096).
SynthSpec phi35() {
  SynthSpec s;
  s.arch = "phi3";
  s.dim = 128, s.layers = 2, s.heads = 2, s.kv_heads = 2, s.ffn = 256, s.vocab = 300, s.ctx = 16384;
  return s;
}

std::vector<float> logits_at_context(const Model& model, int64_t context) {
  ExecutorConfig config;
  config.context = context;
  auto ex = Executor::create(model.graph(), config);
  EXPECT_TRUE(ex) << ex.error();
  if (!ex) return {};
  ThreadPool pool(1);
  const std::vector<int32_t> tokens = {1, 40, 41, 42, 43, 44, 45, 46};
  std::vector<float> logits;
  EXPECT_TRUE(ex->forward(tokens.data(), static_cast<int64_t>(tokens.size()), 0, pool, logits, true).is_ok());
  return logits;
}

TEST_F(RopeFactors, Phi3LongFactorsServeContextsBeyondTheOriginal) {
  const std::string path = write(phi35(), "phi35.gguf");
  auto m = Model::load(path);
  ASSERT_TRUE(m) << m.error();
  for (const Op& op : (*m)->graph().ops()) {
    if (op.kind != OpKind::kRope) continue;
    ASSERT_NE(op.rope.factors, nullptr);
    ASSERT_NE(op.rope.factors_long, nullptr);
    EXPECT_EQ(op.rope.long_context_above, 4096);
    EXPECT_FLOAT_EQ(op.rope.attn_factor, std::sqrt(1.0f + std::log(4.0f) / std::log(4096.0f)));
    EXPECT_EQ(segment_tensors((*m)->graph(), Segment{op.id, op.id}),
              (std::vector<std::string>{"rope_factors_long.weight", "rope_factors_short.weight"}));
  }
  // The same file with the long factors stored as the short ones: at a short context it must
  // compute what the original computes at a long one.
  auto f = gguf::File::open(path);
  ASSERT_TRUE(f) << f.error();
  const gguf::TensorInfo* long_factors = f->find_tensor("rope_factors_long.weight");
  ASSERT_NE(long_factors, nullptr);
  std::vector<float> values(long_factors->dims[0]);
  std::memcpy(values.data(), long_factors->data, values.size() * sizeof(float));
  auto swapped = Model::load(with_tensor(path, "rope_factors_short.weight", values, "swapped.gguf"));
  ASSERT_TRUE(swapped) << swapped.error();

  const std::vector<float> short_1k = logits_at_context(**m, 1024), short_4k = logits_at_context(**m, 4096);
  const std::vector<float> long_4k1 = logits_at_context(**m, 4097), long_via_short = logits_at_context(**swapped, 1024);
  ASSERT_FALSE(short_1k.empty());
  EXPECT_EQ(short_1k, short_4k);
  EXPECT_EQ(long_4k1, long_via_short);
  EXPECT_NE(short_4k, long_4k1);
}

}  // namespace
}  // namespace lingua
