// ProgressBar drawing.
#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>

namespace lingua::cli {

ProgressBar::ProgressBar(std::string label, Unit unit)
    : label_(std::move(label)), unit_(unit), tty_(isatty(STDERR_FILENO) != 0) {}

void ProgressBar::update(uint64_t done, uint64_t total) {
  const int percent = total == 0 ? 100 : static_cast<int>(done * 100 / total);
  // Off a terminal: the first figure, then every quarter.
  if (percent == last_percent_ || (!tty_ && last_percent_ >= 0 && percent / 25 == last_percent_ / 25 && percent != 100)) return;
  last_percent_ = percent;
  constexpr int kWidth = 30;
  const int filled = percent * kWidth / 100;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(kWidth - filled), '.');
  char amount[64];
  if (unit_ == Unit::kBytes)
    std::snprintf(amount, sizeof amount, "%.1f / %.1f MiB", static_cast<double>(done) / (1 << 20), static_cast<double>(total) / (1 << 20));
  else
    std::snprintf(amount, sizeof amount, "%llu/%llu", static_cast<unsigned long long>(done), static_cast<unsigned long long>(total));
  std::fprintf(stderr, "%s%s [%s] %3d%% (%s)%s", tty_ ? "\r" : "", label_.c_str(), bar.c_str(), percent, amount, tty_ ? "" : "\n");
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (tty_ && last_percent_ >= 0) std::fprintf(stderr, "\n");
}

}  // namespace lingua::cli
