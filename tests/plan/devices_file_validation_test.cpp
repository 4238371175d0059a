// Devices-file values that used to pass here and fail later (or never): slowdowns the worker
// refuses, endpoints ZeroMQ cannot use, two devices on one endpoint, and stray bytes echoed raw
// into the terminal. Each is an error when the file is read, naming the device, key and value.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "plan/devices_file.h"

namespace lingua {
namespace {

struct Case {
  std::string yaml;
  const char* line;                       // "f.yaml:N:"
  std::vector<const char*> must_contain;
};

void expect_refused(const Case& c) {
  auto f = parse_devices_yaml(c.yaml, "f.yaml");
  ASSERT_FALSE(f.has_value()) << "accepted:\n" << c.yaml;
  const std::string& msg = f.error();
  EXPECT_EQ(msg.rfind(c.line, 0), 0u) << "wanted " << c.line << " at the start of: " << msg;
  for (const char* want : c.must_contain) EXPECT_NE(msg.find(want), std::string::npos) << "wanted '" << want << "' in: " << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

#define ONE "devices:\n  - name: a\n    memory: 1GiB\n"

TEST(DevicesFileValidation, SlowdownInTheRangeTheWorkerAccepts) {
  // The worker takes 1..1000 (runtime/protocol.cpp); 0.5 and 5000 used to fail only there.
  for (const char* bad : {"0.5", "5000", "1000.5", "0", "-2"}) {
    SCOPED_TRACE(bad);
    expect_refused({std::string(ONE) + "    slowdown: " + bad + "\n", "f.yaml:4:",
                    {"device 'a'", "'slowdown'", "between 1 and 1000", bad}});
    expect_refused({std::string(ONE) + "    slowdown: {after_tokens: 8, factor: " + bad + "}\n", "f.yaml:4:",
                    {"device 'a'", "'factor'", "between 1 and 1000", bad}});
  }
  for (const char* good : {"1", "1.0", "2.5", "1000"}) {
    auto f = parse_devices_yaml(std::string(ONE) + "    slowdown: " + good + "\n", "f.yaml");
    ASSERT_TRUE(f) << good << ": " << f.error();
    EXPECT_DOUBLE_EQ(f->devices[0].slowdown.factor, std::stod(good));
  }
  EXPECT_EQ(kMinSlowdown, 1.0);
  EXPECT_EQ(kMaxSlowdown, 1000.0);
}

TEST(DevicesFileValidation, EndpointsAreCheckedWhenRead) {
  const std::vector<std::pair<const char*, const char*>> bad = {
      {"http://10.0.0.2:7700", "unsupported scheme 'http'"},
      {"tcp://10.0.0.2:99999", "port '99999'"},
      {"tcp://10.0.0.2:0", "port 0"},
      {"tcp://10.0.0.2:-1", "port '-1'"},
      {"tcp://10.0.0.2:abc", "port 'abc'"},
      {"tcp://10.0.0.2", "no port"},
      {"tcp://*:7700", "every interface"},
      {"10.0.0.2:7700", "no scheme"},
      {"tcp://::1:7700", "in brackets"},
      {"inproc://w", "inproc://"},
      {"\"\"", "empty endpoint"},
  };
  for (const auto& [endpoint, why] : bad) {
    SCOPED_TRACE(endpoint);
    expect_refused({std::string(ONE) + "    endpoint: " + endpoint + "\n", "f.yaml:4:", {"device 'a'", "'endpoint'", why}});
  }
  for (const char* good : {"tcp://10.0.0.2:7700", "tcp://localhost:7700", "tcp://[::1]:7700", "tcp://phone-a.lan:7700",
                           "ipc:///tmp/lingua-a.sock"}) {
    auto f = parse_devices_yaml(std::string(ONE) + "    endpoint: \"" + good + "\"\n", "f.yaml");
    ASSERT_TRUE(f) << good << ": " << f.error();
    EXPECT_EQ(f->devices[0].endpoint, good);  // kept as written, for messages
  }
}

TEST(DevicesFileValidation, TwoDevicesOnOneEndpointAreAnError) {
  const std::vector<std::pair<const char*, const char*>> same = {
      {"tcp://10.0.0.2:7700", "tcp://10.0.0.2:7700"},
      {"tcp://127.0.0.1:7700", "tcp://localhost:7700"},
      {"tcp://[::1]:7700", "tcp://[0:0::1]:7700"},
      {"tcp://Phone.lan:7700", "tcp://phone.LAN:7700"},
  };
  for (const auto& [first, second] : same) {
    SCOPED_TRACE(second);
    expect_refused({std::string("devices:\n  - {name: a, memory: 1GiB, endpoint: \"") + first +
                        "\"}\n  - {name: b, memory: 1GiB, endpoint: \"" + second + "\"}\n",
                    "f.yaml:3:", {"device 'b'", second, "device 'a'", first, "line 2"}});
  }
  // Different ports or hosts are different workers; devices without an endpoint share none.
  auto f = parse_devices_yaml("devices:\n  - {name: a, memory: 1GiB, endpoint: tcp://127.0.0.1:7700}\n"
                              "  - {name: b, memory: 1GiB, endpoint: tcp://127.0.0.1:7701}\n"
                              "  - {name: c, memory: 1GiB, endpoint: tcp://127.0.0.2:7700}\n"
                              "  - {name: d, memory: 1GiB}\n  - {name: e, memory: 1GiB}\n",
                              "f.yaml");
  EXPECT_TRUE(f) << f.error();
}

TEST(DevicesFileValidation, MessagesEscapeBytesThatAreNotText) {
  // A 0xFF byte used to be copied into the message as it was, garbling the terminal.
  const std::vector<Case> cases = {
      {"devices:\n  - name: a\xff\n    memory: 1GiB\n", "f.yaml:2:", {"'a\\xFF'"}},
      {ONE "links:\n  \"a <-> \xff\": {}\n", "f.yaml:5:", {"unknown device '\\xFF'"}},
      {ONE "    endpoint: \"tcp://h\xff:1\"\n", "f.yaml:4:", {"h\\xFF"}},
      {ONE "    memory\x1b: 1GiB\n", "f.yaml:4:", {"'memory\\x1B'"}},
      {"devices:\n  - {name: a, memory: 1GiB}\n\xff\xfe: [\n", "f.yaml:", {"YAML syntax error"}},
  };
  for (const Case& c : cases) {
    expect_refused(c);
    auto f = parse_devices_yaml(c.yaml, "f.yaml");
    ASSERT_FALSE(f);
    for (unsigned char ch : f.error()) EXPECT_TRUE(ch >= 0x20 && ch < 0x7F) << "raw byte " << int(ch) << " in: " << f.error();
  }
  // The file name is text from the command line too.
  auto named = parse_devices_yaml("devices: 3\n", "bad\xff.yaml");
  ASSERT_FALSE(named);
  EXPECT_EQ(named.error().rfind("bad\\xFF.yaml:1:", 0), 0u) << named.error();
}

}  // namespace
}  // namespace lingua
