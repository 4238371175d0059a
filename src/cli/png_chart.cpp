// PNG: signature, IHDR (8-bit RGB), one zlib-compressed IDAT (filter 0 on every row), IEND.
// Text: the classic 5x7 dot-matrix glyphs, upper case, drawn at 2x (1x for small print).
// Lines: Bresenham, 2 px thick; a line chart's y axis runs from 0 to 1, 2 or 5 x 10^k.
#include "cli/png_chart.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string_view>

#include "core/output_file.h"

namespace lingua::cli {
namespace {

// Rows top to bottom, 5 bits each (bit 4 = leftmost column).
const std::map<char, std::array<uint8_t, 7>>& font() {
  static const std::map<char, std::array<uint8_t, 7>> f = {
      {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
      {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
      {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
      {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
      {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
      {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}}, {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
      {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}}, {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
      {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}}, {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
      {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}}, {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
      {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}}, {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
      {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}}, {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
      {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}}, {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
      {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
      {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}}, {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
      {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}}, {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
      {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
      {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}}, {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
      {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}}, {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
      {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}}, {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
      {'/', {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}}, {':', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}},
      {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}}, {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
      {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}}, {',', {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}},
      {'=', {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}}, {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}},
      {'+', {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}}, {' ', {0, 0, 0, 0, 0, 0, 0}},
      {'<', {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}}, {'>', {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}},
  };
  return f;
}

struct Rgb {
  uint8_t r, g, b;
};

class Canvas {
 public:
  Canvas(int w, int h) : w_(w), h_(h), px_(static_cast<size_t>(w) * static_cast<size_t>(h), Rgb{255, 255, 255}) {}
  int width() const { return w_; }
  int height() const { return h_; }
  void rect(int x0, int y0, int x1, int y1, Rgb c) {
    for (int y = std::max(0, y0); y < std::min(h_, y1); ++y)
      for (int x = std::max(0, x0); x < std::min(w_, x1); ++x) px_[static_cast<size_t>(y) * static_cast<size_t>(w_) + static_cast<size_t>(x)] = c;
  }
  static int text_width(const std::string& s, int scale) { return static_cast<int>(s.size()) * 6 * scale; }
  void text(int x, int y, const std::string& s, int scale, Rgb c) {
    for (size_t i = 0; i < s.size(); ++i)
      each_dot(s[i], [&](int row, int col) {
        const int gx = x + (static_cast<int>(i) * 6 + col) * scale, gy = y + row * scale;
        rect(gx, gy, gx + scale, gy + scale, c);
      });
  }
  // Turned 90 degrees anticlockwise: reads bottom to top, starting at (x, y_bottom).
  void text_up(int x, int y_bottom, const std::string& s, int scale, Rgb c) {
    for (size_t i = 0; i < s.size(); ++i)
      each_dot(s[i], [&](int row, int col) {
        const int gx = x + row * scale, gy = y_bottom - (static_cast<int>(i) * 6 + col + 1) * scale;
        rect(gx, gy, gx + scale, gy + scale, c);
      });
  }
  // Bresenham from (x0, y0) to (x1, y1), each step a 2x2 dot: lines are 2 px thick.
  void line(int x0, int y0, int x1, int y1, Rgb c) {
    const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    for (int err = dx + dy;;) {
      rect(x0, y0, x0 + 2, y0 + 2, c);
      if (x0 == x1 && y0 == y1) return;
      const int e2 = 2 * err;
      if (e2 >= dy) err += dy, x0 += sx;
      if (e2 <= dx) err += dx, y0 += sy;
    }
  }
  Status write_png(const std::string& path) const {
    std::vector<uint8_t> raw;
    raw.reserve(static_cast<size_t>(h_) * (1 + 3 * static_cast<size_t>(w_)));
    for (int y = 0; y < h_; ++y) {
      raw.push_back(0);  // filter: none
      for (int x = 0; x < w_; ++x) {
        const Rgb& p = px_[static_cast<size_t>(y) * static_cast<size_t>(w_) + static_cast<size_t>(x)];
        raw.insert(raw.end(), {p.r, p.g, p.b});
      }
    }
    uLongf packed_size = compressBound(static_cast<uLong>(raw.size()));
    std::vector<uint8_t> packed(packed_size);
    if (compress2(packed.data(), &packed_size, raw.data(), static_cast<uLong>(raw.size()), 9) != Z_OK)
      return Status::error("cannot compress the picture");
    packed.resize(packed_size);
    std::vector<uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    auto be32 = [](std::vector<uint8_t>& v, uint32_t x) {
      for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<uint8_t>(x >> s));
    };
    auto chunk = [&](const char* type, const std::vector<uint8_t>& data) {
      be32(out, static_cast<uint32_t>(data.size()));
      std::vector<uint8_t> body(type, type + 4);
      body.insert(body.end(), data.begin(), data.end());
      out.insert(out.end(), body.begin(), body.end());
      be32(out, static_cast<uint32_t>(crc32(0L, body.data(), static_cast<uInt>(body.size()))));
    };
    std::vector<uint8_t> ihdr;
    be32(ihdr, static_cast<uint32_t>(w_));
    be32(ihdr, static_cast<uint32_t>(h_));
    ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // 8-bit, RGB, deflate, adaptive filters, no interlace
    chunk("IHDR", ihdr);
    chunk("IDAT", packed);
    chunk("IEND", {});
    return write_output_file(path, std::string_view(reinterpret_cast<const char*>(out.data()), out.size()));
  }

 private:
  template <class F>
  static void each_dot(char ch, F&& dot) {
    auto it = font().find(static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
    if (it == font().end()) return;
    for (int row = 0; row < 7; ++row)
      for (int col = 0; col < 5; ++col)
        if (it->second[static_cast<size_t>(row)] & (0x10 >> col)) dot(row, col);
  }
  int w_, h_;
  std::vector<Rgb> px_;
};

std::string short_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : "%.2f", v);
  return buf;
}

const Rgb kInk{30, 30, 30};
constexpr int kLegendTop = 40, kLegendRow = 22;

// Coloured squares with the series names, left to right from `left`, wrapping before `right`.
// Returns the number of rows used.
int legend_rows(const std::vector<std::string>& names, int left, int right, Canvas* c, const Rgb* colours,
                size_t n_colours) {
  int x = left, rows = 1;
  for (size_t s = 0; s < names.size(); ++s) {
    const int w = 20 + Canvas::text_width(names[s], 2);
    if (x > left && x + w > right) x = left, ++rows;
    const int y = kLegendTop + (rows - 1) * kLegendRow;
    if (c) {
      c->rect(x, y, x + 14, y + 14, colours[s % n_colours]);
      c->text(x + 20, y + 1, names[s], 2, kInk);
    }
    x += w + 24;
  }
  return rows;
}

// The tick value with as few decimals as show it exactly ("40", "12.5", "0.25").
std::string tick_label(double v) {
  char buf[48];
  if (v != 0 && (std::fabs(v) >= 1e7 || std::fabs(v) < 1e-4)) {
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
  }
  for (int d = 0; d < 6; ++d) {
    std::snprintf(buf, sizeof buf, "%.*f", d, v);
    if (std::fabs(std::strtod(buf, nullptr) - v) <= 1e-9 * std::max(1.0, std::fabs(v))) break;
  }
  return buf;
}

// The next value in the 1, 2, 5, 10, 20, ... sequence after nice value v.
double next_nice(double v) {
  const double p = std::pow(10.0, std::floor(std::log10(v) + 1e-9));
  const double m = v / p;
  return (m < 1.5 ? 2 : m < 3.5 ? 5 : 10) * p;
}

const Rgb kLineColours[] = {{78, 121, 167}, {225, 87, 89}, {89, 161, 79}, {242, 142, 43},
                            {176, 122, 161}, {118, 183, 178}, {156, 117, 95}, {237, 201, 72}};
constexpr size_t kLineColourCount = sizeof kLineColours / sizeof kLineColours[0];
constexpr int kLineChartW = 900, kLineChartH = 450, kYTicks = 5;

std::vector<std::string> series_names(const std::vector<LineSeries>& series) {
  std::vector<std::string> names;
  for (const LineSeries& s : series) names.push_back(s.name);
  return names;
}

}  // namespace

Status write_bar_chart_png(const std::string& path, const std::string& title, const std::vector<std::string>& series,
                           const std::vector<BarGroup>& groups) {
  static const Rgb colours[] = {{78, 121, 167}, {170, 170, 170}, {242, 142, 43}, {89, 161, 79}};
  const int bar_w = 48, gap = 40, left = 40, top = 70, plot_h = 300;
  const int per_group = static_cast<int>(series.size()) * bar_w;
  // Wide enough for the title too: a long one ("4 stream(s), throughput objective") was cut off.
  const int width = std::max({520, left * 2 + static_cast<int>(groups.size()) * (per_group + gap),
                              left + Canvas::text_width(title, 2) + 12});
  Canvas c(width, top + plot_h + 60);
  double vmax = 0;
  for (const BarGroup& g : groups)
    for (double v : g.values) vmax = std::max(vmax, v);
  if (vmax <= 0) vmax = 1;
  const Rgb ink = kInk;
  c.text(left, 12, title, 2, ink);
  legend_rows(series, left, 1 << 30, &c, colours, 4);  // one row, as the chart widens with the groups
  const int base = top + plot_h;
  c.rect(left - 4, base, width - left + 4, base + 2, ink);
  int x = left + gap / 2;
  for (const BarGroup& g : groups) {
    for (size_t s = 0; s < g.values.size() && s < series.size(); ++s) {
      const int h = static_cast<int>(std::lround(g.values[s] / vmax * (plot_h - 30)));
      const int bx = x + static_cast<int>(s) * bar_w;
      c.rect(bx + 4, base - h, bx + bar_w - 4, base, colours[s % 4]);
      const std::string v = short_number(g.values[s]);
      c.text(bx + (bar_w - Canvas::text_width(v, 1)) / 2, base - h - 12, v, 1, ink);
    }
    c.text(x + (per_group - Canvas::text_width(g.label, 2)) / 2, base + 12, g.label, 2, ink);
    x += per_group + gap;
  }
  return c.write_png(path);
}

double nice_ceiling(double v) {
  if (!(v > 0) || !std::isfinite(v)) return 1;
  double nice = std::pow(10.0, std::floor(std::log10(v)) - 1);
  while (nice < v * (1 - 1e-9)) nice = next_nice(nice);
  return nice;
}

std::array<uint8_t, 3> line_chart_colour(size_t series_index) {
  const Rgb& c = kLineColours[series_index % kLineColourCount];
  return {c.r, c.g, c.b};
}

int LineChartLayout::x_pixel(double x) const {
  return plot_left + static_cast<int>(std::lround(x / x_max * (plot_right - plot_left)));
}

int LineChartLayout::y_pixel(double y) const {
  return plot_bottom - static_cast<int>(std::lround(std::clamp(y, 0.0, y_max) / y_max * (plot_bottom - plot_top)));
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
  const int legend = legend_rows(series_names(series), 20, L.width - 20, nullptr, kLineColours, kLineColourCount);
  L.plot_top = kLegendTop + legend * kLegendRow + 14;
  L.height = std::max(kLineChartH, L.plot_top + 220);
  L.plot_bottom = L.height - 60;
  int label_w = 0;
  for (int i = 0; i <= kYTicks; ++i)
    label_w = std::max(label_w, Canvas::text_width(tick_label(L.y_max * i / kYTicks), 2));
  L.plot_left = 10 + 14 + 12 + label_w + 10;  // y title, gap, tick labels, tick mark
  // About 8 x ticks, at least 1 apart (x is an index) and far enough apart for their labels.
  const int approx_w = L.width - L.plot_left - 40;
  L.x_step = std::max(1.0, nice_ceiling(x_range / 8));
  for (int tries = 0; tries < 64; ++tries, L.x_step = next_nice(L.x_step)) {
    L.x_max = std::ceil(x_range / L.x_step - 1e-9) * L.x_step;
    if (approx_w * L.x_step / L.x_max >= Canvas::text_width(tick_label(L.x_max), 2) + 16) break;
  }
  L.plot_right = L.width - std::max(24, Canvas::text_width(tick_label(L.x_max), 2) / 2 + 8);
  return L;
}

Status write_line_chart_png(const std::string& path, const std::string& title, const std::string& x_title,
                            const std::string& y_title, const std::vector<LineSeries>& series,
                            const std::vector<ChartMarker>& markers) {
  if (series.empty()) return Status::error("line chart: no series to draw");
  for (const LineSeries& s : series) {
    if (s.y.empty()) return Status::error("line chart: series '" + s.name + "' has no points");
    for (size_t i = 0; i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i]))
        return Status::error("line chart: series '" + s.name + "' has a non-finite value at x = " + std::to_string(i));
      if (s.y[i] < 0)
        return Status::error("line chart: series '" + s.name + "' has a negative value at x = " + std::to_string(i) +
                             " (the y axis starts at 0)");
    }
  }
  for (const ChartMarker& m : markers)
    if (!std::isfinite(m.x) || m.x < 0)
      return Status::error("line chart: marker '" + m.label + "' is not at a finite x >= 0");

  const LineChartLayout L = line_chart_layout(series, markers);
  Canvas c(L.width, L.height);
  c.text(20, 12, title, 2, kInk);
  legend_rows(series_names(series), 20, L.width - 20, &c, kLineColours, kLineColourCount);

  const Rgb grid{225, 225, 225}, marker_ink{110, 110, 110};
  for (int i = 0; i <= kYTicks; ++i) {  // y grid, ticks, labels
    const double v = L.y_max * i / kYTicks;
    const int y = L.y_pixel(v);
    if (i > 0) c.rect(L.plot_left, y, L.plot_right + 1, y + 1, grid);
    c.rect(L.plot_left - 8, y, L.plot_left - 2, y + 2, kInk);
    const std::string t = tick_label(v);
    c.text(L.plot_left - 12 - Canvas::text_width(t, 2) + 2, y - 6, t, 2, kInk);
  }
  const long x_ticks = std::lround(L.x_max / L.x_step);
  for (long k = 0; k <= x_ticks; ++k) {  // x ticks, labels
    const double v = static_cast<double>(k) * L.x_step;
    const int x = L.x_pixel(v);
    c.rect(x, L.plot_bottom + 2, x + 2, L.plot_bottom + 8, kInk);
    const std::string t = tick_label(v);
    c.text(x + 1 - (Canvas::text_width(t, 2) - 2) / 2, L.plot_bottom + 12, t, 2, kInk);
  }
  c.rect(L.plot_left - 2, L.plot_top, L.plot_left, L.plot_bottom + 2, kInk);  // axes
  c.rect(L.plot_left - 2, L.plot_bottom, L.plot_right + 2, L.plot_bottom + 2, kInk);
  const int mid_x = (L.plot_left + L.plot_right) / 2, mid_y = (L.plot_top + L.plot_bottom) / 2;
  c.text(mid_x - Canvas::text_width(x_title, 2) / 2, L.plot_bottom + 36, x_title, 2, kInk);
  c.text_up(10, std::min(L.height - 4, mid_y + Canvas::text_width(y_title, 2) / 2), y_title, 2, kInk);

  for (const ChartMarker& m : markers) {  // dashed verticals under the lines
    const int x = L.x_pixel(m.x);
    for (int y = L.plot_top; y < L.plot_bottom; y += 8) c.rect(x, y, x + 2, std::min(y + 5, L.plot_bottom), marker_ink);
  }
  for (size_t s = 0; s < series.size(); ++s) {
    const Rgb colour = kLineColours[s % kLineColourCount];
    const std::vector<double>& y = series[s].y;
    int px = L.x_pixel(0), py = L.y_pixel(y[0]);
    if (y.size() == 1) c.rect(px - 1, py - 1, px + 3, py + 3, colour);
    for (size_t i = 1; i < y.size(); ++i) {
      const int nx = L.x_pixel(static_cast<double>(i)), ny = L.y_pixel(y[i]);
      c.line(px, py, nx, ny, colour);
      px = nx, py = ny;
    }
  }
  for (size_t i = 0; i < markers.size(); ++i) {  // labels over everything, on white, staggered
    const int x = L.x_pixel(markers[i].x), w = Canvas::text_width(markers[i].label, 1);
    const int lx = x + 6 + w <= L.width - 4 ? x + 6 : x - 4 - w, ly = L.plot_top + 4 + static_cast<int>(i % 3) * 12;
    c.rect(lx - 2, ly - 2, lx + w + 1, ly + 9, Rgb{255, 255, 255});
    c.text(lx, ly, markers[i].label, 1, marker_ink);
  }
  return c.write_png(path);
}

}  // namespace lingua::cli
