// Model::keep_in_huge_pages packs the matrices the active kernels have a layout for: logits stay
// those of the file's bytes (within float rounding), ops leaving the range read the file again,
// and a tied embedding keeps its file bytes for the lookup.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "graph/executor.h"
#include "kernels/kernels.h"
#include "kernels/packing.h"
#include "model/model.h"
#include "model/synth.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;

std::string synth(DType type, const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("lingua-packed-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  SynthSpec spec;
  spec.dim = 128;
  spec.layers = 2;
  spec.heads = 4;
  spec.kv_heads = 2;
  spec.ffn = 352;
  spec.vocab = 320;
  spec.ctx = 64;
  spec.type = type;
  const std::string path = (dir / name).string();
  const Status st = write_synth_model(spec, path);
  EXPECT_TRUE(st.is_ok()) << st.message();
  return path;
}

std::vector<std::vector<float>> logits_of(const Model& model, int n) {
  ThreadPool pool(2);
  auto exec = Executor::create(model.graph(), ExecutorConfig{64, 8});
  EXPECT_TRUE(exec.has_value()) << exec.error();
  if (!exec) return {};
  std::vector<std::vector<float>> out;
  std::vector<float> logits;
  // A prompt of 5 tokens at once (the tiled path), then decode steps.
  const std::vector<TokenId> prompt{1, 17, 42, 99, 300};
  if (!exec->forward(prompt.data(), 5, 0, pool, logits)) return {};
  out.push_back(logits);
  for (int pos = 5; pos < 5 + n; ++pos) {
    const TokenId tok = static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    const Status st = exec->forward(&tok, 1, pos, pool, logits);
    EXPECT_TRUE(st.is_ok()) << st.message();
    out.push_back(logits);
  }
  return out;
}

int packed_ops(const Model& model) {
  int n = 0;
  for (const Op& op : model.graph().ops()) n += op.weight.packed ? 1 : 0;
  return n;
}

class PackedWeights : public ::testing::TestWithParam<DType> {};

TEST_P(PackedWeights, SameLogitsAndBackToTheFileWhenOpsLeave) {
  const DType type = GetParam();
  auto model = Model::load(synth(type, std::string(dtype_name(type)) + ".gguf"));
  ASSERT_TRUE(model.has_value()) << model.error();
  Model& m = **model;
  const auto plain = logits_of(m, 6);
  ASSERT_EQ(plain.size(), 7u);

  auto held = m.keep_in_huge_pages(0, m.graph().size() - 1);
  ASSERT_TRUE(held.has_value()) << held.error();
  const MatrixView probe{type, nullptr, kernels::kPackRows, 128, 0};
  if (kernels::packed_bytes(probe) == 0) {
    EXPECT_EQ(packed_ops(m), 0);
    EXPECT_EQ(m.packed_bytes(), 0u);
    GTEST_SKIP() << "the active kernels (" << kernels::active_isa() << ") have no packed layout for " << dtype_name(type);
  }
  // Every matrix has a multiple of 16 rows (128, 64, 352, 320): all are packed.
  int matmuls = 0;
  for (const Op& op : m.graph().ops()) matmuls += op.kind == OpKind::kMatMul ? 1 : 0;
  EXPECT_EQ(packed_ops(m), matmuls);
  EXPECT_GT(m.packed_bytes(), 0u);
  EXPECT_GE(*held, m.packed_bytes());
  for (const Op& op : m.graph().ops())
    if (op.kind == OpKind::kEmbed) {
      EXPECT_FALSE(op.weight.packed) << "the lookup reads rows";
    }

  const auto packed = logits_of(m, 6);
  ASSERT_EQ(packed.size(), plain.size());
  for (size_t s = 0; s < plain.size(); ++s) {
    double amax = 0, diff = 0;
    for (size_t i = 0; i < plain[s].size(); ++i) {
      amax = std::max(amax, std::fabs(static_cast<double>(plain[s][i])));
      diff = std::max(diff, std::fabs(static_cast<double>(plain[s][i]) - packed[s][i]));
    }
    EXPECT_LE(diff, 1e-4 * amax + 1e-6) << "step " << s;  // summation order only
    EXPECT_EQ(std::max_element(plain[s].begin(), plain[s].end()) - plain[s].begin(),
              std::max_element(packed[s].begin(), packed[s].end()) - packed[s].begin());
  }

  // A boundary move: the ops of block 0 leave, theirs go back to the file's bytes.
  const int half = m.graph().size() / 2;
  held = m.keep_in_huge_pages(half, m.graph().size() - 1);
  ASSERT_TRUE(held.has_value()) << held.error();
  for (const Op& op : m.graph().ops()) {
    if (op.kind != OpKind::kMatMul) continue;
    EXPECT_EQ(op.weight.packed, op.id >= half) << op.name;
    if (!op.weight.packed) {
      EXPECT_EQ(m.file().find_tensor(op.weights.front().tensor)->data, op.weight.data) << op.name;
    }
  }
  const auto moved = logits_of(m, 6);
  ASSERT_EQ(moved.size(), plain.size());
  for (size_t s = 0; s < plain.size(); ++s)
    EXPECT_EQ(std::max_element(plain[s].begin(), plain[s].end()) - plain[s].begin(),
              std::max_element(moved[s].begin(), moved[s].end()) - moved[s].begin());

  // Nothing held: every matrix reads the file again.
  held = m.keep_in_huge_pages(1, 0);
  ASSERT_TRUE(held.has_value()) << held.error();
  EXPECT_EQ(packed_ops(m), 0);
  EXPECT_EQ(m.packed_bytes(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Types, PackedWeights, ::testing::Values(DType::Q4_0, DType::Q8_0),
                         [](const auto& param_info) { return std::string(dtype_name(param_info.param)); });

}  // namespace
}  // namespace lingua
