// SlowdownPacer: process CPU time from clock_gettime, waits with sleep_for.
#include "runtime/slowdown_pacer.h"

#include <time.h>

#include <algorithm>
#include <thread>

namespace lingua {
namespace {

double process_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

void SlowdownPacer::begin(double factor, int threads) {
  factor_ = factor;
  threads_ = std::max(threads, 1);
  since_ = Clock::now();
  cpu_since_ = process_cpu_seconds();
}

void SlowdownPacer::pace(bool last) {
  const double wall = std::chrono::duration<double>(Clock::now() - since_).count();
  if (!last && wall < 500e-6) return;
  const double worked = std::min(wall, (process_cpu_seconds() - cpu_since_) / threads_);
  debt_s_ += worked * (factor_ - 1.0);
  if (debt_s_ > 0) {
    const auto before = Clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(debt_s_));
    debt_s_ -= std::chrono::duration<double>(Clock::now() - before).count();
  }
  // An overshoot is paid back within a few waits; more than that would be idle time owed from
  // long ago, which no device gets back.
  debt_s_ = std::max(debt_s_, -2e-3);
  since_ = Clock::now();
  cpu_since_ = process_cpu_seconds();
}

}  // namespace lingua
