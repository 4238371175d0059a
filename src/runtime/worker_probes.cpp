// WorkerProbes: PROBE answers on the event loop's thread, LINK_TEST measurements on one of their
// own (requests queued behind each other), handed back through a guarded list the loop empties.
#include "runtime/worker_probes.h"

#include <system_error>

namespace lingua {

Frame link_test_frame(uint64_t id, int64_t position, const LinkTestReport& report) {
  Frame f = bytes_frame(MessageType::kLinkTest, id, to_json(report));
  f.header.position = position;
  return f;
}

WorkerProbes::~WorkerProbes() {
  cancel_.store(true);
  if (thread_.joinable()) thread_.join();
}

Expected<std::vector<Frame>> WorkerProbes::on_link_test(Server& server, const std::string& peer, const std::string& device,
                                                        const Frame& request) {
  LINGUA_ASSIGN_OR_RETURN(LinkTestRequest r, parse_link_test_request(std::string(request.payload.begin(), request.payload.end())));
  for (const std::string& key : r.accept_keys) server.trust(key, kRoleProber);
  const uint64_t id = request.header.sequence;
  std::vector<Frame> now;
  if (r.targets.empty()) {
    now.push_back(link_test_frame(id, -1, LinkTestReport{}));
    return now;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  if (jobs_.size() >= kMaxWaiting) {
    for (size_t i = 0; i < r.targets.size(); ++i) {
      LinkMeasurement m;
      m.from = device;
      m.to = r.targets[i].name;
      m.error = "device " + device + " has " + std::to_string(jobs_.size()) + " link tests waiting already";
      now.push_back(link_test_frame(id, static_cast<int64_t>(i), LinkTestReport{{m}}));
    }
    return now;
  }
  jobs_.push_back(Job{peer, device, id, std::move(r)});
  if (running_.load()) return now;  // the running thread takes it next
  running_.store(true);
  lock.unlock();
  if (thread_.joinable()) thread_.join();  // the last one has ended (running_ was false)
  try {
    thread_ = std::thread([this] { run(); });
  } catch (const std::system_error& e) {
    lock.lock();
    jobs_.clear();
    running_.store(false);
    return Status::error(std::string("cannot start measuring its links: ") + e.what());
  }
  return now;
}

void WorkerProbes::run() {
  for (;;) {
    Job job;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (jobs_.empty() || cancel_.load()) {
        running_.store(false);  // under the lock: a request queued now starts a new thread
        return;
      }
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    measure(job);
  }
}

void WorkerProbes::measure(const Job& job) {
  const LinkTestRequest& request = job.request;
  const ProbeOptions options{request.timeout_s, request.bulk_bytes, request.pings};
  for (size_t i = 0; i < request.targets.size() && !cancel_.load(); ++i) {
    const LinkTarget& t = request.targets[i];
    ChannelOptions o = channel_;
    o.server_public = t.public_key;
    LinkMeasurement m = measure_link_to(context_, t.endpoint, o, job.device, t.name, options, &cancel_);
    try {
      Frame f = link_test_frame(job.id, static_cast<int64_t>(i), LinkTestReport{{std::move(m)}});
      std::lock_guard<std::mutex> lock(mutex_);
      done_.emplace_back(job.peer, std::move(f));
    } catch (...) {  // out of memory: this report is lost, and the head names the link unanswered
    }
  }
}

std::vector<std::pair<std::string, Frame>> WorkerProbes::take_reports() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::pair<std::string, Frame>> out;
  out.swap(done_);
  return out;
}

}  // namespace lingua
