// The ZeroMQ sockets the runtime talks over, ROUTER (worker) / DEALER (head) pattern, encrypted
// and authenticated with CURVE, or plain on loopback only. No zmq::error_t ever leaves here.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>
#include <zmq.hpp>

#include "core/status.h"
#include "net/keys.h"

namespace lingua {

struct ChannelOptions {
  // Plain ZeroMQ without CURVE: allowed only on loopback (tcp://127.0.0.1, tcp://localhost,
  // ipc://, inproc://) unless allow_insecure_network (`--allow-insecure-network`).
  bool insecure = false;
  bool allow_insecure_network = false;
  KeyPair own;                          // this side's keys (CURVE mode)
  std::vector<std::string> authorized;  // Server: client public keys it accepts (Z85)
  std::string server_public;            // Client: the server's public key (Z85)
  int timeout_ms = 5000;                // Client: how long a send may wait to be queued
  int64_t max_message_bytes = int64_t{1} << 30;  // larger frames drop the connection
  bool log_refusals = true;             // Server: one stderr line per refused peer
  bool authorized_may_grow = false;     // Server: start with no authorized key (Server::trust adds)
  int heartbeat_ms = 0;                 // ZMTP heartbeats (0 = off); a silent peer is lost after 3x
};

// The role a Server gives a key: a head (may assign work), a peer worker (may send tensors), or
// a prober (another worker a head asked to measure its link to this one: may send PROBE frames
// and nothing else). The ZAP handler sets each connection's ZeroMQ User-Id to its key, and the
// role is looked up for each message, so a key revoked while connected has none from then on.
inline constexpr const char* kRoleHead = "head";
inline constexpr const char* kRolePeer = "peer";
inline constexpr const char* kRoleProber = "prober";

struct Received {
  std::string peer;              // ROUTER routing id
  std::string role;              // kRoleHead, kRolePeer or kRoleProber
  std::string key;               // the sender's CURVE key (Z85); "" in plain mode
  std::vector<uint8_t> payload;
};

// What a Client knows of its connection: not up yet, up (handshake done), refused (the server
// does not accept our key), broken (handshake failed otherwise), lost (was up, then dropped).
enum class LinkState { kConnecting, kUp, kRefused, kBroken, kLost };

// True for endpoints that never leave this machine (see ChannelOptions::insecure).
bool is_loopback_endpoint(const std::string& endpoint);

// Checks options against the endpoint: keys present and valid for CURVE, plain mode only where
// allowed. `server`: the ROUTER side (needs authorized keys) rather than the client.
Status check_channel_options(const std::string& endpoint, const ChannelOptions& options, bool server);

// Worker side: a ROUTER socket bound to one endpoint. In CURVE mode it runs a ZAP handler
// (RFC 27) that admits only the authorized client keys and logs each refused peer, and messages
// from a connection whose key has been revoked since are dropped (logged once a minute per key).
// It owns its own ZeroMQ context because a ZAP handler is per context.
class Server {
 public:
  static Expected<Server> bind(const std::string& endpoint, const ChannelOptions& options);
  Server(Server&&) noexcept;
  Server& operator=(Server&&) noexcept;
  ~Server();

  // The next message and the id of the peer that sent it; an error when none arrives within
  // timeout_ms (negative: wait forever). Messages of the wrong shape, and messages from a key no
  // longer authorized, are dropped.
  Expected<std::pair<std::string, std::vector<uint8_t>>> receive(int timeout_ms);
  // As receive, with the role of the sender's key.
  Expected<Received> receive_from(int timeout_ms);
  Status send(const std::string& peer, const std::vector<uint8_t>& payload);
  // Admits a further client key (CURVE mode; no effect in plain mode), as head, peer or prober.
  // A key with several roles counts as the strongest (head, then peer, then prober).
  void trust(const std::string& key, const std::string& role);
  // Replaces the head keys (CURVE mode): one left out is refused from now on, for new
  // connections and for messages on open ones. Peer keys stay as they are.
  void set_head_keys(const std::vector<std::string>& keys);
  // False once `peer` (a routing id) has no connection any more: it hung up, or (with
  // heartbeat_ms) stopped answering heartbeats. Sends it an empty message a Client never sees.
  bool connected(const std::string& peer);
  // The bound address, with the real port when bound to port 0 or "*".
  std::string endpoint() const;
  // Connections the ZAP handler refused so far (CURVE mode).
  uint64_t refused() const;

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Head side: a DEALER socket connected to one worker, CURVE client with the worker's public
// key (or plain where allowed). Messages queue until the connection is up. `context` must
// outlive the Client (zmq_ctx_term waits for every socket of the context to close).
class Client {
 public:
  static Expected<Client> connect(zmq::context_t& context, const std::string& endpoint,
                                  const ChannelOptions& options);
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();

  Status send(const std::vector<uint8_t>& payload);
  // The next message; "no answer from <endpoint> within N ms" when none arrives in time.
  Expected<std::vector<uint8_t>> receive(int timeout_ms);
  const std::string& endpoint() const;
  // Reads the connection events that came since the last call.
  LinkState state();
  // Index of a client with a message waiting, or -1 when none has one within timeout_ms.
  static int wait_any(const std::vector<Client*>& clients, int timeout_ms);

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lingua
