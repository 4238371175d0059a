// Live migration through real worker processes: two sequences decode while the plan changes under
// them (boundaries moved, devices reordered, all on one device with the others on standby, back
// to three); the KV caches that change hands go worker -> head -> worker, and every logit stays
// bit-identical to the single-process run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "graph/partition.h"
#include "model/model.h"
#include "model/synth.h"
#include "net/keys.h"
#include "runtime/local_devices.h"
#include "runtime/pipeline.h"
#include "runtime/remote_pipeline.h"
#include "test_paths.h"

namespace lingua {
namespace {

int32_t argmax(const std::vector<float>& v) { return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin()); }

void expect_migrations_bit_exact(const std::string& model_path) {
  auto model = Model::load(model_path);
  ASSERT_TRUE(model) << model.error();
  const Graph& g = (*model)->graph();
  std::vector<int> attention;
  for (const Op& op : g.ops())
    if (op.kind == OpKind::kAttention) attention.push_back(op.id);
  ASSERT_GE(attention.size(), 3u);

  auto head = generate_keypair();
  ASSERT_TRUE(head) << head.error();
  auto local = LocalDevices::start(testing::lingua_binary(), {"m0", "m1", "m2"}, *head, false);
  ASSERT_TRUE(local) << local.error();
  std::vector<RemoteDevice> devices;
  for (const LocalWorker& w : (*local)->workers()) devices.push_back({w.name, w.endpoint, w.public_key, 1, 0, {}});
  RemoteOptions ro;
  ro.channel.own = *head;
  ro.model_path = std::filesystem::absolute(model_path).string();
  ro.file = &(*model)->file();
  ro.context = 64;
  ro.max_batch = 16;
  ro.max_sequences = 2;
  auto remote = RemotePipeline::connect(devices, ro);
  ASSERT_TRUE(remote) << remote.error();
  RemotePipeline& pipe = **remote;

  ExecutorConfig config;
  config.context = 64;
  config.max_batch = 16;
  ThreadPool pool(1);
  InProcessPipeline reference(g, Partition::whole(g), config, pool);

  auto cut = [&](std::vector<int> starts) {
    auto p = Partition::from_starts(g, starts);
    EXPECT_TRUE(p) << p.error();
    return *p;
  };
  const int first = attention.front() + 1, middle = attention[attention.size() / 2] + 1, last = attention.back();
  struct Phase {
    Partition partition;
    std::vector<int> holders;
  };
  const std::vector<Phase> phases = {
      {cut({first, middle}), {0, 1, 2}},
      {cut({last}), {2, 0}},               // boundary moved, devices in another order, m1 stands by
      {Partition::whole(g), {1}},          // everything to the device that stood by
      {cut({middle, last}), {1, 2, 0}},    // and out again
  };

  // Two sequences with their own prompts; both answered by both pipelines.
  std::vector<std::vector<int32_t>> prompts = {{1, 5, 9, 13, 17, 21}, {2, 40, 7}};
  std::vector<int32_t> next_token(2);
  std::vector<int64_t> pos(2);
  auto step_both = [&](bool prompt) {
    for (uint64_t s = 1; s <= 2; ++s) {
      const auto i = static_cast<size_t>(s - 1);
      const int32_t* tokens = prompt ? prompts[i].data() : &next_token[i];
      const int64_t n = prompt ? static_cast<int64_t>(prompts[i].size()) : 1;
      ASSERT_TRUE(pipe.submit(s, tokens, n, pos[i], true).is_ok());
      ASSERT_TRUE(reference.submit(s, tokens, n, pos[i], true).is_ok());
    }
    for (int k = 0; k < 2; ++k) {
      auto got = pipe.next();
      ASSERT_TRUE(got) << got.error();
      auto want = reference.next();
      ASSERT_TRUE(want) << want.error();
      // The pipelines may answer the two sequences in either order.
      StepLogits other = want->sequence == got->sequence ? std::move(*want) : *reference.next();
      ASSERT_EQ(other.sequence, got->sequence);
      ASSERT_EQ(got->logits.size(), other.logits.size());
      EXPECT_EQ(std::memcmp(got->logits.data(), other.logits.data(), got->logits.size() * sizeof(float)), 0)
          << "sequence " << got->sequence << " position " << got->position;
      if (want->sequence != got->sequence) {  // the reference answered the other sequence first: check it too
        auto second = pipe.next();
        ASSERT_TRUE(second) << second.error();
        ASSERT_EQ(second->sequence, want->sequence);
        EXPECT_EQ(std::memcmp(second->logits.data(), want->logits.data(), want->logits.size() * sizeof(float)), 0);
        next_token[static_cast<size_t>(second->sequence - 1)] = argmax(second->logits);
        ++k;
      }
      next_token[static_cast<size_t>(got->sequence - 1)] = argmax(got->logits);
    }
    for (size_t i = 0; i < 2; ++i) pos[i] += prompt ? static_cast<int64_t>(prompts[i].size()) : 1;
  };

  for (size_t p = 0; p < phases.size(); ++p) {
    SCOPED_TRACE("phase " + std::to_string(p));
    MoveCost cost;
    ASSERT_TRUE(pipe.configure(g, phases[p].partition, phases[p].holders, /*keep_kv=*/p > 0, &cost).is_ok());
    if (p > 0) {
      EXPECT_GT(cost.kv_bytes, 0u) << "attention layers changed hands, so KV bytes must have moved";
    }
    if (p == 0) step_both(true);
    for (int t = 0; t < 4; ++t) {
      step_both(false);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
  EXPECT_TRUE(pipe.end_sequence(1).is_ok());
  EXPECT_TRUE(pipe.end_sequence(2).is_ok());
}

TEST(LiveMigration, KvCachesMovedBetweenWorkersContinueBitExact) {
  expect_migrations_bit_exact(testing::source_dir() + "/models/kjv-fortunes-3M-f32.gguf");
}

// The same moves with sliding-window layers (gemma3, window 3, every other layer global): their
// caches are rings that have wrapped by the first move, and only the window travels.
TEST(LiveMigration, SlidingWindowRingsMoveBitExact) {
  const auto dir = std::filesystem::temp_directory_path() / ("lingua-live-migration-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  SynthSpec spec;
  spec.arch = "gemma3";
  spec.dim = 64, spec.layers = 4, spec.heads = 4, spec.kv_heads = 2, spec.ffn = 128, spec.vocab = 300;
  spec.sliding_window = 3, spec.sliding_window_pattern = 2;
  spec.seed = 3;
  const std::string path = (dir / "gemma3.gguf").string();
  ASSERT_TRUE(write_synth_model(spec, path).is_ok());
  expect_migrations_bit_exact(path);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lingua
