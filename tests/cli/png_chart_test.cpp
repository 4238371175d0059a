// The PNG chart writer read back byte by byte: a valid PNG (signature, IHDR, CRCs, IDAT that
// inflates to the right size), line pixels where the layout says they are, and errors as Status.
#include "cli/png_chart.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>

namespace lingua::cli {
namespace {

namespace fs = std::filesystem;
using Rgb = std::array<uint8_t, 3>;
const Rgb kWhite{255, 255, 255};

fs::path scratch(const std::string& name) {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("lingua-png-chart-test-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  static const struct Cleanup {
    ~Cleanup() { std::error_code ec; fs::remove_all(dir, ec); }
  } cleanup;
  return dir / name;
}

uint32_t be32(const std::vector<uint8_t>& b, size_t at) {
  return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 | uint32_t{b[at + 3]};
}

// A decoded 8-bit RGB PNG whose rows all use filter 0, as the writer makes them.
struct Picture {
  uint32_t width = 0, height = 0;
  std::vector<uint8_t> raw;  // height rows of 1 filter byte + width * 3
  Rgb at(int x, int y) const {
    const size_t i = static_cast<size_t>(y) * (1 + 3 * size_t{width}) + 1 + 3 * static_cast<size_t>(x);
    return {raw[i], raw[i + 1], raw[i + 2]};
  }
};

// Checks the file's structure with gtest assertions and fills `pic`.
void read_png(const fs::path& path, Picture* pic) {
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << path;
  const std::vector<uint8_t> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::vector<uint8_t> sig = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  ASSERT_GE(b.size(), 8u + 25u);
  ASSERT_TRUE(std::equal(sig.begin(), sig.end(), b.begin()));
  std::vector<std::string> types;
  std::vector<uint8_t> idat;
  for (size_t at = 8; at < b.size();) {
    ASSERT_LE(at + 12, b.size());
    const uint32_t len = be32(b, at);
    ASSERT_LE(at + 12 + len, b.size());
    const std::string type(b.begin() + static_cast<long>(at) + 4, b.begin() + static_cast<long>(at) + 8);
    EXPECT_EQ(be32(b, at + 8 + len), static_cast<uint32_t>(crc32(0L, b.data() + at + 4, len + 4))) << type;
    const uint8_t* data = b.data() + at + 8;
    if (type == "IHDR") {
      ASSERT_EQ(len, 13u);
      pic->width = be32(b, at + 8);
      pic->height = be32(b, at + 12);
      EXPECT_EQ(data[8], 8) << "bit depth";
      EXPECT_EQ(data[9], 2) << "colour type RGB";
      EXPECT_EQ(data[12], 0) << "no interlace";
    }
    if (type == "IDAT") idat.insert(idat.end(), data, data + len);
    types.push_back(type);
    at += 12 + len;
  }
  ASSERT_GE(types.size(), 3u);
  EXPECT_EQ(types.front(), "IHDR");
  EXPECT_EQ(types.back(), "IEND");
  const size_t expected = size_t{pic->height} * (1 + 3 * size_t{pic->width});
  pic->raw.assign(expected + 16, 0);  // room to notice extra bytes
  uLongf got = static_cast<uLongf>(pic->raw.size());
  ASSERT_EQ(uncompress(pic->raw.data(), &got, idat.data(), static_cast<uLong>(idat.size())), Z_OK);
  ASSERT_EQ(got, expected);
  pic->raw.resize(expected);
  for (uint32_t y = 0; y < pic->height; ++y) ASSERT_EQ(pic->raw[y * (1 + 3 * size_t{pic->width})], 0) << "row " << y;
}

// True when series colour `c` is within `r` pixels of (x, y).
bool near(const Picture& p, int x, int y, const Rgb& c, int r) {
  for (int dy = -r; dy <= r; ++dy)
    for (int dx = -r; dx <= r; ++dx)
      if (p.at(x + dx, y + dy) == c) return true;
  return false;
}

TEST(PngChart, NiceCeilingIsOneTwoOrFiveTimesAPowerOfTen) {
  EXPECT_DOUBLE_EQ(nice_ceiling(0), 1);
  EXPECT_DOUBLE_EQ(nice_ceiling(-3), 1);
  EXPECT_DOUBLE_EQ(nice_ceiling(std::numeric_limits<double>::quiet_NaN()), 1);
  EXPECT_DOUBLE_EQ(nice_ceiling(0.7), 1);
  EXPECT_DOUBLE_EQ(nice_ceiling(7), 10);
  EXPECT_DOUBLE_EQ(nice_ceiling(10), 10);
  EXPECT_DOUBLE_EQ(nice_ceiling(12.3), 20);
  EXPECT_DOUBLE_EQ(nice_ceiling(40), 50);
  EXPECT_DOUBLE_EQ(nice_ceiling(51), 100);
  EXPECT_NEAR(nice_ceiling(0.0031), 0.005, 1e-15);
  EXPECT_DOUBLE_EQ(nice_ceiling(1.5e6), 2e6);
}

TEST(PngChart, LayoutCoversTheDataWithNiceAxes) {
  const std::vector<LineSeries> series = {{"a", std::vector<double>(50, 3.0)}, {"b", std::vector<double>(20, 7.0)}};
  const LineChartLayout L = line_chart_layout(series, {{120, "late marker"}});
  EXPECT_EQ(L.width, 900);
  EXPECT_EQ(L.height, 450);
  EXPECT_DOUBLE_EQ(L.y_max, 10);
  EXPECT_DOUBLE_EQ(L.y_step, 2);
  EXPECT_GE(L.x_max, 120);  // the marker is past the last point and still on the axis
  EXPECT_GE(L.x_step, 1);
  EXPECT_NEAR(std::remainder(L.x_max, L.x_step), 0, 1e-9);
  EXPECT_DOUBLE_EQ(nice_ceiling(L.x_step), L.x_step);
  EXPECT_EQ(L.x_pixel(0), L.plot_left);
  EXPECT_EQ(L.x_pixel(L.x_max), L.plot_right);
  EXPECT_EQ(L.y_pixel(0), L.plot_bottom);
  EXPECT_EQ(L.y_pixel(L.y_max), L.plot_top);
  EXPECT_LT(0, L.plot_left);
  EXPECT_LT(L.plot_left + 500, L.plot_right);
  EXPECT_LT(L.plot_right, L.width);
  EXPECT_LT(0, L.plot_top);
  EXPECT_LT(L.plot_top + 200, L.plot_bottom);
  EXPECT_LT(L.plot_bottom + 40, L.height);
}

TEST(PngChart, LinesAreDrawnWhereTheLayoutPutsThem) {
  const std::vector<LineSeries> series = {{"flat", std::vector<double>(50, 3.0)},
                                          {"short", std::vector<double>(20, 7.0)},
                                          {"ramp", {0, 10}}};
  const std::vector<ChartMarker> markers = {{30, "migration a->b"}};
  const fs::path path = scratch("lines.png");
  ASSERT_TRUE(write_line_chart_png(path.string(), "Per-token latency", "token", "ms", series, markers).is_ok());
  Picture p;
  ASSERT_NO_FATAL_FAILURE(read_png(path, &p));
  const LineChartLayout L = line_chart_layout(series, markers);
  EXPECT_EQ(p.width, static_cast<uint32_t>(L.width));
  EXPECT_EQ(p.height, static_cast<uint32_t>(L.height));

  const Rgb flat = line_chart_colour(0), shorter = line_chart_colour(1), ramp = line_chart_colour(2);
  EXPECT_NE(flat, shorter);
  for (int x : {5, 12, 25, 40, 49}) {
    EXPECT_EQ(p.at(L.x_pixel(x), L.y_pixel(3.0)), flat) << "x = " << x;
    EXPECT_EQ(p.at(L.x_pixel(x), L.y_pixel(3.0) + 1), flat) << "2 px thick, x = " << x;
  }
  EXPECT_EQ(p.at(L.x_pixel(10), L.y_pixel(7.0)), shorter);
  EXPECT_EQ(p.at(L.x_pixel(19), L.y_pixel(7.0)), shorter);
  EXPECT_EQ(p.at(L.x_pixel(40), L.y_pixel(7.0)), kWhite) << "the short series ends at x = 19";
  EXPECT_TRUE(near(p, L.x_pixel(0.5), L.y_pixel(5.0), ramp, 1)) << "the ramp passes through its middle";
  EXPECT_TRUE(near(p, L.x_pixel(1), L.y_pixel(10.0), ramp, 1));
  EXPECT_EQ(p.at(L.x_pixel(25), L.y_pixel(5.0)), kWhite) << "nothing drawn away from the lines";

  // The marker: a dashed column (ink and gaps) at x = 30 that the same chart without it lacks.
  const fs::path bare_path = scratch("bare.png");
  ASSERT_TRUE(write_line_chart_png(bare_path.string(), "Per-token latency", "token", "ms", series, {}).is_ok());
  Picture bare;
  ASSERT_NO_FATAL_FAILURE(read_png(bare_path, &bare));
  ASSERT_EQ(line_chart_layout(series, {}).x_pixel(30), L.x_pixel(30));
  int inked = 0, gaps = 0, bare_inked = 0;
  for (int y = L.y_pixel(9.0); y < L.y_pixel(7.5); ++y) {  // between the labels and the lines
    (p.at(L.x_pixel(30), y) != kWhite ? inked : gaps)++;
    bare_inked += bare.at(L.x_pixel(30), y) != kWhite;
  }
  EXPECT_GT(inked, 4);
  EXPECT_GT(gaps, 2);
  EXPECT_LT(bare_inked, inked);
}

TEST(PngChart, OnePointSeriesIsADot) {
  const std::vector<LineSeries> series = {{"one", {4.2}}};
  const fs::path path = scratch("dot.png");
  ASSERT_TRUE(write_line_chart_png(path.string(), "t", "x", "y", series, {}).is_ok());
  Picture p;
  ASSERT_NO_FATAL_FAILURE(read_png(path, &p));
  const LineChartLayout L = line_chart_layout(series, {});
  EXPECT_DOUBLE_EQ(L.y_max, 5);
  EXPECT_EQ(p.at(L.x_pixel(0) + 1, L.y_pixel(4.2)), line_chart_colour(0));
}

TEST(PngChart, BadInputIsAnErrorNotACrash) {
  const fs::path path = scratch("bad.png");
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  auto draw = [&](const std::vector<LineSeries>& s, const std::vector<ChartMarker>& m = {}) {
    return write_line_chart_png(path.string(), "t", "x", "y", s, m);
  };
  const Status none = draw({});
  EXPECT_FALSE(none.is_ok());
  EXPECT_NE(none.message().find("no series"), std::string::npos) << none.message();
  const Status empty = draw({{"ok", {1, 2}}, {"hollow", {}}});
  EXPECT_FALSE(empty.is_ok());
  EXPECT_NE(empty.message().find("hollow"), std::string::npos) << empty.message();
  const Status not_a_number = draw({{"n", {1, nan, 2}}});
  EXPECT_FALSE(not_a_number.is_ok());
  EXPECT_NE(not_a_number.message().find("x = 1"), std::string::npos) << not_a_number.message();
  EXPECT_FALSE(draw({{"i", {inf}}}).is_ok());
  EXPECT_FALSE(draw({{"i", {1, -inf}}}).is_ok());
  EXPECT_FALSE(draw({{"neg", {1, -0.5}}}).is_ok());
  EXPECT_FALSE(draw({{"ok", {1}}}, {{nan, "m"}}).is_ok());
  EXPECT_FALSE(draw({{"ok", {1}}}, {{-1, "m"}}).is_ok());
  EXPECT_FALSE(fs::exists(path)) << "nothing written for bad input";

  const std::string nowhere = (scratch("no-such-dir") / "chart.png").string();
  const Status unwritable = write_line_chart_png(nowhere, "t", "x", "y", {{"ok", {1, 2}}}, {});
  EXPECT_FALSE(unwritable.is_ok());
  EXPECT_NE(unwritable.message().find(nowhere), std::string::npos) << unwritable.message();
  const Status directory = write_line_chart_png(scratch("").string(), "t", "x", "y", {{"ok", {1, 2}}}, {});
  EXPECT_FALSE(directory.is_ok());
}

TEST(PngChart, BarChartStillWritesAValidPng) {
  const fs::path path = scratch("bars.png");
  ASSERT_TRUE(write_bar_chart_png(path.string(), "tokens/s", {"measured", "predicted"},
                                  {{"even", {10, 12}}, {"optimized", {15, 14.5}}})
                  .is_ok());
  Picture p;
  ASSERT_NO_FATAL_FAILURE(read_png(path, &p));
  EXPECT_EQ(p.width, 520u);
  EXPECT_EQ(p.height, 430u);
}

TEST(PngChart, BarChartIsWideEnoughForALongTitle) {
  const fs::path path = scratch("bars-long-title.png");
  const std::string title = "tokens/s, 4 stream(s), throughput objective, a title longer than the bars";
  ASSERT_TRUE(write_bar_chart_png(path.string(), title, {"measured", "predicted"}, {{"even", {10, 12}}}).is_ok());
  Picture p;
  ASSERT_NO_FATAL_FAILURE(read_png(path, &p));
  EXPECT_GE(p.width, title.size() * 12);  // 12 pixels per character at the title's scale
  // The title's last characters are drawn: some pixel of its row band near the right edge is ink.
  bool ink = false;
  const int right = static_cast<int>(p.width);
  for (int y = 12; y < 26 && !ink; ++y)
    for (int x = right - 40; x < right - 12 && !ink; ++x) ink = p.at(x, y)[0] < 128;
  EXPECT_TRUE(ink);
}

}  // namespace
}  // namespace lingua::cli
