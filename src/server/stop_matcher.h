// Cuts generated text at the first stop string (OpenAI's `stop`): text that could still turn out
// to begin a stop string is held back until it cannot, so a stream never shows part of one.
#pragma once
#include <string>
#include <vector>

namespace lingua::server {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}

  // New text in; the text now safe to show out. After a stop string is found, stopped() is true,
  // the text before it has been returned, and everything later is dropped.
  std::string push(const std::string& text);
  // The end of generation: whatever was held back is safe now.
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace lingua::server
