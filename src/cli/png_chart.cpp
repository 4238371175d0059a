// PNG: signature, IHDR (8-bit RGB), one zlib-compressed IDAT (filter 0 on every row), IEND.
// Text: the classic 5x7 dot-matrix glyphs, upper case, drawn at 2x.
#include "cli/png_chart.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>

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
    for (char ch : s) {
      auto it = font().find(static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
      if (it != font().end())
        for (int row = 0; row < 7; ++row)
          for (int col = 0; col < 5; ++col)
            if (it->second[static_cast<size_t>(row)] & (0x10 >> col))
              rect(x + col * scale, y + row * scale, x + (col + 1) * scale, y + (row + 1) * scale, c);
      x += 6 * scale;
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
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return Status::error("cannot write " + path);
    const bool ok = std::fwrite(out.data(), 1, out.size(), f) == out.size();
    if (std::fclose(f) != 0 || !ok) return Status::error("cannot write " + path);
    return Status::ok();
  }

 private:
  int w_, h_;
  std::vector<Rgb> px_;
};

std::string short_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : "%.2f", v);
  return buf;
}

}  // namespace

Status write_bar_chart_png(const std::string& path, const std::string& title, const std::vector<std::string>& series,
                           const std::vector<BarGroup>& groups) {
  static const Rgb colours[] = {{78, 121, 167}, {170, 170, 170}, {242, 142, 43}, {89, 161, 79}};
  const int bar_w = 48, gap = 40, left = 40, top = 70, plot_h = 300;
  const int per_group = static_cast<int>(series.size()) * bar_w;
  const int width = std::max(520, left * 2 + static_cast<int>(groups.size()) * (per_group + gap));
  Canvas c(width, top + plot_h + 60);
  double vmax = 0;
  for (const BarGroup& g : groups)
    for (double v : g.values) vmax = std::max(vmax, v);
  if (vmax <= 0) vmax = 1;
  const Rgb ink{30, 30, 30};
  c.text(left, 12, title, 2, ink);
  int lx = left;
  for (size_t s = 0; s < series.size(); ++s) {  // legend
    c.rect(lx, 40, lx + 14, 54, colours[s % 4]);
    c.text(lx + 20, 41, series[s], 2, ink);
    lx += 20 + Canvas::text_width(series[s], 2) + 24;
  }
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

}  // namespace lingua::cli
