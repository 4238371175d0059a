// LinkSender: a queue of timed messages drained by one thread that owns the socket.
#include "net/link_sender.h"

namespace lingua {

Expected<std::unique_ptr<LinkSender>> LinkSender::start(zmq::context_t& context, const std::string& endpoint,
                                                        const ChannelOptions& options, LinkShape shape) {
  LINGUA_ASSIGN_OR_RETURN(Client client, Client::connect(context, endpoint, options));
  std::unique_ptr<LinkSender> s(new LinkSender(std::move(client), shape));
  s->thread_ = std::thread([p = s.get()] { p->run(); });
  return s;
}

LinkSender::~LinkSender() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status LinkSender::send(std::vector<uint8_t> bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!error_.is_ok()) return error_;
  const auto now = Clock::now();
  auto arrival = now;
  if (shape_.bytes_per_s > 0) {
    // The wire carries one message at a time: this one starts when the previous one is through.
    const auto start = std::max(now, link_free_);
    link_free_ = start + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(static_cast<double>(bytes.size()) / shape_.bytes_per_s));
    arrival = link_free_;
  }
  arrival += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(shape_.latency_s));
  bytes_sent_ += bytes.size();
  link_seconds_ += std::chrono::duration<double>(arrival - now).count();
  queue_.emplace_back(arrival, std::move(bytes));
  wake_.notify_all();
  return Status::ok();
}

double LinkSender::take_link_seconds() {
  std::lock_guard<std::mutex> lock(mutex_);
  const double s = link_seconds_;
  link_seconds_ = 0;
  return s;
}

Status LinkSender::error() {
  std::lock_guard<std::mutex> lock(mutex_);
  return error_;
}

Status LinkSender::wait_until_up() {
  // A message queued before the handshake is done would be dropped if the handshake failed.
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop_) return Status::error("the link is closing");
    }
    const LinkState s = client_.state();
    if (s == LinkState::kUp) return Status::ok();
    if (s == LinkState::kRefused) return Status::error("the peer worker at " + client_.endpoint() + " refused this worker's key");
    if (s == LinkState::kLost) return Status::error("lost the connection to the peer worker at " + client_.endpoint());
    if (Clock::now() > deadline) return Status::error("cannot reach the peer worker at " + client_.endpoint() + " within 10 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void LinkSender::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    const auto due = queue_.front().first;
    if (Clock::now() < due) {
      wake_.wait_until(lock, due, [&] { return stop_; });
      if (stop_) return;
      continue;
    }
    std::vector<uint8_t> bytes = std::move(queue_.front().second);
    queue_.pop_front();
    lock.unlock();
    Status st = wait_until_up();
    if (st.is_ok()) st = client_.send(bytes);
    lock.lock();
    if (!st.is_ok() && error_.is_ok()) error_ = st;
  }
}

}  // namespace lingua
