// Executor on hand-built graphs: exact results for tiny cases, and the invariants every later
// layer leans on (batched == token-by-token, last-row-only == all rows, buffer reuse is safe).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "graph/executor.h"
#include "tiny_model.h"

namespace lingua {
namespace {
using testing::f32_matrix;
using testing::TinyModel;

TEST(Executor, EmbedNormMatmulExact) {
  // vocab 3, dim 2: token 2 embeds to (3, 4); rms = sqrt(12.5); output = identity.
  std::vector<float> embd = {1, 0, 0, 1, 3, 4};
  std::vector<float> out_w = {1, 0, 0, 1, 1, 1};
  std::vector<float> norm = {1, 1};
  Graph g;
  Op e;
  e.name = "token_embd";
  e.kind = OpKind::kEmbed;
  e.weight = f32_matrix(embd, 3, 2);
  e.out_dim = 2;
  int x = g.add(e);
  Op n;
  n.name = "output_norm";
  n.kind = OpKind::kRmsNorm;
  n.inputs = {x};
  n.out_dim = 2;
  n.norm = norm.data();
  n.eps = 0.0f;
  x = g.add(n);
  Op m;
  m.name = "output";
  m.kind = OpKind::kMatMul;
  m.inputs = {x};
  m.weight = f32_matrix(out_w, 3, 2);
  m.out_dim = 3;
  g.add(m);
  auto ex = Executor::create(g, ExecutorConfig{});
  ASSERT_TRUE(ex) << ex.error();
  ThreadPool pool(1);
  std::vector<float> logits;
  const int32_t token = 2;
  ASSERT_TRUE(ex->forward(&token, 1, 0, pool, logits).is_ok());
  const float r = std::sqrt(12.5f);
  ASSERT_EQ(logits.size(), 3u);
  EXPECT_NEAR(logits[0], 3 / r, 1e-6);
  EXPECT_NEAR(logits[1], 4 / r, 1e-6);
  EXPECT_NEAR(logits[2], 7 / r, 1e-6);
}

TEST(Executor, BatchedEqualsTokenByToken) {
  TinyModel m;
  ASSERT_TRUE(m.graph.validate().is_ok()) << m.graph.validate().message();
  const std::vector<int32_t> tokens = {1, 5, 3, 10, 0, 7, 7};
  ThreadPool pool(2);
  auto batched = Executor::create(m.graph, ExecutorConfig{32, 8});
  auto single = Executor::create(m.graph, ExecutorConfig{32, 8});
  ASSERT_TRUE(batched && single);
  std::vector<float> all, one;
  ASSERT_TRUE(batched->forward(tokens.data(), 7, 0, pool, all, true).is_ok());
  ASSERT_EQ(all.size(), 7u * TinyModel::kVocab);
  for (int64_t t = 0; t < 7; ++t) {
    ASSERT_TRUE(single->forward(&tokens[static_cast<size_t>(t)], 1, t, pool, one).is_ok());
    for (int64_t v = 0; v < TinyModel::kVocab; ++v)
      EXPECT_NEAR(all[static_cast<size_t>(t * TinyModel::kVocab + v)], one[static_cast<size_t>(v)], 1e-4)
          << "token " << t;
  }
}

TEST(Executor, LastRowOnlyEqualsLastOfAll) {
  TinyModel m;
  const std::vector<int32_t> tokens = {4, 2, 9, 1};
  ThreadPool pool(1);
  auto a = Executor::create(m.graph, ExecutorConfig{16, 4});
  auto b = Executor::create(m.graph, ExecutorConfig{16, 4});
  std::vector<float> all, last;
  ASSERT_TRUE(a->forward(tokens.data(), 4, 0, pool, all, true).is_ok());
  ASSERT_TRUE(b->forward(tokens.data(), 4, 0, pool, last, false).is_ok());
  ASSERT_EQ(last.size(), static_cast<size_t>(TinyModel::kVocab));
  for (int64_t v = 0; v < TinyModel::kVocab; ++v)
    EXPECT_FLOAT_EQ(last[static_cast<size_t>(v)], all[static_cast<size_t>(3 * TinyModel::kVocab + v)]);
}

TEST(Executor, AttentionByHand) {
  // q = k = v = the embedding (identity projections), one head of width 4, scale 0.5.
  // Position 0 attends only to itself; position 1 weighs positions by softmax([0, 4] * 0.5).
  std::vector<float> embd = {1, 0, 0, 0, 0, 2, 0, 0};
  std::vector<float> eye = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
  Graph g;
  Op e;
  e.name = "token_embd";
  e.kind = OpKind::kEmbed;
  e.weight = f32_matrix(embd, 2, 4);
  e.out_dim = 4;
  int x = g.add(e);
  std::vector<int> qkv;
  for (const char* name : {"q", "k", "v"}) {
    Op m;
    m.name = name;
    m.kind = OpKind::kMatMul;
    m.inputs = {x};
    m.weight = f32_matrix(eye, 4, 4);
    m.out_dim = 4;
    qkv.push_back(g.add(m));
  }
  Op a;
  a.name = "attention";
  a.kind = OpKind::kAttention;
  a.inputs = qkv;
  a.out_dim = 4;
  a.attn = AttentionParams{1, 1, 4, 0.5f};
  g.add(a);
  auto ex = Executor::create(g, ExecutorConfig{8, 2});
  ASSERT_TRUE(ex) << ex.error();
  ThreadPool pool(1);
  std::vector<float> out;
  const std::vector<int32_t> tokens = {0, 1};
  ASSERT_TRUE(ex->forward(tokens.data(), 2, 0, pool, out, true).is_ok());
  ASSERT_EQ(out.size(), 8u);
  EXPECT_FLOAT_EQ(out[0], 1.0f);
  EXPECT_FLOAT_EQ(out[1], 0.0f);
  const float p1 = std::exp(2.0f) / (1.0f + std::exp(2.0f));
  EXPECT_NEAR(out[4], 1.0f - p1, 1e-6);
  EXPECT_NEAR(out[5], 2.0f * p1, 1e-6);
  EXPECT_EQ(g.n_kv_slots(), 1);
}

TEST(Executor, RejectsBadCalls) {
  TinyModel m;
  ThreadPool pool(1);
  auto ex = Executor::create(m.graph, ExecutorConfig{4, 2});
  ASSERT_TRUE(ex);
  std::vector<float> logits;
  const std::vector<int32_t> tokens = {1, 2, 3};
  EXPECT_FALSE(ex->forward(tokens.data(), 3, 0, pool, logits).is_ok());  // batch too big
  Status full = ex->forward(tokens.data(), 2, 3, pool, logits);         // past the context
  EXPECT_NE(full.message().find("context is full"), std::string::npos) << full.message();
  const int32_t bad = TinyModel::kVocab;
  Status oov = ex->forward(&bad, 1, 0, pool, logits);
  EXPECT_NE(oov.message().find("outside the vocabulary"), std::string::npos) << oov.message();
}

TEST(Graph, ValidateNamesTheBadOp) {
  Graph g;
  Op op;
  op.name = "lonely_add";
  op.kind = OpKind::kAdd;
  op.inputs = {0, 0};
  op.out_dim = 4;
  g.add(op);
  Status s = g.validate();
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("lonely_add"), std::string::npos) << s.message();
}

TEST(Alibi, SlopesOfThePaper) {
  // 8 heads, max bias 8: 1/2, 1/4, ..., 1/256.
  const auto eight = alibi_slopes(8, 8.0f);
  ASSERT_EQ(eight.size(), 8u);
  for (int h = 0; h < 8; ++h) EXPECT_FLOAT_EQ(eight[static_cast<size_t>(h)], std::pow(2.0f, -(h + 1.0f))) << h;
  // 12 heads: the first 8 as above, then odd powers of 2^-0.5 fill the gaps: 2^-0.5, 2^-1.5, ...
  const auto twelve = alibi_slopes(12, 8.0f);
  ASSERT_EQ(twelve.size(), 12u);
  for (int h = 0; h < 8; ++h) EXPECT_FLOAT_EQ(twelve[static_cast<size_t>(h)], eight[static_cast<size_t>(h)]);
  for (int h = 8; h < 12; ++h) EXPECT_NEAR(twelve[static_cast<size_t>(h)], std::pow(2.0f, -0.5f - (h - 8)), 1e-6) << h;
  EXPECT_TRUE(alibi_slopes(8, 0.0f).empty());
}

// LayerNorm (with bias), GELU and per-group RMSNorm on one row small enough to check by hand:
// out = gelu(layer_norm(x)) + head_norm(x) for x = [1, 2, 3, 4, 5, 6].
TEST(Executor, NormsAndGeluByHand) {
  std::vector<float> embd = {1, 2, 3, 4, 5, 6};
  std::vector<float> ones(6, 1.0f), bias = {0.5f, -0.5f, 0, 0, 0, 0};
  Graph g;
  Op e;
  e.name = "token_embd";
  e.kind = OpKind::kEmbed;
  e.weight = f32_matrix(embd, 1, 6);
  e.out_dim = 6;
  const int x = g.add(e);
  Op ln;
  ln.name = "layer_norm";
  ln.kind = OpKind::kLayerNorm;
  ln.inputs = {x};
  ln.out_dim = 6;
  ln.norm = ones.data();
  ln.bias = bias.data();
  ln.eps = 0.0f;
  Op ge;
  ge.name = "gelu";
  ge.kind = OpKind::kGelu;
  ge.inputs = {g.add(ln)};
  ge.out_dim = 6;
  const int gelu = g.add(ge);
  Op rn;
  rn.name = "head_norm";
  rn.kind = OpKind::kRmsNorm;
  rn.inputs = {x};
  rn.out_dim = 6;
  rn.norm = ones.data();
  rn.norm_group = 2;
  rn.eps = 0.0f;
  const int head_norm = g.add(rn);
  Op sum;
  sum.name = "sum";
  sum.kind = OpKind::kAdd;
  sum.inputs = {gelu, head_norm};
  sum.out_dim = 6;
  g.add(sum);

  auto ex = Executor::create(g, ExecutorConfig{4, 1});
  ASSERT_TRUE(ex) << ex.error();
  ThreadPool pool(1);
  std::vector<float> out;
  const int32_t token = 0;
  ASSERT_TRUE(ex->forward(&token, 1, 0, pool, out).is_ok());
  ASSERT_EQ(out.size(), 6u);
  const double mean = 3.5, sd = std::sqrt(17.5 / 6.0);
  const double rms[3] = {std::sqrt(2.5), std::sqrt(12.5), std::sqrt(30.5)};  // of (1,2), (3,4), (5,6)
  for (int i = 0; i < 6; ++i) {
    const double n = (embd[static_cast<size_t>(i)] - mean) / sd + bias[static_cast<size_t>(i)];
    const double gelu_n = 0.5 * n * (1.0 + std::tanh(0.7978845608 * (n + 0.044715 * n * n * n)));
    const double want = gelu_n + embd[static_cast<size_t>(i)] / rms[i / 2];
    EXPECT_NEAR(out[static_cast<size_t>(i)], want, 2e-3) << i;  // GELU goes through f16
  }
}

TEST(Executor, AlibiAttentionByHand) {
  // One head, q = k = 0 everywhere, so scores are only the ALiBi bias: position 1 weighs
  // positions 0 and 1 by softmax([-slope, 0]).
  std::vector<float> embd = {0, 0, 1, 0, 0, 0, 0, 3};
  Graph g;
  Op e;
  e.name = "token_embd";
  e.kind = OpKind::kEmbed;
  e.weight = f32_matrix(embd, 2, 4);
  e.out_dim = 4;
  const int x = g.add(e);
  std::vector<int> parts;
  for (int64_t off : {0, 0, 2}) {
    Op s;
    s.name = "part" + std::to_string(parts.size());
    s.kind = OpKind::kSlice;
    s.inputs = {x};
    s.slice_offset = off;
    s.out_dim = 2;
    parts.push_back(g.add(s));
  }
  Op a;
  a.name = "attention";
  a.kind = OpKind::kAttention;
  a.inputs = parts;
  a.out_dim = 2;
  a.attn = AttentionParams{1, 1, 2, 1.0f, 1.0f};  // one head, max bias 1: slope 1/2
  g.add(a);
  auto ex = Executor::create(g, ExecutorConfig{8, 2});
  ASSERT_TRUE(ex) << ex.error();
  ThreadPool pool(1);
  std::vector<float> out;
  const std::vector<int32_t> tokens = {0, 1};
  ASSERT_TRUE(ex->forward(tokens.data(), 2, 0, pool, out, true).is_ok());
  // v at position 0 = [1, 0], at position 1 = [0, 3].
  const float p0 = std::exp(-0.5f) / (std::exp(-0.5f) + 1.0f);
  EXPECT_NEAR(out[2], p0 * 1.0f, 1e-6);
  EXPECT_NEAR(out[3], (1.0f - p0) * 3.0f, 1e-6);
}

TEST(Graph, SliceOutsideItsInputIsRejected) {
  std::vector<float> embd(8, 1.0f);
  Graph g;
  Op e;
  e.name = "token_embd";
  e.kind = OpKind::kEmbed;
  e.weight = f32_matrix(embd, 2, 4);
  e.out_dim = 4;
  g.add(e);
  Op s;
  s.name = "too_far";
  s.kind = OpKind::kSlice;
  s.inputs = {0};
  s.slice_offset = 3;
  s.out_dim = 2;
  g.add(s);
  Status st = g.validate();
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("too_far"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace lingua
