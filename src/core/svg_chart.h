// Small charts as SVG text (grouped bars for `bench cluster --plot`, lines over a token index for
// `--plot-latency`, and the server dashboard's live charts), so one drawing code serves files and
// web pages, text stays text, and no plotting library or font is needed.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "core/status.h"

namespace lingua {

struct BarGroup {
  std::string label;           // under the group
  std::vector<double> values;  // one bar per series
};

struct LineSeries {
  std::string name;       // in the legend
  std::vector<double> y;  // one value per x = 0, 1, 2, ... (x is the index, e.g. the token number)
};

struct ChartMarker {
  double x = 0;       // where a vertical dashed line is drawn (same x units as the index)
  std::string label;  // printed at the top of the line, e.g. "migration a->b"
};

// Grouped bars: one colour per series (named in the legend), the value printed above each bar.
// Errors: no series, a group with more values than series, a non-finite or negative value.
Expected<std::string> bar_chart_svg(const std::string& title, const std::vector<std::string>& series,
                                    const std::vector<BarGroup>& groups);

// Lines over a shared x axis (index), one colour per series, y from 0 to a rounded maximum with
// tick labels, x ticks, axis titles, vertical dashed markers with labels. Series may differ in
// length. Errors: no series, a series with no points, a non-finite or negative value, a marker at
// a non-finite or negative x.
Expected<std::string> line_chart_svg(const std::string& title, const std::string& x_title, const std::string& y_title,
                                     const std::vector<LineSeries>& series, const std::vector<ChartMarker>& markers);

// Writes a chart through OutputFile (never over a FIFO or device, never half a file).
Status write_chart(const std::string& path, const Expected<std::string>& svg);

// Where line_chart_svg puts things (SVG user units; tests check the drawn points with it).
struct LineChartLayout {
  int width = 0, height = 0;                                          // the picture, about 900x450
  int plot_left = 0, plot_top = 0, plot_right = 0, plot_bottom = 0;  // x = 0 / x_max, y = y_max / 0
  double x_max = 1, x_step = 1;  // the x axis ends at a multiple of its tick step (>= 1)
  double y_max = 1, y_step = 1;  // y_max = 1, 2 or 5 x 10^k, five tick steps
  double x_at(double x) const;   // horizontal coordinate of x
  double y_at(double y) const;   // vertical coordinate of y (clamped to 0..y_max)
};
LineChartLayout line_chart_layout(const std::vector<LineSeries>& series, const std::vector<ChartMarker>& markers);
std::string chart_colour(size_t series_index);  // "#rrggbb" of series i's line, bar and legend square
double nice_ceiling(double v);                  // smallest 1, 2 or 5 x 10^k >= v; 1 when v <= 0 or not finite
std::string xml_escaped(const std::string& text);  // &, <, >, " and ' as entities

}  // namespace lingua
