// Endpoint syntax. Addresses are checked with inet_pton (no name lookup here: a host name is only
// checked for its characters, since the machine that reads a devices file may not resolve it).
#include "core/endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string_view>

#include "core/printable.h"

namespace lingua {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "'text'" with unprintable bytes escaped: endpoints come from files and command lines.
std::string quoted(std::string_view s) {
  std::string out = "'";  // built by appending: GCC 12 warns (-Wrestrict) on "'" + std::string + "'"
  out += printable_text(s);
  out += '\'';
  return out;
}

std::string bracketed(std::string_view s) {
  std::string out = "[";
  out += s;
  out += ']';
  return out;
}

bool all_of_chars(std::string_view s, bool (*ok)(unsigned char)) {
  return std::all_of(s.begin(), s.end(), [ok](char c) { return ok(static_cast<unsigned char>(c)); });
}
bool name_char(unsigned char c) { return std::isalnum(c) || c == '-' || c == '_' || c == '.'; }
bool ipv4_char(unsigned char c) { return std::isdigit(c) || c == '.'; }

// The IPv6 address of "addr" or "addr%scope"; false when it is not one.
bool parse_ipv6(const std::string& host, in6_addr* out) {
  const size_t pct = host.find('%');
  const std::string addr = host.substr(0, pct);
  if (pct != std::string::npos) {
    const std::string_view scope = std::string_view(host).substr(pct + 1);
    if (scope.empty() || !all_of_chars(scope, name_char)) return false;
  }
  return ::inet_pton(AF_INET6, addr.c_str(), out) == 1;
}

std::string ipv6_text(const in6_addr& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET6, &a, buf, sizeof buf);
  return buf;
}

constexpr const char* kUseTcp = "use tcp://HOST:PORT (or ipc:///PATH between processes of one machine)";

Status fail(std::string message) { return Status::error(std::move(message)); }

Status port_range_error(std::string_view port, const std::string& shown, EndpointUse use) {
  return fail("port " + quoted(port) + " in " + shown +
              (use == EndpointUse::kListen ? " is not a number from 0 to 65535 (0 or *: any free port)"
                                           : " is not a number from 1 to 65535"));
}

Status wildcard_error(const std::string& what, const std::string& shown) {
  return fail(quoted(what) + " in " + shown +
              " means every interface, which only a listening worker can use: give the worker's address, e.g. "
              "tcp://192.168.1.20:7700");
}

Expected<Endpoint> parse_tcp(std::string_view rest, const std::string& shown, EndpointUse use) {
  Endpoint ep;
  ep.scheme = Endpoint::Scheme::kTcp;
  if (rest.empty()) return fail("no host and port in " + shown + ": use tcp://HOST:PORT, e.g. tcp://127.0.0.1:7700");
  std::string_view host, port;
  bool has_port = false;
  if (rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos)
      return fail("no closing ']' in " + shown + ": write an IPv6 address in brackets, e.g. tcp://[::1]:7700");
    host = rest.substr(1, close - 1);
    const std::string_view after = rest.substr(close + 1);
    if (!after.empty() && after.front() != ':')
      return fail("unexpected " + quoted(after) + " after ']' in " + shown + ": use tcp://[IPv6]:PORT");
    has_port = !after.empty();
    if (has_port) port = after.substr(1);
    in6_addr a{};
    if (!parse_ipv6(std::string(host), &a)) return fail(quoted(bracketed(host)) + " in " + shown + " is not an IPv6 address");
    ep.ipv6 = true;
  } else {
    const size_t colon = rest.rfind(':');
    has_port = colon != std::string_view::npos;
    host = has_port ? rest.substr(0, colon) : rest;
    if (has_port) port = rest.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      in6_addr a{};
      if (parse_ipv6(std::string(host), &a))
        return fail("an IPv6 address goes in brackets: write tcp://[" + printable_text(host) + "]:" + printable_text(port) +
                    " for " + shown);
      if (parse_ipv6(std::string(rest), &a))
        return fail("no port in " + shown + ": write tcp://[" + printable_text(rest) + "]:PORT");
    }
    if (host.find(';') != std::string_view::npos)
      return fail("the SOURCE;HOST form in " + shown + " is not supported: use tcp://HOST:PORT");
  }
  if (!has_port) return fail("no port in " + shown + ": use tcp://HOST:PORT, e.g. tcp://" + printable_text(rest) + ":7700");
  if (host.empty()) return fail("no host in " + shown + ": use tcp://HOST:PORT, e.g. tcp://127.0.0.1:" + printable_text(port));
  ep.host = std::string(host);

  if (port == "*") {
    if (use == EndpointUse::kConnect)
      return fail("port * in " + shown + " means any free port, which only a listening worker can use: give the worker's port (1-65535)");
    ep.port = 0;
  } else {
    if (port.empty() || port.size() > 5 || !all_of_chars(port, [](unsigned char c) { return std::isdigit(c) != 0; }))
      return port_range_error(port, shown, use);
    int value = 0;
    for (char c : port) value = value * 10 + (c - '0');
    if (value > 65535) return port_range_error(port, shown, use);
    if (value == 0 && use == EndpointUse::kConnect)
      return fail("port 0 in " + shown + " means any free port, which only a listening worker can use: give the worker's port (1-65535)");
    ep.port = value;
  }

  if (ep.ipv6) {
    if (use == EndpointUse::kConnect && ep.any_interface()) return wildcard_error(bracketed(ep.host), shown);
    return ep;
  }
  if (ep.host == "*") {
    if (use == EndpointUse::kConnect) return wildcard_error("*", shown);
    return ep;
  }
  if (all_of_chars(ep.host, ipv4_char)) {
    in_addr a{};
    if (::inet_pton(AF_INET, ep.host.c_str(), &a) != 1) return fail(quoted(ep.host) + " in " + shown + " is not an IPv4 address");
    if (use == EndpointUse::kConnect && ep.any_interface()) return wildcard_error(ep.host, shown);
    return ep;
  }
  // A host name (or, for listening, an interface name such as eth0).
  if (ep.host.size() > 253 || !all_of_chars(ep.host, name_char) || ep.host.front() == '-' || ep.host.front() == '.')
    return fail("host " + quoted(ep.host) + " in " + shown + " is not a host name or an address");
  return ep;
}

}  // namespace

bool Endpoint::loopback() const {
  if (scheme != Scheme::kTcp) return true;
  if (ipv6) {
    in6_addr a{};
    if (!parse_ipv6(host, &a)) return false;
    return IN6_IS_ADDR_LOOPBACK(&a) || (IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127);
  }
  if (lower(host) == "localhost") return true;
  in_addr a{};
  return ::inet_pton(AF_INET, host.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

bool Endpoint::any_interface() const {
  if (scheme != Scheme::kTcp) return false;
  if (ipv6) {
    in6_addr a{};
    return parse_ipv6(host, &a) && IN6_IS_ADDR_UNSPECIFIED(&a);
  }
  return host == "*" || host == "0.0.0.0";
}

std::string Endpoint::zmq_address() const {
  switch (scheme) {
    case Scheme::kIpc: return "ipc://" + path;
    case Scheme::kInproc: return "inproc://" + path;
    case Scheme::kTcp: break;
  }
  const std::string h = ipv6 ? bracketed(host) : lower(host) == "localhost" ? std::string("127.0.0.1") : host;
  return "tcp://" + h + ":" + std::to_string(port);
}

std::string Endpoint::canonical() const {
  if (scheme != Scheme::kTcp) return zmq_address();
  std::string h;
  if (ipv6) {
    in6_addr a{};
    const size_t pct = host.find('%');
    std::string addr = parse_ipv6(host, &a) ? ipv6_text(a) : lower(host.substr(0, pct));
    if (pct != std::string::npos) addr += host.substr(pct);
    h = bracketed(addr);
  } else {
    h = lower(host) == "localhost" ? "127.0.0.1" : lower(host);
  }
  return "tcp://" + h + ":" + std::to_string(port);
}

Expected<Endpoint> parse_endpoint(const std::string& text, EndpointUse use) {
  const std::string shown = quoted(text);
  if (text.empty()) return fail(std::string("empty endpoint: ") + kUseTcp);
  const size_t sep = text.find("://");
  if (sep == std::string::npos) {
    const bool host_port = text.find(':') != std::string::npos && text.find('/') == std::string::npos;
    return fail("endpoint " + shown + " has no scheme: " +
                (host_port ? "write tcp://" + printable_text(text) : std::string(kUseTcp)));
  }
  const std::string scheme = lower(std::string_view(text).substr(0, sep));
  const std::string_view rest = std::string_view(text).substr(sep + 3);
  if (scheme == "tcp") return parse_tcp(rest, shown, use);
  if (scheme == "ipc" || scheme == "inproc") {
    Endpoint ep;
    ep.scheme = scheme == "ipc" ? Endpoint::Scheme::kIpc : Endpoint::Scheme::kInproc;
    ep.path = std::string(rest);
    if (ep.path.empty()) return fail("no " + std::string(scheme == "ipc" ? "path" : "name") + " in " + shown + ": e.g. " + scheme + (scheme == "ipc" ? ":///tmp/lingua-worker.sock" : "://worker"));
    if (!all_of_chars(ep.path, [](unsigned char c) { return c >= 0x20 && c != 0x7F; }))
      return fail("control characters in " + shown);
    if (ep.scheme == Endpoint::Scheme::kIpc) {
      if (ep.path == "*" && use == EndpointUse::kConnect)
        return fail("ipc://* in " + shown + " picks a new path, which only a listening worker can use: give the worker's path");
      if (ep.path.size() >= sizeof(sockaddr_un{}.sun_path))
        return fail("the path in " + shown + " is " + std::to_string(ep.path.size()) + " bytes: a Unix socket path has at most " +
                    std::to_string(sizeof(sockaddr_un{}.sun_path) - 1));
    }
    return ep;
  }
  return fail("unsupported scheme " + quoted(std::string_view(text).substr(0, sep)) + " in " + shown + ": " + kUseTcp);
}

}  // namespace lingua
