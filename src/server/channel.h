// What the scheduler thread tells one request's HTTP thread: text as it is generated, then the end
// (or an error). Thread-safe; pushing never blocks, so a slow or vanished client cannot stall
// the scheduler. The HTTP side cancels it when its client goes away.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/api_error.h"
#include "server/logprobs.h"

namespace lingua::server {

struct GenerationEvent {
  enum class Kind { kText, kDone, kError };
  Kind kind = Kind::kText;
  std::string text;                     // kText: new text (may be empty when held back for `stop`)
  std::vector<TokenLogprob> logprobs;   // kText: the tokens generated in this step, when asked
  std::string finish_reason;            // kDone: "stop" (end of generation or a stop string) or "length"
  int64_t prompt_tokens = 0, completion_tokens = 0;  // kDone
  ApiError error;                       // kError
};

class RequestChannel {
 public:
  void push(GenerationEvent event) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      events_.push_back(std::move(event));
    }
    ready_.notify_one();
  }
  // The next event, or nothing after `timeout`.
  std::optional<GenerationEvent> pop(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!ready_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
    GenerationEvent e = std::move(events_.front());
    events_.pop_front();
    return e;
  }
  // The client is gone: the scheduler ends the sequence at its next step.
  void cancel() { cancelled_.store(true, std::memory_order_release); }
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<GenerationEvent> events_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace lingua::server
