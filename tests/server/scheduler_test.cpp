// The scheduler against a recording pipeline (the real in-process one underneath): every step is
// one submit_batch carrying each active sequence once, prompts go in chunks of `batch` tokens
// with logits asked only for the last, finished and cancelled sequences are ended (their KV
// caches freed), and a pipeline that fails ends every request with an error.
#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "server/scheduler.h"
#include "server_harness.h"

namespace lingua::server {
namespace {

using namespace std::chrono_literals;

class RecordingPipeline : public Pipeline {
 public:
  explicit RecordingPipeline(Pipeline& inner) : inner_(inner) {}
  Status submit(uint64_t sequence, const int32_t* tokens, int64_t n, int64_t pos0, bool want, bool all) override {
    ++direct_submits;
    return inner_.submit(sequence, tokens, n, pos0, want, all);
  }
  Status submit_batch(const std::vector<SequenceStep>& steps) override {
    std::lock_guard<std::mutex> lock(mutex);
    batches.push_back(steps);
    if (fail_after >= 0 && static_cast<int>(batches.size()) > fail_after) return Status::error("device lost for good");
    return inner_.submit_batch(steps);
  }
  Expected<StepLogits> next() override { return inner_.next(); }
  Status end_sequence(uint64_t sequence) override {
    {
      std::lock_guard<std::mutex> lock(mutex);
      ended.push_back(sequence);
    }
    return inner_.end_sequence(sequence);
  }
  int devices() const override { return 1; }

  std::mutex mutex;
  std::vector<std::vector<SequenceStep>> batches;
  std::vector<uint64_t> ended;
  int direct_submits = 0;
  int fail_after = -1;  // batches that succeed before every later one fails

 private:
  Pipeline& inner_;
};

class SchedulerTest : public testing::ShippedModelSuite {
 protected:
  void SetUp() override {
    ExecutorConfig config;
    config.context = model_->train_context();
    config.max_batch = 64;
    inner_ = std::make_unique<InProcessPipeline>(model_->graph(), Partition::whole(model_->graph()), config, pool_);
    recording_ = std::make_unique<RecordingPipeline>(*inner_);
  }
  static GenerationJob job(const std::string& prompt, int64_t max_tokens) {
    GenerationJob j;
    TokenizeOptions topt;
    topt.add_bos = true;
    j.prompt = *model_->tokenizer().encode(prompt, topt);
    j.sampling.temperature = 0;
    j.max_tokens = max_tokens;
    j.channel = std::make_shared<RequestChannel>();
    return j;
  }
  // Events until the request ends (done or error), waiting up to 30 s.
  static std::vector<GenerationEvent> drain(RequestChannel& c) {
    std::vector<GenerationEvent> out;
    for (int i = 0; i < 300; ++i) {
      auto e = c.pop(100ms);
      if (!e) continue;
      out.push_back(*e);
      if (e->kind != GenerationEvent::Kind::kText) break;
    }
    return out;
  }
  ThreadPool pool_{2};
  std::unique_ptr<InProcessPipeline> inner_;
  std::unique_ptr<RecordingPipeline> recording_;
  Metrics metrics_;
};

TEST_F(SchedulerTest, EachStepIsOneBatchOfEveryActiveSequence) {
  SchedulerOptions o;
  o.parallel = 4;
  o.context = model_->train_context();
  o.batch = 4;
  std::vector<GenerationJob> jobs = {job("And God said unto Moses, Go down", 12), job("Thou shalt", 20), job("Blessed", 16)};
  std::vector<std::shared_ptr<RequestChannel>> channels;
  std::vector<size_t> prompt_sizes;
  {
    Scheduler s(*model_, *recording_, o, metrics_);
    for (GenerationJob& j : jobs) {
      channels.push_back(j.channel);
      prompt_sizes.push_back(j.prompt.size());
      ASSERT_EQ(s.enqueue(std::move(j)), Scheduler::Admission::kQueued);
    }
    for (auto& c : channels) {
      const auto events = drain(*c);
      ASSERT_FALSE(events.empty());
      EXPECT_EQ(events.back().kind, GenerationEvent::Kind::kDone);
    }
    for (int i = 0; i < 100 && metrics_.active() != 0; ++i) std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(recording_->direct_submits, 0) << "every step goes through submit_batch";
  std::map<uint64_t, std::vector<const SequenceStep*>> by_sequence;
  size_t widest = 0;
  for (const auto& batch : recording_->batches) {
    std::set<uint64_t> seen;
    for (const SequenceStep& step : batch) {
      EXPECT_TRUE(seen.insert(step.sequence).second) << "a sequence appears once per step";
      by_sequence[step.sequence].push_back(&step);
    }
    widest = std::max(widest, batch.size());
  }
  EXPECT_GE(widest, 2u) << "sequences that run together share steps";
  ASSERT_EQ(by_sequence.size(), 3u);
  // Each sequence (ids in the order the jobs were queued): its prompt in chunks of at most 4
  // tokens at consecutive positions, logits asked for the last chunk only, then one token a step.
  size_t k = 0;
  for (const auto& [sequence, steps] : by_sequence) {
    const size_t prompt = prompt_sizes[k++];
    int64_t pos = 0;
    size_t i = 0;
    for (; i < steps.size() && static_cast<size_t>(pos) < prompt; ++i) {
      EXPECT_EQ(steps[i]->pos0, pos) << "sequence " << sequence;
      EXPECT_LE(steps[i]->tokens.size(), 4u);
      pos += static_cast<int64_t>(steps[i]->tokens.size());
      EXPECT_EQ(steps[i]->want_logits, static_cast<size_t>(pos) == prompt) << "sequence " << sequence << " step " << i;
    }
    EXPECT_EQ(static_cast<size_t>(pos), prompt) << "sequence " << sequence;
    EXPECT_EQ(i, (prompt + 3) / 4) << "sequence " << sequence;
    for (; i < steps.size(); ++i) {
      EXPECT_EQ(steps[i]->tokens.size(), 1u);
      EXPECT_EQ(steps[i]->pos0, pos++);
      EXPECT_TRUE(steps[i]->want_logits);
    }
  }
  EXPECT_GE(prompt_sizes[0], 8u);  // the long prompt took several chunks
  // Every sequence was ended, once.
  std::vector<uint64_t> ended = recording_->ended;
  std::sort(ended.begin(), ended.end());
  EXPECT_EQ(ended.size(), 3u);
  EXPECT_EQ(std::set<uint64_t>(ended.begin(), ended.end()).size(), 3u);
}

TEST_F(SchedulerTest, ACancelledSequenceIsEndedAtTheNextStep) {
  SchedulerOptions o;
  o.parallel = 2;
  o.context = model_->train_context();
  Scheduler s(*model_, *recording_, o, metrics_);
  GenerationJob j = job("And", 200);
  auto channel = j.channel;
  ASSERT_EQ(s.enqueue(std::move(j)), Scheduler::Admission::kQueued);
  ASSERT_TRUE(channel->pop(5s).has_value());  // it is generating
  channel->cancel();
  for (int i = 0; i < 200 && recording_->ended.empty(); ++i) std::this_thread::sleep_for(10ms);
  std::lock_guard<std::mutex> lock(recording_->mutex);
  EXPECT_EQ(recording_->ended.size(), 1u);
  EXPECT_LT(recording_->batches.size(), 150u) << "it stopped well before its 200 tokens";
}

TEST_F(SchedulerTest, AFailedPipelineEndsEveryRequestWithAnError) {
  recording_->fail_after = 2;
  SchedulerOptions o;
  o.parallel = 1;
  o.queue_limit = 4;
  o.context = model_->train_context();
  Scheduler s(*model_, *recording_, o, metrics_);
  GenerationJob a = job("And", 50), b = job("Thou", 50);
  auto ca = a.channel, cb = b.channel;
  ASSERT_EQ(s.enqueue(std::move(a)), Scheduler::Admission::kQueued);
  ASSERT_EQ(s.enqueue(std::move(b)), Scheduler::Admission::kQueued);
  for (auto* c : {ca.get(), cb.get()}) {
    const auto events = drain(*c);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back().kind, GenerationEvent::Kind::kError);
    EXPECT_EQ(events.back().error.status, 500);
    EXPECT_NE(events.back().error.message.find("device lost for good"), std::string::npos);
  }
  EXPECT_NE(s.failure().find("device lost for good"), std::string::npos);
  EXPECT_EQ(s.enqueue(job("Later", 5)), Scheduler::Admission::kUnavailable);
}

}  // namespace
}  // namespace lingua::server
