// The two halves of a link measurement: the measurer (pings, then bulk bytes until acknowledged,
// all within one deadline) and the answerer a worker runs for every admitted sender.
#include "runtime/link_probe.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

namespace lingua {
namespace {

using Clock = std::chrono::steady_clock;

std::string seconds_text(double s) {
  char text[32];
  std::snprintf(text, sizeof text, "%g s", s);
  return text;
}

// A measurement id no earlier one of this process used, and unlikely to be another's.
uint64_t fresh_id() {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t base = [] {
    std::random_device rd;
    return (uint64_t{rd()} << 32) ^ rd();
  }();
  const uint64_t id = base + 0x9e3779b97f4a7c15ULL * counter.fetch_add(1);
  return id == 0 ? 1 : id;
}

Frame probe_frame(ProbeKind kind, uint64_t id, int64_t position, std::string_view payload) {
  Frame f = bytes_frame(MessageType::kProbe, id, payload);
  f.header.tensor_id = static_cast<uint32_t>(kind);
  f.header.position = position;
  return f;
}

// One measurement's connection and deadline.
class Measurer {
 public:
  Measurer(Client client, Clock::time_point deadline, double timeout_s, const std::atomic<bool>* cancel)
      : client_(std::move(client)), deadline_(deadline), timeout_s_(timeout_s), cancel_(cancel) {}

  Status send(const std::vector<uint8_t>& bytes) { return client_.send(bytes); }

  // Waits for the PROBE answer of `kind` and `position` to measurement `id`: other frames (a late
  // echo of an earlier measurement, say) are dropped. The error says why none came in time.
  Expected<Frame> await(uint64_t id, ProbeKind kind, int64_t position) {
    for (;;) {
      if (cancel_ && cancel_->load()) return Status::error("cancelled");
      const LinkState state = client_.state();
      if (state == LinkState::kRefused)
        return Status::error("the worker at " + client_.endpoint() + " refused this side's key");
      if (state == LinkState::kBroken)
        return Status::error("the secure handshake with " + client_.endpoint() + " failed (wrong worker key?)");
      if (state == LinkState::kLost) return Status::error("the connection to " + client_.endpoint() + " dropped");
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
      if (left <= 0) {
        if (state == LinkState::kConnecting)
          return Status::error(no_answer_text(timeout_s_) + " (no connection to " + client_.endpoint() +
                               ": nothing listens there, it is unreachable, or its handshake never finished)");
        return Status::error(no_answer_text(timeout_s_));
      }
      auto bytes = client_.receive(static_cast<int>(std::min<int64_t>(left, 50)));
      if (!bytes) continue;
      auto f = decode_frame(*bytes);
      if (!f || f->header.type != MessageType::kProbe || f->header.sequence != id) continue;
      if (f->header.tensor_id != static_cast<uint32_t>(kind) || f->header.position != position) continue;
      return std::move(*f);
    }
  }

 private:
  Client client_;
  Clock::time_point deadline_;
  double timeout_s_;
  const std::atomic<bool>* cancel_;
};

LinkMeasurement measure(zmq::context_t& context, const std::string& endpoint, const ChannelOptions& channel,
                        LinkMeasurement m, const ProbeOptions& options, const std::atomic<bool>* cancel) {
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.timeout_s));
  ChannelOptions o = channel;
  o.heartbeat_ms = 0;
  o.timeout_ms = 1000;  // a send waits only when the queue is full, which a few MiB never make it
  auto client = Client::connect(context, endpoint, o);
  if (!client) {
    m.error = client.error();
    return m;
  }
  Measurer link(std::move(*client), deadline, options.timeout_s, cancel);
  const uint64_t id = fresh_id();
  const std::string ping_bytes(32, '\x5a');

  // The first ping sets up the connection (TCP, then the CURVE handshake): not timed.
  std::vector<double> rtts;
  for (int i = 0; i <= options.pings; ++i) {
    const auto t0 = Clock::now();
    if (Status st = link.send(encode_frame(probe_frame(ProbeKind::kPing, id, i, ping_bytes))); !st) {
      m.error = st.message();
      return m;
    }
    if (auto echo = link.await(id, ProbeKind::kPing, i); !echo) {
      m.error = echo.error();
      return m;
    }
    if (i > 0) rtts.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(rtts.begin(), rtts.end());
  m.rtt_s = rtts[rtts.size() / 2];

  // The pieces are made before the clock starts: the time is the link's, not the encoder's.
  std::vector<std::vector<uint8_t>> pieces;
  const std::string piece(kBulkPieceBytes, '\xa5');
  const uint64_t half = options.bulk_bytes / 2;  // at least 512: check_probe_options
  uint64_t mark = 0;                              // bytes up to the mark (0: none)
  for (uint64_t sent = 0; sent < options.bulk_bytes;) {
    uint64_t n = std::min(kBulkPieceBytes, options.bulk_bytes - sent);
    if (sent < half) n = std::min(n, half - sent);  // the first half ends with a piece of its own
    sent += n;
    const bool is_mark = sent == half && half > 0;
    if (is_mark) mark = sent;
    pieces.push_back(encode_frame(probe_frame(ProbeKind::kBulk, id, is_mark ? static_cast<int64_t>(sent) : 0,
                                              std::string_view(piece).substr(0, n))));
  }
  const auto bytes = static_cast<int64_t>(options.bulk_bytes);
  pieces.push_back(encode_frame(probe_frame(ProbeKind::kBulkEnd, id, bytes, "")));
  const auto t0 = Clock::now();
  for (const auto& p : pieces)
    if (Status st = link.send(p); !st) {
      m.error = st.message();
      return m;
    }
  Clock::time_point at_mark = t0;
  if (mark > 0) {
    if (auto first = link.await(id, ProbeKind::kAck, static_cast<int64_t>(mark)); !first) {
      m.error = first.error();
      return m;
    }
    at_mark = Clock::now();
  }
  auto ack = link.await(id, ProbeKind::kAck, bytes);
  if (!ack) {
    m.error = ack.error();
    return m;
  }
  const auto at_end = Clock::now();
  const double elapsed = std::chrono::duration<double>(at_end - t0).count();
  if (mark > 0) {
    // Between the two acknowledgements the link carried the second half at its sustained rate.
    const double between = std::max({std::chrono::duration<double>(at_end - at_mark).count(), elapsed / 10, 1e-6});
    m.bytes_per_s = static_cast<double>(options.bulk_bytes - mark) / between;
  } else {
    // One piece only: the acknowledgement's own trip is one round trip of the whole; a tenth of
    // the time is the floor, so the figure stays finite.
    m.bytes_per_s = static_cast<double>(options.bulk_bytes) / std::max({elapsed - m.rtt_s, elapsed / 10, 1e-6});
  }
  m.bytes = options.bulk_bytes;
  return m;
}

}  // namespace

Status check_probe_options(const ProbeOptions& o) {
  if (!(o.timeout_s > 0 && o.timeout_s <= 60))
    return Status::error("probe timeout_s " + seconds_text(o.timeout_s) + " is not more than 0 and at most 60 s");
  if (o.bulk_bytes < 1024 || o.bulk_bytes > (uint64_t{4} << 20))
    return Status::error("probe bulk_bytes " + std::to_string(o.bulk_bytes) + " is not between 1 KiB and 4 MiB");
  if (o.pings < 1 || o.pings > 50) return Status::error("probe pings " + std::to_string(o.pings) + " is not between 1 and 50");
  return Status::ok();
}

std::string no_answer_text(double timeout_s) { return "no answer within " + seconds_text(timeout_s); }

LinkMeasurement measure_link_to(zmq::context_t& context, const std::string& endpoint, const ChannelOptions& channel,
                                const std::string& from, const std::string& to, const ProbeOptions& options,
                                const std::atomic<bool>* cancel) {
  LinkMeasurement m;
  m.from = from;
  m.to = to;
  if (Status st = check_probe_options(options); !st) {
    m.error = st.message();
    return m;
  }
  try {
    LinkMeasurement got = measure(context, endpoint, channel, m, options, cancel);
    if (!got.error.empty()) got.rtt_s = 0, got.bytes_per_s = 0, got.bytes = 0;  // nothing half-measured
    return got;
  } catch (const std::exception& e) {
    m.error = std::string("the measurement failed: ") + e.what();
  } catch (...) {
    m.error = "the measurement failed";
  }
  return m;
}

std::optional<Frame> ProbeAnswerer::answer(const std::string& peer, const Frame& probe) {
  if (probe.header.type != MessageType::kProbe) return std::nullopt;
  const auto kind = static_cast<ProbeKind>(probe.header.tensor_id);
  const auto key = std::make_pair(peer, probe.header.sequence);
  switch (kind) {
    case ProbeKind::kPing:
      if (probe.payload.size() > kMaxPingBytes) return std::nullopt;
      return probe;
    case ProbeKind::kBulk: {
      auto [it, fresh] = received_.try_emplace(key, 0);
      if (fresh) {
        order_[arrivals_++] = key;
        while (received_.size() > kMaxOpen) {
          received_.erase(order_.begin()->second);
          order_.erase(order_.begin());
        }
      }
      auto found = received_.find(key);
      if (found == received_.end()) return std::nullopt;
      found->second = std::min<uint64_t>(found->second + probe.payload.size(), uint64_t{1} << 62);
      if (probe.header.position > 0)  // a mark: say how much has arrived so far
        return probe_frame(ProbeKind::kAck, probe.header.sequence, static_cast<int64_t>(found->second), "");
      return std::nullopt;
    }
    case ProbeKind::kBulkEnd: {
      uint64_t bytes = 0;
      if (auto it = received_.find(key); it != received_.end()) {
        bytes = it->second;
        received_.erase(it);
        for (auto o = order_.begin(); o != order_.end(); ++o)
          if (o->second == key) {
            order_.erase(o);
            break;
          }
      }
      return probe_frame(ProbeKind::kAck, probe.header.sequence, static_cast<int64_t>(bytes), "");
    }
    case ProbeKind::kAck:
      break;
  }
  return std::nullopt;
}

}  // namespace lingua
