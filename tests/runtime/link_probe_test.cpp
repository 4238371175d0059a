// The two halves of a link measurement without worker processes: the answerer's replies (echo,
// count, acknowledge, ignore), its bounded memory, and the measurer against a worker that cannot
// answer (a socket that accepts and stays silent, a port nobody listens on): an error within the
// timeout and a little, never a hang.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "runtime/link_probe.h"

namespace lingua {
namespace {

using Clock = std::chrono::steady_clock;

Frame probe(ProbeKind kind, uint64_t id, int64_t position, size_t bytes) {
  Frame f = bytes_frame(MessageType::kProbe, id, std::string(bytes, 'x'));
  f.header.tensor_id = static_cast<uint32_t>(kind);
  f.header.position = position;
  return f;
}

TEST(LinkProbe, AnswererEchoesPingsAndAcknowledgesBulk) {
  ProbeAnswerer a;
  auto echo = a.answer("peer-1", probe(ProbeKind::kPing, 42, 3, 32));
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->header.type, MessageType::kProbe);
  EXPECT_EQ(echo->header.sequence, 42u);
  EXPECT_EQ(echo->header.position, 3);
  EXPECT_EQ(echo->header.tensor_id, static_cast<uint32_t>(ProbeKind::kPing));
  EXPECT_EQ(echo->payload.size(), 32u);

  EXPECT_FALSE(a.answer("peer-1", probe(ProbeKind::kBulk, 42, 0, 1000)));
  EXPECT_FALSE(a.answer("peer-1", probe(ProbeKind::kBulk, 42, 0, 500)));
  // Another sender's pieces of a measurement with the same id are counted apart.
  EXPECT_FALSE(a.answer("peer-2", probe(ProbeKind::kBulk, 42, 0, 7)));
  auto ack = a.answer("peer-1", probe(ProbeKind::kBulkEnd, 42, 1500, 0));
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->header.tensor_id, static_cast<uint32_t>(ProbeKind::kAck));
  EXPECT_EQ(ack->header.sequence, 42u);
  EXPECT_EQ(ack->header.position, 1500);
  EXPECT_TRUE(ack->payload.empty());
  // The count ends with the acknowledgement: a second BULK_END finds nothing.
  auto again = a.answer("peer-1", probe(ProbeKind::kBulkEnd, 42, 1500, 0));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->header.position, 0);
  auto other = a.answer("peer-2", probe(ProbeKind::kBulkEnd, 42, 7, 0));
  ASSERT_TRUE(other);
  EXPECT_EQ(other->header.position, 7);
}

// A mark (a BULK piece with a position) is acknowledged with the bytes so far, and the count goes on.
TEST(LinkProbe, AnswererAcknowledgesTheMarkBetweenTheHalves) {
  ProbeAnswerer a;
  EXPECT_FALSE(a.answer("p", probe(ProbeKind::kBulk, 9, 0, 600)));
  auto mark = a.answer("p", probe(ProbeKind::kBulk, 9, 1000, 400));
  ASSERT_TRUE(mark);
  EXPECT_EQ(mark->header.tensor_id, static_cast<uint32_t>(ProbeKind::kAck));
  EXPECT_EQ(mark->header.position, 1000);
  EXPECT_FALSE(a.answer("p", probe(ProbeKind::kBulk, 9, 0, 1000)));
  auto end = a.answer("p", probe(ProbeKind::kBulkEnd, 9, 2000, 0));
  ASSERT_TRUE(end);
  EXPECT_EQ(end->header.position, 2000);
}

TEST(LinkProbe, AnswererIgnoresWhatItShouldNotAnswer) {
  ProbeAnswerer a;
  EXPECT_FALSE(a.answer("p", probe(ProbeKind::kAck, 1, 0, 0)));                         // acks go the other way
  EXPECT_FALSE(a.answer("p", probe(static_cast<ProbeKind>(99), 1, 0, 0)));              // unknown kind
  EXPECT_FALSE(a.answer("p", probe(ProbeKind::kPing, 1, 0, kMaxPingBytes + 1)));        // no amplification
  EXPECT_FALSE(a.answer("p", bytes_frame(MessageType::kHello, 0, "{}")));               // not a probe
}

TEST(LinkProbe, AnswererForgetsTheOldestUnfinishedMeasurement) {
  ProbeAnswerer a;
  for (uint64_t id = 1; id <= 65; ++id) EXPECT_FALSE(a.answer("p", probe(ProbeKind::kBulk, id, 0, 10)));
  auto first = a.answer("p", probe(ProbeKind::kBulkEnd, 1, 10, 0));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->header.position, 0) << "the 65th open measurement pushes out the first";
  auto last = a.answer("p", probe(ProbeKind::kBulkEnd, 65, 10, 0));
  ASSERT_TRUE(last);
  EXPECT_EQ(last->header.position, 10);
}

TEST(LinkProbe, OptionsOutOfBoundsAreNamed) {
  EXPECT_TRUE(check_probe_options(ProbeOptions{}).is_ok());
  EXPECT_NE(check_probe_options({0, 4096, 3}).message().find("timeout_s"), std::string::npos);
  EXPECT_NE(check_probe_options({61, 4096, 3}).message().find("timeout_s"), std::string::npos);
  EXPECT_NE(check_probe_options({1, 5u << 20, 3}).message().find("bulk_bytes"), std::string::npos);
  EXPECT_NE(check_probe_options({1, 4096, 0}).message().find("pings"), std::string::npos);
  zmq::context_t context(1);
  ChannelOptions insecure;
  insecure.insecure = true;
  const LinkMeasurement m = measure_link_to(context, "tcp://127.0.0.1:9", insecure, "a", "b", {1, 4096, 51});
  EXPECT_NE(m.error.find("pings"), std::string::npos) << m.error;
  EXPECT_EQ(m.from, "a");
  EXPECT_EQ(m.to, "b");
}

// A TCP listener on loopback that accepts (the kernel does, from its backlog) and never says a word.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      return;
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() {
    if (fd_ >= 0) ::close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

TEST(LinkProbe, SilentListenerIsNoAnswerWithinTheTimeout) {
  SilentListener silent;
  ASSERT_GT(silent.port(), 0);
  zmq::context_t context(1);
  ChannelOptions insecure;
  insecure.insecure = true;
  const auto t0 = Clock::now();
  const LinkMeasurement m =
      measure_link_to(context, "tcp://127.0.0.1:" + std::to_string(silent.port()), insecure, "head", "mute", {1, 64 * 1024, 3});
  const double took = seconds_since(t0);
  EXPECT_NE(m.error.find("no answer within 1 s"), std::string::npos) << m.error;
  EXPECT_GE(took, 0.9);
  EXPECT_LT(took, 3.0);
  EXPECT_EQ(m.rtt_s, 0);
  EXPECT_EQ(m.bytes_per_s, 0);
}

TEST(LinkProbe, NobodyListeningIsNoAnswerNamingTheConnection) {
  int port = 0;
  {
    SilentListener closed;  // a port that was free a moment ago, closed again
    port = closed.port();
  }
  ASSERT_GT(port, 0);
  zmq::context_t context(1);
  ChannelOptions insecure;
  insecure.insecure = true;
  const auto t0 = Clock::now();
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(port);
  const LinkMeasurement m = measure_link_to(context, endpoint, insecure, "head", "gone", {0.5, 4096, 1});
  EXPECT_LT(seconds_since(t0), 2.5);
  EXPECT_NE(m.error.find("no answer within 0.5 s"), std::string::npos) << m.error;
  EXPECT_NE(m.error.find("no connection to " + endpoint), std::string::npos) << m.error;
}

TEST(LinkProbe, BadEndpointOrKeysAreNamedAtOnce) {
  zmq::context_t context(1);
  ChannelOptions curve;  // no keys at all
  const LinkMeasurement m = measure_link_to(context, "tcp://127.0.0.1:7700", curve, "head", "b", {});
  EXPECT_NE(m.error.find("CURVE key"), std::string::npos) << m.error;
  ChannelOptions insecure;
  insecure.insecure = true;
  const LinkMeasurement far = measure_link_to(context, "tcp://10.1.2.3:7700", insecure, "head", "b", {});
  EXPECT_NE(far.error.find("not a loopback address"), std::string::npos) << far.error;
  const LinkMeasurement typo = measure_link_to(context, "tpc://127.0.0.1:7700", insecure, "head", "b", {});
  EXPECT_FALSE(typo.error.empty());
}

}  // namespace
}  // namespace lingua
