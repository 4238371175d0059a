// GGUF metadata values: typed access with checked numeric conversion (files disagree on which
// integer width a key uses), and the short human-readable form `lingua info` prints.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "model/gguf.h"

namespace lingua::gguf {
namespace {

// The variant alternative is what counts; `type` only says how the file stored it. Reading through
// the alternative keeps a hand-built Value with a mismatched pair from being misread.
const uint64_t* get_u(const Value& v) { return std::get_if<uint64_t>(&v.data); }
const int64_t* get_i(const Value& v) { return std::get_if<int64_t>(&v.data); }
const double* get_d(const Value& v) { return std::get_if<double>(&v.data); }

std::string float_text(double d, bool single) {
  char buf[64];
  const auto res = single ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(d))
                          : std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, res.ptr);
}

std::string found(const Value& v) {
  std::string what = std::string("found ") + value_type_name(v.type);
  if (v.type != ValueType::STRING && v.type != ValueType::ARRAY) {
    what += ' ';
    what += v.to_display(3);
  }
  return what;
}

Status expected(const char* want, const Value& v) {
  return Status::error(std::string("expected ") + want + ", " + found(v));
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not one.
size_t utf8_length(const std::string& s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  return n;
}

// Appends the escaped form of bytes to out, stopping before max_bytes of input; returns how many
// input bytes it used.
size_t escape_into(std::string& out, const std::string& bytes, size_t max_bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    const size_t n = utf8_length(bytes, i);
    if (i + std::max<size_t>(n, 1) > max_bytes) break;  // never cut a character in half
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (n == 0 || c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out.append(bytes, i, n);
      i += n;
      continue;
    }
    ++i;
  }
  return i;
}

std::string cut_note(size_t total) { return "... (" + std::to_string(total) + " bytes)"; }

}  // namespace

std::string printable(const std::string& bytes, size_t max_bytes) {
  std::string out;
  if (escape_into(out, bytes, max_bytes) < bytes.size()) out += cut_note(bytes.size());
  return out;
}

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::UINT8: return "u8";
    case ValueType::INT8: return "i8";
    case ValueType::UINT16: return "u16";
    case ValueType::INT16: return "i16";
    case ValueType::UINT32: return "u32";
    case ValueType::INT32: return "i32";
    case ValueType::FLOAT32: return "f32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "string";
    case ValueType::ARRAY: return "array";
    case ValueType::UINT64: return "u64";
    case ValueType::INT64: return "i64";
    case ValueType::FLOAT64: return "f64";
  }
  return "unknown";
}

Expected<uint64_t> Value::as_u64() const {
  if (const uint64_t* u = get_u(*this)) return *u;
  if (const int64_t* i = get_i(*this)) {
    if (*i < 0) return Status::error("value " + std::to_string(*i) + " is negative, expected an unsigned integer");
    return static_cast<uint64_t>(*i);
  }
  if (const double* d = get_d(*this)) {
    // 2^64 is exactly representable; anything below it that is integral converts exactly.
    if (!(*d >= 0.0 && *d < 18446744073709551616.0) || std::trunc(*d) != *d)
      return Status::error("value " + float_text(*d, false) + " is not an unsigned integer");
    return static_cast<uint64_t>(*d);
  }
  return expected("an unsigned integer", *this);
}

Expected<int64_t> Value::as_i64() const {
  if (const int64_t* i = get_i(*this)) return *i;
  if (const uint64_t* u = get_u(*this)) {
    if (*u > static_cast<uint64_t>(INT64_MAX))
      return Status::error("value " + std::to_string(*u) + " does not fit a signed 64-bit integer");
    return static_cast<int64_t>(*u);
  }
  if (const double* d = get_d(*this)) {
    if (!(*d >= -9223372036854775808.0 && *d < 9223372036854775808.0) || std::trunc(*d) != *d)
      return Status::error("value " + float_text(*d, false) + " is not a 64-bit integer");
    return static_cast<int64_t>(*d);
  }
  return expected("an integer", *this);
}

Expected<double> Value::as_f64() const {
  if (const double* d = get_d(*this)) return *d;
  if (const uint64_t* u = get_u(*this)) return static_cast<double>(*u);
  if (const int64_t* i = get_i(*this)) return static_cast<double>(*i);
  return expected("a number", *this);
}

Expected<bool> Value::as_bool() const {
  if (const bool* b = std::get_if<bool>(&data)) return *b;
  return expected("a bool", *this);
}

Expected<std::string> Value::as_string() const {
  if (const std::string* s = std::get_if<std::string>(&data)) return *s;
  return expected("a string", *this);
}

const Array* Value::as_array() const {
  const auto* a = std::get_if<std::shared_ptr<Array>>(&data);
  return a ? a->get() : nullptr;
}

std::string Value::to_display(size_t max_items) const {
  if (const Array* a = as_array()) {
    const size_t n = a->items.size();
    std::string out = "[";
    out += std::to_string(n);
    out += n == 1 ? " item" : " items";
    for (size_t i = 0; i < n && i < max_items; ++i) {
      out += i == 0 ? ": " : ", ";
      out += a->items[i].to_display(max_items);
    }
    if (n > max_items) out += max_items == 0 ? ": ..." : ", ...";
    return out + "]";
  }
  if (const uint64_t* u = get_u(*this)) return std::to_string(*u);
  if (const int64_t* i = get_i(*this)) return std::to_string(*i);
  if (const double* d = get_d(*this)) return float_text(*d, type == ValueType::FLOAT32);
  if (const bool* b = std::get_if<bool>(&data)) return *b ? "true" : "false";
  if (const std::string* s = std::get_if<std::string>(&data)) {
    std::string out = "\"";
    const size_t used = escape_into(out, *s, 80);
    out += '"';
    if (used < s->size()) out += cut_note(s->size());
    return out;
  }
  return "(null array)";
}

Value Value::u8(uint8_t v) { return Value{ValueType::UINT8, uint64_t{v}}; }
Value Value::i8(int8_t v) { return Value{ValueType::INT8, int64_t{v}}; }
Value Value::u16(uint16_t v) { return Value{ValueType::UINT16, uint64_t{v}}; }
Value Value::i16(int16_t v) { return Value{ValueType::INT16, int64_t{v}}; }
Value Value::u32(uint32_t v) { return Value{ValueType::UINT32, uint64_t{v}}; }
Value Value::i32(int32_t v) { return Value{ValueType::INT32, int64_t{v}}; }
Value Value::u64(uint64_t v) { return Value{ValueType::UINT64, v}; }
Value Value::i64(int64_t v) { return Value{ValueType::INT64, v}; }
Value Value::f32(float v) { return Value{ValueType::FLOAT32, double{v}}; }
Value Value::f64(double v) { return Value{ValueType::FLOAT64, v}; }
Value Value::boolean(bool v) { return Value{ValueType::BOOL, v}; }
Value Value::str(std::string v) { return Value{ValueType::STRING, std::move(v)}; }
Value Value::array(ValueType element_type, std::vector<Value> items) {
  auto a = std::make_shared<Array>();
  a->element_type = element_type;
  a->items = std::move(items);
  return Value{ValueType::ARRAY, std::move(a)};
}

}  // namespace lingua::gguf
