// The server's counters and gauges, rendered in Prometheus' text format for GET /metrics:
// requests by endpoint and status, tokens, queue and batch, step times, and the cluster's
// per-device timings, migrations and failovers when the model runs on devices.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace lingua::server {

struct DeviceTiming {
  std::string name;
  double compute_s = 0, wait_s = 0, link_s = 0;  // per decode token, as the cluster measures it
};

class Metrics {
 public:
  void count_request(const std::string& endpoint, int status);
  void add_tokens(int64_t prompt, int64_t generated);
  void count_cancelled();
  void set_load(int64_t queued, int64_t active);
  // One scheduler step: how long it took and how many sequences it carried.
  void record_step(double seconds, int sequences);
  // The devices of a distributed run (replaces the last figures).
  void set_cluster(std::vector<DeviceTiming> devices, int64_t migrations, int64_t failovers);

  int64_t active() const;
  int64_t queued() const;
  std::string prometheus() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  int64_t prompt_tokens_ = 0, generated_tokens_ = 0, cancelled_ = 0;
  int64_t queued_ = 0, active_ = 0;
  int64_t steps_ = 0, step_sequences_ = 0;
  double step_seconds_ = 0, last_step_seconds_ = 0;
  bool cluster_ = false;
  std::vector<DeviceTiming> devices_;
  int64_t migrations_ = 0, failovers_ = 0;
};

}  // namespace lingua::server
