// A worker's part in measuring links: it answers the PROBE frames of every admitted sender, and on
// its head's LINK_TEST it admits the prober keys named and measures its own links to the targets
// in a thread of its own, so that steps and other probes are still served meanwhile.
#pragma once
#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/status.h"
#include "net/secure_channel.h"
#include "net/wire.h"
#include "runtime/link_probe.h"

namespace lingua {

class WorkerProbes {
 public:
  // `context` must outlive this object; `channel` holds the worker's own keys (or insecure).
  WorkerProbes(zmq::context_t& context, const ChannelOptions& channel) : context_(context), channel_(channel) {}
  ~WorkerProbes();  // cancels a measurement under way and waits for its thread
  WorkerProbes(const WorkerProbes&) = delete;
  WorkerProbes& operator=(const WorkerProbes&) = delete;

  // A PROBE frame from `peer`: the answer to send back, if any.
  std::optional<Frame> on_probe(const std::string& peer, const Frame& probe) { return answerer_.answer(peer, probe); }

  // A LINK_TEST request from its head `peer`, this worker being `device`: the accept_keys become
  // prober keys of `server` (PROBE frames only); the targets are measured one by one in the
  // background (after those of earlier requests), each report coming from take_reports().
  // Returns the frames to send back at once: the acknowledgement of a request without targets,
  // or, when kMaxWaiting requests wait already, one report per target saying so. An error for a
  // malformed request.
  Expected<std::vector<Frame>> on_link_test(Server& server, const std::string& peer, const std::string& device,
                                            const Frame& request);

  // The reports finished since the last call, each with the peer (the head) to send it to.
  std::vector<std::pair<std::string, Frame>> take_reports();
  // True while targets are being measured (the event loop then wakes more often to pass reports on).
  bool measuring() const { return running_.load(); }

 private:
  struct Job {
    std::string peer, device;
    uint64_t id = 0;
    LinkTestRequest request;
  };
  static constexpr size_t kMaxWaiting = 4;
  void run();
  void measure(const Job& job);

  zmq::context_t& context_;
  ChannelOptions channel_;
  ProbeAnswerer answerer_;
  std::atomic<bool> running_{false}, cancel_{false};
  std::mutex mutex_;
  std::deque<Job> jobs_;                             // guarded by mutex_
  std::vector<std::pair<std::string, Frame>> done_;  // guarded by mutex_
  std::thread thread_;  // runs while running_; joined before the next one starts
};

// A LINK_TEST frame of request `id` carrying `report` (position = the target's index, or -1).
Frame link_test_frame(uint64_t id, int64_t position, const LinkTestReport& report);

}  // namespace lingua
