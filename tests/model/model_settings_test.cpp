// Model settings a file can get wrong (block count, norm epsilon, RoPE, head counts, special token
// ids, context length): Model::load refuses each, naming the key and the file, for every
// architecture, instead of building a graph that computes nonsense or reads out of bounds.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "gguf_edit.h"
#include "model/arch_builder.h"
#include "model/model.h"
#include "model/synth.h"
#include "test_paths.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;
using gguf::Value;
using testing::GgufEdit;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

class ModelSettings : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("lingua-settings-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string shipped() { return testing::source_dir() + "/models/kjv-fortunes-3M-f32.gguf"; }

  // A small random model of `arch` (every architecture synth can write).
  std::string synth(const std::string& arch) {
    SynthSpec s;
    s.arch = arch;
    s.dim = 64, s.layers = 2, s.heads = 4, s.kv_heads = 2, s.ffn = 128, s.ctx = 128;
    const std::string path = (dir_ / (arch + ".gguf")).string();
    const Status st = write_synth_model(s, path);
    EXPECT_TRUE(st.is_ok()) << st.message();
    return path;
  }

  // The error Model::load gives for `from` with `edit` applied ("" when it loads).
  std::string load_error(const std::string& from, const GgufEdit& edit) {
    const std::string path = (dir_ / ("edited-" + std::to_string(count_++) + ".gguf")).string();
    const Status st = testing::write_edited_gguf(from, path, edit);
    EXPECT_TRUE(st.is_ok()) << st.message();
    auto m = Model::load(path);
    if (m) return "";
    EXPECT_NE(m.error().find(path), std::string::npos) << "the error does not name the file: " << m.error();
    return m.error();
  }

  // Model::load refuses `from` with `key` set to `value`, naming the key.
  void expect_refused(const std::string& from, const std::string& key, const Value& value) {
    const std::string error = load_error(from, GgufEdit{{{key, value}}, ""});
    EXPECT_FALSE(error.empty()) << key << " = " << value.to_display() << " was accepted";
    EXPECT_NE(error.find(key), std::string::npos) << key << " = " << value.to_display() << ": " << error;
  }

  fs::path dir_;
  int count_ = 0;
};

std::string arch_of(const std::string& path) {
  auto f = gguf::File::open(path);
  return f ? *f->get_string("general.architecture") : "";
}

bool has_rope(const std::string& path) {
  auto m = Model::load(path);
  EXPECT_TRUE(m) << m.error();
  if (!m) return false;
  for (const Op& op : (*m)->graph().ops())
    if (op.kind == OpKind::kRope) return true;
  return false;
}

// The norm epsilon key the architecture's file carries (the synth layout writes it).
std::string epsilon_key(const std::string& path) {
  auto f = gguf::File::open(path);
  for (const auto& [key, value] : f->metadata())
    if (key.find("epsilon") != std::string::npos) return key;
  return "";
}

TEST_F(ModelSettings, UnmodifiedFilesLoad) {
  EXPECT_EQ(load_error(shipped(), {}), "");
  for (const ArchitectureDef* def : architectures())
    if (def->synth) {
      EXPECT_EQ(load_error(synth(def->name), {}), "") << def->name;
    }
}

TEST_F(ModelSettings, BlockCountMustMatchTheBlocksInTheFile) {
  const std::string m = shipped();  // 6 blocks
  expect_refused(m, "llama.block_count", Value::u32(0));
  expect_refused(m, "llama.block_count", Value::u32(5));  // would leave blk.5 unused
  expect_refused(m, "llama.block_count", Value::u32(7));  // would look for blk.6
  // The last block's tensors missing, the count left at 6: the count disagrees with the file.
  const std::string error = load_error(m, GgufEdit{{}, "blk.5."});
  EXPECT_NE(error.find("llama.block_count"), std::string::npos) << error;
}

TEST_F(ModelSettings, NormEpsilonMustBePositiveAndFinite) {
  for (float eps : {kNaN, kInf, -kInf, -1e-5f, 0.0f})
    expect_refused(shipped(), "llama.attention.layer_norm_rms_epsilon", Value::f32(eps));
  EXPECT_EQ(load_error(shipped(), GgufEdit{{{"llama.attention.layer_norm_rms_epsilon", Value::f32(1e-6f)}}, ""}), "");
}

TEST_F(ModelSettings, RopeFrequencyBaseMustBePositiveAndFinite) {
  for (float base : {kNaN, kInf, 0.0f, -10000.0f}) expect_refused(shipped(), "llama.rope.freq_base", Value::f32(base));
}

TEST_F(ModelSettings, RopeDimensionsMustBeEvenAndWithinAHead) {
  // The shipped model's heads are 32 wide.
  for (uint32_t n : {0u, 31u, 33u, 64u}) expect_refused(shipped(), "llama.rope.dimension_count", Value::u32(n));
  EXPECT_EQ(load_error(shipped(), GgufEdit{{{"llama.rope.dimension_count", Value::u32(16)}}, ""}), "");
}

TEST_F(ModelSettings, RopeScalingOtherThanLinearIsRefused) {
  expect_refused(shipped(), "llama.rope.scaling.type", Value::str("yarn"));
  expect_refused(shipped(), "llama.rope.scaling.factor", Value::f32(-2.0f));
  expect_refused(shipped(), "llama.rope.scaling.factor", Value::f32(kNaN));
  // Linear scaling is what the kernels implement: factor 4 is a frequency scale of 1/4.
  const std::string path = (dir_ / "linear.gguf").string();
  ASSERT_TRUE(testing::write_edited_gguf(shipped(), path,
                                         GgufEdit{{{"llama.rope.scaling.type", Value::str("linear")},
                                                   {"llama.rope.scaling.factor", Value::f32(4.0f)}},
                                                  ""})
                  .is_ok());
  auto m = Model::load(path);
  ASSERT_TRUE(m) << m.error();
  int ropes = 0;
  for (const Op& op : (*m)->graph().ops())
    if (op.kind == OpKind::kRope) {
      EXPECT_FLOAT_EQ(op.rope.freq_scale, 0.25f);
      ++ropes;
    }
  EXPECT_EQ(ropes, 12);
}

TEST_F(ModelSettings, HeadCountsMustDivide) {
  // 192 wide, 6 heads, 2 KV heads.
  expect_refused(shipped(), "llama.attention.head_count", Value::u32(0));
  expect_refused(shipped(), "llama.attention.head_count", Value::u32(5));    // 192 % 5
  expect_refused(shipped(), "llama.attention.head_count_kv", Value::u32(0));
  expect_refused(shipped(), "llama.attention.head_count_kv", Value::u32(4));  // 6 % 4
  expect_refused(shipped(), "llama.embedding_length", Value::u32(0));
}

TEST_F(ModelSettings, SpecialTokenIdsMustBeInTheVocabulary) {
  for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.bos_token_id",
                          "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id"}) {
    expect_refused(shipped(), key, Value::u32(2048));  // the vocabulary has 2048 tokens
    expect_refused(shipped(), key, Value::i32(-7));
  }
  // -1 (or its u32 spelling) is how converters say "no such token".
  EXPECT_EQ(load_error(shipped(), GgufEdit{{{"tokenizer.ggml.padding_token_id", Value::i32(-1)}}, ""}), "");
}

TEST_F(ModelSettings, ContextLengthMustBePositive) {
  expect_refused(shipped(), "llama.context_length", Value::u32(0));
  // A file claiming 2^32-1 positions loads, with its default context capped (the KV cache of the
  // claim would be terabytes).
  const std::string path = (dir_ / "huge-ctx.gguf").string();
  ASSERT_TRUE(testing::write_edited_gguf(shipped(), path, GgufEdit{{{"llama.context_length", Value::u32(UINT32_MAX)}}, ""})
                  .is_ok());
  auto m = Model::load(path);
  ASSERT_TRUE(m) << m.error();
  EXPECT_EQ((*m)->file_context(), int64_t{UINT32_MAX});
  EXPECT_EQ((*m)->train_context(), Model::kMaxDefaultContext);
}

// Every architecture reads its shape through the same checks: a new one gets them for free.
TEST_F(ModelSettings, EveryArchitectureRefusesTheSameMistakes) {
  for (const ArchitectureDef* def : architectures()) {
    if (!def->synth) continue;
    SCOPED_TRACE(def->name);
    const std::string path = synth(def->name);  // 2 blocks, 64 wide, 4 heads of 16, 2 KV heads
    const std::string a = arch_of(path);
    ASSERT_EQ(a, def->name);
    for (uint32_t n : {0u, 1u, 3u}) expect_refused(path, a + ".block_count", Value::u32(n));
    expect_refused(path, a + ".attention.head_count", Value::u32(0));
    expect_refused(path, a + ".attention.head_count_kv", Value::u32(3));
    expect_refused(path, a + ".context_length", Value::u32(0));
    const std::string eps = epsilon_key(path);
    ASSERT_FALSE(eps.empty());
    for (float v : {kNaN, kInf, -1.0f, 0.0f}) expect_refused(path, eps, Value::f32(v));
    if (has_rope(path)) {
      for (float v : {kNaN, 0.0f, -1.0f}) expect_refused(path, a + ".rope.freq_base", Value::f32(v));
      for (uint32_t n : {0u, 15u, 32u}) expect_refused(path, a + ".rope.dimension_count", Value::u32(n));
      expect_refused(path, a + ".rope.scaling.type", Value::str("yarn"));
    }
    expect_refused(path, "tokenizer.ggml.eos_token_id", Value::u32(1u << 20));
  }
}

}  // namespace
}  // namespace lingua
