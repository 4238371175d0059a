// ThreadPool: generation counter + spin-then-sleep wake-up, chunks claimed from one atomic ticket.
#include "core/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LINGUA_PAUSE() _mm_pause()
#else
#define LINGUA_PAUSE() std::this_thread::yield()
#endif

namespace lingua {

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

int ThreadPool::hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

namespace {

// Chunks per thread: more even out threads that run late (a busy machine), fewer cost claims.
constexpr int64_t kChunksPerThread = 4;
// How long an idle worker spins for the next job before it sleeps (futex): the next op of a step
// usually comes within microseconds, but spinning longer takes the core from whoever needs it.
constexpr auto kWorkerSpin = std::chrono::microseconds(50);

uint64_t make_ticket(uint64_t generation, int64_t chunks, int64_t next) {
  return (generation & 0xffffffffu) << 32 | static_cast<uint64_t>(chunks) << 16 | static_cast<uint64_t>(next);
}

}  // namespace

void ThreadPool::run_chunks(uint64_t generation, int index) {
  for (;;) {
    uint64_t t = ticket_.load(std::memory_order_acquire);
    int64_t chunk = 0, chunks = 0;
    do {
      if ((t >> 32) != (generation & 0xffffffffu)) return;  // that job is over
      chunks = static_cast<int64_t>((t >> 16) & 0xffff);
      chunk = static_cast<int64_t>(t & 0xffff);
      if (chunk >= chunks) return;
    } while (!ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel, std::memory_order_acquire));
    // The job cannot change before this claimed chunk is counted done.
    const int64_t units = (job_n_ + job_grain_ - 1) / job_grain_;
    const int64_t per = units / chunks, extra = units % chunks;
    const int64_t first_unit = chunk * per + std::min(chunk, extra);
    const int64_t count = per + (chunk < extra ? 1 : 0);
    const int64_t begin = std::min(job_n_, first_unit * job_grain_);
    const int64_t end = std::min(job_n_, (first_unit + count) * job_grain_);
    if (begin < end) (*job_)(begin, end, index);
    chunks_done_.fetch_add(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    // Spin a little (bounded in time, not iterations: a pause costs 10 to 150 cycles by CPU).
    const auto spin_until = std::chrono::steady_clock::now() + kWorkerSpin;
    for (int spins = 1; generation_.load(std::memory_order_acquire) == seen && !resting_.load(std::memory_order_acquire);
         ++spins) {
      LINGUA_PAUSE();
      if (spins % 64 == 0 && std::chrono::steady_clock::now() >= spin_until) break;
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_) return;
    run_chunks(seen, index);
  }
}

void ThreadPool::parallel_for(int64_t n, const RangeFn& fn, int64_t grain) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t units = (n + grain - 1) / grain;
  if (n_threads_ == 1 || units <= 1) {
    fn(0, n, 0);
    return;
  }
  const int64_t chunks = std::min<int64_t>({units, n_threads_ * kChunksPerThread, 0xffff});
  resting_.store(false, std::memory_order_release);
  job_ = &fn;
  job_n_ = n;
  job_grain_ = grain;
  chunks_done_.store(0, std::memory_order_relaxed);
  uint64_t generation = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation = generation_.load(std::memory_order_relaxed) + 1;
    ticket_.store(make_ticket(generation, chunks, 0), std::memory_order_release);
    generation_.store(generation, std::memory_order_release);
  }
  wake_.notify_all();
  run_chunks(generation, 0);
  // Only chunks another thread has claimed and not finished are left: spin briefly, then yield
  // (on a loaded machine that thread may be waiting for a core).
  for (int spins = 0; chunks_done_.load(std::memory_order_acquire) != chunks; ++spins) {
    if (spins < 4096)
      LINGUA_PAUSE();
    else
      std::this_thread::yield();
  }
  job_ = nullptr;
}

}  // namespace lingua
