// Small charts as PNG files (bars for `bench cluster --plot`, lines over a token index), drawn pixel
// by pixel with a built-in 5x7 font and written with zlib, so no plotting library or font is needed.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace lingua::cli {

struct BarGroup {
  std::string label;          // under the group
  std::vector<double> values; // one bar per series
};

// Grouped bars: one colour per series (named in the legend), value printed above each bar.
Status write_bar_chart_png(const std::string& path, const std::string& title, const std::vector<std::string>& series,
                           const std::vector<BarGroup>& groups);

struct LineSeries {
  std::string name;       // in the legend
  std::vector<double> y;  // one value per x = 0, 1, 2, ... (x is the index, e.g. the token number)
};
struct ChartMarker {
  double x = 0;       // where a vertical dashed line is drawn (same x units as the index)
  std::string label;  // printed at the top of the line, e.g. "migration a->b"
};

// Lines over a shared x axis (index), one colour per series, y axis from 0 to a rounded maximum with
// tick labels, x axis ticks, axis titles, vertical dashed markers with labels. Series may differ in
// length. Errors: no series, a series with no points, a non-finite or negative value, a marker at a
// non-finite or negative x, an unwritable path.
Status write_line_chart_png(const std::string& path, const std::string& title, const std::string& x_title,
                            const std::string& y_title, const std::vector<LineSeries>& series,
                            const std::vector<ChartMarker>& markers);

// Where write_line_chart_png puts things, for the same series and markers (tests check pixels with it).
struct LineChartLayout {
  int width = 0, height = 0;                                          // the image, about 900x450
  int plot_left = 0, plot_top = 0, plot_right = 0, plot_bottom = 0;  // pixels of x = 0 / x_max, y = y_max / 0
  double x_max = 1, x_step = 1;  // the x axis ends at a multiple of its tick step (>= 1)
  double y_max = 1, y_step = 1;  // y_max = 1, 2 or 5 x 10^k, five tick steps
  int x_pixel(double x) const;   // column of x
  int y_pixel(double y) const;   // row of y (clamped to 0..y_max); a 2 px line covers it and the row below
};
LineChartLayout line_chart_layout(const std::vector<LineSeries>& series, const std::vector<ChartMarker>& markers);
std::array<uint8_t, 3> line_chart_colour(size_t series_index);  // RGB of series i's line and legend square
double nice_ceiling(double v);  // smallest 1, 2 or 5 x 10^k >= v; 1 when v <= 0 or not finite

}  // namespace lingua::cli
