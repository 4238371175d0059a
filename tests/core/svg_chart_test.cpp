// The SVG chart writer read back as XML: well formed (every tag closed, text escaped), bars and
// line points where the layout and the values say, and errors as Status.
#include "core/svg_chart.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <regex>
#include <sstream>

namespace lingua {
namespace {

// A minimal XML reader for what the writer emits: elements with quoted attributes, text, no
// comments or CDATA. Fails on a tag closed out of order, an unclosed one or a raw '<' or '&'.
struct Element {
  std::string name;
  std::map<std::string, std::string> attributes;
  std::string text;
};

::testing::AssertionResult parse_svg(const std::string& xml, std::vector<Element>& out) {
  std::vector<std::string> open;
  std::vector<size_t> open_index;  // into out, beside `open`: text belongs to the innermost element
  size_t at = 0;
  while (at < xml.size()) {
    if (xml[at] != '<') {
      const size_t end = xml.find('<', at);
      const std::string text = xml.substr(at, end - at);
      for (size_t i = 0; i < text.size(); ++i)
        if (text[i] == '&' && !std::regex_search(text.substr(i), std::regex("^&(amp|lt|gt|quot|apos);")))
          return ::testing::AssertionFailure() << "raw & in text: " << text;
      if (!open_index.empty()) out[open_index.back()].text += text;
      if (end == std::string::npos) break;
      at = end;
      continue;
    }
    const size_t close = xml.find('>', at);
    if (close == std::string::npos) return ::testing::AssertionFailure() << "unclosed tag at " << at;
    std::string tag = xml.substr(at + 1, close - at - 1);
    at = close + 1;
    if (tag.empty()) return ::testing::AssertionFailure() << "empty tag";
    if (tag[0] == '/') {
      if (open.empty() || open.back() != tag.substr(1))
        return ::testing::AssertionFailure() << "</" << tag.substr(1) << "> closes " << (open.empty() ? "nothing" : open.back());
      open.pop_back();
      open_index.pop_back();
      continue;
    }
    const bool self_closing = tag.back() == '/';
    if (self_closing) tag.pop_back();
    Element e;
    std::istringstream in(tag);
    in >> e.name;
    static const std::regex attribute("([a-zA-Z0-9:_-]+)=\"([^\"<]*)\"");
    for (std::sregex_iterator it(tag.begin(), tag.end(), attribute), end; it != end; ++it)
      e.attributes[(*it)[1]] = (*it)[2];
    out.push_back(e);
    if (!self_closing) {
      open.push_back(e.name);
      open_index.push_back(out.size() - 1);
    }
  }
  if (!open.empty()) return ::testing::AssertionFailure() << "<" << open.back() << "> never closed";
  if (out.empty() || out.front().name != "svg") return ::testing::AssertionFailure() << "not an <svg> document";
  return ::testing::AssertionSuccess();
}

std::vector<Element> with_class(const std::vector<Element>& all, const std::string& cls) {
  std::vector<Element> r;
  for (const Element& e : all)
    if (e.attributes.count("class") && e.attributes.at("class") == cls) r.push_back(e);
  return r;
}

bool has_text(const std::vector<Element>& all, const std::string& text) {
  for (const Element& e : all)
    if (e.name == "text" && e.text == text) return true;
  return false;
}

TEST(SvgChart, NiceCeilingIsOneTwoOrFiveTimesAPowerOfTen) {
  EXPECT_EQ(nice_ceiling(0), 1);
  EXPECT_EQ(nice_ceiling(-3), 1);
  EXPECT_EQ(nice_ceiling(std::numeric_limits<double>::quiet_NaN()), 1);
  EXPECT_DOUBLE_EQ(nice_ceiling(0.7), 1);
  EXPECT_DOUBLE_EQ(nice_ceiling(1.2), 2);
  EXPECT_DOUBLE_EQ(nice_ceiling(3), 5);
  EXPECT_DOUBLE_EQ(nice_ceiling(5), 5);
  EXPECT_DOUBLE_EQ(nice_ceiling(730), 1000);
  EXPECT_DOUBLE_EQ(nice_ceiling(0.013), 0.02);
}

TEST(SvgChart, BarsAreAsTallAsTheirValuesAndNamed) {
  auto svg = bar_chart_svg("tokens/s <4 streams> & more", {"measured", "predicted"},
                           {{"even", {10, 5}}, {"optimized", {20, 25}}});
  ASSERT_TRUE(svg) << svg.error();
  std::vector<Element> all;
  ASSERT_TRUE(parse_svg(*svg, all)) << *svg;
  const auto bars = with_class(all, "bar");
  ASSERT_EQ(bars.size(), 4u);
  // Heights proportional to the values, the largest (25) the tallest; colours by series.
  const double unit = std::stod(bars[3].attributes.at("height")) / 25;
  const double values[] = {10, 5, 20, 25};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(std::stod(bars[i].attributes.at("height")), values[i] * unit, 0.02) << i;
    EXPECT_EQ(bars[i].attributes.at("fill"), chart_colour(i % 2)) << i;
  }
  EXPECT_TRUE(has_text(all, "tokens/s &lt;4 streams&gt; &amp; more"));
  for (const char* t : {"even", "optimized", "measured", "predicted", "10", "5", "20", "25"}) EXPECT_TRUE(has_text(all, t)) << t;
  EXPECT_EQ(with_class(all, "legend").size(), 2u);
}

TEST(SvgChart, LinePointsAreWhereTheLayoutPutsThem) {
  const std::vector<LineSeries> series = {{"even", {10, 12, 30, 11}}, {"balanced", {9, 9.5}}};
  const std::vector<ChartMarker> markers = {{2, "even: migration a->b"}};
  auto svg = line_chart_svg("ms per token", "token", "ms", series, markers);
  ASSERT_TRUE(svg) << svg.error();
  std::vector<Element> all;
  ASSERT_TRUE(parse_svg(*svg, all)) << *svg;
  const LineChartLayout L = line_chart_layout(series, markers);
  EXPECT_DOUBLE_EQ(L.y_max, 50);
  EXPECT_GE(L.x_max, 3);
  EXPECT_LT(L.plot_left, L.plot_right);
  EXPECT_LT(L.plot_top, L.plot_bottom);
  const auto lines = with_class(all, "series");
  ASSERT_EQ(lines.size(), 2u);
  for (size_t s = 0; s < 2; ++s) {
    EXPECT_EQ(lines[s].attributes.at("stroke"), chart_colour(s));
    std::istringstream points(lines[s].attributes.at("points"));
    std::string point;
    size_t i = 0;
    for (; points >> point; ++i) {
      ASSERT_LT(i, series[s].y.size());
      const size_t comma = point.find(',');
      EXPECT_NEAR(std::stod(point.substr(0, comma)), L.x_at(static_cast<double>(i)), 0.01);
      EXPECT_NEAR(std::stod(point.substr(comma + 1)), L.y_at(series[s].y[i]), 0.01);
    }
    EXPECT_EQ(i, series[s].y.size());
  }
  const auto marker_lines = with_class(all, "marker");
  ASSERT_EQ(marker_lines.size(), 1u);
  EXPECT_NEAR(std::stod(marker_lines[0].attributes.at("x1")), L.x_at(2), 0.01);
  EXPECT_TRUE(has_text(all, "even: migration a-&gt;b"));
  for (const char* t : {"token", "ms", "0", "50", "even", "balanced"}) EXPECT_TRUE(has_text(all, t)) << t;
}

TEST(SvgChart, OnePointSeriesIsADot) {
  auto svg = line_chart_svg("t", "x", "y", {{"one", {4}}}, {});
  ASSERT_TRUE(svg) << svg.error();
  std::vector<Element> all;
  ASSERT_TRUE(parse_svg(*svg, all));
  const auto dots = with_class(all, "series");
  ASSERT_EQ(dots.size(), 1u);
  EXPECT_EQ(dots[0].name, "circle");
}

TEST(SvgChart, BadInputIsAnErrorNotACrash) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  auto expect_error = [](const Expected<std::string>& r, const std::string& words) {
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find(words), std::string::npos) << r.error();
  };
  expect_error(line_chart_svg("t", "x", "y", {}, {}), "no series");
  expect_error(line_chart_svg("t", "x", "y", {{"a", {}}}, {}), "'a' has no points");
  expect_error(line_chart_svg("t", "x", "y", {{"a", {1, nan}}}, {}), "non-finite value at x = 1");
  expect_error(line_chart_svg("t", "x", "y", {{"a", {inf}}}, {}), "non-finite");
  expect_error(line_chart_svg("t", "x", "y", {{"a", {1, -2}}}, {}), "negative value at x = 1");
  expect_error(line_chart_svg("t", "x", "y", {{"a", {1}}}, {{-1, "m"}}), "marker 'm'");
  expect_error(line_chart_svg("t", "x", "y", {{"a", {1}}}, {{nan, "m"}}), "marker 'm'");
  expect_error(bar_chart_svg("t", {}, {}), "no series");
  expect_error(bar_chart_svg("t", {"a"}, {{"g", {1, 2}}}), "2 values for 1 series");
  expect_error(bar_chart_svg("t", {"a"}, {{"g", {nan}}}), "non-finite");
  Status st = write_chart("/nonexistent-dir/x.svg", bar_chart_svg("t", {"a"}, {{"g", {1}}}));
  EXPECT_FALSE(st);
  st = write_chart("/tmp/never-written.svg", bar_chart_svg("t", {}, {}));
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("no series"), std::string::npos);
}

TEST(SvgChart, ALongTitleWidensTheBarChart) {
  const std::string title(200, 'x');
  auto svg = bar_chart_svg(title, {"a"}, {{"g", {1}}});
  ASSERT_TRUE(svg);
  std::vector<Element> all;
  ASSERT_TRUE(parse_svg(*svg, all));
  EXPECT_GE(std::stoi(all.front().attributes.at("width")), 200 * 0.6 * 18);
}

}  // namespace
}  // namespace lingua
