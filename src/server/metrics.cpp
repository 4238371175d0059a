// Metrics: plain counters under one mutex; the text follows the Prometheus exposition format
// (HELP and TYPE lines, escaped label values).
#include "server/metrics.h"

#include <cstdio>

namespace lingua::server {
namespace {
std::string label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}
std::string number(double v) {
  char text[64];
  std::snprintf(text, sizeof text, "%.9g", v);
  return text;
}
void header(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}
}  // namespace

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{endpoint, status}];
}
void Metrics::add_tokens(int64_t prompt, int64_t generated) {
  std::lock_guard<std::mutex> lock(mutex_);
  prompt_tokens_ += prompt;
  generated_tokens_ += generated;
}
void Metrics::count_cancelled() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++cancelled_;
}
void Metrics::set_load(int64_t queued, int64_t active) {
  std::lock_guard<std::mutex> lock(mutex_);
  queued_ = queued;
  active_ = active;
}
void Metrics::record_step(double seconds, int sequences) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++steps_;
  step_sequences_ += sequences;
  step_seconds_ += seconds;
  last_step_seconds_ = seconds;
}
void Metrics::set_cluster(std::vector<DeviceTiming> devices, int64_t migrations, int64_t failovers) {
  std::lock_guard<std::mutex> lock(mutex_);
  cluster_ = true;
  devices_ = std::move(devices);
  migrations_ = migrations;
  failovers_ = failovers;
}
int64_t Metrics::active() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return active_;
}
int64_t Metrics::queued() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queued_;
}

std::string Metrics::prometheus() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  header(out, "lingua_requests_total", "counter", "HTTP requests answered, by endpoint and status.");
  for (const auto& [key, count] : requests_)
    out += "lingua_requests_total{endpoint=\"" + label_value(key.first) + "\",status=\"" + std::to_string(key.second) +
           "\"} " + std::to_string(count) + "\n";
  header(out, "lingua_prompt_tokens_total", "counter", "Prompt tokens evaluated.");
  out += "lingua_prompt_tokens_total " + std::to_string(prompt_tokens_) + "\n";
  header(out, "lingua_generated_tokens_total", "counter", "Tokens generated.");
  out += "lingua_generated_tokens_total " + std::to_string(generated_tokens_) + "\n";
  header(out, "lingua_cancelled_total", "counter", "Requests whose client went away before the end.");
  out += "lingua_cancelled_total " + std::to_string(cancelled_) + "\n";
  header(out, "lingua_queue_depth", "gauge", "Requests waiting for a free sequence slot.");
  out += "lingua_queue_depth " + std::to_string(queued_) + "\n";
  header(out, "lingua_active_sequences", "gauge", "Sequences being generated (their KV caches held).");
  out += "lingua_active_sequences " + std::to_string(active_) + "\n";
  header(out, "lingua_steps_total", "counter", "Scheduler steps (one batched forward pass of every active sequence).");
  out += "lingua_steps_total " + std::to_string(steps_) + "\n";
  header(out, "lingua_step_seconds_total", "counter", "Time spent in scheduler steps.");
  out += "lingua_step_seconds_total " + number(step_seconds_) + "\n";
  header(out, "lingua_step_sequences_total", "counter", "Sequences carried by scheduler steps (over steps: the mean batch).");
  out += "lingua_step_sequences_total " + std::to_string(step_sequences_) + "\n";
  header(out, "lingua_last_step_seconds", "gauge", "The last scheduler step's time.");
  out += "lingua_last_step_seconds " + number(last_step_seconds_) + "\n";
  header(out, "lingua_devices", "gauge", "Devices the model runs on.");
  out += "lingua_devices " + std::to_string(cluster_ ? devices_.size() : 1) + "\n";
  if (cluster_) {
    header(out, "lingua_device_compute_seconds", "gauge", "Per device: compute time per decode token (moving estimate).");
    for (const DeviceTiming& d : devices_)
      out += "lingua_device_compute_seconds{device=\"" + label_value(d.name) + "\"} " + number(d.compute_s) + "\n";
    header(out, "lingua_device_wait_seconds", "gauge", "Per device: time waiting for input per decode token.");
    for (const DeviceTiming& d : devices_)
      out += "lingua_device_wait_seconds{device=\"" + label_value(d.name) + "\"} " + number(d.wait_s) + "\n";
    header(out, "lingua_device_link_seconds", "gauge", "Per device: time sending to the next device per decode token.");
    for (const DeviceTiming& d : devices_)
      out += "lingua_device_link_seconds{device=\"" + label_value(d.name) + "\"} " + number(d.link_s) + "\n";
  } else {
    header(out, "lingua_device_step_seconds", "gauge", "Per device: the last step's time (one device: this process).");
    out += "lingua_device_step_seconds{device=\"local\"} " + number(last_step_seconds_) + "\n";
  }
  header(out, "lingua_migrations_total", "counter", "Live moves of ops between devices (load balancing).");
  out += "lingua_migrations_total " + std::to_string(migrations_) + "\n";
  header(out, "lingua_failovers_total", "counter", "Devices lost and replaced by re-planning on the rest.");
  out += "lingua_failovers_total " + std::to_string(failovers_) + "\n";
  return out;
}

}  // namespace lingua::server
