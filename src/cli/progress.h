// A one-line progress bar on stderr for long work (synth, quantize), redrawn in place on a
// terminal and printed sparsely otherwise.
#pragma once
#include <cstdint>
#include <string>

namespace lingua::cli {

class ProgressBar {
 public:
  explicit ProgressBar(std::string label);
  void update(uint64_t done, uint64_t total);
  void finish();

 private:
  std::string label_;
  bool tty_;
  int last_percent_ = -1;
};

}  // namespace lingua::cli
