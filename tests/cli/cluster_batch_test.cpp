// Continuous batching on the distributed path: ClusterRun::submit_batch over 2 and 3 local worker
// processes (the built `lingua`), 4 to 8 sequences per step (prompt chunks beside decodes), every
// sequence getting the greedy tokens and, within rounding, the logits it gets alone in-process;
// and a worker killed with a batch in flight, after which the replayed batches give the same.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "model/model.h"
#include "model/synth.h"
#include "runtime/cluster_run.h"
#include "runtime/local_devices.h"
#include "runtime/pipeline.h"
#include "test_paths.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;

const fs::path& scratch() {
  static const fs::path dir = [] {
    auto d = fs::temp_directory_path() / ("lingua-cluster-batch-" + std::to_string(getpid()));
    fs::create_directories(d);
    std::atexit([] { fs::remove_all(scratch()); });
    return d;
  }();
  return dir;
}

struct TestModel {
  std::string name, path;
  float tolerance;  // as tests/runtime/batch_pipeline_test.cpp measured for batched against alone
};

std::vector<TestModel> test_models() {
  std::vector<TestModel> out{{"kjv", testing::source_dir() + "/models/kjv-fortunes-3M-f32.gguf", 1e-4f}};
  SynthSpec llama;
  llama.dim = 128, llama.layers = 3, llama.heads = 4, llama.kv_heads = 2, llama.ffn = 256, llama.vocab = 300;
  llama.type = DType::Q4_0;
  llama.seed = 3;
  const std::string path = (scratch() / "llama-q4_0.gguf").string();
  if (write_synth_model(llama, path).is_ok()) out.push_back({"llama-q4_0", path, 0.05f});
  return out;
}

// Loaded as `lingua generate` and the workers load it (weights held, so packed kernels run).
Expected<std::unique_ptr<Model>> load_held(const std::string& path) {
  auto model = Model::load(path);
  if (!model) return model;
  if (auto held = (*model)->keep_in_huge_pages(0, (*model)->graph().size() - 1); !held) return held.status();
  return model;
}

int32_t argmax(const std::vector<float>& row) {
  return static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

// The local worker process (a child of this test) playing device `name`; -1 when none.
pid_t worker_pid(const std::string& name) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string pid = entry.path().filename().string();
    if (pid.empty() || !std::all_of(pid.begin(), pid.end(), ::isdigit)) continue;
    std::ifstream status(entry.path() / "status");
    std::string line;
    pid_t parent = -1;
    while (std::getline(status, line))
      if (line.rfind("PPid:", 0) == 0) parent = static_cast<pid_t>(std::stol(line.substr(5)));
    if (parent != ::getpid()) continue;
    std::ifstream cmd(entry.path() / "cmdline");
    std::string argv((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
    std::replace(argv.begin(), argv.end(), '\0', ' ');
    if (argv.find(" worker ") != std::string::npos && argv.find("--name " + name + " ") != std::string::npos)
      return static_cast<pid_t>(std::stol(pid));
  }
  return -1;
}

struct Script {
  std::vector<int32_t> tokens;  // prompt, then what greedy decoding chose alone
  int64_t prompt = 0, chunk = 1, fed = 0;
  int start_step = 0;
  bool ended = false;
};

struct Outcome {
  float max_diff = 0;
  int greedy_mismatches = 0, answers = 0, max_in_a_step = 0;
  std::vector<std::string> events;
  size_t failovers = 0, migrations = 0;
  int64_t steps_before_kill = 0;  // sequence steps submitted up to the kill (every group of every batch)
};

// `count` sequences (prompts of 3..17 tokens fed 1..6 at a time, joining one step after another,
// then `decode` tokens each) as batch steps through `k` local devices, against each alone
// in-process. With kill_step >= 0 the worker of device `kill_device` is killed right after that
// step is submitted, so its answers are still to come.
Outcome run_scenario(const Model& model, const std::string& path, int k, size_t count, int decode, int kill_step = -1,
                     const std::string& kill_device = "") {
  Outcome outcome;
  const Graph& g = model.graph();
  ExecutorConfig config;
  config.context = 96;
  config.max_sequences = static_cast<int>(count);
  ThreadPool pool(1);
  InProcessPipeline alone(g, Partition::whole(g), config, pool);

  ClusterRunOptions o;
  o.model_path = path;
  o.context = config.context;
  o.max_sequences = static_cast<int>(count);
  o.all_local = true;
  o.insecure = true;
  o.worker_executable = testing::lingua_binary();
  o.balance.enabled = kill_step < 0;  // a failover test keeps every device busy with a segment until the kill
  o.on_event = [&](const std::string& line) { outcome.events.push_back(line); };
  const Partition cuts = local_devices_partition(g, k);
  std::vector<PlannedSegment> plan;
  for (int s = 0; s < cuts.size(); ++s) plan.push_back({"dev" + std::to_string(s), cuts.segments()[static_cast<size_t>(s)].first_op, cuts.segments()[static_cast<size_t>(s)].last_op});
  auto run = ClusterRun::start(model, local_devices_file(k, 1), plan, o);
  EXPECT_TRUE(run) << run.error();
  if (!run) return outcome;
  ClusterRun& cluster = **run;

  std::vector<Script> scripts(count);
  for (size_t i = 0; i < count; ++i) {
    Script& s = scripts[i];
    s.prompt = 3 + static_cast<int64_t>((i * 7) % 15);
    for (int64_t t = 0; t < s.prompt; ++t)
      s.tokens.push_back(static_cast<int32_t>((i * 31 + static_cast<size_t>(t) * 17 + 5) % static_cast<size_t>(g.vocab_size())));
    s.chunk = 1 + static_cast<int64_t>((i * 5) % 6);
    s.start_step = static_cast<int>(i);
  }
  for (int step = 0;; ++step) {
    std::vector<SequenceStep> steps;
    std::vector<size_t> who;
    for (size_t i = 0; i < count; ++i) {
      Script& s = scripts[i];
      if (step < s.start_step || s.fed >= s.prompt + decode) continue;
      const int64_t n = std::min(static_cast<int64_t>(s.tokens.size()) - s.fed, s.chunk);
      SequenceStep st;
      st.sequence = 1000 + i;
      st.tokens.assign(s.tokens.begin() + s.fed, s.tokens.begin() + s.fed + n);
      st.pos0 = s.fed;
      st.want_logits = s.fed + n == static_cast<int64_t>(s.tokens.size());
      steps.push_back(st);
      who.push_back(i);
    }
    if (steps.empty()) break;
    outcome.max_in_a_step = std::max(outcome.max_in_a_step, static_cast<int>(steps.size()));
    const Status st = cluster.submit_batch(steps);
    EXPECT_TRUE(st.is_ok()) << st.message();
    if (!st.is_ok()) return outcome;
    if (step <= kill_step) outcome.steps_before_kill += static_cast<int64_t>(steps.size());
    if (step == kill_step) {
      const pid_t victim = worker_pid(kill_device);
      EXPECT_GT(victim, 0) << "no worker process for " << kill_device;
      if (victim > 0) {
        EXPECT_EQ(::kill(victim, SIGKILL), 0);
      }
    }
    for (size_t j = 0; j < steps.size(); ++j) {
      const SequenceStep& s = steps[j];
      EXPECT_TRUE(alone.submit(s.sequence, s.tokens.data(), static_cast<int64_t>(s.tokens.size()), s.pos0, s.want_logits).is_ok());
      Script& script = scripts[who[j]];
      script.fed += static_cast<int64_t>(s.tokens.size());
      if (!s.want_logits) continue;
      auto got = cluster.next();
      auto want = alone.next();
      EXPECT_TRUE(got) << got.error();
      EXPECT_TRUE(want);
      if (!got || !want) return outcome;
      EXPECT_EQ(got->sequence, s.sequence) << "answers come in the order of the steps";
      EXPECT_EQ(got->position, s.pos0);
      EXPECT_EQ(got->logits.size(), want->logits.size());
      if (got->logits.size() != want->logits.size()) return outcome;
      for (size_t v = 0; v < want->logits.size(); ++v)
        outcome.max_diff = std::max(outcome.max_diff, std::fabs(got->logits[v] - want->logits[v]));
      outcome.greedy_mismatches += argmax(got->logits) != argmax(want->logits);
      ++outcome.answers;
      script.tokens.push_back(argmax(want->logits));
    }
    // A sequence is let go as soon as it is done, while the others go on (as a server does): a
    // later failover replays it beside them, since it shared their batches.
    for (size_t i = 0; i < count; ++i)
      if (!scripts[i].ended && scripts[i].fed >= scripts[i].prompt + decode) {
        scripts[i].ended = true;
        const Status ended = cluster.end_sequence(1000 + i);
        EXPECT_TRUE(ended.is_ok()) << ended.message();
      }
  }
  outcome.failovers = cluster.failovers().size();
  outcome.migrations = cluster.migrations().size();
  return outcome;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string all;
  for (const auto& l : lines) all += l + "\n";
  return all;
}

TEST(ClusterBatch, SequencesTogetherThroughLocalDevicesEqualEachAloneInProcess) {
  setenv("LINGUA_CACHE_DIR", (fs::path(testing::lingua_binary()).parent_path() / "test-profile-cache").c_str(), 1);
  const std::vector<TestModel> models = test_models();
  ASSERT_EQ(models.size(), 2u) << "the synth model could not be written";
  for (const TestModel& m : models) {
    auto model = load_held(m.path);
    ASSERT_TRUE(model) << model.error();
    for (int k : {2, 3}) {
      for (size_t count : {4u, 8u}) {
        const std::string what = m.name + ", " + std::to_string(k) + " devices, " + std::to_string(count) + " sequences";
        const Outcome o = run_scenario(**model, m.path, k, count, 12);
        EXPECT_EQ(o.max_in_a_step, static_cast<int>(count)) << what;
        EXPECT_EQ(o.answers, static_cast<int>(count) * 13) << what;  // the prompt's last chunk, then 12 decodes
        EXPECT_EQ(o.greedy_mismatches, 0) << what << "\n" << joined(o.events);
        EXPECT_LT(o.max_diff, m.tolerance) << what;
        std::cerr << what << ": largest |cluster batched - alone| logit difference " << o.max_diff << ", " << o.migrations
                  << " migration(s)\n";
      }
    }
  }
}

TEST(ClusterBatch, AWorkerKilledWithABatchInFlightIsReplacedAndTheTokensStayTheSame) {
  setenv("LINGUA_CACHE_DIR", (fs::path(testing::lingua_binary()).parent_path() / "test-profile-cache").c_str(), 1);
  const std::vector<TestModel> models = test_models();
  ASSERT_FALSE(models.empty());
  for (const TestModel& m : models) {
    auto model = load_held(m.path);
    ASSERT_TRUE(model) << model.error();
    // The middle device at step 9 (every sequence has joined, some still feed their prompts), the
    // first at step 14 (all decoding), the last at step 18 (4 of the 6 sequences have ended).
    for (const auto& [victim, at] : {std::pair<std::string, int>{"dev1", 9}, {"dev0", 14}, {"dev2", 18}}) {
      const std::string what = m.name + ", " + victim + " killed at step " + std::to_string(at);
      const Outcome o = run_scenario(**model, m.path, 3, 6, 12, at, victim);
      EXPECT_EQ(o.failovers, 1u) << what << "\n" << joined(o.events);
      EXPECT_EQ(o.answers, 6 * 13) << what << "\n" << joined(o.events);
      EXPECT_EQ(o.greedy_mismatches, 0) << what << "\n" << joined(o.events);
      EXPECT_LT(o.max_diff, m.tolerance) << what;
      bool lost = false;
      for (const auto& e : o.events) lost |= e.find("lost device " + victim) != std::string::npos;
      EXPECT_TRUE(lost) << what << "\n" << joined(o.events);
      // Every step up to the loss is replayed, those of sequences that had ended included (their
      // batches are replayed whole); the loss may be seen a step after the kill.
      int64_t replayed = -1;
      std::smatch found;
      const std::regex re("\\((\\d+) steps replayed\\)");
      for (const auto& e : o.events)
        if (std::regex_search(e, found, re)) replayed = std::stoll(found[1].str());
      const bool replayed_all = replayed >= o.steps_before_kill;
      EXPECT_TRUE(replayed_all) << what << ": " << replayed << " steps replayed, " << o.steps_before_kill << " submitted before the kill\n" << joined(o.events);
    }
  }
}

}  // namespace
}  // namespace lingua
