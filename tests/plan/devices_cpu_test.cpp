// The devices file's `cpu:` key (the CPU quota of an emulated host, tools/emulated_hosts.sh):
// fractions of a core are accepted, anything outside 0.01..1024 or not a number is refused.
#include <gtest/gtest.h>

#include <string>

#include "plan/devices_file.h"

namespace lingua {
namespace {

TEST(DevicesFileCpu, FractionOfACoreParses) {
  auto f = parse_devices_yaml(
      "devices:\n  - {name: a, memory: 1GiB, cpu: 0.25}\n  - {name: b, memory: 1GiB, cpu: 3}\n"
      "  - {name: c, memory: 1GiB}\n",
      "cpu.yaml");
  ASSERT_TRUE(f.has_value()) << f.error();
  EXPECT_DOUBLE_EQ(f->devices[0].cpu_cores, 0.25);
  EXPECT_DOUBLE_EQ(f->devices[1].cpu_cores, 3.0);
  EXPECT_DOUBLE_EQ(f->devices[2].cpu_cores, 0.0) << "absent means no quota";
}

TEST(DevicesFileCpu, LimitsAreInclusive) {
  for (const char* v : {"0.01", "1024"}) {
    auto f = parse_devices_yaml(std::string("devices:\n  - {name: a, memory: 1GiB, cpu: ") + v + "}\n", "cpu.yaml");
    ASSERT_TRUE(f.has_value()) << v << ": " << f.error();
  }
}

TEST(DevicesFileCpu, BadValuesNameKeyDeviceAndValue) {
  struct Bad {
    const char* value;
    const char* want;
  };
  for (const Bad& b : {Bad{"0", "between 0.01 and 1024"}, Bad{"0.001", "between 0.01 and 1024"},
                       Bad{"1025", "between 0.01 and 1024"}, Bad{"-1", "between 0.01 and 1024"},
                       Bad{"half", "must be a number"}, Bad{"[1]", "must be a single value"}}) {
    auto f = parse_devices_yaml(std::string("devices:\n  - name: a\n    memory: 1GiB\n    cpu: ") + b.value + "\n",
                                "cpu.yaml");
    ASSERT_FALSE(f.has_value()) << "accepted cpu: " << b.value;
    EXPECT_EQ(f.error().rfind("cpu.yaml:4: device 'a': 'cpu'", 0), 0u) << f.error();
    EXPECT_NE(f.error().find(b.want), std::string::npos) << f.error();
  }
}

}  // namespace
}  // namespace lingua
