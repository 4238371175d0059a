// Scheduler: the step loop. Sampling, end-of-generation, the token limit and the context limit
// follow runtime/generator.cpp exactly, so a greedy request gives `lingua generate`'s tokens.
#include "server/scheduler.h"

#include <algorithm>
#include <chrono>

#include "server/stop_matcher.h"

namespace lingua::server {

struct Scheduler::Active {
  Active(uint64_t id, GenerationJob j) : sequence(id), job(std::move(j)), sampler(job.sampling), stop(job.stop) {}
  uint64_t sequence;
  GenerationJob job;
  Sampler sampler;
  StopMatcher stop;
  Utf8Streamer utf8;
  size_t prompt_sent = 0;   // prompt tokens submitted so far
  int64_t pos = 0;          // the position of the next decode token
  TokenId pending = -1;     // sampled, submitted at the next step
  TokenId previous = -1;    // for the tokenizer's piece text
  int64_t generated = 0;
  bool submitted = false;   // the pipeline holds KV state for it
  bool done = false;
};

Scheduler::Scheduler(const Model& model, Pipeline& pipeline, SchedulerOptions options, Metrics& metrics)
    : model_(model), pipeline_(pipeline), options_(std::move(options)), metrics_(metrics) {
  options_.parallel = std::max(1, options_.parallel);
  options_.batch = std::max<int64_t>(1, options_.batch);
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() { stop(); }

void Scheduler::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Scheduler::Admission Scheduler::enqueue(GenerationJob job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || !failure_.empty()) return Admission::kUnavailable;
    if (static_cast<int>(queue_.size()) >= options_.queue_limit) return Admission::kQueueFull;
    queue_.push_back(std::move(job));
    metrics_.set_load(static_cast<int64_t>(queue_.size()), metrics_.active());
  }
  wake_.notify_all();
  return Admission::kQueued;
}

std::string Scheduler::failure() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return failure_;
}

void Scheduler::publish_load() {
  std::lock_guard<std::mutex> lock(mutex_);
  metrics_.set_load(static_cast<int64_t>(queue_.size()), static_cast<int64_t>(active_.size()));
}

void Scheduler::loop() {
  for (;;) {
    std::vector<GenerationJob> joining;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || !active_.empty(); });
      if (stopping_) break;
      while (active_.size() + joining.size() < static_cast<size_t>(options_.parallel) && !queue_.empty()) {
        joining.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    admit(joining);
    // A client that went away: its sequence leaves now, between steps, so nothing is in flight.
    for (auto& a : active_)
      if (a->job.channel->cancelled()) {
        metrics_.count_cancelled();
        a->done = true;
      }
    Status st = Status::ok();
    if (std::any_of(active_.begin(), active_.end(), [](const auto& a) { return !a->done; })) st = step();
    if (!st) {
      fail_everything(st.message());
      continue;
    }
    for (auto& a : active_)
      if (a->done && a->submitted)
        if (Status ended = pipeline_.end_sequence(a->sequence); !ended) st = ended;
    std::erase_if(active_, [](const auto& a) { return a->done; });
    publish_load();
    if (!st) fail_everything(st.message());
  }
  // Stopping: nobody will answer what is left.
  ApiError gone{503, "the server is shutting down", "server_error", "", "shutting_down"};
  for (auto& a : active_) a->job.channel->push({GenerationEvent::Kind::kError, "", {}, "", 0, 0, gone});
  active_.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  for (GenerationJob& j : queue_) j.channel->push({GenerationEvent::Kind::kError, "", {}, "", 0, 0, gone});
  queue_.clear();
}

void Scheduler::admit(std::vector<GenerationJob>& joining) {
  for (GenerationJob& job : joining) {
    if (job.channel->cancelled()) {
      metrics_.count_cancelled();
      continue;
    }
    auto a = std::make_unique<Active>(next_sequence_++, std::move(job));
    for (TokenId t : a->job.prompt) a->sampler.accept(t);
    a->pos = static_cast<int64_t>(a->job.prompt.size());
    a->previous = a->job.prompt.empty() ? -1 : a->job.prompt.back();
    metrics_.add_tokens(static_cast<int64_t>(a->job.prompt.size()), 0);
    active_.push_back(std::move(a));
  }
}

Status Scheduler::step() {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<SequenceStep> steps;
  size_t answers = 0;
  for (auto& a : active_) {
    if (a->done) continue;
    SequenceStep s;
    s.sequence = a->sequence;
    const std::vector<TokenId>& prompt = a->job.prompt;
    if (a->prompt_sent < prompt.size()) {  // a prompt chunk, as Generator cuts it
      const size_t n = std::min(static_cast<size_t>(options_.batch), prompt.size() - a->prompt_sent);
      s.tokens.assign(prompt.begin() + static_cast<std::ptrdiff_t>(a->prompt_sent),
                      prompt.begin() + static_cast<std::ptrdiff_t>(a->prompt_sent + n));
      s.pos0 = static_cast<int64_t>(a->prompt_sent);
      a->prompt_sent += n;
      s.want_logits = a->prompt_sent == prompt.size();
    } else {
      s.tokens = {a->pending};
      s.pos0 = a->pos++;
      s.want_logits = true;
    }
    answers += s.want_logits ? 1 : 0;
    a->submitted = true;
    steps.push_back(std::move(s));
  }
  LINGUA_TRY(pipeline_.submit_batch(steps));
  const auto n_vocab = static_cast<int32_t>(model_.graph().vocab_size());
  for (size_t i = 0; i < answers; ++i) {
    LINGUA_ASSIGN_OR_RETURN(StepLogits answer, pipeline_.next());
    auto it = std::find_if(active_.begin(), active_.end(), [&](const auto& a) { return a->sequence == answer.sequence; });
    if (it == active_.end() || (*it)->done)
      return Status::error("the pipeline answered sequence " + std::to_string(answer.sequence) + ", which is not waiting");
    if (answer.logits.size() < static_cast<size_t>(n_vocab))
      return Status::error("the pipeline answered " + std::to_string(answer.logits.size()) + " logits for a vocabulary of " +
                           std::to_string(n_vocab));
    on_logits(**it, answer.logits.data() + (answer.logits.size() - static_cast<size_t>(n_vocab)));
  }
  metrics_.record_step(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                       static_cast<int>(steps.size()));
  if (options_.after_step) options_.after_step();
  return Status::ok();
}

void Scheduler::on_logits(Active& a, const float* logits) {
  const auto n_vocab = static_cast<int32_t>(model_.graph().vocab_size());
  const Tokenizer& tokenizer = model_.tokenizer();
  const TokenId next = a.sampler.sample(logits, n_vocab);
  a.sampler.accept(next);
  if (!a.job.ignore_eos && model_.vocab().is_eog(next)) {
    finish(a, "stop");
    return;
  }
  GenerationEvent event;
  if (a.job.logprobs >= 0) {
    TokenLogprob lp = token_logprob(logits, n_vocab, next, a.job.logprobs);
    lp.chosen.text = tokenizer.piece_bytes(next, a.previous);
    for (TokenAlternative& alt : lp.top) alt.text = tokenizer.piece_bytes(alt.id, a.previous);
    event.logprobs.push_back(std::move(lp));
  }
  ++a.generated;
  metrics_.add_tokens(0, 1);
  event.text = a.stop.push(a.utf8.push(tokenizer.piece_bytes(next, a.previous)));
  a.previous = next;
  if (!event.text.empty() || !event.logprobs.empty()) a.job.channel->push(std::move(event));
  if (a.stop.stopped()) finish(a, "stop");
  else if (a.generated == a.job.max_tokens) finish(a, "length");
  else if (a.pos >= options_.context) finish(a, "length");  // the context is full
  else a.pending = next;
}

void Scheduler::finish(Active& a, const std::string& why) {
  std::string reason = why;
  if (!a.stop.stopped()) {
    std::string tail = a.stop.push(a.utf8.flush());
    if (a.stop.stopped()) reason = "stop";
    else tail += a.stop.flush();
    if (!tail.empty()) a.job.channel->push({GenerationEvent::Kind::kText, tail, {}, "", 0, 0, {}});
  }
  GenerationEvent done;
  done.kind = GenerationEvent::Kind::kDone;
  done.finish_reason = reason;
  done.prompt_tokens = static_cast<int64_t>(a.job.prompt.size());
  done.completion_tokens = a.generated;
  a.job.channel->push(std::move(done));
  a.done = true;
}

void Scheduler::fail_everything(const std::string& why) {
  ApiError error{500, "the model's pipeline failed: " + why, "server_error", "", "pipeline_failed"};
  for (auto& a : active_)
    if (!a->done) a->job.channel->push({GenerationEvent::Kind::kError, "", {}, "", 0, 0, error});
  active_.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  failure_ = why;
  for (GenerationJob& j : queue_) j.channel->push({GenerationEvent::Kind::kError, "", {}, "", 0, 0, error});
  queue_.clear();
  metrics_.set_load(0, 0);
}

}  // namespace lingua::server
