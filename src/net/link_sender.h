// Sends frames to one downstream worker from a thread of its own, delaying each message as the
// emulated link would (latency + bytes / bandwidth, messages queued behind each other), so the
// sender's compute never waits for the network and a slow link costs what it would cost.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "net/secure_channel.h"

namespace lingua {

struct LinkShape {
  double latency_s = 0;
  double bytes_per_s = 0;  // 0 = unshaped
};

class LinkSender {
 public:
  // Connects to `endpoint` (context must outlive the sender) and starts the sending thread.
  static Expected<std::unique_ptr<LinkSender>> start(zmq::context_t& context, const std::string& endpoint,
                                                     const ChannelOptions& options, LinkShape shape);
  ~LinkSender();
  LinkSender(const LinkSender&) = delete;
  LinkSender& operator=(const LinkSender&) = delete;

  // Queues a message; returns at once. The first failure to send is kept and returned by every
  // later call (and by error()).
  Status send(std::vector<uint8_t> bytes);
  Status error();
  uint64_t bytes_sent() const { return bytes_sent_; }
  // Seconds the link took (latency + bytes / bandwidth, queueing behind earlier messages included)
  // for the messages queued since the last call, which starts the count again.
  double take_link_seconds();

 private:
  using Clock = std::chrono::steady_clock;
  LinkSender(Client client, LinkShape shape) : client_(std::move(client)), shape_(shape) {}
  void run();
  Status wait_until_up();

  Client client_;
  LinkShape shape_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<Clock::time_point, std::vector<uint8_t>>> queue_;  // (when it arrives, bytes)
  Clock::time_point link_free_{};  // when the emulated wire finishes the last queued message
  Status error_;
  bool stop_ = false;
  uint64_t bytes_sent_ = 0;
  double link_seconds_ = 0;
  std::thread thread_;
};

}  // namespace lingua
