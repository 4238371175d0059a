// ROUTER/DEALER sockets with CURVE and a ZAP handler (RFC 27) that admits only authorized head
// keys; every ZeroMQ exception is caught here and turned into a Status naming the endpoint.
#include "net/secure_channel.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "core/endpoint.h"

namespace lingua {
namespace {

using Clock = std::chrono::steady_clock;

template <class... Parts>
std::string cat(const Parts&... parts) {
  std::string s;
  ((s += parts), ...);
  return s;
}

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";
constexpr const char* kZapDomain = "lingua";

Status setopt(zmq::socket_t& s, int option, const void* value, size_t size, const char* what) {
  if (zmq_setsockopt(s.handle(), option, value, size) != 0)
    return Status::error(cat("cannot set ", what, ": ", zmq_strerror(zmq_errno())));
  return Status::ok();
}
Status setopt_int(zmq::socket_t& s, int option, int value, const char* what) {
  return setopt(s, option, &value, sizeof value, what);
}

// Z85 text key -> the 32 bytes ZeroMQ wants (Z85 validity was checked before).
std::string binary_key(const std::string& z85) {
  std::string bin(32, '\0');
  zmq_z85_decode(reinterpret_cast<uint8_t*>(bin.data()), z85.c_str());
  return bin;
}

std::string z85_key(const void* bin32) {
  char text[kZ85KeyChars + 1] = {};
  zmq_z85_encode(text, static_cast<const uint8_t*>(bin32), 32);
  return text;
}

// Reads all parts of one message already waiting on `s`.
std::vector<zmq::message_t> recv_parts(zmq::socket_t& s, zmq::recv_flags flags) {
  std::vector<zmq::message_t> parts;
  for (;;) {
    zmq::message_t m;
    if (!s.recv(m, flags)) break;
    const bool more = m.more();
    parts.push_back(std::move(m));
    if (!more) break;
    flags = zmq::recv_flags::none;  // the rest of a multipart message is already here
  }
  return parts;
}

// Waits up to timeout_ms (negative: forever) for `s` to become readable.
bool wait_readable(zmq::socket_t& s, int timeout_ms) {
  zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
  return zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms)) > 0;
}

std::string wait_text(int timeout_ms) { return cat("within ", std::to_string(timeout_ms), " ms"); }

// Waits (up to timeout_ms; < 0 = forever) for a message of exactly `want` parts; messages of
// another shape are dropped. `silence` is the error text when the time runs out.
Expected<std::vector<zmq::message_t>> receive_message(zmq::socket_t& s, size_t want, int timeout_ms,
                                                      const std::string& silence) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
  for (;;) {
    int left = -1;
    if (timeout_ms >= 0) {
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      left = ms < 0 ? 0 : static_cast<int>(ms);
    }
    if (!wait_readable(s, left)) {
      if (timeout_ms >= 0 && Clock::now() >= deadline) return Status::error(cat(silence, " ", wait_text(timeout_ms)));
      continue;
    }
    auto parts = recv_parts(s, zmq::recv_flags::dontwait);
    if (parts.size() == want) return parts;
  }
}

// Answers ZAP requests on inproc://zeromq.zap.01 of one context until the context shuts down.
// Head keys, peer-worker keys and prober keys are three sets: the head keys are replaced whenever
// the worker reads its heads/ folder again (so a removed key is revoked), peer and prober keys are
// only ever added (for an assignment, for a link test). A key's role is looked up again for every message received, so a revoked head
// that is still connected gets nothing through either.
class ZapHandler {
 public:
  ZapHandler(zmq::context_t& ctx, const std::vector<std::string>& heads, bool log)
      : socket_(ctx, zmq::socket_type::rep), heads_(heads.begin(), heads.end()), log_(log) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind(kZapEndpoint);
  }
  // Admits `key` from now on with `role`; a key that is both counts as a head.
  void trust(const std::string& key, const std::string& role) {
    std::lock_guard<std::mutex> lock(mutex_);
    (role == kRoleHead ? heads_ : role == kRolePeer ? peers_ : probers_).insert(key);
  }
  void set_heads(const std::vector<std::string>& keys) {
    std::lock_guard<std::mutex> lock(mutex_);
    heads_ = std::set<std::string>(keys.begin(), keys.end());
  }
  // kRoleHead, kRolePeer, kRoleProber, or "" for a key admitted by none (any more).
  std::string role_of(const std::string& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    return role_locked(key);
  }
  // A message from a connection whose key was revoked after it was admitted: dropped, and said
  // once a minute per key.
  void note_revoked(const std::string& key) {
    if (log_ && should_log("revoked " + key))
      std::fprintf(stderr, "lingua worker: dropped a message from a connection whose key (%.8s...) is no longer authorized\n",
                   key.c_str());
  }
  void start() { thread_ = std::thread([this] { run(); }); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  uint64_t refused() const { return refused_.load(); }

 private:
  void run() {
    for (;;) {
      std::vector<zmq::message_t> req;
      try {
        req = recv_parts(socket_, zmq::recv_flags::none);
        if (req.empty()) continue;
        reply(req);
      } catch (const zmq::error_t& e) {
        if (e.num() == ETERM) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // never spin on a broken socket
      } catch (...) {  // out of memory while answering: deny by not answering this one
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    try {
      socket_.close();
    } catch (...) {
    }
  }

  void reply(const std::vector<zmq::message_t>& req) {
    // Request: version, request id, domain, address, identity, mechanism, credentials...
    const auto text = [&](size_t i) { return i < req.size() ? req[i].to_string() : std::string(); };
    std::string code = "400", status = "key not authorized", user;
    if (req.size() < 6 || text(0) != "1.0") {
      code = "500";
      status = "malformed ZAP request";
    } else if (text(5) != "CURVE") {
      status = "CURVE required";
    } else if (req.size() >= 7 && req[6].size() == 32) {
      const std::string key = z85_key(req[6].data());
      if (!role_of(key).empty()) {
        code = "200";
        status = "OK";
        user = key;  // the User-Id every message of the connection carries: its role is looked up per message
      }
    }
    if (code != "200") note_refusal(text(3), req.size() >= 7 && req[6].size() == 32 ? z85_key(req[6].data()) : "");
    const std::string parts[6] = {"1.0", text(1), code, status, user, ""};
    for (int i = 0; i < 6; ++i)
      socket_.send(zmq::buffer(parts[i]), i < 5 ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }

  // One stderr line per refused (address, key), repeated at most once a minute: a refused
  // client reconnects every 100 ms and would flood the log otherwise.
  void note_refusal(const std::string& address, const std::string& key) {
    refused_.fetch_add(1);
    if (!log_ || !should_log(address + " " + key)) return;
    std::fprintf(stderr, "lingua worker: refused a connection from %s: key not authorized\n",
                 address.empty() ? "an unknown address" : address.c_str());
  }

  std::string role_locked(const std::string& key) const {
    if (heads_.count(key)) return kRoleHead;
    if (peers_.count(key)) return kRolePeer;
    if (probers_.count(key)) return kRoleProber;
    return "";
  }

  // At most once a minute per `what`.
  bool should_log(const std::string& what) {
    std::lock_guard<std::mutex> lock(log_mutex_);
    const auto now = Clock::now();
    auto [it, fresh] = last_logged_.try_emplace(what, now);
    if (!fresh && now - it->second < std::chrono::minutes(1)) return false;
    it->second = now;
    if (last_logged_.size() > 4096) last_logged_.clear();
    return true;
  }

  zmq::socket_t socket_;
  std::mutex mutex_;
  std::set<std::string> heads_, peers_, probers_;  // Z85 keys
  bool log_;
  std::mutex log_mutex_;  // last_logged_: the ZAP thread and the receiving thread both log
  std::atomic<uint64_t> refused_{0};
  std::map<std::string, Clock::time_point> last_logged_;
  std::thread thread_;
};

}  // namespace

bool is_loopback_endpoint(const std::string& endpoint) {
  const auto parsed = parse_endpoint(endpoint, EndpointUse::kListen);
  return parsed && parsed->loopback();
}

Status check_channel_options(const std::string& endpoint, const ChannelOptions& o, bool server) {
  if (o.insecure) {
    if (!o.allow_insecure_network && !is_loopback_endpoint(endpoint))
      return Status::error(cat("refusing plain (unencrypted) ZeroMQ on ", endpoint,
                               ": it is not a loopback address; use CURVE keys, or pass --allow-insecure-network"));
    return Status::ok();
  }
  if (!is_z85_key(o.own.public_key) || !is_z85_key(o.own.secret_key))
    return Status::error(cat("no valid CURVE key pair for ", endpoint, " (make one with `lingua keygen -o DIR`)"));
  if (server) {
    if (o.authorized.empty() && !o.authorized_may_grow)
      return Status::error(cat("no authorized head keys for ", endpoint, ": nobody could connect"));
    for (const auto& k : o.authorized)
      if (!is_z85_key(k)) return Status::error(cat("an authorized key for ", endpoint, " is not a 40-character Z85 CURVE key"));
  } else if (!is_z85_key(o.server_public)) {
    return Status::error(cat("no valid public key of the server at ", endpoint, " (its NAME.pub file)"));
  }
  return Status::ok();
}

// ---------------------------------------------------------------- Server

struct Server::Impl {
  zmq::context_t ctx{1};
  std::optional<zmq::socket_t> router;
  std::unique_ptr<ZapHandler> zap;
  std::string endpoint;

  ~Impl() {
    try {
      if (router) router->close();
      ctx.shutdown();  // the ZAP thread's blocking receive returns ETERM
      if (zap) zap->join();
      zap.reset();
      ctx.close();
    } catch (...) {
    }
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::Server(Server&&) noexcept = default;
Server& Server::operator=(Server&&) noexcept = default;
Server::~Server() = default;

Expected<Server> Server::bind(const std::string& endpoint, const ChannelOptions& options) {
  LINGUA_ASSIGN_OR_RETURN(const Endpoint where, parse_endpoint(endpoint, EndpointUse::kListen));
  LINGUA_TRY(check_channel_options(endpoint, options, /*server=*/true));
  auto impl = std::make_unique<Impl>();
  try {
    if (!options.insecure) {
      // Bound before the server socket, so no handshake can ever skip authentication.
      impl->zap = std::make_unique<ZapHandler>(impl->ctx, options.authorized, options.log_refusals);
      impl->zap->start();
    }
    impl->router.emplace(impl->ctx, zmq::socket_type::router);
    zmq::socket_t& s = *impl->router;
    const int64_t max_bytes = options.max_message_bytes;
    LINGUA_TRY(setopt_int(s, ZMQ_LINGER, 0, "linger"));
    LINGUA_TRY(setopt_int(s, ZMQ_ROUTER_MANDATORY, 1, "router-mandatory"));
    LINGUA_TRY(setopt_int(s, ZMQ_HANDSHAKE_IVL, 10000, "handshake interval"));
    LINGUA_TRY(setopt(s, ZMQ_MAXMSGSIZE, &max_bytes, sizeof max_bytes, "maximum message size"));
    if (options.heartbeat_ms > 0) {
      // A client whose machine vanished sends no FIN: without heartbeats its connection would
      // look alive for as long as TCP keeps it, and Server::connected could not tell.
      LINGUA_TRY(setopt_int(s, ZMQ_HEARTBEAT_IVL, options.heartbeat_ms, "heartbeat interval"));
      LINGUA_TRY(setopt_int(s, ZMQ_HEARTBEAT_TIMEOUT, 3 * options.heartbeat_ms, "heartbeat timeout"));
      LINGUA_TRY(setopt_int(s, ZMQ_HEARTBEAT_TTL, 3 * options.heartbeat_ms, "heartbeat TTL"));
    }
    if (!options.insecure) {
      const std::string secret = binary_key(options.own.secret_key);
      LINGUA_TRY(setopt_int(s, ZMQ_CURVE_SERVER, 1, "CURVE server mode"));
      LINGUA_TRY(setopt(s, ZMQ_CURVE_SECRETKEY, secret.data(), secret.size(), "CURVE secret key"));
      LINGUA_TRY(setopt(s, ZMQ_ZAP_DOMAIN, kZapDomain, std::char_traits<char>::length(kZapDomain), "ZAP domain"));
    }
    // ZeroMQ takes IPv6 addresses only when told to; "localhost" is bound as 127.0.0.1.
    if (where.ipv6) LINGUA_TRY(setopt_int(s, ZMQ_IPV6, 1, "IPv6"));
    try {
      s.bind(where.zmq_address());
    } catch (const zmq::error_t& e) {
      if ((e.num() == ENODEV || e.num() == EADDRNOTAVAIL) && where.scheme == Endpoint::Scheme::kTcp)
        return Status::error(cat("cannot listen on ", endpoint, ": '", where.host,
                                 "' is neither an address of this machine nor a network interface (listen on an "
                                 "address such as 127.0.0.1 or 192.168.1.20, an interface such as eth0, or * for all)"));
      return Status::error(cat("cannot listen on ", endpoint, ": ", e.what()));
    }
    impl->endpoint = s.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Status::error(cat("cannot set up a socket for ", endpoint, ": ", e.what()));
  } catch (const std::exception& e) {
    return Status::error(cat("cannot set up a socket for ", endpoint, ": ", e.what()));
  }
  return Server(std::move(impl));
}

Expected<std::pair<std::string, std::vector<uint8_t>>> Server::receive(int timeout_ms) {
  LINGUA_ASSIGN_OR_RETURN(Received r, receive_from(timeout_ms));
  return std::make_pair(std::move(r.peer), std::move(r.payload));
}

Expected<Received> Server::receive_from(int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
  try {
    for (;;) {
      int left = -1;
      if (timeout_ms >= 0) {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        left = ms < 0 ? 0 : static_cast<int>(ms);
      }
      // [peer id, payload] only; anything else is dropped.
      auto parts = receive_message(*impl_->router, 2, left, "");
      if (!parts) return Status::error(cat("no message on ", impl_->endpoint, " ", wait_text(timeout_ms)));
      Received r;
      r.peer = (*parts)[0].to_string();
      if (impl_->zap) {
        // The ZAP handler's User-Id is the sender's key; its role is the one the key has now.
        const char* user = zmq_msg_gets((*parts)[1].handle(), "User-Id");
        r.key = user ? user : "";
        r.role = impl_->zap->role_of(r.key);
        if (r.role.empty()) {
          impl_->zap->note_revoked(r.key);
          continue;
        }
      } else {
        r.role = kRoleHead;  // plain mode has no keys: everyone there counts as a head
      }
      const auto* p = static_cast<const uint8_t*>((*parts)[1].data());
      r.payload.assign(p, p + (*parts)[1].size());
      return r;
    }
  } catch (const zmq::error_t& e) {
    return Status::error(cat("receiving on ", impl_->endpoint, ": ", e.what()));
  }
}

void Server::trust(const std::string& key, const std::string& role) {
  if (impl_->zap) impl_->zap->trust(key, role);
}

void Server::set_head_keys(const std::vector<std::string>& keys) {
  if (impl_->zap) impl_->zap->set_heads(keys);
}

bool Server::connected(const std::string& peer) {
  try {
    // [peer id, "", ""]: routed like any message, and a Client drops it unseen (it takes one-part
    // messages only). ROUTER_MANDATORY makes an unknown peer id an error instead of a silent drop.
    if (!impl_->router->send(zmq::buffer(peer), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) return true;
    (void)impl_->router->send(zmq::message_t(), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    (void)impl_->router->send(zmq::message_t(), zmq::send_flags::dontwait);
    return true;  // sent, or its queue is full: either way it is still connected
  } catch (const zmq::error_t& e) {
    return e.num() != EHOSTUNREACH;
  }
}

Status Server::send(const std::string& peer, const std::vector<uint8_t>& payload) {
  try {
    if (!impl_->router->send(zmq::buffer(peer), zmq::send_flags::sndmore | zmq::send_flags::dontwait))
      return Status::error(cat("the peer's queue on ", impl_->endpoint, " is full"));
    if (!impl_->router->send(zmq::buffer(payload), zmq::send_flags::dontwait))
      return Status::error(cat("the peer's queue on ", impl_->endpoint, " is full"));
  } catch (const zmq::error_t& e) {
    if (e.num() == EHOSTUNREACH) return Status::error(cat("the peer is no longer connected to ", impl_->endpoint));
    return Status::error(cat("sending on ", impl_->endpoint, ": ", e.what()));
  }
  return Status::ok();
}

std::string Server::endpoint() const { return impl_->endpoint; }
uint64_t Server::refused() const { return impl_->zap ? impl_->zap->refused() : 0; }

// ---------------------------------------------------------------- Client

struct Client::Impl {
  std::optional<zmq::socket_t> dealer;
  std::optional<zmq::socket_t> monitor;  // PAIR socket receiving the dealer's connection events
  std::string endpoint;
  int timeout_ms = 5000;
  LinkState state = LinkState::kConnecting;
  ~Impl() {
    try {
      if (monitor) monitor->close();
      if (dealer) dealer->close();
    } catch (...) {
    }
  }
};

namespace {
std::atomic<uint64_t> monitor_counter{0};
}  // namespace

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

Expected<Client> Client::connect(zmq::context_t& context, const std::string& endpoint, const ChannelOptions& options) {
  LINGUA_ASSIGN_OR_RETURN(const Endpoint where, parse_endpoint(endpoint, EndpointUse::kConnect));
  LINGUA_TRY(check_channel_options(endpoint, options, /*server=*/false));
  auto impl = std::make_unique<Impl>();
  impl->endpoint = endpoint;
  impl->timeout_ms = options.timeout_ms;
  try {
    impl->dealer.emplace(context, zmq::socket_type::dealer);
    zmq::socket_t& s = *impl->dealer;
    const int64_t max_bytes = options.max_message_bytes;
    LINGUA_TRY(setopt_int(s, ZMQ_LINGER, 0, "linger"));
    LINGUA_TRY(setopt_int(s, ZMQ_SNDTIMEO, options.timeout_ms, "send timeout"));
    LINGUA_TRY(setopt(s, ZMQ_MAXMSGSIZE, &max_bytes, sizeof max_bytes, "maximum message size"));
    if (!options.insecure) {
      const std::string server = binary_key(options.server_public), pub = binary_key(options.own.public_key),
                        sec = binary_key(options.own.secret_key);
      LINGUA_TRY(setopt(s, ZMQ_CURVE_SERVERKEY, server.data(), server.size(), "CURVE server key"));
      LINGUA_TRY(setopt(s, ZMQ_CURVE_PUBLICKEY, pub.data(), pub.size(), "CURVE public key"));
      LINGUA_TRY(setopt(s, ZMQ_CURVE_SECRETKEY, sec.data(), sec.size(), "CURVE secret key"));
    }
    if (options.heartbeat_ms > 0) {
      // ZMTP PING/PONG answered by the peer's I/O thread: a peer that is gone, frozen or cut off
      // is noticed within heartbeat_timeout even while it computes a long step.
      LINGUA_TRY(setopt_int(s, ZMQ_HEARTBEAT_IVL, options.heartbeat_ms, "heartbeat interval"));
      LINGUA_TRY(setopt_int(s, ZMQ_HEARTBEAT_TIMEOUT, 3 * options.heartbeat_ms, "heartbeat timeout"));
      LINGUA_TRY(setopt_int(s, ZMQ_HEARTBEAT_TTL, 3 * options.heartbeat_ms, "heartbeat TTL"));
    }
    const std::string monitor_endpoint = cat("inproc://lingua-monitor-", std::to_string(monitor_counter.fetch_add(1)));
    if (zmq_socket_monitor(s.handle(), monitor_endpoint.c_str(),
                           ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0)
      return Status::error(cat("cannot watch the connection to ", endpoint, ": ", zmq_strerror(zmq_errno())));
    impl->monitor.emplace(context, zmq::socket_type::pair);
    impl->monitor->set(zmq::sockopt::linger, 0);
    impl->monitor->connect(monitor_endpoint);
    if (where.ipv6) LINGUA_TRY(setopt_int(s, ZMQ_IPV6, 1, "IPv6"));
    try {
      s.connect(where.zmq_address());
    } catch (const zmq::error_t& e) {
      return Status::error(cat("cannot connect to ", endpoint, ": ", e.what()));
    }
  } catch (const zmq::error_t& e) {
    return Status::error(cat("cannot set up a socket for ", endpoint, ": ", e.what()));
  }
  return Client(std::move(impl));
}

Status Client::send(const std::vector<uint8_t>& payload) {
  try {
    if (!impl_->dealer->send(zmq::buffer(payload), zmq::send_flags::none))
      return Status::error(cat("cannot queue a message to ", impl_->endpoint, " ", wait_text(impl_->timeout_ms)));
  } catch (const zmq::error_t& e) {
    return Status::error(cat("sending to ", impl_->endpoint, ": ", e.what()));
  }
  return Status::ok();
}

Expected<std::vector<uint8_t>> Client::receive(int timeout_ms) {
  try {
    LINGUA_ASSIGN_OR_RETURN(auto parts, receive_message(*impl_->dealer, 1, timeout_ms, cat("no answer from ", impl_->endpoint)));
    const auto* p = static_cast<const uint8_t*>(parts[0].data());
    return std::vector<uint8_t>(p, p + parts[0].size());
  } catch (const zmq::error_t& e) {
    return Status::error(cat("receiving from ", impl_->endpoint, ": ", e.what()));
  }
}

const std::string& Client::endpoint() const { return impl_->endpoint; }

int Client::wait_any(const std::vector<Client*>& clients, int timeout_ms) {
  std::vector<zmq::pollitem_t> items;
  for (Client* c : clients) items.push_back({c->impl_->dealer->handle(), 0, ZMQ_POLLIN, 0});
  try {
    if (zmq::poll(items.data(), items.size(), std::chrono::milliseconds(timeout_ms)) <= 0) return -1;
  } catch (const zmq::error_t&) {
    return -1;
  }
  for (size_t i = 0; i < items.size(); ++i)
    if (items[i].revents & ZMQ_POLLIN) return static_cast<int>(i);
  return -1;
}

LinkState Client::state() {
  try {
    // Event messages: [uint16 event, uint32 value] then the endpoint; only the first part matters.
    while (impl_->monitor) {
      auto parts = recv_parts(*impl_->monitor, zmq::recv_flags::dontwait);
      if (parts.empty()) break;
      if (parts[0].size() < 2) continue;
      uint16_t event = 0;
      std::memcpy(&event, parts[0].data(), sizeof event);
      if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        impl_->state = LinkState::kUp;
      } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        impl_->state = LinkState::kRefused;
      } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL || event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
        if (impl_->state != LinkState::kRefused) impl_->state = LinkState::kBroken;
      } else if (event == ZMQ_EVENT_DISCONNECTED) {
        if (impl_->state == LinkState::kUp) impl_->state = LinkState::kLost;
      }
    }
  } catch (const zmq::error_t&) {
  }
  return impl_->state;
}

}  // namespace lingua
