// ThreadPool: generation counter + spin-then-sleep wake-up, chunked static partitioning.
#include "core/thread_pool.h"

#include <algorithm>

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

void ThreadPool::run_chunk(int index) {
  const int64_t n = job_n_;
  const int64_t grain = job_grain_;
  const int64_t units = (n + grain - 1) / grain;
  const int64_t per = units / n_threads_;
  const int64_t extra = units % n_threads_;
  const int64_t first_unit = index * per + std::min<int64_t>(index, extra);
  const int64_t count = per + (index < extra ? 1 : 0);
  const int64_t begin = std::min(n, first_unit * grain);
  const int64_t end = std::min(n, (first_unit + count) * grain);
  if (begin < end) (*job_)(begin, end, index);
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    // Spin a little: the next op usually arrives within microseconds.
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && spins < 20000 && !resting_.load(std::memory_order_acquire)) {
      LINGUA_PAUSE();
      ++spins;
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_) return;
    run_chunk(index);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::parallel_for(int64_t n, const RangeFn& fn, int64_t grain) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  if (n_threads_ == 1 || n <= grain) {
    fn(0, n, 0);
    return;
  }
  resting_.store(false, std::memory_order_release);
  job_ = &fn;
  job_n_ = n;
  job_grain_ = grain;
  pending_.store(n_threads_ - 1, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  wake_.notify_all();
  run_chunk(0);
  // Spin briefly, then yield: on a loaded machine a worker may be waiting for a core.
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < 4096)
      LINGUA_PAUSE();
    else
      std::this_thread::yield();
  }
  job_ = nullptr;
}

}  // namespace lingua
