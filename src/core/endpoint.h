// The one reader of ZeroMQ endpoints (devices files, `worker --listen`, the sockets themselves), so
// a typo is refused where it is read, with the real problem named, and not by the socket later.
// In core/ because the devices file (plan/) checks endpoints and plan/ sits below net/.
#pragma once
#include <string>

#include "core/status.h"

namespace lingua {

// Listening may use a wildcard host (*, 0.0.0.0, [::]) and port 0 or * (any free port);
// connecting needs one host and a real port.
enum class EndpointUse { kListen, kConnect };

struct Endpoint {
  enum class Scheme { kTcp, kIpc, kInproc };
  Scheme scheme = Scheme::kTcp;
  std::string host;   // tcp: without brackets ("127.0.0.1", "::1", "fe80::1%eth0", "localhost", "*")
  bool ipv6 = false;  // tcp: an IPv6 address (written in brackets)
  int port = 0;       // tcp: 0 = any free port (listen only)
  std::string path;   // ipc: the socket's path; inproc: the name

  // Traffic never leaves this machine: 127.0.0.0/8, ::1, localhost, ipc://, inproc://.
  bool loopback() const;
  // A wildcard host: every interface (listen only).
  bool any_interface() const;
  // What to hand ZeroMQ: "localhost" becomes 127.0.0.1 (ZeroMQ's bind takes an interface or an
  // address, not a host name, and both sides should agree on IPv4).
  std::string zmq_address() const;
  // One spelling per address, to tell whether two endpoints are the same: lower-case host,
  // localhost as 127.0.0.1, IPv6 in its shortest form, the port as a plain number.
  std::string canonical() const;
};

// Parses tcp://HOST:PORT, tcp://[IPv6]:PORT, ipc://PATH and inproc://NAME. The error names the
// endpoint and what is wrong with it (scheme, host, port), and what to write instead.
Expected<Endpoint> parse_endpoint(const std::string& text, EndpointUse use);

}  // namespace lingua
