// How fast the link between two devices is, measured rather than guessed: a few small pings for
// the round trip, then bulk bytes the other side acknowledges once all have arrived (PROBE frames).
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "core/status.h"
#include "net/secure_channel.h"
#include "net/wire.h"
#include "runtime/protocol.h"

namespace lingua {

struct ProbeOptions {
  double timeout_s = 3;              // the whole measurement of one link, connection included
  uint64_t bulk_bytes = 256 * 1024;  // sent for the bandwidth
  int pings = 5;                     // timed round trips (the median counts)
};

// The bounds a LINK_TEST request holds to (runtime/protocol.h): 0 < timeout_s <= 60,
// 1 KiB <= bulk_bytes <= 4 MiB, 1 <= pings <= 50. The error names the field.
Status check_probe_options(const ProbeOptions& options);

// PROBE frames (net/wire.h), by the kind in the header's tensor_id; sequence = the measurement's
// id (random, so late answers of an earlier measurement are told apart):
//   PING      measurer -> answerer, position = ping index (0 = the untimed first, which sets up the
//             connection), payload <= kMaxPingBytes opaque bytes; echoed back unchanged.
//   BULK      measurer -> answerer, payload = opaque bytes (pieces of kBulkPieceBytes); position 0:
//             no answer; position > 0 (a mark, on the last piece of the first half): an ACK.
//   BULK_END  measurer -> answerer after the last BULK, position = bytes sent, no payload.
//   ACK       answerer -> measurer for a mark or a BULK_END: position = the BULK bytes received.
// The bandwidth is the second half's bytes over the time between the two ACKs: a shaper's burst
// allowance (tc tbf lets its bucket through at line rate) is spent on the first half, and the
// latency of each ACK's trip back cancels out.
// ZeroMQ keeps a connection's messages in order, so the BULK_END arrives after every BULK piece.
enum class ProbeKind : uint32_t { kPing = 1, kBulk = 2, kBulkEnd = 3, kAck = 4 };
inline constexpr uint64_t kBulkPieceBytes = 64 * 1024;
inline constexpr uint64_t kMaxPingBytes = 4096;

// "no answer within 3 s": how a silent link is reported.
std::string no_answer_text(double timeout_s);

// Measures the link from this process (named `from`) to the worker listening at `endpoint`
// (named `to`) over a connection of its own, made with `channel` (own keys and server_public, or
// insecure) in `context`. Everything, connecting included, takes at most options.timeout_s (plus
// the time to close the socket); `cancel`, when set, ends it early. Never throws: a worker that
// does not answer, refuses the key or drops the connection gives a measurement whose error says so.
LinkMeasurement measure_link_to(zmq::context_t& context, const std::string& endpoint, const ChannelOptions& channel,
                                const std::string& from, const std::string& to, const ProbeOptions& options,
                                const std::atomic<bool>* cancel = nullptr);

// The answering side, for a worker: one per server, fed every PROBE frame an admitted sender sends.
class ProbeAnswerer {
 public:
  // The frame to send back to `peer` (the echo of a PING, the ACK of a BULK_END), or nothing (a
  // BULK piece, an unknown kind, an oversized PING).
  std::optional<Frame> answer(const std::string& peer, const Frame& probe);

 private:
  // BULK bytes so far per (sender, measurement); at most kMaxOpen measurements are remembered (a
  // measurer that never sends its BULK_END is forgotten first).
  static constexpr size_t kMaxOpen = 64;
  std::map<std::pair<std::string, uint64_t>, uint64_t> received_;
  std::map<uint64_t, std::pair<std::string, uint64_t>> order_;  // arrival number -> key, oldest first
  uint64_t arrivals_ = 0;
};

}  // namespace lingua
