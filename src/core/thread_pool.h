// A fixed set of worker threads for data-parallel kernels (`-t N`). The caller's thread takes part,
// so a pool of N runs N-way. Workers spin briefly before sleeping: ops are short and many. Work is
// claimed in chunks, so on a machine busier than its cores a worker that is not running costs the
// op nothing: the threads that run take its chunks.
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

  // Splits [0, n) into contiguous chunks (each a multiple of `grain` but the last; a few per
  // thread) that the caller and the workers claim until none is left; returns when all are done.
  // fn may be called several times per thread index, never at once for the same one. A job of
  // one grain runs on the caller alone, so `grain` is also the least work worth a thread.
  // Not reentrant.
  void parallel_for(int64_t n, const RangeFn& fn, int64_t grain = 1);

  // No work is coming soon (a step is done): idle workers stop spinning and sleep at once,
  // leaving the cores to the threads that send the step's results. The next parallel_for
  // wakes them as usual.
  void rest() { resting_.store(true, std::memory_order_release); }

  // Largest sensible thread count on this machine.
  static int hardware_threads();

 private:
  void worker_loop(int index);
  // Claims and runs chunks of the job of `generation` until none is left (or the job is another).
  void run_chunks(uint64_t generation, int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  const RangeFn* job_ = nullptr;
  int64_t job_n_ = 0;
  int64_t job_grain_ = 1;
  std::atomic<uint64_t> generation_{0};
  // The job's claim counter: generation (low 32 bits) << 32 | chunks (16 bits) << 16 | next chunk.
  // One word, so a claim for a job that has already ended fails instead of touching the next one.
  std::atomic<uint64_t> ticket_{0};
  std::atomic<int64_t> chunks_done_{0};
  std::atomic<bool> resting_{false};
  bool stop_ = false;
};

}  // namespace lingua
