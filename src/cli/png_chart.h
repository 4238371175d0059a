// Small charts as PNG files (`bench cluster --plot`), drawn pixel by pixel with a built-in 5x7
// font and written with zlib, so no plotting library or font is needed on a device.
#pragma once
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

}  // namespace lingua::cli
