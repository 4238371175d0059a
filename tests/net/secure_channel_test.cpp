// The CURVE-secured ROUTER/DEALER channel on loopback: authorized heads talk both ways,
// unauthorized ones get nothing, plain mode stays on loopback, and garbage does not hurt it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "net/secure_channel.h"

namespace lingua {
namespace {

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

KeyPair keypair() {
  auto k = generate_keypair();
  EXPECT_TRUE(k) << k.error();
  return *k;
}

int port_of(const std::string& endpoint) { return std::stoi(endpoint.substr(endpoint.rfind(':') + 1)); }

struct CurveSetup {
  KeyPair worker = keypair(), head = keypair(), stranger = keypair();
  ChannelOptions server_options() const {
    ChannelOptions o;
    o.own = worker;
    o.authorized = {head.public_key};
    return o;
  }
  ChannelOptions client_options(const KeyPair& own) const {
    ChannelOptions o;
    o.own = own;
    o.server_public = worker.public_key;
    o.timeout_ms = 2000;
    return o;
  }
};

// One request from the client and one answer back, within a few seconds.
void expect_exchange(Server& server, Client& client, const std::string& tag) {
  ASSERT_TRUE(client.send(bytes(std::string("ping ") + tag)).is_ok());
  // A plain server may first hand over junk frames left by garbage peers: skip them.
  std::string peer;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    auto got = server.receive(5000);
    ASSERT_TRUE(got) << got.error();
    if (got->second == bytes(std::string("ping ") + tag)) {
      peer = got->first;
      break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the client's message never arrived";
  }
  ASSERT_TRUE(server.send(peer, bytes(std::string("pong ") + tag)).is_ok());
  auto answer = client.receive(5000);
  ASSERT_TRUE(answer) << answer.error();
  EXPECT_EQ(*answer, bytes(std::string("pong ") + tag));
}

TEST(SecureChannel, LoopbackEndpoints) {
  EXPECT_TRUE(is_loopback_endpoint("tcp://127.0.0.1:7000"));
  EXPECT_TRUE(is_loopback_endpoint("tcp://127.0.0.1:0"));
  EXPECT_TRUE(is_loopback_endpoint("tcp://127.1.2.3:7000"));
  EXPECT_TRUE(is_loopback_endpoint("tcp://localhost:7000"));
  EXPECT_TRUE(is_loopback_endpoint("tcp://[::1]:7000"));
  EXPECT_TRUE(is_loopback_endpoint("ipc:///tmp/lingua.sock"));
  EXPECT_TRUE(is_loopback_endpoint("inproc://x"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://10.0.0.1:7000"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://*:7000"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://0.0.0.0:7000"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://127.0.0.1.evil.com:7000"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://localhost.evil.com:7000"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://eth0;127.0.0.1:7000"));
  EXPECT_FALSE(is_loopback_endpoint("udp://127.0.0.1:7000"));
}

TEST(SecureChannel, AuthorizedClientExchangesBothWays) {
  CurveSetup s;
  auto server = Server::bind("tcp://127.0.0.1:0", s.server_options());
  ASSERT_TRUE(server) << server.error();
  const std::string ep = server->endpoint();
  EXPECT_EQ(ep.rfind("tcp://127.0.0.1:", 0), 0u) << ep;
  EXPECT_GT(port_of(ep), 0) << "ZMQ_LAST_ENDPOINT must give the real port: " << ep;
  zmq::context_t ctx;
  auto client = Client::connect(ctx, ep, s.client_options(s.head));
  ASSERT_TRUE(client) << client.error();
  expect_exchange(*server, *client, "one");
  expect_exchange(*server, *client, "two");
  std::vector<uint8_t> big(1 << 20);
  std::mt19937 rng(7);
  for (auto& b : big) b = static_cast<uint8_t>(rng());
  ASSERT_TRUE(client->send(big).is_ok());
  auto got = server->receive(5000);
  ASSERT_TRUE(got) << got.error();
  EXPECT_EQ(got->second, big);
  EXPECT_EQ(server->refused(), 0u);
}

TEST(SecureChannel, UnauthorizedClientGetsNothingAndIsLogged) {
  CurveSetup s;
  auto server = Server::bind("tcp://127.0.0.1:0", s.server_options());
  ASSERT_TRUE(server) << server.error();
  zmq::context_t ctx;
  ::testing::internal::CaptureStderr();
  auto client = Client::connect(ctx, server->endpoint(), s.client_options(s.stranger));
  ASSERT_TRUE(client) << client.error();
  ASSERT_TRUE(client->send(bytes("let me in")).is_ok());
  const auto t0 = std::chrono::steady_clock::now();
  auto answer = client->receive(600);
  const auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(answer);
  EXPECT_NE(answer.error().find(std::string("no answer from ") + server->endpoint() + " within 600 ms"), std::string::npos)
      << answer.error();
  EXPECT_LT(waited, std::chrono::seconds(3)) << "a receive timeout must not hang";
  auto nothing = server->receive(200);
  EXPECT_FALSE(nothing) << "the server must never see an unauthorized client's message";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server->refused() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_GT(server->refused(), 0u);
  EXPECT_NE(log.find("lingua worker: refused a connection from 127.0.0.1: key not authorized\n"), std::string::npos)
      << log;
  // Reconnect attempts are refused again but logged once, not ten times a second.
  size_t lines = 0;
  for (size_t at = log.find("refused a connection"); at != std::string::npos; at = log.find("refused a connection", at + 1))
    ++lines;
  EXPECT_EQ(lines, 1u) << log;

  // A client that does not speak CURVE at all is turned away as well.
  ChannelOptions plain;
  plain.insecure = true;
  auto plain_client = Client::connect(ctx, server->endpoint(), plain);
  ASSERT_TRUE(plain_client) << plain_client.error();
  ASSERT_TRUE(plain_client->send(bytes("plain")).is_ok());
  EXPECT_FALSE(plain_client->receive(300));
  EXPECT_FALSE(server->receive(100));
  // ...and the authorized head still gets through.
  auto head = Client::connect(ctx, server->endpoint(), s.client_options(s.head));
  ASSERT_TRUE(head) << head.error();
  expect_exchange(*server, *head, "after-refusal");
}

TEST(SecureChannel, ClientWithWrongServerKeyGetsNothing) {
  CurveSetup s;
  auto server = Server::bind("tcp://127.0.0.1:0", s.server_options());
  ASSERT_TRUE(server) << server.error();
  zmq::context_t ctx;
  ChannelOptions o = s.client_options(s.head);
  o.server_public = s.stranger.public_key;  // an impostor's key: the handshake cannot complete
  auto client = Client::connect(ctx, server->endpoint(), o);
  ASSERT_TRUE(client) << client.error();
  ASSERT_TRUE(client->send(bytes("hello?")).is_ok());
  EXPECT_FALSE(server->receive(500));
  EXPECT_FALSE(client->receive(100));
}

TEST(SecureChannel, InsecureModeOnlyOnLoopback) {
  ChannelOptions plain;
  plain.insecure = true;
  auto server = Server::bind("tcp://127.0.0.1:0", plain);
  ASSERT_TRUE(server) << server.error();
  zmq::context_t ctx;
  auto client = Client::connect(ctx, server->endpoint(), plain);
  ASSERT_TRUE(client) << client.error();
  expect_exchange(*server, *client, "plain");

  for (const char* ep : {"tcp://10.0.0.1:7000", "tcp://*:7000"}) {
    auto c = Client::connect(ctx, ep, plain);
    ASSERT_FALSE(c) << ep;
    EXPECT_NE(c.error().find(ep), std::string::npos) << c.error();
    // Connecting to * is refused before the loopback rule: it names no host at all.
    EXPECT_NE(c.error().find(std::string(ep) == "tcp://*:7000" ? "every interface" : "--allow-insecure-network"),
              std::string::npos)
        << c.error();
    auto srv = Server::bind(ep, plain);
    ASSERT_FALSE(srv) << ep;
    EXPECT_NE(srv.error().find("--allow-insecure-network"), std::string::npos) << srv.error();
  }
  ChannelOptions allowed = plain;
  allowed.allow_insecure_network = true;
  EXPECT_TRUE(check_channel_options("tcp://10.0.0.1:7000", allowed, false).is_ok());
  EXPECT_TRUE(check_channel_options("tcp://*:7000", allowed, true).is_ok());
}

TEST(SecureChannel, MissingKeysAndBadEndpointsAreErrors) {
  CurveSetup s;
  ChannelOptions no_keys;
  auto a = Server::bind("tcp://127.0.0.1:0", no_keys);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().find("lingua keygen"), std::string::npos) << a.error();
  ChannelOptions nobody = s.server_options();
  nobody.authorized.clear();
  auto b = Server::bind("tcp://127.0.0.1:0", nobody);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().find("no authorized head keys"), std::string::npos) << b.error();
  zmq::context_t ctx;
  ChannelOptions no_server_key = s.client_options(s.head);
  no_server_key.server_public = "short";
  EXPECT_FALSE(Client::connect(ctx, "tcp://127.0.0.1:7000", no_server_key));

  auto bad = Server::bind("tcp://127.0.0.1:notaport", s.server_options());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("port 'notaport' in 'tcp://127.0.0.1:notaport'"), std::string::npos) << bad.error();
  auto first = Server::bind("tcp://127.0.0.1:0", s.server_options());
  ASSERT_TRUE(first) << first.error();
  auto taken = Server::bind(first->endpoint(), s.server_options());
  ASSERT_FALSE(taken);
  EXPECT_NE(taken.error().find(first->endpoint()), std::string::npos) << taken.error();

  auto stray = first->send("no-such-peer", bytes("x"));
  EXPECT_FALSE(stray.is_ok());
  auto quiet = first->receive(50);
  ASSERT_FALSE(quiet);
  EXPECT_NE(quiet.error().find("within 50 ms"), std::string::npos) << quiet.error();
}

// 200 raw TCP peers sending random bytes (half after a valid ZMTP signature), some staying
// open, then an ordinary exchange: the server must neither crash nor stop serving.
void hammer_with_garbage(int port) {
  std::mt19937 rng(12345);
  std::vector<int> open_fds;
  for (int i = 0; i < 200; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << "connection " << i;
    std::vector<uint8_t> junk(1 + rng() % 600);
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    if (i % 2 == 0 && junk.size() >= 10) {
      junk[0] = 0xFF;  // ZMTP 3 signature, then garbage where the version and mechanism go
      junk[9] = 0x7F;
    }
    (void)!::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
    if (i % 4 == 0) open_fds.push_back(fd);
    else ::close(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (int fd : open_fds) ::close(fd);
}

TEST(SecureChannel, GarbagePeersDoNotHurtAPlainServer) {
  ChannelOptions plain;
  plain.insecure = true;
  auto server = Server::bind("tcp://127.0.0.1:0", plain);
  ASSERT_TRUE(server) << server.error();
  hammer_with_garbage(port_of(server->endpoint()));
  zmq::context_t ctx;
  auto client = Client::connect(ctx, server->endpoint(), plain);
  ASSERT_TRUE(client) << client.error();
  expect_exchange(*server, *client, "after-garbage");
}

TEST(SecureChannel, GarbagePeersDoNotHurtACurveServer) {
  CurveSetup s;
  auto server = Server::bind("tcp://127.0.0.1:0", s.server_options());
  ASSERT_TRUE(server) << server.error();
  hammer_with_garbage(port_of(server->endpoint()));
  EXPECT_FALSE(server->receive(100)) << "garbage must never come out of a CURVE server";
  zmq::context_t ctx;
  auto client = Client::connect(ctx, server->endpoint(), s.client_options(s.head));
  ASSERT_TRUE(client) << client.error();
  expect_exchange(*server, *client, "after-garbage");
}

}  // namespace
}  // namespace lingua
