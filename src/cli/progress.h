// A one-line progress bar on stderr for long work (synth, quantize), redrawn in place on a
// terminal and printed sparsely otherwise.
#pragma once
#include <cstdint>
#include <string>

namespace lingua::cli {

class ProgressBar {
 public:
  // What `done` and `total` count: bytes (shown in MiB) or steps of work (shown as "3/10").
  enum class Unit { kBytes, kSteps };
  explicit ProgressBar(std::string label, Unit unit = Unit::kBytes);
  void update(uint64_t done, uint64_t total);
  void finish();

 private:
  std::string label_;
  Unit unit_;
  bool tty_;
  int last_percent_ = -1;
};

}  // namespace lingua::cli
