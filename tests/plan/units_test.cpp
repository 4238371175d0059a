// Sizes, bandwidths and durations as written in devices files: the accepted spellings give the
// exact numbers, and bad text (negative, garbage, no unit, overflow) is an error naming it.
#include <gtest/gtest.h>

#include <cmath>

#include "plan/units.h"

namespace lingua {
namespace {

TEST(Units, ParseSize) {
  EXPECT_EQ(*parse_size("400MiB"), 400ull << 20);
  EXPECT_EQ(*parse_size("1.5GiB"), 3ull << 29);
  EXPECT_EQ(*parse_size("512KiB"), 512ull << 10);
  EXPECT_EQ(*parse_size("2GB"), 2000000000ull);
  EXPECT_EQ(*parse_size("3KB"), 3000ull);
  EXPECT_EQ(*parse_size("7MB"), 7000000ull);
  EXPECT_EQ(*parse_size("1TiB"), 1ull << 40);
  EXPECT_EQ(*parse_size("64B"), 64ull);
  EXPECT_EQ(*parse_size("123456"), 123456ull);
  EXPECT_EQ(*parse_size(" 400 MiB "), 400ull << 20);
  EXPECT_EQ(*parse_size("0"), 0ull);
  EXPECT_EQ(*parse_size("18446744073709551615"), UINT64_MAX);
}

TEST(Units, ParseSizeRejects) {
  for (const char* bad : {"-5MiB", "abc", "", "MiB", "1.2.3GiB", "5 XB", "5mib", "1.5", "1.5B", "1e3MiB",
                          "18446744073709551616", "16EiB", "17179869184GiB", "99999999999999999999TiB", "0x10"}) {
    auto r = parse_size(bad);
    EXPECT_FALSE(r.has_value()) << bad;
    if (!r.has_value() && *bad) {
      EXPECT_NE(r.error().find(bad), std::string::npos) << r.error();
    }
  }
  EXPECT_NE(parse_size("-5MiB").error().find("negative"), std::string::npos);
  EXPECT_NE(parse_size("5 XB").error().find("unknown unit 'XB'"), std::string::npos);
  EXPECT_NE(parse_size("17179869184GiB").error().find("too large"), std::string::npos);
}

TEST(Units, ParseBandwidth) {
  EXPECT_DOUBLE_EQ(*parse_bandwidth("100Mbit/s"), 12.5e6);
  EXPECT_DOUBLE_EQ(*parse_bandwidth("1Gbit/s"), 125e6);
  EXPECT_DOUBLE_EQ(*parse_bandwidth("8GB/s"), 8e9);
  EXPECT_DOUBLE_EQ(*parse_bandwidth("500MB/s"), 500e6);
  EXPECT_DOUBLE_EQ(*parse_bandwidth("12.5MiB/s"), 12.5 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(*parse_bandwidth("800Kbit/s"), 100e3);
  EXPECT_DOUBLE_EQ(*parse_bandwidth("100Mbps"), 12.5e6);
}

TEST(Units, ParseBandwidthRejects) {
  for (const char* bad : {"100", "-1Mbit/s", "fast", "100Mbit", "1 Gb/s", "Mbit/s", "1e999Gbit/s"}) {
    auto r = parse_bandwidth(bad);
    EXPECT_FALSE(r.has_value()) << bad;
    if (!r.has_value()) {
      EXPECT_NE(r.error().find(bad), std::string::npos) << r.error();
    }
  }
  EXPECT_NE(parse_bandwidth("100").error().find("missing unit"), std::string::npos);
  EXPECT_NE(parse_bandwidth("-1Mbit/s").error().find("negative"), std::string::npos);
  std::string huge(400, '9');
  huge += "Gbit/s";
  EXPECT_NE(parse_bandwidth(huge).error().find("out of range"), std::string::npos);
}

TEST(Units, ParseDuration) {
  EXPECT_DOUBLE_EQ(*parse_duration("5ms"), 0.005);
  EXPECT_DOUBLE_EQ(*parse_duration("20us"), 20e-6);
  EXPECT_DOUBLE_EQ(*parse_duration("1.5s"), 1.5);
  EXPECT_DOUBLE_EQ(*parse_duration("100ns"), 100e-9);
  EXPECT_DOUBLE_EQ(*parse_duration("0ms"), 0.0);
}

TEST(Units, ParseDurationRejects) {
  for (const char* bad : {"5", "-5ms", "soon", "5 hours", "ms", ".ms"}) {
    auto r = parse_duration(bad);
    EXPECT_FALSE(r.has_value()) << bad;
    if (!r.has_value()) {
      EXPECT_NE(r.error().find(bad), std::string::npos) << r.error();
    }
  }
  EXPECT_NE(parse_duration("5").error().find("missing unit"), std::string::npos);
}

TEST(Units, Format) {
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(3ull << 29), "1.50 GiB");
  EXPECT_EQ(format_bytes(400ull << 20), "400.0 MiB");
  EXPECT_EQ(format_bytes(12ull << 10), "12.0 KiB");
  EXPECT_EQ(format_bytes(UINT64_MAX), "16.0 EiB");
  EXPECT_EQ(format_bandwidth(12.5e6), "100.0 Mbit/s");
  EXPECT_EQ(format_bandwidth(125e6), "1.00 Gbit/s");
  EXPECT_EQ(format_duration(0.005), "5.00 ms");
  EXPECT_EQ(format_duration(1.5), "1.50 s");
  EXPECT_EQ(format_duration(20e-6), "20.0 us");
}

}  // namespace
}  // namespace lingua
