// Head keys revoked while a worker runs (Server::set_head_keys): new connections and messages on
// open ones are refused, peer-worker keys are left alone; and Server::connected, which tells a
// worker that the head holding it has gone.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <thread>

#include "net/secure_channel.h"

namespace lingua {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

KeyPair keypair() {
  auto k = generate_keypair();
  EXPECT_TRUE(k) << k.error();
  return *k;
}

struct Keys {
  KeyPair worker = keypair(), head = keypair(), peer = keypair();
  ChannelOptions server() const {
    ChannelOptions o;
    o.own = worker;
    o.authorized = {head.public_key};
    o.log_refusals = false;
    return o;
  }
  ChannelOptions client(const KeyPair& own) const {
    ChannelOptions o;
    o.own = own;
    o.server_public = worker.public_key;
    o.timeout_ms = 2000;
    return o;
  }
};

// The next message whose payload is `want`, skipping others, within timeout_ms.
std::optional<Received> receive_payload(Server& server, const std::string& want, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < deadline) {
    auto got = server.receive_from(100);
    if (got && got->payload == bytes(want)) return *got;
  }
  return std::nullopt;
}

LinkState wait_state(Client& c, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  LinkState s = c.state();
  while ((s == LinkState::kConnecting) && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    s = c.state();
  }
  return s;
}

TEST(KeyRevocation, RemovedHeadKeyIsRefusedOnOpenAndNewConnectionsButPeersStay) {
  Keys k;
  auto server = Server::bind("tcp://127.0.0.1:0", k.server());
  ASSERT_TRUE(server) << server.error();
  server->trust(k.peer.public_key, kRolePeer);
  zmq::context_t ctx;
  auto head = Client::connect(ctx, server->endpoint(), k.client(k.head));
  auto peer = Client::connect(ctx, server->endpoint(), k.client(k.peer));
  ASSERT_TRUE(head && peer);

  ASSERT_TRUE(head->send(bytes("from head")).is_ok());
  auto h = receive_payload(*server, "from head", 5000);
  ASSERT_TRUE(h) << "an admitted head gets through";
  EXPECT_EQ(h->role, kRoleHead);
  EXPECT_EQ(h->key, k.head.public_key);
  ASSERT_TRUE(peer->send(bytes("from peer")).is_ok());
  auto p = receive_payload(*server, "from peer", 5000);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->role, kRolePeer);

  server->set_head_keys({});
  // The head's connection stays open, but nothing it sends is delivered any more.
  ASSERT_TRUE(head->send(bytes("after revocation")).is_ok());
  ASSERT_TRUE(peer->send(bytes("peer after revocation")).is_ok());
  bool head_seen = false, peer_seen = false;
  const auto deadline = Clock::now() + std::chrono::seconds(2);
  while (Clock::now() < deadline && !peer_seen) {
    auto got = server->receive_from(100);
    if (!got) continue;
    head_seen |= got->payload == bytes("after revocation");
    if (got->payload == bytes("peer after revocation")) {
      peer_seen = true;
      EXPECT_EQ(got->role, kRolePeer) << "revoking head keys must not touch peer keys";
    }
  }
  EXPECT_TRUE(peer_seen);
  EXPECT_FALSE(head_seen || receive_payload(*server, "after revocation", 300)) << "a revoked head's message was delivered";

  // A new connection with the revoked key is refused at the handshake.
  auto again = Client::connect(ctx, server->endpoint(), k.client(k.head));
  ASSERT_TRUE(again);
  EXPECT_EQ(wait_state(*again, 5000), LinkState::kRefused);

  // Given back, the key is admitted again.
  server->set_head_keys({k.head.public_key});
  auto back = Client::connect(ctx, server->endpoint(), k.client(k.head));
  ASSERT_TRUE(back);
  ASSERT_TRUE(back->send(bytes("welcome back")).is_ok());
  auto b = receive_payload(*server, "welcome back", 5000);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->role, kRoleHead);
}

TEST(KeyRevocation, ConnectedTellsWhenAClientHasGone) {
  Keys k;
  auto server = Server::bind("tcp://127.0.0.1:0", k.server());
  ASSERT_TRUE(server) << server.error();
  zmq::context_t ctx;
  std::string peer_id;
  {
    auto head = Client::connect(ctx, server->endpoint(), k.client(k.head));
    ASSERT_TRUE(head);
    ASSERT_TRUE(head->send(bytes("hello")).is_ok());
    auto h = receive_payload(*server, "hello", 5000);
    ASSERT_TRUE(h);
    peer_id = h->peer;
    EXPECT_TRUE(server->connected(peer_id));
    // The probe is never handed to the client as a message; real answers still are.
    EXPECT_FALSE(head->receive(300)) << "the probe must not reach the client as a message";
    ASSERT_TRUE(server->send(peer_id, bytes("answer")).is_ok());
    auto a = head->receive(5000);
    ASSERT_TRUE(a) << a.error();
    EXPECT_EQ(*a, bytes("answer"));
  }  // the client's socket closes here
  const auto deadline = Clock::now() + std::chrono::seconds(3);
  bool gone = false;
  while (!gone && Clock::now() < deadline) {
    gone = !server->connected(peer_id);
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(gone) << "a client that closed its socket must be seen gone";
  EXPECT_FALSE(server->connected("no such peer"));
}

}  // namespace
}  // namespace lingua
