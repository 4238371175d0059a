// lingua quantize: every preset must give each tensor llama.cpp's type, load, and stay close to
// the f32 model it came from; bad inputs must fail with a message.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "graph/executor.h"
#include "model/gguf.h"
#include "model/model.h"
#include "model/quantize.h"
#include "model/synth.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;

fs::path scratch_dir() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("lingua-quantize-test-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

// The f32 source model, written once: dim 256 so every K-quant fits, 2 layers so layer 0 and
// layer 1 fall on different sides of the "more bits" rule.
const std::string& f32_model() {
  static const std::string path = [] {
    SynthSpec spec;
    spec.dim = 256;
    spec.layers = 2;
    spec.heads = 4;
    spec.kv_heads = 4;
    spec.ffn = 512;
    spec.vocab = 300;
    spec.ctx = 64;
    const std::string p = (scratch_dir() / "f32.gguf").string();
    const Status st = write_synth_model(spec, p);
    EXPECT_TRUE(st.is_ok()) << st.message();
    return p;
  }();
  return path;
}

std::vector<std::vector<float>> logits_of(const std::string& path, int n) {
  auto model = Model::load(path);
  EXPECT_TRUE(model.has_value()) << model.error();
  if (!model) return {};
  ThreadPool pool(2);
  auto exec = Executor::create((*model)->graph(), ExecutorConfig{64, 4});
  EXPECT_TRUE(exec.has_value()) << exec.error();
  if (!exec) return {};
  std::vector<std::vector<float>> out;
  std::vector<float> logits;
  TokenId tok = (*model)->vocab().bos;
  for (int pos = 0; pos < n; ++pos) {
    const Status st = exec->forward(&tok, 1, pos, pool, logits);
    EXPECT_TRUE(st.is_ok()) << st.message();
    if (!st) break;
    out.push_back(logits);
    tok = static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  return out;
}

size_t argmax(const std::vector<float>& v) { return static_cast<size_t>(std::max_element(v.begin(), v.end()) - v.begin()); }

struct Case {
  const char* type;
  uint32_t file_type;
  DType def, output, v0, v1;  // default matrices, output.weight, attn_v/ffn_down in layers 0 and 1
  double max_rel_logit_rms;   // <0: not checked
};

class QuantizePreset : public ::testing::TestWithParam<Case> {};

TEST_P(QuantizePreset, TypesFollowRulesAndModelRuns) {
  const Case c = GetParam();
  auto preset = parse_quant_preset(c.type);
  ASSERT_TRUE(preset.has_value()) << preset.error();
  const std::string out = (scratch_dir() / (std::string(c.type) + ".gguf")).string();
  uint64_t last_done = 0, last_total = 0;
  auto stats = quantize_model(f32_model(), out, *preset, 2, [&](uint64_t d, uint64_t t) { last_done = d, last_total = t; });
  ASSERT_TRUE(stats.has_value()) << stats.error();
  EXPECT_EQ(last_done, last_total);
  EXPECT_GT(last_total, 0u);
  EXPECT_EQ(stats->tensors_quantized, 1u + 2u * 7u + 1u);
  EXPECT_EQ(stats->tensors_copied, 2u * 2u + 1u);
  EXPECT_GT(stats->rms_error, 0.0);
  EXPECT_LT(stats->rms_error, 0.2 * stats->rms_weight);
  std::printf("[ %-6s ] weight RMS error %.3g = %.2f%% of weight RMS %.3g\n", c.type, stats->rms_error,
              100.0 * stats->rms_error / stats->rms_weight, stats->rms_weight);

  auto f = gguf::File::open(out);
  ASSERT_TRUE(f.has_value()) << f.error();
  EXPECT_EQ(f->get_u64("general.file_type").value(), c.file_type);
  auto src = gguf::File::open(f32_model());
  ASSERT_TRUE(src.has_value());
  EXPECT_EQ(f->metadata().size(), src->metadata().size() + 1);  // + general.quantization_version
  EXPECT_EQ(f->get_string("general.name").value(), src->get_string("general.name").value());
  for (const auto& t : f->tensors()) {
    SCOPED_TRACE(t.name);
    DType want = c.def;
    if (t.dims.size() == 1) want = DType::F32;
    else if (t.name == "output.weight") want = c.output;
    else if (t.name.find("attn_v") != std::string::npos || t.name.find("ffn_down") != std::string::npos)
      want = t.name.rfind("blk.0.", 0) == 0 ? c.v0 : c.v1;
    EXPECT_EQ(dtype_name(t.type), std::string(dtype_name(want)));
    EXPECT_EQ(t.dims, src->find_tensor(t.name)->dims);
  }

  const auto ref = logits_of(f32_model(), 3);
  const auto got = logits_of(out, 3);
  ASSERT_EQ(ref.size(), 3u);
  ASSERT_EQ(got.size(), 3u);
  for (const auto& l : got)
    for (float x : l) ASSERT_TRUE(std::isfinite(x));
  double d2 = 0.0, r2 = 0.0;
  for (size_t i = 0; i < ref[0].size(); ++i) {
    d2 += (got[0][i] - ref[0][i]) * (got[0][i] - ref[0][i]);
    r2 += ref[0][i] * ref[0][i];
  }
  const double rel = std::sqrt(d2 / r2);
  std::printf("[ %-6s ] first-token logits: relative RMS difference %.4f, argmax %zu (f32 %zu)\n", c.type, rel,
              argmax(got[0]), argmax(ref[0]));
  if (c.max_rel_logit_rms >= 0) {
    EXPECT_LT(rel, c.max_rel_logit_rms);
    EXPECT_EQ(argmax(got[0]), argmax(ref[0]));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Presets, QuantizePreset,
    ::testing::Values(Case{"Q8_0", 7, DType::Q8_0, DType::Q8_0, DType::Q8_0, DType::Q8_0, 0.02},
                      Case{"q4_0", 2, DType::Q4_0, DType::Q6_K, DType::Q4_0, DType::Q4_0, -1},
                      Case{"Q4_K_M", 15, DType::Q4_K, DType::Q6_K, DType::Q4_K, DType::Q6_K, -1},
                      Case{"q5_k_m", 17, DType::Q5_K, DType::Q6_K, DType::Q5_K, DType::Q6_K, -1},
                      Case{"Q6_K", 18, DType::Q6_K, DType::Q6_K, DType::Q6_K, DType::Q6_K, 0.05}),
    [](const auto& p) { return std::string(p.param.type); });

TEST(Quantize, MoreBitsLayersAndWidthFallbacks) {
  // 32 layers: the first and last 4, and every third in between, get Q6_K.
  std::vector<int> six;
  for (int l = 0; l < 32; ++l)
    if (quant_tensor_type(QuantPreset::Q4_K_M, "blk." + std::to_string(l) + ".ffn_down.weight", 4096, 32, true) ==
        DType::Q6_K)
      six.push_back(l);
  EXPECT_EQ(six, (std::vector<int>{0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31}));
  EXPECT_EQ(quant_tensor_type(QuantPreset::Q4_K_M, "blk.4.attn_q.weight", 4096, 32, true), DType::Q4_K);
  EXPECT_EQ(quant_tensor_type(QuantPreset::Q4_K_M, "blk.4.attn_qkv.weight", 1024, 24, true), DType::Q5_K);
  EXPECT_EQ(quant_tensor_type(QuantPreset::Q5_K_M, "blk.4.attn_qkv.weight", 1024, 24, true), DType::Q6_K);
  EXPECT_EQ(quant_tensor_type(QuantPreset::Q4_0, "blk.4.attn_qkv.weight", 1024, 24, true), DType::Q4_0);
  EXPECT_EQ(quant_tensor_type(QuantPreset::Q4_K_M, "blk.4.attn_q.weight", 288, 32, true), DType::Q5_0);
  EXPECT_EQ(quant_tensor_type(QuantPreset::Q5_K_M, "blk.4.attn_q.weight", 288, 32, true), DType::Q8_0);
  EXPECT_EQ(quant_tensor_type(QuantPreset::Q6_K, "blk.4.attn_q.weight", 288, 32, true), DType::Q8_0);
  EXPECT_EQ(quant_tensor_type(QuantPreset::Q4_K_M, "output.weight", 288, 32, true), DType::Q8_0);
  EXPECT_EQ(quant_tensor_type(QuantPreset::Q8_0, "output.weight", 40, 32, true), DType::F16);
  // Tied embeddings: token_embd produces the logits, so it is treated as the output matrix.
  EXPECT_EQ(quant_tensor_type(QuantPreset::Q4_K_M, "token_embd.weight", 4096, 32, false), DType::Q6_K);
  EXPECT_EQ(quant_tensor_type(QuantPreset::Q4_K_M, "token_embd.weight", 4096, 32, true), DType::Q4_K);
}

TEST(Quantize, UnknownTypeListsSupported) {
  auto p = parse_quant_preset("Q3_K_S");
  ASSERT_FALSE(p.has_value());
  EXPECT_NE(p.error().find("Q3_K_S"), std::string::npos);
  EXPECT_NE(p.error().find("Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K"), std::string::npos);
}

TEST(Quantize, MissingInputAndUnwritableOutputFail) {
  const std::string missing = (scratch_dir() / "does-not-exist.gguf").string();
  auto r = quantize_model(missing, (scratch_dir() / "x.gguf").string(), QuantPreset::Q8_0, 1);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().find("does-not-exist.gguf"), std::string::npos) << r.error();
  auto w = quantize_model(f32_model(), (scratch_dir() / "no-such-dir" / "x.gguf").string(), QuantPreset::Q8_0, 1);
  ASSERT_FALSE(w.has_value());
  EXPECT_NE(w.error().find("no-such-dir"), std::string::npos) << w.error();
  auto same = quantize_model(f32_model(), f32_model(), QuantPreset::Q8_0, 1);
  ASSERT_FALSE(same.has_value());
  EXPECT_NE(same.error().find("is the input file"), std::string::npos) << same.error();
}

TEST(Quantize, NotGgufFails) {
  const fs::path p = scratch_dir() / "not.gguf";
  if (FILE* f = std::fopen(p.c_str(), "wb")) {
    std::fputs("this is not a model file at all, just text", f);
    std::fclose(f);
  }
  auto r = quantize_model(p.string(), (scratch_dir() / "y.gguf").string(), QuantPreset::Q4_0, 1);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().find("not.gguf"), std::string::npos) << r.error();
}

TEST(Quantize, UncomputableTensorTypeIsNamed) {
  gguf::Writer w;
  w.set("general.architecture", gguf::Value::str("llama"));
  ASSERT_TRUE(w.add_tensor("blk.0.attn_q.weight", DType::Q4_1, {32, 2}).is_ok());
  const std::string in = (scratch_dir() / "q4_1.gguf").string();
  ASSERT_TRUE(w.write(in, [](size_t, uint8_t* dst, uint64_t bytes) {
                 std::fill(dst, dst + bytes, uint8_t{0});
                 return Status::ok();
               }).is_ok());
  auto r = quantize_model(in, (scratch_dir() / "z.gguf").string(), QuantPreset::Q8_0, 1);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().find("blk.0.attn_q.weight"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("q4_1"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace lingua
