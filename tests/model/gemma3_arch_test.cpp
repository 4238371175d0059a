// The gemma3 graph builder's reading of the file: which layers are local (sliding window) and
// which global, each kind's RoPE base and scaling, the query scale, the embedding scale, the
// optional final logit soft-cap, and the refusals of bad values; and synth's gemma3-only options.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "gguf_edit.h"
#include "graph/executor.h"
#include "model/model.h"
#include "model/synth.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;
using gguf::Value;

class Gemma3Arch : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lingua-gemma3-arch-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    SynthSpec s;
    s.arch = "gemma3";
    s.dim = 64, s.layers = 6, s.heads = 4, s.kv_heads = 2, s.head_dim = 32, s.ffn = 128, s.vocab = 300;
    s.rope_base = 1e6f;
    s.sliding_window = 5, s.sliding_window_pattern = 3;
    s.tied_output = true;  // as Gemma
    path_ = (dir_ / "gemma3.gguf").string();
    ASSERT_TRUE(write_synth_model(s, path_).is_ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string edited(const testing::GgufEdit& edit) {
    const std::string to = (dir_ / ("edited-" + std::to_string(count_++) + ".gguf")).string();
    EXPECT_TRUE(testing::write_edited_gguf(path_, to, edit).is_ok());
    return to;
  }
  static std::vector<const Op*> ops_of(const Graph& g, OpKind kind) {
    std::vector<const Op*> out;
    for (const Op& op : g.ops())
      if (op.kind == kind) out.push_back(&op);
    return out;
  }

  fs::path dir_;
  std::string path_;
  int count_ = 0;
};

TEST_F(Gemma3Arch, LocalAndGlobalLayersFollowThePattern) {
  auto m = Model::load(path_);
  ASSERT_TRUE(m) << m.error();
  const Graph& g = (*m)->graph();
  const auto attention = ops_of(g, OpKind::kAttention);
  const auto ropes = ops_of(g, OpKind::kRope);
  ASSERT_EQ(attention.size(), 6u);
  ASSERT_EQ(ropes.size(), 12u);
  for (size_t l = 0; l < 6; ++l) {
    const bool local = l % 3 < 2;  // blocks 2 and 5 are global
    EXPECT_EQ(attention[l]->attn.sliding_window, local ? 5 : 0) << "block " << l;
    EXPECT_FLOAT_EQ(attention[l]->attn.scale, 1.0f / std::sqrt(32.0f)) << "the head width, not dim/heads";
    EXPECT_EQ(attention[l]->attn.head_dim, 32);
    for (const Op* rope : {ropes[2 * l], ropes[2 * l + 1]}) {
      EXPECT_FLOAT_EQ(rope->rope.freq_base, local ? 10000.0f : 1e6f) << "block " << l;
      EXPECT_TRUE(rope->rope.neox);
    }
  }
  // The embedding is scaled by sqrt(dim) before the first block; no soft-cap without the key.
  ASSERT_EQ(g.op(1).kind, OpKind::kScale);
  EXPECT_FLOAT_EQ(g.op(1).factor, 8.0f);
  EXPECT_EQ(g.op(g.output()).kind, OpKind::kMatMul);
  EXPECT_EQ(g.op(g.output()).weight.data, g.op(0).weight.data) << "tied output reads the embedding";
}

TEST_F(Gemma3Arch, RopeScalingAppliesToGlobalLayersOnly) {
  auto m = Model::load(edited({{{"gemma3.rope.scaling.type", Value::str("linear")},
                                {"gemma3.rope.scaling.factor", Value::f32(8.0f)},
                                {"gemma3.rope.freq_base_swa", Value::f32(20000.0f)}},
                               ""}));
  ASSERT_TRUE(m) << m.error();
  const auto ropes = ops_of((*m)->graph(), OpKind::kRope);
  for (size_t i = 0; i < ropes.size(); ++i) {
    const bool local = (i / 2) % 3 < 2;
    EXPECT_FLOAT_EQ(ropes[i]->rope.freq_scale, local ? 1.0f : 0.125f) << i;
    EXPECT_FLOAT_EQ(ropes[i]->rope.freq_base, local ? 20000.0f : 1e6f) << i;
  }
}

TEST_F(Gemma3Arch, WithoutASlidingWindowEveryLayerIsGlobal) {
  auto m = Model::load(edited({{{"gemma3.attention.sliding_window", std::nullopt}}, ""}));
  ASSERT_TRUE(m) << m.error();
  for (const Op* a : ops_of((*m)->graph(), OpKind::kAttention)) EXPECT_EQ(a->attn.sliding_window, 0);
  for (const Op* r : ops_of((*m)->graph(), OpKind::kRope)) EXPECT_FLOAT_EQ(r->rope.freq_base, 1e6f);
  // The default pattern is llama.cpp's 6: with 6 blocks only the last is global.
  auto six = Model::load(edited({{{"gemma3.attention.sliding_window_pattern", std::nullopt}}, ""}));
  ASSERT_TRUE(six) << six.error();
  const auto attention = ops_of((*six)->graph(), OpKind::kAttention);
  for (size_t l = 0; l < attention.size(); ++l) EXPECT_EQ(attention[l]->attn.sliding_window, l < 5 ? 5 : 0) << l;
}

TEST_F(Gemma3Arch, FinalLogitSoftcapBoundsTheLogits) {
  auto plain = Model::load(path_);
  auto capped = Model::load(edited({{{"gemma3.final_logit_softcapping", Value::f32(0.05f)}}, ""}));
  ASSERT_TRUE(plain && capped);
  const Graph& g = (*capped)->graph();
  ASSERT_EQ(g.op(g.output()).kind, OpKind::kSoftcap);
  EXPECT_FLOAT_EQ(g.op(g.output()).factor, 0.05f);
  ExecutorConfig c;
  c.context = 16;
  auto a = Executor::create((*plain)->graph(), c);
  auto b = Executor::create(g, c);
  ASSERT_TRUE(a && b);
  ThreadPool pool(1);
  const int32_t tokens[4] = {1, 40, 77, 9};
  std::vector<float> raw, out;
  ASSERT_TRUE(a->forward(tokens, 4, 0, pool, raw).is_ok());
  ASSERT_TRUE(b->forward(tokens, 4, 0, pool, out).is_ok());
  ASSERT_EQ(raw.size(), out.size());
  bool some_capped = false;
  for (size_t i = 0; i < raw.size(); ++i) {
    EXPECT_NEAR(out[i], std::tanh(raw[i] / 0.05f) * 0.05f, 1e-6f) << i;
    EXPECT_LE(std::fabs(out[i]), 0.05f);
    some_capped |= std::fabs(raw[i]) > 0.1f;
  }
  EXPECT_TRUE(some_capped) << "the cap should bite on some logits of this model";
}

TEST_F(Gemma3Arch, BadValuesAreRefusedNamingTheKey) {
  for (const auto& [key, value] : std::vector<std::pair<std::string, Value>>{
           {"gemma3.attention.sliding_window", Value::u32(0)},
           {"gemma3.attention.sliding_window_pattern", Value::u32(0)},
           {"gemma3.rope.freq_base_swa", Value::f32(0.0f)},
           {"gemma3.rope.freq_base_swa", Value::f32(std::nanf(""))},
           {"gemma3.final_logit_softcapping", Value::f32(-1.0f)},
           {"gemma3.attention.value_length", Value::u32(16)}}) {
    auto m = Model::load(edited({{{key, value}}, ""}));
    ASSERT_FALSE(m) << key << " = " << value.to_display() << " was accepted";
    const std::string what = key == "gemma3.attention.value_length" ? "value head widths" : key;
    EXPECT_NE(m.error().find(what), std::string::npos) << m.error();
  }
  // A file without a per-head norm the architecture needs names the tensor.
  auto missing = Model::load(edited({{}, "blk.3.attn_q_norm"}));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("blk.3.attn_q_norm.weight"), std::string::npos) << missing.error();
}

TEST(Gemma3Synth, PresetAndOptionsOtherArchitecturesRefuse) {
  SynthSpec s;
  ASSERT_TRUE(apply_synth_preset("gemma3-1b", s).is_ok());
  EXPECT_EQ(s.arch, "gemma3");
  EXPECT_EQ(s.dim, 1152);
  EXPECT_EQ(s.layers, 26);
  EXPECT_EQ(s.heads, 4);
  EXPECT_EQ(s.kv_heads, 1);
  EXPECT_EQ(s.head_dim, 256);
  EXPECT_EQ(s.ffn, 6912);
  EXPECT_EQ(s.vocab, 262144);
  EXPECT_EQ(s.ctx, 32768);
  EXPECT_EQ(s.sliding_window, 512);
  EXPECT_EQ(s.sliding_window_pattern, 6);
  EXPECT_FLOAT_EQ(s.rope_base, 1e6f);
  EXPECT_FLOAT_EQ(s.rope_base_swa, 10000.0f);
  EXPECT_TRUE(s.tied_output);

  const auto path = (fs::temp_directory_path() / ("lingua-gemma3-synth-" + std::to_string(::getpid()) + ".gguf")).string();
  SynthSpec llama;
  llama.dim = 64, llama.layers = 1, llama.heads = 4, llama.kv_heads = 4, llama.ffn = 128, llama.vocab = 300;
  llama.sliding_window = 4;
  Status st = write_synth_model(llama, path);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("--sliding-window"), std::string::npos) << st.message();
  llama.sliding_window = 0;
  llama.head_dim = 32;
  st = write_synth_model(llama, path);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("--head-dim"), std::string::npos) << st.message();
  fs::remove(path);
}

}  // namespace
}  // namespace lingua
