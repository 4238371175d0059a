// The endpoint reader: every form the docs promise parses, and every mistake a user made (wrong
// scheme, port out of range or missing, IPv6 without brackets) is refused naming the problem.
// Also the message escaping that keeps stray bytes out of the terminal.
#include <gtest/gtest.h>

#include <string>

#include "core/endpoint.h"
#include "core/printable.h"

namespace lingua {
namespace {

Endpoint ok(const std::string& text, EndpointUse use = EndpointUse::kConnect) {
  auto ep = parse_endpoint(text, use);
  EXPECT_TRUE(ep) << text << ": " << ep.error();
  return ep ? *ep : Endpoint{};
}

// The error for `text`, which must contain each of `parts`.
void refused(const std::string& text, EndpointUse use, std::initializer_list<const char*> parts) {
  auto ep = parse_endpoint(text, use);
  ASSERT_FALSE(ep) << text << " was accepted";
  for (const char* p : parts) EXPECT_NE(ep.error().find(p), std::string::npos) << text << ": " << ep.error();
}

TEST(Endpoint, ParsesTheDocumentedForms) {
  Endpoint a = ok("tcp://10.0.0.2:7700");
  EXPECT_EQ(a.scheme, Endpoint::Scheme::kTcp);
  EXPECT_EQ(a.host, "10.0.0.2");
  EXPECT_EQ(a.port, 7700);
  EXPECT_FALSE(a.ipv6);
  EXPECT_FALSE(a.loopback());

  Endpoint v6 = ok("tcp://[::1]:7700");
  EXPECT_TRUE(v6.ipv6);
  EXPECT_EQ(v6.host, "::1");
  EXPECT_TRUE(v6.loopback());
  EXPECT_EQ(v6.zmq_address(), "tcp://[::1]:7700");

  Endpoint scoped = ok("tcp://[fe80::1%eth0]:7700");
  EXPECT_EQ(scoped.host, "fe80::1%eth0");
  EXPECT_FALSE(scoped.loopback());

  Endpoint name = ok("tcp://phone-a.local:7700");
  EXPECT_EQ(name.host, "phone-a.local");
  EXPECT_EQ(name.zmq_address(), "tcp://phone-a.local:7700");

  Endpoint ipc = ok("ipc:///tmp/lingua.sock");
  EXPECT_EQ(ipc.scheme, Endpoint::Scheme::kIpc);
  EXPECT_EQ(ipc.path, "/tmp/lingua.sock");
  EXPECT_TRUE(ipc.loopback());
  EXPECT_TRUE(ok("inproc://x").loopback());
}

TEST(Endpoint, LocalhostBindsTo127001) {
  // ZeroMQ's bind takes an interface or an address; "localhost" failed with "No such device".
  Endpoint l = ok("tcp://localhost:0", EndpointUse::kListen);
  EXPECT_TRUE(l.loopback());
  EXPECT_EQ(l.zmq_address(), "tcp://127.0.0.1:0");
  EXPECT_EQ(ok("tcp://LocalHost:7700").zmq_address(), "tcp://127.0.0.1:7700");
}

TEST(Endpoint, ListenAllowsWildcardsAndAnyPort) {
  EXPECT_TRUE(ok("tcp://*:7700", EndpointUse::kListen).any_interface());
  EXPECT_TRUE(ok("tcp://0.0.0.0:0", EndpointUse::kListen).any_interface());
  EXPECT_TRUE(ok("tcp://[::]:7700", EndpointUse::kListen).any_interface());
  EXPECT_EQ(ok("tcp://127.0.0.1:*", EndpointUse::kListen).port, 0);
  EXPECT_EQ(ok("tcp://eth0:7700", EndpointUse::kListen).host, "eth0");  // an interface name
  EXPECT_FALSE(ok("tcp://*:7700", EndpointUse::kListen).loopback());
  EXPECT_FALSE(ok("tcp://0.0.0.0:7700", EndpointUse::kListen).loopback());
}

TEST(Endpoint, ConnectNeedsOneHostAndARealPort) {
  refused("tcp://127.0.0.1:0", EndpointUse::kConnect, {"port 0", "any free port", "1-65535"});
  refused("tcp://127.0.0.1:*", EndpointUse::kConnect, {"port *", "1-65535"});
  refused("tcp://*:7700", EndpointUse::kConnect, {"every interface", "worker's address"});
  refused("tcp://0.0.0.0:7700", EndpointUse::kConnect, {"'0.0.0.0'", "every interface"});
  refused("tcp://[::]:7700", EndpointUse::kConnect, {"every interface"});
}

TEST(Endpoint, RefusesOtherSchemesNamingThem) {
  refused("http://10.0.0.2:7700", EndpointUse::kConnect,
          {"unsupported scheme 'http' in 'http://10.0.0.2:7700'", "use tcp://HOST:PORT"});
  refused("udp://x:1", EndpointUse::kListen, {"unsupported scheme 'udp'"});
  refused("10.0.0.2:7700", EndpointUse::kConnect, {"no scheme", "write tcp://10.0.0.2:7700"});
  refused("", EndpointUse::kConnect, {"empty endpoint"});
}

TEST(Endpoint, RefusesBadPortsNamingThePort) {
  for (const char* port : {"99999", "65536", "-1", "x7", "7700 ", "+80", "123456"}) {
    const std::string text = std::string("tcp://127.0.0.1:") + port;
    refused(text, EndpointUse::kConnect, {"port '", "from 1 to 65535"});
    refused(text, EndpointUse::kListen, {"from 0 to 65535"});
  }
  refused("tcp://127.0.0.1:", EndpointUse::kConnect, {"port ''"});
  refused("tcp://127.0.0.1", EndpointUse::kConnect, {"no port in 'tcp://127.0.0.1'"});
  refused("tcp://[::1]", EndpointUse::kConnect, {"no port"});
  EXPECT_EQ(ok("tcp://127.0.0.1:65535").port, 65535);
  EXPECT_EQ(ok("tcp://127.0.0.1:1").port, 1);
}

TEST(Endpoint, RefusesBadHosts) {
  refused("tcp://:7700", EndpointUse::kConnect, {"no host"});
  refused("tcp://::1:7700", EndpointUse::kConnect, {"IPv6 address goes in brackets", "tcp://[::1]:7700"});
  refused("tcp://[::1:7700", EndpointUse::kConnect, {"no closing ']'"});
  refused("tcp://[zz::1]:7700", EndpointUse::kConnect, {"'[zz::1]'", "not an IPv6 address"});
  refused("tcp://[::1]x:7700", EndpointUse::kConnect, {"after ']'"});
  refused("tcp://999.0.0.1:7700", EndpointUse::kConnect, {"'999.0.0.1'", "not an IPv4 address"});
  refused("tcp://127.0.0.1.5:7700", EndpointUse::kConnect, {"not an IPv4 address"});
  refused("tcp://a b:7700", EndpointUse::kConnect, {"host 'a b'", "not a host name"});
  refused("tcp://eth0;10.0.0.1:7700", EndpointUse::kConnect, {"SOURCE;HOST"});
  refused("tcp://h\xff:7700", EndpointUse::kConnect, {"h\\xFF"});
}

TEST(Endpoint, RefusesBadIpcPaths) {
  refused("ipc://", EndpointUse::kListen, {"no path"});
  refused("ipc://*", EndpointUse::kConnect, {"worker's path"});
  EXPECT_EQ(ok("ipc://*", EndpointUse::kListen).path, "*");
  refused("ipc:///" + std::string(200, 'a'), EndpointUse::kListen, {"Unix socket path"});
}

TEST(Endpoint, LoopbackOnlyForAddressesThatStayOnTheMachine) {
  EXPECT_TRUE(ok("tcp://127.1.2.3:7000").loopback());
  EXPECT_TRUE(ok("tcp://[::ffff:127.0.0.1]:7000").loopback());
  EXPECT_FALSE(ok("tcp://127.0.0.1.evil.com:7000").loopback());
  EXPECT_FALSE(ok("tcp://localhost.evil.com:7000").loopback());
  EXPECT_FALSE(ok("tcp://[::2]:7000").loopback());
  EXPECT_FALSE(ok("tcp://128.0.0.1:7000").loopback());
}

TEST(Endpoint, CanonicalFormTellsTheSameAddressApart) {
  EXPECT_EQ(ok("tcp://localhost:7700").canonical(), ok("tcp://127.0.0.1:7700").canonical());
  EXPECT_EQ(ok("tcp://LOCALHOST:07700").canonical(), "tcp://127.0.0.1:7700");
  EXPECT_EQ(ok("tcp://[0:0::1]:7700").canonical(), ok("tcp://[::1]:7700").canonical());
  EXPECT_EQ(ok("tcp://Phone.LAN:7700").canonical(), ok("tcp://phone.lan:7700").canonical());
  EXPECT_NE(ok("tcp://127.0.0.1:7700").canonical(), ok("tcp://127.0.0.2:7700").canonical());
  EXPECT_NE(ok("tcp://127.0.0.1:7700").canonical(), ok("tcp://127.0.0.1:7701").canonical());
}

TEST(PrintableText, EscapesBytesThatAreNotPrintableText) {
  EXPECT_EQ(printable_text("plain text"), "plain text");
  EXPECT_EQ(printable_text("caf\xc3\xa9"), "caf\xc3\xa9");  // valid UTF-8 stays
  EXPECT_EQ(printable_text("a\xff" "b"), "a\\xFFb");
  EXPECT_EQ(printable_text("\xc3"), "\\xC3");                // cut sequence
  EXPECT_EQ(printable_text("\xc0\xaf"), "\\xC0\\xAF");       // overlong '/'
  EXPECT_EQ(printable_text("\xed\xa0\x80"), "\\xED\\xA0\\x80");  // a surrogate
  EXPECT_EQ(printable_text(std::string("a\0b\x1b[2J\x7f", 8)), "a\\x00b\\x1B[2J\\x7F");
  EXPECT_EQ(printable_text("\xc2\x85"), "\\xC2\\x85");       // C1 control (NEL)
  EXPECT_EQ(printable_text("one\ntwo\tthree"), "one\\ntwo\\tthree");
}

}  // namespace
}  // namespace lingua
