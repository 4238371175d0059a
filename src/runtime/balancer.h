// Runtime load balancing's decisions (what runtime/cluster_run.cpp acts on): a short moving
// estimate of each device's real speed from its step reports, and when re-planning with those
// speeds promises enough, the plan to move to. Pure logic: no sockets, testable alone.
#pragma once
#include <optional>
#include <utility>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"
#include "plan/planner.h"
#include "runtime/protocol.h"

namespace lingua {

struct BalanceOptions {
  bool enabled = true;       // --no-balance turns re-planning off (failover stays on)
  double min_gain = 1.2;     // predicted speed-up a move must promise
  double min_gain_onto_idle = 1.5;  // ...when it gives work to a device the current plan does not use
  // Re-planning starts only for a poor plan (min_gain worse than another at the profiled speeds)
  // or a straggler: a device of the plan this many times slower than the median device.
  double straggler_ratio = 1.5;
  // ...and the move must save at least this much per token: below it, step times of a fraction of
  // a millisecond are mostly scheduling noise.
  double min_saving_s = 0.5e-3;
  int min_steps = 4;         // decode steps every device of the plan must have reported since the last change
  double smoothing = 0.5;    // weight of the newest report in the moving estimates
  // A move must pay for itself within this many tokens: its predicted saving per token times this
  // at least the last move's measured cost (before any move, the cost is not known and not weighed).
  int payback_tokens = 64;
  // A link is measured again when what a token takes on it (from the workers' step reports) is at
  // least this many times what it is priced at, and at least link_recheck_floor_s more.
  double link_recheck_ratio = 2.0;
  double link_recheck_floor_s = 2e-3;
};

// A link the balancer wants measured again: the run contradicts its price.
struct LinkRecheck {
  int from = -1, to = -1;   // device indices, `from` runs the segment before `to`'s
  double observed_s = 0;    // per decode token, from the step reports
  double priced_s = 0;      // per decode token, as the plan prices it
};

struct DeviceEstimate {
  std::string name;
  int64_t steps = 0;          // decode steps reported since the plan last changed
  double compute_s = 0;       // moving estimate per decode step of its segment
  double predicted_s = 0;     // what the profile predicts for that segment
  double speed_factor = 1;    // compute_s / predicted_s: 3 = three times slower than profiled
  double wait_s = 0, link_s = 0;
  std::vector<std::pair<int, double>> link_to;  // moving estimate per link: (device sent to, seconds per decode step)
  uint64_t memory_bytes = 0;
  double temperature_c = -1, battery = -1;
  bool measured = false;      // has ever reported a decode step
  std::vector<double> recent; // the last few decode steps' compute times (the estimate is their median)
};

struct Proposal {
  Plan plan;          // device indices as in the problem given to the Balancer
  double gain = 1;    // predicted tokens/s of `plan` over the current one, both at measured speeds
  std::string why;    // e.g. "b runs 3.0x slower than profiled"
};

class Balancer {
 public:
  Balancer(PlanProblem problem, Objective objective, BalanceOptions options);

  // The plan now running (device indices into the problem); fresh measurements start again.
  void set_current(const std::vector<Assignment>& current);
  void record(int device, const StepReport& report);
  // A move worth making now, or nothing: too few fresh reports, gain below the threshold, or a
  // return to a plan it already left (that is how it would oscillate).
  std::optional<Proposal> consider(const std::vector<bool>& alive);
  // Links of the current plan whose tokens take much longer than priced (each asked once per plan);
  // the caller measures them and gives the result to update_link.
  std::vector<LinkRecheck> links_to_recheck();
  // A fresh measurement of the link from -> to: priced with it from now on.
  void update_link(int from, int to, PlanLink link);
  // What the last move cost (seconds, measured): later moves must pay it back (payback_tokens).
  void moved(double seconds) { last_move_s_ = seconds; }
  // The best plan on the devices still alive at their measured speeds (after a loss), whatever the gain.
  Expected<Plan> replan(const std::vector<bool>& alive) const;
  std::vector<DeviceEstimate> estimates() const { return estimates_; }
  // A plan not to propose again (a move to it failed).
  void reject(const std::vector<Assignment>& plan) { left_.insert(signature(plan)); }
  // Measured speeds carried over from an earlier balancer (matched by device name).
  void adopt(const std::vector<DeviceEstimate>& earlier);
  const PlanProblem& problem() const { return problem_; }
  Objective objective() const { return objective_; }

 private:
  // The problem on the live devices (*original: their indices in problem_), per-op times scaled
  // by the measured speed factors when `measured`, as profiled otherwise.
  PlanProblem alive_problem(const std::vector<bool>& alive, bool measured, std::vector<int>* original) const;
  // The current plan with device indices into such a problem; nothing when a device of it is gone.
  std::optional<std::vector<Assignment>> current_in(const std::vector<int>& original) const;
  bool straggler(const std::vector<bool>& alive) const;
  bool poor_start(const std::vector<bool>& alive) const;
  std::string signature(const std::vector<Assignment>& plan) const;

  PlanProblem problem_;  // as profiled
  Objective objective_;
  BalanceOptions options_;
  std::vector<Assignment> current_;
  std::vector<DeviceEstimate> estimates_;
  std::set<std::string> left_;  // plans moved away from
  std::set<std::pair<int, int>> rechecked_;  // links asked for during the current plan
  double last_move_s_ = 0;
  double largest_predicted_s_ = 0;  // of the current plan's segments
  static constexpr double kSmallSegmentShare = 0.25;  // below this share of the largest, a segment shows no speed-up
  // poor_start's answer depends only on the plan and which devices live (profiled speeds), and it
  // solves the planner's DP: asked after every step, it is worked out once per (plan, alive).
  mutable std::string poor_start_key_;
  mutable bool poor_start_value_ = false;
};

// "a: ops 0..120, c: ops 121..482", for logs.
std::string describe_plan(const PlanProblem& problem, const std::vector<Assignment>& plan);

}  // namespace lingua
