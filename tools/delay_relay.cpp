// lingua-delay-relay: link latency for emulated hosts on a kernel without netem. A TCP relay that
// holds every chunk of bytes for a fixed time in each direction, so every system compared on the
// emulated hosts (Lingua or any other) goes through the same added latency. See docs/emulated-hosts.md.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "plan/units.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kReadChunk = 64 * 1024;
// Bytes held per direction before the relay stops reading: enough for 8 MiB in flight (e.g.
// 1.6 Gbit/s at 20 ms), bounded so a slow reader cannot make the relay grow without limit.
constexpr size_t kMaxQueued = 8u << 20;

const char* kUsage =
    "usage: lingua-delay-relay --listen HOST:PORT --to HOST:PORT --delay DURATION\n"
    "                          [--delay-from ADDRESS=DURATION ...]\n"
    "Relays TCP connections from --listen to --to, holding every chunk of bytes for DURATION\n"
    "in each direction (a request and its reply take 2 x DURATION longer). --delay-from gives\n"
    "connections from one client address their own delay. DURATION: 5ms, 250us, 0s, ...\n"
    "HOST: an IPv4 address, [IPv6] address or name. Stops cleanly on SIGTERM or SIGINT.\n";

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "lingua-delay-relay: %s\n", message.c_str());
  std::exit(1);
}

struct Address {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string text;
};

// "HOST:PORT" or "[V6]:PORT" resolved to one socket address; exits with a message naming the flag.
Address resolve(const std::string& flag, const std::string& value) {
  std::string host, port;
  if (!value.empty() && value.front() == '[') {
    const size_t close = value.find(']');
    if (close == std::string::npos || close + 1 >= value.size() || value[close + 1] != ':')
      die(flag + " '" + value + "': an IPv6 address needs the form [ADDRESS]:PORT");
    host = value.substr(1, close - 1);
    port = value.substr(close + 2);
  } else {
    const size_t colon = value.rfind(':');
    if (colon == std::string::npos || value.find(':') != colon)
      die(flag + " '" + value + "': expected HOST:PORT (IPv6 addresses in brackets)");
    host = value.substr(0, colon);
    port = value.substr(colon + 1);
  }
  if (host.empty()) die(flag + " '" + value + "': the host is missing");
  char* end = nullptr;
  errno = 0;
  const long p = port.empty() ? -1 : std::strtol(port.c_str(), &end, 10);
  if (port.empty() || errno != 0 || *end != '\0' || p < 1 || p > 65535)
    die(flag + " '" + value + "': the port must be a number from 1 to 65535");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0)
    die(flag + " '" + value + "': cannot resolve '" + host + "': " + gai_strerror(rc));
  Address out;
  std::memcpy(&out.addr, found->ai_addr, found->ai_addrlen);
  out.len = found->ai_addrlen;
  out.text = value;
  freeaddrinfo(found);
  return out;
}

double duration_flag(const std::string& flag, const std::string& value) {
  auto d = lingua::parse_duration(value);
  if (!d) die(flag + " '" + value + "': " + d.error());
  if (*d > 60) die(flag + " '" + value + "': at most 60s");
  return *d;
}

// The client address as text ("10.77.0.11", "::1"), to pick a per-client delay.
std::string peer_ip(const sockaddr_storage& addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(addr).sin_addr, buf, sizeof buf);
  } else if (addr.ss_family == AF_INET6) {
    const auto& a6 = reinterpret_cast<const sockaddr_in6&>(addr).sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
      inet_ntop(AF_INET, &a6.s6_addr[12], buf, sizeof buf);
    } else {
      inet_ntop(AF_INET6, &a6, buf, sizeof buf);
    }
  }
  return buf;
}

// Canonical text of an address given in --delay-from, so "::ffff:10.0.0.1" style spellings
// and the peer's text compare equal.
std::string canonical_ip(const std::string& text) {
  sockaddr_storage s{};
  if (inet_pton(AF_INET, text.c_str(), &reinterpret_cast<sockaddr_in&>(s).sin_addr) == 1) {
    s.ss_family = AF_INET;
    return peer_ip(s);
  }
  if (inet_pton(AF_INET6, text.c_str(), &reinterpret_cast<sockaddr_in6&>(s).sin6_addr) == 1) {
    s.ss_family = AF_INET6;
    return peer_ip(s);
  }
  return "";
}

struct Chunk {
  Clock::time_point due;
  std::string bytes;  // empty = the sender closed its side: shut down writing once due
  size_t sent = 0;
};

// One direction of a connection: bytes read from `from` wait in `queue` until due, then go to `to`.
struct Direction {
  int from = -1, to = -1;
  std::deque<Chunk> queue;
  size_t queued = 0;
  bool read_closed = false;   // EOF seen on `from`
  bool write_closed = false;  // shutdown(to, SHUT_WR) done
};

struct Connection {
  int client = -1, upstream = -1;
  bool connected = false;  // upstream connect finished
  Clock::duration delay{};
  Direction up, down;  // client -> upstream, upstream -> client
  bool failed = false;
  bool done() const { return failed || (up.write_closed && down.write_closed); }
};

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }


class Relay {
 public:
  Relay(Address listen, Address target, Clock::duration delay, std::map<std::string, Clock::duration> per_client)
      : target_(std::move(target)), delay_(delay), per_client_(std::move(per_client)) {
    listener_ = socket(listen.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listener_ < 0) die(std::string("socket: ") + std::strerror(errno));
    const int one = 1;
    setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listener_, reinterpret_cast<sockaddr*>(&listen.addr), listen.len) != 0)
      die("cannot listen on " + listen.text + ": " + std::strerror(errno));
    if (::listen(listener_, 128) != 0) die("cannot listen on " + listen.text + ": " + std::strerror(errno));
  }

  // Runs until SIGTERM/SIGINT (delivered only inside ppoll, so no wake-up is lost).
  void run(const sigset_t& wait_mask) {
    std::vector<pollfd> fds;
    std::vector<std::pair<Connection*, int>> owners;  // which connection and fd each pollfd is
    while (!g_stop) {
      fds.clear();
      owners.clear();
      fds.push_back({listener_, POLLIN, 0});
      owners.emplace_back(nullptr, listener_);
      const Clock::time_point now = Clock::now();
      Clock::time_point wake = Clock::time_point::max();
      for (auto& c : conns_) {
        short cev = 0, uev = 0;
        // The client is read only once the upstream is there to take its bytes.
        if (!c->up.read_closed && c->connected && c->up.queued < kMaxQueued) cev |= POLLIN;
        if (!c->down.read_closed && c->connected && c->down.queued < kMaxQueued) uev |= POLLIN;
        if (!c->connected) uev |= POLLOUT;
        for (Direction* d : {&c->up, &c->down}) {
          if (d->queue.empty() || (d == &c->up && !c->connected)) continue;
          if (d->queue.front().due <= now) {
            (d->to == c->client ? cev : uev) |= POLLOUT;
          } else if (d->queue.front().due < wake) {
            wake = d->queue.front().due;
          }
        }
        // A socket nothing is wanted from is left out (fd -1): a hung-up one would wake poll forever.
        fds.push_back({cev ? c->client : -1, cev, 0});
        owners.emplace_back(c.get(), c->client);
        fds.push_back({uev ? c->upstream : -1, uev, 0});
        owners.emplace_back(c.get(), c->upstream);
      }
      timespec ts{};
      timespec* timeout = nullptr;
      if (wake != Clock::time_point::max()) {
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wake - now).count();
        ts.tv_sec = static_cast<time_t>(ns / 1000000000);
        ts.tv_nsec = static_cast<long>(ns % 1000000000);
        timeout = &ts;
      }
      const int n = ppoll(fds.data(), fds.size(), timeout, &wait_mask);
      if (n < 0) {
        if (errno == EINTR) continue;
        die(std::string("poll: ") + std::strerror(errno));
      }
      if (fds[0].revents & POLLIN) accept_all();
      for (size_t i = 1; i < fds.size(); ++i) {
        Connection* c = owners[i].first;
        if (c->failed) continue;
        const int fd = owners[i].second;
        const short ev = fds[i].revents;
        if (fd == c->upstream && !c->connected && (ev & (POLLOUT | POLLERR | POLLHUP))) finish_connect(*c);
        if (c->failed || !c->connected) continue;
        if (ev & (POLLIN | POLLHUP | POLLERR)) read_side(*c, fd == c->client ? c->up : c->down);
      }
      // Writes are attempted for every due chunk, not only on POLLOUT, so a chunk that became due
      // while the socket was writable goes out now rather than on the next wake-up.
      const Clock::time_point after = Clock::now();
      for (auto& c : conns_) {
        if (c->failed || !c->connected) continue;
        write_due(*c, c->up, after);
        write_due(*c, c->down, after);
      }
      std::erase_if(conns_, [](const std::unique_ptr<Connection>& c) {
        if (!c->done()) return false;
        close(c->client);
        close(c->upstream);
        return true;
      });
    }
    for (auto& c : conns_) {
      close(c->client);
      close(c->upstream);
    }
    conns_.clear();
    close(listener_);
  }

 private:
  void accept_all() {
    for (;;) {
      sockaddr_storage peer{};
      socklen_t len = sizeof peer;
      const int fd = accept4(listener_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
          std::fprintf(stderr, "lingua-delay-relay: accept: %s\n", std::strerror(errno));
        return;
      }
      const int up = socket(target_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (up < 0) {
        std::fprintf(stderr, "lingua-delay-relay: socket: %s\n", std::strerror(errno));
        close(fd);
        continue;
      }
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      setsockopt(up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto c = std::make_unique<Connection>();
      c->client = fd;
      c->upstream = up;
      const auto it = per_client_.find(peer_ip(peer));
      c->delay = it != per_client_.end() ? it->second : delay_;
      c->up.from = fd;
      c->up.to = up;
      c->down.from = up;
      c->down.to = fd;
      if (connect(up, reinterpret_cast<const sockaddr*>(&target_.addr), target_.len) == 0) {
        c->connected = true;
      } else if (errno != EINPROGRESS) {
        std::fprintf(stderr, "lingua-delay-relay: cannot connect to %s: %s\n", target_.text.c_str(), std::strerror(errno));
        c->failed = true;
      }
      conns_.push_back(std::move(c));
    }
  }

  void finish_connect(Connection& c) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c.upstream, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      std::fprintf(stderr, "lingua-delay-relay: cannot connect to %s: %s\n", target_.text.c_str(), std::strerror(err));
      c.failed = true;
      return;
    }
    c.connected = true;
  }

  void read_side(Connection& c, Direction& d) {
    if (d.read_closed) return;
    std::string buf(kReadChunk, '\0');
    const ssize_t n = recv(d.from, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      c.failed = true;  // a reset: the other side sees its connection reset too, by close()
      return;
    }
    buf.resize(static_cast<size_t>(n));
    if (n == 0) d.read_closed = true;
    d.queued += buf.size();
    d.queue.push_back({Clock::now() + c.delay, std::move(buf), 0});
  }

  void write_due(Connection& c, Direction& d, Clock::time_point now) {
    while (!d.queue.empty() && d.queue.front().due <= now && !d.write_closed) {
      Chunk& ch = d.queue.front();
      if (ch.bytes.empty()) {
        shutdown(d.to, SHUT_WR);
        d.write_closed = true;
        d.queue.pop_front();
        return;
      }
      const ssize_t n = send(d.to, ch.bytes.data() + ch.sent, ch.bytes.size() - ch.sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) c.failed = true;
        return;
      }
      ch.sent += static_cast<size_t>(n);
      d.queued -= static_cast<size_t>(n);
      if (ch.sent < ch.bytes.size()) return;
      d.queue.pop_front();
    }
  }

  int listener_ = -1;
  Address target_;
  Clock::duration delay_;
  std::map<std::string, Clock::duration> per_client_;
  std::vector<std::unique_ptr<Connection>> conns_;
};

Clock::duration to_clock(double seconds) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen, to;
  bool have_delay = false;
  double delay = 0;
  std::map<std::string, Clock::duration> per_client;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (flag != "--listen" && flag != "--to" && flag != "--delay" && flag != "--delay-from")
      die("unknown argument '" + flag + "'\n" + kUsage);
    if (i + 1 >= argc) die(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--listen") {
      listen = value;
    } else if (flag == "--to") {
      to = value;
    } else if (flag == "--delay") {
      delay = duration_flag(flag, value);
      have_delay = true;
    } else {
      const size_t eq = value.find('=');
      if (eq == std::string::npos) die("--delay-from '" + value + "': expected ADDRESS=DURATION, e.g. 10.77.0.11=5ms");
      const std::string ip = canonical_ip(value.substr(0, eq));
      if (ip.empty()) die("--delay-from '" + value + "': '" + value.substr(0, eq) + "' is not an IP address");
      per_client[ip] = to_clock(duration_flag(flag, value.substr(eq + 1)));
    }
  }
  if (listen.empty()) die("--listen HOST:PORT is required\n" + std::string(kUsage));
  if (to.empty()) die("--to HOST:PORT is required\n" + std::string(kUsage));
  if (!have_delay) die("--delay DURATION is required (0s for none)\n" + std::string(kUsage));
  const Address listen_addr = resolve("--listen", listen);
  const Address target = resolve("--to", to);

  // SIGTERM/SIGINT stay blocked except inside ppoll, where they interrupt the wait.
  sigset_t block, wait_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  sigprocmask(SIG_BLOCK, &block, &wait_mask);
  sigdelset(&wait_mask, SIGTERM);
  sigdelset(&wait_mask, SIGINT);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Relay relay(listen_addr, target, to_clock(delay), std::move(per_client));
  std::fprintf(stderr, "lingua-delay-relay: %s -> %s, delay %s\n", listen.c_str(), to.c_str(),
               lingua::format_duration(delay).c_str());
  relay.run(wait_mask);
  return 0;
}
