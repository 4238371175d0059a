// An emulated slower device (devices-file `slowdown: F`): the waits a worker adds to its compute
// so that a step computing for t takes F t, spread over the step as a slower device spends it.
#pragma once
#include <chrono>

namespace lingua {

// After every stretch of compute, wait (factor - 1) times as long. One wait at the end would
// make the step a burst at full speed, competing for this machine's cores with the other
// emulated devices' bursts, which a real cluster does not do.
// The wait scales the CPU time the stretch took (per compute thread), not its wall time: time
// this process spent preempted by the other emulated devices on this machine is not work, and
// multiplying it by the factor would turn host contention into a slower device. What a sleep
// overshoots is owed back by the next waits (across steps), so the waits add up to (factor - 1)
// times the work however coarse this machine's timers are.
class SlowdownPacer {
 public:
  // A step begins, computing on `threads` threads.
  void begin(double factor, int threads);
  // After an op (last = false: stretches under 0.5 ms are too short to wait after precisely) and
  // at the end of the step (last = true).
  void pace(bool last);

 private:
  using Clock = std::chrono::steady_clock;
  double factor_ = 1.0;
  int threads_ = 1;
  Clock::time_point since_{};
  double cpu_since_ = 0;
  double debt_s_ = 0;  // wait still owed (< 0: overslept)
};

}  // namespace lingua
