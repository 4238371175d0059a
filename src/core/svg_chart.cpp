// The SVG chart writer: computes a layout in user units, then emits elements as text. Text widths
// are estimated (0.6 em per character of a sans-serif face) only to keep labels apart.
#include "core/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/output_file.h"

namespace lingua {
namespace {

constexpr const char* kColours[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#9c755f", "#edc948"};
constexpr size_t kColourCount = sizeof kColours / sizeof kColours[0];
constexpr int kFont = 14, kSmallFont = 11;
constexpr int kLineChartW = 900, kLineChartH = 450, kYTicks = 5, kLegendTop = 40, kLegendRow = 20;
constexpr const char* kInk = "#222";

int text_width(const std::string& s, int font) { return static_cast<int>(std::lround(0.6 * font * static_cast<double>(s.size()))); }

double next_nice(double v) {  // 1 -> 2 -> 5 -> 10 ...
  const double p = std::pow(10.0, std::floor(std::log10(v) + 1e-9));
  const double m = v / p;
  return m < 1.5 ? 2 * p : m < 3.5 ? 5 * p : 10 * p;
}

std::string number(double v) {  // tick labels and bar values: short, no trailing zeros
  char buf[32];
  if (v != 0 && (std::fabs(v) >= 1e6 || std::fabs(v) < 1e-3)) std::snprintf(buf, sizeof buf, "%.3g", v);
  else if (std::fabs(v - std::round(v)) < 1e-9) std::snprintf(buf, sizeof buf, "%.0f", v);
  else std::snprintf(buf, sizeof buf, std::fabs(v) >= 100 ? "%.1f" : "%.3g", v);
  return buf;
}

std::string fixed(double v) {  // coordinates: two decimals are finer than any screen
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  std::string s = buf;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s == "-0" ? "0" : s;
}

struct Svg {
  std::string body;
  void text(double x, double y, const std::string& s, int font, const char* anchor = "start",
            const std::string& extra = "") {
    body += "<text x=\"" + fixed(x) + "\" y=\"" + fixed(y) + "\" font-size=\"" + std::to_string(font) +
            "\" text-anchor=\"" + anchor + "\"" + extra + ">" + xml_escaped(s) + "</text>\n";
  }
  void rect(double x, double y, double w, double h, const std::string& fill, const std::string& cls = "") {
    body += "<rect";
    if (!cls.empty()) body.append(" class=\"").append(cls).append("\"");
    body.append(" x=\"").append(fixed(x)).append("\" y=\"").append(fixed(y)).append("\" width=\"").append(fixed(w));
    body.append("\" height=\"").append(fixed(h)).append("\" fill=\"").append(fill).append("\"/>\n");
  }
  void line(double x0, double y0, double x1, double y1, const std::string& stroke, double width,
            const std::string& extra = "") {
    body += "<line x1=\"" + fixed(x0) + "\" y1=\"" + fixed(y0) + "\" x2=\"" + fixed(x1) + "\" y2=\"" + fixed(y1) +
            "\" stroke=\"" + stroke + "\" stroke-width=\"" + fixed(width) + "\"" + extra + "/>\n";
  }
  std::string finish(int width, int height, const std::string& title) const {
    return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
           std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(width) + " " + std::to_string(height) +
           "\" font-family=\"sans-serif\">\n<title>" + xml_escaped(title) + "</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n" +
           body + "</svg>\n";
  }
};

// Legend squares and names in rows from (left, kLegendTop), wrapping at `right`; returns the rows.
int legend(const std::vector<std::string>& names, int left, int right, Svg* svg) {
  int x = left, rows = names.empty() ? 0 : 1;
  for (size_t i = 0; i < names.size(); ++i) {
    const int w = 14 + 6 + text_width(names[i], kFont) + 18;
    if (x > left && x + w > right) x = left, ++rows;
    const int y = kLegendTop + (rows - 1) * kLegendRow;
    if (svg) {
      svg->rect(x, y, 12, 12, chart_colour(i), "legend");
      svg->text(x + 18, y + 11, names[i], kFont);
    }
    x += w;
  }
  return rows;
}

Status check_values(const std::string& what, const std::string& name, const std::vector<double>& values) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i]))
      return Status::error(what + ": series '" + name + "' has a non-finite value at x = " + std::to_string(i));
    if (values[i] < 0)
      return Status::error(what + ": series '" + name + "' has a negative value at x = " + std::to_string(i) +
                           " (the y axis starts at 0)");
  }
  return Status::ok();
}

}  // namespace

std::string xml_escaped(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string chart_colour(size_t series_index) { return kColours[series_index % kColourCount]; }

double nice_ceiling(double v) {
  if (!(v > 0) || !std::isfinite(v)) return 1;
  double nice = std::pow(10.0, std::floor(std::log10(v)) - 1);
  while (nice < v * (1 - 1e-9)) nice = next_nice(nice);
  return nice;
}

Expected<std::string> bar_chart_svg(const std::string& title, const std::vector<std::string>& series,
                                    const std::vector<BarGroup>& groups) {
  if (series.empty()) return Status::error("bar chart: no series to draw");
  for (const BarGroup& g : groups) {
    if (g.values.size() > series.size())
      return Status::error("bar chart: group '" + g.label + "' has " + std::to_string(g.values.size()) +
                           " values for " + std::to_string(series.size()) + " series");
    LINGUA_TRY(check_values("bar chart", g.label, g.values));
  }
  const int bar_w = 48, gap = 40, left = 40, plot_h = 300;
  const int per_group = static_cast<int>(series.size()) * bar_w;
  const int width = std::max({520, left * 2 + static_cast<int>(groups.size()) * (per_group + gap),
                              left + text_width(title, kFont + 4) + 12});
  Svg svg;
  svg.text(left, 26, title, kFont + 4);
  const int rows = legend(series, left, width - left, &svg);
  const int top = kLegendTop + rows * kLegendRow + 10, base = top + plot_h;
  double vmax = 0;
  for (const BarGroup& g : groups)
    for (double v : g.values) vmax = std::max(vmax, v);
  if (vmax <= 0) vmax = 1;
  svg.line(left - 4, base, width - left + 4, base, kInk, 2);
  int x = left + gap / 2;
  for (const BarGroup& g : groups) {
    for (size_t s = 0; s < g.values.size(); ++s) {
      const double h = g.values[s] / vmax * (plot_h - 30);
      const int bx = x + static_cast<int>(s) * bar_w;
      svg.rect(bx + 4, base - h, bar_w - 8, h, chart_colour(s), "bar");
      svg.text(bx + bar_w / 2.0, base - h - 5, number(g.values[s]), kSmallFont, "middle");
    }
    svg.text(x + per_group / 2.0, base + 22, g.label, kFont, "middle");
    x += per_group + gap;
  }
  return svg.finish(width, base + 40, title);
}

double LineChartLayout::x_at(double x) const { return plot_left + x / x_max * (plot_right - plot_left); }

double LineChartLayout::y_at(double y) const {
  return plot_bottom - std::clamp(y, 0.0, y_max) / y_max * (plot_bottom - plot_top);
}

LineChartLayout line_chart_layout(const std::vector<LineSeries>& series, const std::vector<ChartMarker>& markers) {
  LineChartLayout L;
  double x_range = 1, top = 0;
  for (const LineSeries& s : series) {
    if (!s.y.empty()) x_range = std::max(x_range, static_cast<double>(s.y.size() - 1));
    for (double v : s.y)
      if (std::isfinite(v)) top = std::max(top, v);
  }
  for (const ChartMarker& m : markers)
    if (std::isfinite(m.x)) x_range = std::max(x_range, m.x);
  L.width = kLineChartW;
  L.y_max = nice_ceiling(top);
  L.y_step = L.y_max / kYTicks;
  std::vector<std::string> names;
  for (const LineSeries& s : series) names.push_back(s.name);
  L.plot_top = kLegendTop + legend(names, 20, L.width - 20, nullptr) * kLegendRow + 14;
  L.height = std::max(kLineChartH, L.plot_top + 220);
  L.plot_bottom = L.height - 60;
  int label_w = 0;
  for (int i = 0; i <= kYTicks; ++i) label_w = std::max(label_w, text_width(number(L.y_max * i / kYTicks), kFont));
  L.plot_left = 10 + 16 + 12 + label_w + 10;  // y title, gap, tick labels, tick mark
  // About 8 x ticks, at least 1 apart (x is an index) and far enough apart for their labels.
  const int approx_w = L.width - L.plot_left - 40;
  L.x_step = std::max(1.0, nice_ceiling(x_range / 8));
  for (int tries = 0; tries < 64; ++tries, L.x_step = next_nice(L.x_step)) {
    L.x_max = std::ceil(x_range / L.x_step - 1e-9) * L.x_step;
    if (approx_w * L.x_step / L.x_max >= text_width(number(L.x_max), kFont) + 16) break;
  }
  L.plot_right = L.width - std::max(24, text_width(number(L.x_max), kFont) / 2 + 8);
  return L;
}

Expected<std::string> line_chart_svg(const std::string& title, const std::string& x_title, const std::string& y_title,
                                     const std::vector<LineSeries>& series, const std::vector<ChartMarker>& markers) {
  if (series.empty()) return Status::error("line chart: no series to draw");
  for (const LineSeries& s : series) {
    if (s.y.empty()) return Status::error("line chart: series '" + s.name + "' has no points");
    LINGUA_TRY(check_values("line chart", s.name, s.y));
  }
  for (const ChartMarker& m : markers)
    if (!std::isfinite(m.x) || m.x < 0) return Status::error("line chart: marker '" + m.label + "' is not at a finite x >= 0");

  const LineChartLayout L = line_chart_layout(series, markers);
  Svg svg;
  svg.text(20, 26, title, kFont + 4);
  std::vector<std::string> names;
  for (const LineSeries& s : series) names.push_back(s.name);
  legend(names, 20, L.width - 20, &svg);
  for (int i = 0; i <= kYTicks; ++i) {  // y grid, ticks, labels
    const double v = L.y_max * i / kYTicks, y = L.y_at(v);
    if (i > 0) svg.line(L.plot_left, y, L.plot_right, y, "#e1e1e1", 1);
    svg.line(L.plot_left - 8, y, L.plot_left, y, kInk, 2);
    svg.text(L.plot_left - 12, y + 5, number(v), kFont, "end");
  }
  const long x_ticks = std::lround(L.x_max / L.x_step);
  for (long k = 0; k <= x_ticks; ++k) {  // x ticks, labels
    const double v = static_cast<double>(k) * L.x_step, x = L.x_at(v);
    svg.line(x, L.plot_bottom, x, L.plot_bottom + 8, kInk, 2);
    svg.text(x, L.plot_bottom + 24, number(v), kFont, "middle");
  }
  svg.line(L.plot_left, L.plot_top, L.plot_left, L.plot_bottom, kInk, 2);  // axes
  svg.line(L.plot_left, L.plot_bottom, L.plot_right, L.plot_bottom, kInk, 2);
  const double mid_x = (L.plot_left + L.plot_right) / 2.0, mid_y = (L.plot_top + L.plot_bottom) / 2.0;
  svg.text(mid_x, L.plot_bottom + 48, x_title, kFont, "middle");
  svg.text(18, mid_y, y_title, kFont, "middle", " transform=\"rotate(-90 18 " + fixed(mid_y) + ")\"");
  for (const ChartMarker& m : markers)  // dashed verticals under the lines
    svg.line(L.x_at(m.x), L.plot_top, L.x_at(m.x), L.plot_bottom, "#6e6e6e", 2, " stroke-dasharray=\"5 3\" class=\"marker\"");
  for (size_t s = 0; s < series.size(); ++s) {
    const std::vector<double>& y = series[s].y;
    if (y.size() == 1) {
      svg.body += "<circle class=\"series\" cx=\"" + fixed(L.x_at(0)) + "\" cy=\"" + fixed(L.y_at(y[0])) +
                  "\" r=\"2.5\" fill=\"" + chart_colour(s) + "\"/>\n";
      continue;
    }
    std::string points;
    for (size_t i = 0; i < y.size(); ++i) {
      if (i) points += ' ';
      points.append(fixed(L.x_at(static_cast<double>(i)))).append(",").append(fixed(L.y_at(y[i])));
    }
    svg.body += "<polyline class=\"series\" fill=\"none\" stroke=\"" + chart_colour(s) +
                "\" stroke-width=\"2\" stroke-linejoin=\"round\" points=\"" + points + "\"/>\n";
  }
  for (size_t i = 0; i < markers.size(); ++i) {  // labels over everything, on white, staggered
    const double x = L.x_at(markers[i].x);
    const int w = text_width(markers[i].label, kSmallFont);
    const double lx = x + 6 + w <= L.width - 4 ? x + 6 : x - 4 - w, ly = L.plot_top + 12 + static_cast<double>(i % 3) * 14;
    svg.rect(lx - 2, ly - 11, w + 4, 14, "#fff");
    svg.text(lx, ly, markers[i].label, kSmallFont, "start", " fill=\"#6e6e6e\"");
  }
  return svg.finish(L.width, L.height, title);
}

Status write_chart(const std::string& path, const Expected<std::string>& svg) {
  if (!svg) return svg.status();
  return write_output_file(path, *svg);
}

}  // namespace lingua
