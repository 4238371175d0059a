// A fixed set of worker threads for data-parallel kernels (`-t N`). The caller's thread takes part,
// so a pool of N runs N-way. Workers spin briefly before sleeping: ops are short and many.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace lingua {

class ThreadPool {
 public:
  // fn(begin, end, thread_index) handles items [begin, end).
  using RangeFn = std::function<void(int64_t begin, int64_t end, int thread_index)>;

  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Splits [0, n) into size() contiguous chunks (each a multiple of `grain` but the last) and runs
  // them in parallel; returns when all are done. Not reentrant.
  void parallel_for(int64_t n, const RangeFn& fn, int64_t grain = 1);

  // No work is coming soon (a step is done): idle workers stop spinning and sleep at once,
  // leaving the cores to the threads that send the step's results. The next parallel_for
  // wakes them as usual.
  void rest() { resting_.store(true, std::memory_order_release); }

  // Largest sensible thread count on this machine.
  static int hardware_threads();

 private:
  void worker_loop(int index);
  void run_chunk(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  const RangeFn* job_ = nullptr;
  int64_t job_n_ = 0;
  int64_t job_grain_ = 1;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> resting_{false};
  bool stop_ = false;
};

}  // namespace lingua
