// lingua-delay-relay, the latency of emulated hosts: bad flags are refused by name, a round trip
// takes twice the delay, bytes arrive intact and in order both ways with half-closes passed on,
// connections are served side by side, per-client delays apply, and SIGTERM stops it cleanly.
#include <gtest/gtest.h>

#include <random>

#include "tools/tools_harness.h"

namespace lingua::testing {
namespace {

class DelayRelay : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = std::filesystem::temp_directory_path() /
               ("lingua_relay_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(scratch_);
    ASSERT_TRUE(std::filesystem::exists(relay_binary())) << relay_binary();
  }
  void TearDown() override { std::filesystem::remove_all(scratch_); }

  // A relay on 127.0.0.1 in front of `to_port`, once it accepts connections.
  std::unique_ptr<Child> start(uint16_t to_port, const std::string& delay, uint16_t& port,
                               const std::vector<std::string>& extra = {}) {
    port = free_port();
    std::vector<std::string> argv = {relay_binary(), "--listen", "127.0.0.1:" + std::to_string(port), "--to",
                                     "127.0.0.1:" + std::to_string(to_port), "--delay", delay};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto child = std::make_unique<Child>(argv, scratch_ / "relay_out.txt", scratch_ / "relay_err.txt");
    const bool up = eventually(
        [&] {
          const int fd = connect_to("127.0.0.1", port);
          if (fd < 0) return false;
          ::close(fd);
          return true;
        },
        5);
    EXPECT_TRUE(up) << "relay did not listen: " << child->err();
    return child;
  }

  std::filesystem::path scratch_;
};

TEST_F(DelayRelay, BadFlagsAreRefusedByName) {
  struct Bad {
    std::vector<std::string> args;
    const char* want;
  };
  const std::vector<Bad> cases = {
      {{}, "--listen HOST:PORT is required"},
      {{"--listen", "127.0.0.1:9"}, "--to HOST:PORT is required"},
      {{"--listen", "127.0.0.1:9", "--to", "127.0.0.1:10"}, "--delay DURATION is required"},
      {{"--listen", "127.0.0.1:9", "--to", "127.0.0.1:10", "--delay", "5"}, "--delay '5'"},
      {{"--listen", "127.0.0.1:9", "--to", "127.0.0.1:10", "--delay", "fast"}, "--delay 'fast'"},
      {{"--listen", "127.0.0.1:9", "--to", "127.0.0.1:10", "--delay", "2min"}, "at most 60s"},
      {{"--listen", "127.0.0.1:0", "--to", "127.0.0.1:10", "--delay", "1ms"}, "port must be a number from 1 to 65535"},
      {{"--listen", "127.0.0.1", "--to", "127.0.0.1:10", "--delay", "1ms"}, "expected HOST:PORT"},
      {{"--listen", "::1:80", "--to", "127.0.0.1:10", "--delay", "1ms"}, "IPv6 addresses in brackets"},
      {{"--listen", "[::1:80", "--to", "127.0.0.1:10", "--delay", "1ms"}, "[ADDRESS]:PORT"},
      {{"--listen", "127.0.0.1:9", "--to", "no.such.host.invalid:10", "--delay", "1ms"}, "cannot resolve"},
      {{"--listen", "127.0.0.1:9", "--to", "127.0.0.1:10", "--delay", "1ms", "--delay-from", "10.0.0.1"},
       "expected ADDRESS=DURATION"},
      {{"--listen", "127.0.0.1:9", "--to", "127.0.0.1:10", "--delay", "1ms", "--delay-from", "host=1ms"},
       "'host' is not an IP address"},
      {{"--listen", "127.0.0.1:9", "--to", "127.0.0.1:10", "--delay", "1ms", "--delay-from", "10.0.0.1=1"},
       "--delay-from '1'"},
      {{"--listen", "127.0.0.1:9", "--to", "127.0.0.1:10", "--delay", "1ms", "--speed", "9"}, "unknown argument '--speed'"},
      {{"--listen"}, "--listen needs a value"},
  };
  for (const Bad& b : cases) {
    std::vector<std::string> argv = {relay_binary()};
    argv.insert(argv.end(), b.args.begin(), b.args.end());
    const CliRun r = run_command(argv, scratch_, 10);
    std::string shown;
    for (const auto& a : b.args) shown += a + " ";
    EXPECT_EQ(r.rc, 1) << shown << r.err;
    EXPECT_EQ(r.err.rfind("lingua-delay-relay: ", 0), 0u) << shown << r.err;
    EXPECT_NE(r.err.find(b.want), std::string::npos) << shown << "wanted '" << b.want << "' in: " << r.err;
  }
}

TEST_F(DelayRelay, AddressInUseIsAnError) {
  Listener taken("127.0.0.1");
  const CliRun r = run_command({relay_binary(), "--listen", "127.0.0.1:" + std::to_string(taken.port), "--to",
                                "127.0.0.1:10", "--delay", "1ms"},
                               scratch_, 10);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("cannot listen on 127.0.0.1:" + std::to_string(taken.port)), std::string::npos) << r.err;
}

TEST_F(DelayRelay, HelpPrintsUsage) {
  const CliRun r = run_command({relay_binary(), "--help"}, scratch_, 10);
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("usage: lingua-delay-relay --listen"), std::string::npos) << r.out;
}

TEST_F(DelayRelay, RoundTripTakesTwiceTheDelay) {
  EchoServer echo("127.0.0.1");
  ASSERT_TRUE(echo.ok());
  uint16_t port = 0;
  auto relay = start(echo.port(), "40ms", port);
  const int fd = connect_to("127.0.0.1", port);
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 5; ++i) {
    const double rtt = round_trip(fd);
    ASSERT_GT(rtt, 0) << "no echo through the relay: " << relay->err();
    EXPECT_GE(rtt, 2 * 0.040 * 0.95) << "round trip " << i;
    EXPECT_LT(rtt, 2 * 0.040 + 0.2) << "round trip " << i;
  }
  ::close(fd);
}

TEST_F(DelayRelay, BytesArriveIntactAndHalfClosePassesBothWays) {
  EchoServer echo("127.0.0.1");
  ASSERT_TRUE(echo.ok());
  uint16_t port = 0;
  auto relay = start(echo.port(), "5ms", port);
  std::string payload(3 << 20, '\0');
  std::mt19937 rng(7);
  for (char& c : payload) c = static_cast<char>(rng());
  const int fd = connect_to("127.0.0.1", port);
  ASSERT_GE(fd, 0);
  // The client's FIN goes through the relay to the echo server, which then closes: its FIN comes back.
  std::thread writer([&] {
    send_all(fd, payload);
    ::shutdown(fd, SHUT_WR);
  });
  const std::string back = read_all(fd, 30);
  writer.join();
  ::close(fd);
  ASSERT_EQ(back.size(), payload.size());
  EXPECT_TRUE(back == payload) << "bytes changed or reordered";
}

TEST_F(DelayRelay, ConnectionsAreServedSideBySide) {
  EchoServer echo("127.0.0.1");
  ASSERT_TRUE(echo.ok());
  uint16_t port = 0;
  auto relay = start(echo.port(), "100ms", port);
  constexpr int kClients = 30;
  std::vector<std::thread> clients;
  std::atomic<int> good{0};
  const auto t0 = Clock::now();
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      const int fd = connect_to("127.0.0.1", port);
      if (fd < 0) return;
      const std::string msg = "client-" + std::to_string(i);
      if (send_all(fd, msg) && read_n(fd, msg.size(), 10) == msg) ++good;
      ::close(fd);
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(good.load(), kClients) << relay->err();
  // One after another would take 30 x 0.2 s.
  EXPECT_LT(seconds_since(t0), kClients * 0.2 / 2);
}

TEST_F(DelayRelay, DelayFromGivesOneClientItsOwnDelay) {
  EchoServer echo("127.0.0.1");
  ASSERT_TRUE(echo.ok());
  uint16_t port = 0;
  auto relay = start(echo.port(), "0s", port, {"--delay-from", "127.0.0.2=60ms"});
  const int slow = connect_to("127.0.0.1", port, "127.0.0.2");
  const int fast = connect_to("127.0.0.1", port, "127.0.0.1");
  ASSERT_GE(slow, 0);
  ASSERT_GE(fast, 0);
  const double slow_rtt = round_trip(slow);
  const double fast_rtt = round_trip(fast);
  EXPECT_GE(slow_rtt, 2 * 0.060 * 0.95);
  EXPECT_GT(fast_rtt, 0);
  EXPECT_LT(fast_rtt, 0.060) << "the default delay (0s) applies to other clients";
  ::close(slow);
  ::close(fast);
}

TEST_F(DelayRelay, UnreachableTargetClosesTheClientAndKeepsServing) {
  const uint16_t nobody = free_port();
  uint16_t port = 0;
  auto relay = start(nobody, "1ms", port);
  const int fd = connect_to("127.0.0.1", port);
  ASSERT_GE(fd, 0);
  send_all(fd, "hello");
  EXPECT_EQ(read_all(fd, 5), "") << "the client sees its connection closed";
  ::close(fd);
  EXPECT_TRUE(eventually([&] { return relay->err().find("cannot connect to 127.0.0.1:") != std::string::npos; }, 5))
      << relay->err();
  EXPECT_TRUE(relay->running());
}

TEST_F(DelayRelay, SigtermStopsItCleanly) {
  EchoServer echo("127.0.0.1");
  ASSERT_TRUE(echo.ok());
  uint16_t port = 0;
  auto relay = start(echo.port(), "1ms", port);
  const int fd = connect_to("127.0.0.1", port);
  ASSERT_GE(fd, 0);
  ASSERT_GT(round_trip(fd), 0);
  ::kill(relay->pid(), SIGTERM);
  EXPECT_EQ(relay->wait_for(5), std::optional<int>(0)) << relay->err();
  EXPECT_EQ(read_all(fd, 5), "") << "its connections are closed";
  ::close(fd);
  EXPECT_LT(connect_to("127.0.0.1", port), 0) << "nothing listens any more";
}

}  // namespace
}  // namespace lingua::testing
