// Inside the interpreter an error unwinds the whole render at once; the public API catches it
// and turns it into a Status ("line 12: filter 'wordwrap' is not supported").
#pragma once
#include <stdexcept>
#include <string>

namespace lingua::jinja {

class TemplateError : public std::runtime_error {
 public:
  TemplateError(int line, const std::string& message)
      : std::runtime_error(message), line_(line) {}
  int line() const { return line_; }

 private:
  int line_;
};

// raise_exception(msg) from the template: its message is shown as written.
class RaisedError : public TemplateError {
 public:
  using TemplateError::TemplateError;
};

}  // namespace lingua::jinja
