// The devices file: the design's example parses with every field, defaults fill what is left
// out, every kind of bad input is a one-line error naming file, line and culprit, and mutated
// files never crash the parser. Also checks that every examples/*.yaml parses.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <unistd.h>

#include "plan/devices_file.h"
#include "test_paths.h"

namespace lingua {
namespace {

// DESIGN.md's example, plus a pair link.
const char* kDesignExample = R"(devices:
  - name: phone-a            # unique
    endpoint: tcp://10.0.0.2:7700   # omitted for local devices started by the head
    threads: 2
    memory: 1.5GiB           # what Lingua may use on it
    # optional, measured by `lingua profile` or given by hand:
    gflops: {f32: 20, q8_0: 35, q4_0: 30}
    mem_bandwidth: 8GB/s
    power_w: {busy: 4.5, idle: 0.6}
    battery: 0.8             # 0..1, absent = mains power
    slowdown: 1.0            # emulation: compute this many times slower; or {after_tokens: 8, factor: 3.0}
                             # to turn slow mid-run (what load balancing must notice and fix)
  - name: phone-b
    memory: 512MiB
    slowdown: {after_tokens: 8, factor: 3.0}
links:                       # default applies to every pair not listed
  default: {bandwidth: 100Mbit/s, latency: 5ms}
  "phone-a <-> phone-b": {bandwidth: 1Gbit/s}
)";

TEST(DevicesFile, DesignExampleParsesEveryField) {
  auto f = parse_devices_yaml(kDesignExample, "ex.yaml");
  ASSERT_TRUE(f.has_value()) << f.error();
  EXPECT_EQ(f->source, "ex.yaml");
  ASSERT_EQ(f->devices.size(), 2u);
  const DeviceSpec& a = f->devices[0];
  EXPECT_EQ(a.name, "phone-a");
  EXPECT_EQ(a.endpoint, "tcp://10.0.0.2:7700");
  EXPECT_EQ(a.threads, 2);
  EXPECT_EQ(a.memory_bytes, 3ull << 29);
  ASSERT_EQ(a.flops_per_s.size(), 3u);
  EXPECT_DOUBLE_EQ(a.flops_per_s.at(DType::F32), 20e9);
  EXPECT_DOUBLE_EQ(a.flops_per_s.at(DType::Q8_0), 35e9);
  EXPECT_DOUBLE_EQ(a.flops_per_s.at(DType::Q4_0), 30e9);
  EXPECT_DOUBLE_EQ(a.mem_bandwidth_bytes_per_s, 8e9);
  EXPECT_DOUBLE_EQ(a.power_busy_w, 4.5);
  EXPECT_DOUBLE_EQ(a.power_idle_w, 0.6);
  EXPECT_DOUBLE_EQ(a.battery, 0.8);
  EXPECT_DOUBLE_EQ(a.slowdown.factor, 1.0);
  EXPECT_EQ(a.slowdown.after_tokens, 0);
  EXPECT_EQ(a.line, 2);
  const DeviceSpec& b = f->devices[1];
  EXPECT_EQ(b.name, "phone-b");
  EXPECT_EQ(b.line, 13);
  EXPECT_DOUBLE_EQ(b.slowdown.factor, 3.0);
  EXPECT_EQ(b.slowdown.after_tokens, 8);
  EXPECT_DOUBLE_EQ(f->default_link.bandwidth_bytes_per_s, 12.5e6);
  EXPECT_DOUBLE_EQ(f->default_link.latency_s, 0.005);
  ASSERT_EQ(f->pair_links.size(), 1u);
  // The pair link takes its latency from the default; lookups are symmetric.
  const LinkSpec ab = f->link("phone-b", "phone-a");
  EXPECT_DOUBLE_EQ(ab.bandwidth_bytes_per_s, 125e6);
  EXPECT_DOUBLE_EQ(ab.latency_s, 0.005);
  EXPECT_DOUBLE_EQ(f->link("phone-a", "phone-b").bandwidth_bytes_per_s, 125e6);
  EXPECT_DOUBLE_EQ(f->link("phone-a", "elsewhere").bandwidth_bytes_per_s, 12.5e6);
  ASSERT_NE(f->find("phone-b"), nullptr);
  EXPECT_EQ(f->find("phone-b")->memory_bytes, 512ull << 20);
  EXPECT_EQ(f->find("phone-c"), nullptr);
}

TEST(DevicesFile, MinimalDevicesGetDefaults) {
  auto f = parse_devices_yaml("devices:\n  - {name: a, memory: 100MiB}\n  - name: b\n    memory: 1000\n", "min.yaml");
  ASSERT_TRUE(f.has_value()) << f.error();
  ASSERT_EQ(f->devices.size(), 2u);
  for (const DeviceSpec& d : f->devices) {
    EXPECT_EQ(d.endpoint, "");
    EXPECT_EQ(d.threads, 1);
    EXPECT_TRUE(d.flops_per_s.empty());
    EXPECT_EQ(d.mem_bandwidth_bytes_per_s, 0);
    EXPECT_EQ(d.power_busy_w, 0);
    EXPECT_EQ(d.power_idle_w, 0);
    EXPECT_EQ(d.battery, -1);
    EXPECT_EQ(d.slowdown.factor, 1.0);
    EXPECT_EQ(d.slowdown.after_tokens, 0);
  }
  EXPECT_EQ(f->devices[0].memory_bytes, 100ull << 20);
  EXPECT_EQ(f->devices[1].memory_bytes, 1000u);
  EXPECT_EQ(f->devices[0].line, 2);
  EXPECT_EQ(f->devices[1].line, 3);
  EXPECT_DOUBLE_EQ(f->default_link.bandwidth_bytes_per_s, 100e6 / 8);
  EXPECT_DOUBLE_EQ(f->default_link.latency_s, 0.005);
  EXPECT_TRUE(f->pair_links.empty());
}

struct BadCase {
  const char* yaml;
  const char* line;                      // "bad.yaml:N:"
  std::vector<const char*> must_contain;  // the culprit, in the message
};

// A valid two-device prefix that bad cases extend, so line numbers start at 4.
#define PREFIX "devices:\n  - name: a\n    memory: 1GiB\n"

TEST(DevicesFile, BadInputsNameLineAndCulprit) {
  const std::vector<BadCase> cases = {
      // YAML syntax
      {"devices:\n  - name: a\n    memory: [1GiB\n", "bad.yaml:4:", {"YAML syntax error"}},
      {PREFIX "  - name: b\n   memory: 1GiB\n", "bad.yaml:5:", {"YAML syntax error"}},
      // shape of the top level
      {"- a\n- b\n", "bad.yaml:1:", {"top level must be a map", "a list"}},
      {"", "bad.yaml:1:", {"top level must be a map"}},
      {"links:\n  default: {bandwidth: 1Gbit/s}\n", "bad.yaml:1:", {"no 'devices:'"}},
      {"devices: []\n", "bad.yaml:1:", {"'devices' must be a non-empty list", "empty list"}},
      {"devices:\n", "bad.yaml:1:", {"'devices' must be a non-empty list", "nothing"}},
      {"devices: phone\n", "bad.yaml:1:", {"'devices' must be a non-empty list", "'phone'"}},
      {PREFIX "gadgets: 3\n", "bad.yaml:4:", {"unknown key 'gadgets'", "allowed: devices, links"}},
      {PREFIX "devices: []\n", "bad.yaml:4:", {"'devices' appears twice"}},
      // devices
      {PREFIX "  - phone-b\n", "bad.yaml:4:", {"device #2 must be a map", "'phone-b'"}},
      {PREFIX "  - memory: 1GiB\n", "bad.yaml:4:", {"device #2 has no 'name'"}},
      {PREFIX "  - name: b\n    threads: 2\n", "bad.yaml:4:", {"device 'b'", "no 'memory'"}},
      {PREFIX "  - name: a\n    memory: 2GiB\n", "bad.yaml:4:", {"duplicate device name 'a'", "line 2"}},
      {PREFIX "  - name: b c\n    memory: 1GiB\n", "bad.yaml:4:", {"device name 'b c'"}},
      {PREFIX "  - name: {x: 1}\n    memory: 1GiB\n", "bad.yaml:4:", {"'name' must be a single value", "a map"}},
      {PREFIX "    memroy: 1GiB\n", "bad.yaml:4:", {"device 'a'", "unknown key 'memroy'", "allowed: name, endpoint, threads, memory"}},
      {PREFIX "    memory: 2GiB\n", "bad.yaml:4:", {"key 'memory' appears twice"}},
      {PREFIX "    threads: 0\n", "bad.yaml:4:", {"device 'a'", "'threads' must be between 1 and", "got 0"}},
      {PREFIX "    threads: -3\n", "bad.yaml:4:", {"'threads'", "got -3"}},
      {PREFIX "    threads: two\n", "bad.yaml:4:", {"'threads' must be a whole number", "'two'"}},
      {PREFIX "    threads: 2.5\n", "bad.yaml:4:", {"'threads' must be a whole number", "'2.5'"}},
      {PREFIX "    threads: [2]\n", "bad.yaml:4:", {"'threads' must be a single value", "a list"}},
      {"devices:\n  - name: a\n    memory: 0MiB\n", "bad.yaml:3:", {"'memory' must be more than zero", "'0MiB'"}},
      {"devices:\n  - name: a\n    memory: lots\n", "bad.yaml:3:", {"'memory'", "bad size 'lots'"}},
      {"devices:\n  - name: a\n    memory: -1GiB\n", "bad.yaml:3:", {"'memory'", "'-1GiB'", "negative"}},
      {"devices:\n  - name: a\n    memory:\n", "bad.yaml:3:", {"'memory' must be a single value", "nothing"}},
      {PREFIX "    endpoint: [tcp://x]\n", "bad.yaml:4:", {"'endpoint' must be a single value"}},
      {PREFIX "    gflops: 20\n", "bad.yaml:4:", {"'gflops' must be a map", "'20'"}},
      {PREFIX "    gflops: {f32: 20, q9_9: 3}\n", "bad.yaml:4:", {"unknown tensor type 'q9_9'"}},
      {PREFIX "    gflops: {f32: fast}\n", "bad.yaml:4:", {"'f32' must be a number", "'fast'"}},
      {PREFIX "    gflops: {f32: -20}\n", "bad.yaml:4:", {"'f32'", "more than zero", "-20"}},
      {PREFIX "    gflops: {f32: 20, F32: 30}\n", "bad.yaml:4:", {"'gflops' gives 'F32' twice"}},
      {PREFIX "    mem_bandwidth: 8GB\n", "bad.yaml:4:", {"'mem_bandwidth'", "'8GB'"}},
      {PREFIX "    mem_bandwidth: 0GB/s\n", "bad.yaml:4:", {"'mem_bandwidth' must be more than zero", "'0GB/s'"}},
      {PREFIX "    power_w: {busy: -4.5}\n", "bad.yaml:4:", {"'busy' watts must not be negative", "-4.5"}},
      {PREFIX "    power_w: {busy: 4, peak: 9}\n", "bad.yaml:4:", {"unknown key 'peak'", "allowed: busy, idle"}},
      {PREFIX "    power_w: 4.5\n", "bad.yaml:4:", {"'power_w' must be a map", "'4.5'"}},
      {PREFIX "    battery: 1.5\n", "bad.yaml:4:", {"'battery' must be between 0 and 1", "1.5"}},
      {PREFIX "    battery: -0.1\n", "bad.yaml:4:", {"'battery' must be between 0 and 1", "-0.1"}},
      {PREFIX "    battery: full\n", "bad.yaml:4:", {"'battery' must be a number", "'full'"}},
      {PREFIX "    slowdown: 0\n", "bad.yaml:4:", {"'slowdown'", "between 1 and 1000", "got 0"}},
      {PREFIX "    slowdown: -2\n", "bad.yaml:4:", {"'slowdown'", "between 1 and 1000", "got -2"}},
      {PREFIX "    slowdown: {after_tokens: -1, factor: 2}\n", "bad.yaml:4:", {"'after_tokens' must not be negative", "-1"}},
      {PREFIX "    slowdown: {after_tokens: 8, factor: 0}\n", "bad.yaml:4:", {"'factor'", "between 1 and 1000"}},
      {PREFIX "    slowdown: {after: 8}\n", "bad.yaml:4:", {"unknown key 'after'", "allowed: factor, after_tokens"}},
      {PREFIX "    slowdown: [2]\n", "bad.yaml:4:", {"'slowdown' must be a factor", "a list"}},
      // links
      {PREFIX "links: [1]\n", "bad.yaml:4:", {"'links' must be a map", "a list"}},
      {PREFIX "links:\n  fast: {bandwidth: 1Gbit/s}\n", "bad.yaml:5:", {"unknown key 'fast' in 'links'"}},
      {PREFIX "links:\n  default: {bandwidth: 0Mbit/s}\n", "bad.yaml:5:", {"'bandwidth' must be more than zero", "'0Mbit/s'"}},
      {PREFIX "links:\n  default: {bandwidth: -5Mbit/s}\n", "bad.yaml:5:", {"'bandwidth'", "'-5Mbit/s'", "negative"}},
      {PREFIX "links:\n  default: {bandwidth: 100}\n", "bad.yaml:5:", {"'bandwidth'", "'100'", "missing unit"}},
      {PREFIX "links:\n  default: {latency: -5ms}\n", "bad.yaml:5:", {"'latency'", "'-5ms'", "negative"}},
      {PREFIX "links:\n  default: {latency: 5}\n", "bad.yaml:5:", {"'latency'", "'5'", "missing unit"}},
      {PREFIX "links:\n  default: {bandwidth: 1Gbit/s, jitter: 1ms}\n", "bad.yaml:5:", {"unknown key 'jitter'", "allowed: bandwidth, latency"}},
      {PREFIX "links:\n  default: fast\n", "bad.yaml:5:", {"link 'default' must be a map", "'fast'"}},
      {PREFIX "links:\n  \"a <-> ghost\": {bandwidth: 1Gbit/s}\n", "bad.yaml:5:", {"names unknown device 'ghost'"}},
      {PREFIX "links:\n  \"a <-> a\": {bandwidth: 1Gbit/s}\n", "bad.yaml:5:", {"'a <-> a' joins a device to itself"}},
      {PREFIX "  - name: b\n    memory: 1GiB\nlinks:\n  \"a <-> b\": {bandwidth: 1Gbit/s}\n  \"b <-> a\": {latency: 1ms}\n",
       "bad.yaml:8:", {"'b <-> a' repeats the link between"}},
  };
  for (const BadCase& c : cases) {
    auto f = parse_devices_yaml(c.yaml, "bad.yaml");
    ASSERT_FALSE(f.has_value()) << "accepted:\n" << c.yaml;
    const std::string& msg = f.error();
    EXPECT_EQ(msg.rfind(c.line, 0), 0u) << "wanted " << c.line << " at the start of: " << msg << "\nfor:\n" << c.yaml;
    for (const char* want : c.must_contain)
      EXPECT_NE(msg.find(want), std::string::npos) << "wanted '" << want << "' in: " << msg << "\nfor:\n" << c.yaml;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "multi-line message: " << msg;
  }
}

TEST(DevicesFile, LoadFile) {
  const auto dir = std::filesystem::temp_directory_path() / ("lingua_devices_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "d.yaml").string();
  std::ofstream(path) << "devices:\n  - {name: x, memory: 1GiB}\n";
  auto f = load_devices_file(path);
  ASSERT_TRUE(f.has_value()) << f.error();
  EXPECT_EQ(f->source, path);
  EXPECT_EQ(f->devices.at(0).name, "x");

  std::ofstream(path) << "devices:\n  - {name: x, memory: 1GiB, mem: 2}\n";
  auto bad = load_devices_file(path);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().rfind(path + ":2:", 0), 0u) << bad.error();

  auto missing = load_devices_file((dir / "nope.yaml").string());
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().find("nope.yaml"), std::string::npos) << missing.error();
  EXPECT_NE(missing.error().find("No such file"), std::string::npos) << missing.error();

  auto directory = load_devices_file(dir.string());
  ASSERT_FALSE(directory.has_value());
  EXPECT_NE(directory.error().find("directory"), std::string::npos) << directory.error();
  std::filesystem::remove_all(dir);
}

// 2000 random byte flips, insertions and truncations of a valid file: the parser returns a
// value or an error, never crashes or throws (this also runs under ASan+UBSan).
TEST(DevicesFile, MutationsNeverCrash) {
  const std::string base = kDesignExample;
  const std::string alphabet = "{}[]:,-#&*!|>'\"%@`\n\t ?<->0123456789.eE+abcxyzMiGbit/s\\\x00\xff";
  std::mt19937 rng(12345);
  int ok = 0, errors = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string text = base;
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const size_t pos = rng() % text.size();
      switch (rng() % 5) {
        case 0: text[pos] = static_cast<char>(rng() & 0xff); break;                      // random byte
        case 1: text[pos] = alphabet[rng() % alphabet.size()]; break;                    // YAML-ish byte
        case 2: text.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;           // insertion
        case 3: text.erase(pos, 1 + rng() % 8); break;                                   // deletion
        default: text.resize(pos); break;                                                // truncation
      }
    }
    Expected<DevicesFile> f = parse_devices_yaml(text, "fuzz.yaml");
    if (f.has_value()) {
      ++ok;
      for (const DeviceSpec& d : f->devices) {
        // A device with an endpoint may leave both to its worker's measurement (0).
        if (d.endpoint.empty()) {
          EXPECT_GT(d.memory_bytes, 0u);
          EXPECT_GE(d.threads, 1);
        } else {
          EXPECT_GE(d.threads, 0);
        }
      }
    } else {
      ++errors;
      EXPECT_EQ(f.error().rfind("fuzz.yaml", 0), 0u) << f.error();
    }
  }
  EXPECT_GT(errors, 0);
  EXPECT_GT(ok + errors, 1999);
}

TEST(DevicesFile, EveryExampleParses) {
  const std::filesystem::path dir = std::filesystem::path(testing::source_dir()) / "examples";
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    ++count;
    auto f = load_devices_file(entry.path().string());
    EXPECT_TRUE(f.has_value()) << f.error();
  }
  EXPECT_GE(count, 4);
}

TEST(DevicesFile, Hetero3IsAsDescribed) {
  auto f = load_devices_file(testing::source_dir() + "/examples/hetero3.yaml");
  ASSERT_TRUE(f.has_value()) << f.error();
  ASSERT_EQ(f->devices.size(), 3u);
  EXPECT_EQ(f->devices[0].name, "flagship");
  EXPECT_EQ(f->devices[0].memory_bytes, 400ull << 20);
  EXPECT_EQ(f->devices[0].slowdown.factor, 1.0);
  EXPECT_EQ(f->devices[1].name, "midrange");
  EXPECT_EQ(f->devices[1].memory_bytes, 400ull << 20);
  EXPECT_EQ(f->devices[1].slowdown.factor, 2.0);
  EXPECT_EQ(f->devices[2].name, "budget");
  EXPECT_EQ(f->devices[2].memory_bytes, 600ull << 20);
  EXPECT_EQ(f->devices[2].slowdown.factor, 4.0);
  for (const DeviceSpec& d : f->devices) {
    EXPECT_EQ(d.threads, 1);
    EXPECT_EQ(d.endpoint, "");
  }
  EXPECT_DOUBLE_EQ(f->default_link.bandwidth_bytes_per_s, 12.5e6);
  EXPECT_DOUBLE_EQ(f->default_link.latency_s, 0.005);
}

}  // namespace
}  // namespace lingua
