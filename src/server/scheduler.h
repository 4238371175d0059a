// Continuous batching: the one thread that drives the Pipeline. Requests wait in a bounded queue;
// up to `parallel` sequences are active at once, and each step submits the next token of every
// active sequence (or the next prompt chunk of one that just joined) as one batch, reads one
// answer per sequence, samples, and streams text to each request's channel. Finished and
// cancelled sequences leave between steps and their KV caches are freed (end_sequence).
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "model/model.h"
#include "model/sampler.h"
#include "runtime/pipeline.h"
#include "server/channel.h"
#include "server/metrics.h"

namespace lingua::server {

struct GenerationJob {
  std::vector<TokenId> prompt;     // shorter than the context (checked before queueing)
  SamplerConfig sampling;
  int64_t max_tokens = 0;          // 0: until end-of-generation or the context is full
  std::vector<std::string> stop;
  int logprobs = -1;               // alternatives per token; -1: none
  bool ignore_eos = false;         // end-of-generation tokens are text like any other
  std::shared_ptr<RequestChannel> channel;
};

struct SchedulerOptions {
  int parallel = 4;          // sequences active at once
  int queue_limit = 16;      // requests waiting beyond those
  int64_t context = 0;       // KV positions per sequence
  int64_t batch = 64;        // prompt tokens per sequence per step
  // Run on the scheduler thread after every step, where the pipeline may be looked at (metrics).
  std::function<void()> after_step;
};

class Scheduler {
 public:
  Scheduler(const Model& model, Pipeline& pipeline, SchedulerOptions options, Metrics& metrics);
  ~Scheduler();  // stops: active and queued requests end with an error
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  enum class Admission { kQueued, kQueueFull, kUnavailable };
  Admission enqueue(GenerationJob job);
  // "" while the pipeline works; after it failed (a device lost for good), why.
  std::string failure() const;
  void stop();

 private:
  struct Active;
  void loop();
  void admit(std::vector<GenerationJob>& joining);
  Status step();
  void on_logits(Active& a, const float* logits);
  void finish(Active& a, const std::string& reason);
  void fail_everything(const std::string& why);
  void publish_load();

  const Model& model_;
  Pipeline& pipeline_;
  SchedulerOptions options_;
  Metrics& metrics_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<GenerationJob> queue_;
  bool stopping_ = false;
  std::string failure_;
  std::vector<std::unique_ptr<Active>> active_;  // the scheduler thread's alone
  uint64_t next_sequence_ = 1;
  std::thread thread_;
};

}  // namespace lingua::server
