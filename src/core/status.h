// Errors cross module boundaries as values: Status (ok or a message a user understands) and
// Expected<T> (a value or that Status). No exceptions leave a layer.
#pragma once
#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace lingua {

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  static Status ok() { return Status(); }
  static Status error(std::string message) { return Status(std::move(message)); }

  bool is_ok() const { return !failed_; }
  explicit operator bool() const { return is_ok(); }
  const std::string& message() const { return message_; }

  // Adds context in front of the message: "reading model.gguf: <message>".
  Status with_context(const std::string& context) const {
    return failed_ ? Status(context + ": " + message_) : *this;
  }

 private:
  explicit Status(std::string message) : failed_(true), message_(std::move(message)) {
    if (message_.empty()) message_ = "unknown error";
  }
  bool failed_ = false;
  std::string message_;
};

template <class T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Expected(Status error) : v_(std::move(error)) { assert(!std::get<Status>(v_).is_ok()); }  // NOLINT

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Status& status() const {
    static const Status kOk;
    return has_value() ? kOk : std::get<1>(v_);
  }
  const std::string& error() const { return status().message(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace lingua

#define LINGUA_CONCAT_INNER(a, b) a##b
#define LINGUA_CONCAT(a, b) LINGUA_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function when expr (a Status) failed.
#define LINGUA_TRY(expr)                                   \
  do {                                                     \
    ::lingua::Status lingua_try_status_ = (expr);          \
    if (!lingua_try_status_.is_ok()) return lingua_try_status_; \
  } while (0)

// `LINGUA_ASSIGN_OR_RETURN(auto x, f());` binds the value or returns the error.
#define LINGUA_ASSIGN_OR_RETURN(lhs, expr) \
  LINGUA_ASSIGN_OR_RETURN_IMPL(LINGUA_CONCAT(lingua_expected_, __LINE__), lhs, expr)
#define LINGUA_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.has_value()) return tmp.status();         \
  lhs = std::move(tmp).value()
