// Parsing and formatting of the quantities in devices files: a non-negative decimal number
// followed by a unit from a small fixed table; anything else is an error naming the text.
#include "plan/units.h"

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string_view>

namespace lingua {
namespace {

struct Unit {
  std::string_view name;
  double scale;  // to bytes, bytes per second or seconds
};

constexpr double kKi = 1024.0, kMi = kKi * 1024.0, kGi = kMi * 1024.0, kTi = kGi * 1024.0;

constexpr std::array kSizeUnits = {
    Unit{"B", 1.0},    Unit{"KB", 1e3},  Unit{"kB", 1e3},  Unit{"MB", 1e6},  Unit{"GB", 1e9},
    Unit{"TB", 1e12},  Unit{"KiB", kKi}, Unit{"MiB", kMi}, Unit{"GiB", kGi}, Unit{"TiB", kTi},
};
constexpr std::array kBandwidthUnits = {
    Unit{"B/s", 1.0},        Unit{"KB/s", 1e3},       Unit{"kB/s", 1e3},       Unit{"MB/s", 1e6},
    Unit{"GB/s", 1e9},       Unit{"KiB/s", kKi},      Unit{"MiB/s", kMi},      Unit{"GiB/s", kGi},
    Unit{"bit/s", 1.0 / 8},  Unit{"Kbit/s", 1e3 / 8}, Unit{"kbit/s", 1e3 / 8}, Unit{"Mbit/s", 1e6 / 8},
    Unit{"Gbit/s", 1e9 / 8}, Unit{"bps", 1.0 / 8},    Unit{"Kbps", 1e3 / 8},   Unit{"kbps", 1e3 / 8},
    Unit{"Mbps", 1e6 / 8},   Unit{"Gbps", 1e9 / 8},
};
constexpr std::array kDurationUnits = {
    Unit{"ns", 1e-9}, Unit{"us", 1e-6}, Unit{"ms", 1e-3}, Unit{"s", 1.0}, Unit{"min", 60.0},
};

std::string quoted(const std::string& text) {
  std::string out = "'";
  out += text;
  out += "'";
  return out;
}

// A number and a unit, split: "1.5GiB" -> number_text "1.5", unit "GiB". Whitespace around
// the whole and between the two is allowed.
struct Split {
  std::string_view number, unit;
};

Split split_number(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.' || s[i] == '-' ||
                          s[i] == '+'))
    ++i;
  Split out{s.substr(0, i), s.substr(i)};
  while (!out.unit.empty() && std::isspace(static_cast<unsigned char>(out.unit.front())))
    out.unit.remove_prefix(1);
  return out;
}

// `what` is "size", "bandwidth" or "duration"; `examples` what a good one looks like.
template <size_t N>
Expected<double> parse_quantity(const std::string& text, const char* what, const char* examples,
                                const std::array<Unit, N>& units, bool unit_required,
                                bool* had_fraction = nullptr, std::string_view* number_out = nullptr,
                                double* scale_out = nullptr) {
  std::string head = "bad ";
  head += what;
  head += " ";
  head += quoted(text);
  head += ": ";
  const Split sp = split_number(text);
  if (sp.number.empty() && sp.unit.empty()) {
    std::string msg = "empty ";
    msg += what;
    msg += " (expected e.g. ";
    msg += examples;
    msg += ")";
    return Status::error(msg);
  }
  if (!sp.number.empty() && sp.number.front() == '-') {
    std::string msg = head;
    msg += "must not be negative";
    return Status::error(msg);
  }
  // Digits with at most one '.', at least one digit, no sign.
  size_t digits = 0, dots = 0;
  bool only_digits_and_dot = true;
  for (char c : sp.number) {
    if (std::isdigit(static_cast<unsigned char>(c)))
      ++digits;
    else if (c == '.')
      ++dots;
    else
      only_digits_and_dot = false;
  }
  if (digits == 0 || dots > 1 || !only_digits_and_dot) {
    std::string msg = head;
    msg += "expected a number followed by a unit, e.g. ";
    msg += examples;
    return Status::error(msg);
  }
  double scale = 0;
  if (sp.unit.empty()) {
    if (unit_required) {
      std::string msg = head;
      msg += "missing unit (e.g. ";
      msg += examples;
      msg += ")";
      return Status::error(msg);
    }
    scale = 1.0;
  } else {
    for (const Unit& u : units)
      if (u.name == sp.unit) scale = u.scale;
    if (scale == 0) {
      std::string msg = head;
      msg += "unknown unit '";
      msg += sp.unit;
      msg += "' (known:";
      for (const Unit& u : units) {
        msg += " ";
        msg += u.name;
      }
      msg += ")";
      return Status::error(msg);
    }
  }
  double value = 0;
  const auto [end, ec] = std::from_chars(sp.number.data(), sp.number.data() + sp.number.size(), value);
  if (ec != std::errc() || end != sp.number.data() + sp.number.size() || !std::isfinite(value) ||
      !std::isfinite(value * scale)) {
    std::string msg = head;
    msg += "number out of range";
    return Status::error(msg);
  }
  if (had_fraction) *had_fraction = dots > 0;
  if (number_out) *number_out = sp.number;
  if (scale_out) *scale_out = scale;
  return value * scale;
}

std::string fixed3(double v, const char* unit) {
  // Three significant digits for values >= 1: 1.50, 12.5, 400.0 (one decimal kept at >= 100).
  char buf[64];
  const int decimals = v < 10 ? 2 : 1;
  std::snprintf(buf, sizeof buf, "%.*f %s", decimals, v, unit);
  return buf;
}

}  // namespace

Expected<uint64_t> parse_size(const std::string& text) {
  const char* examples = "400MiB, 1.5GiB, 2GB or a number of bytes";
  bool fraction = false;
  std::string_view number;
  double scale = 0;
  LINGUA_ASSIGN_OR_RETURN(const double bytes,
                          parse_quantity(text, "size", examples, kSizeUnits, false, &fraction, &number, &scale));
  std::string head = "bad size ";
  head += quoted(text);
  head += ": ";
  if (fraction && scale == 1.0) {
    std::string msg = head;
    msg += "a number of bytes must be whole";
    return Status::error(msg);
  }
  if (!fraction) {
    // Exact integer arithmetic, so 2^64-1 bytes is not rounded through a double.
    uint64_t n = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), n);
    const auto mult = static_cast<uint64_t>(scale);
    if (ec != std::errc() || end != number.data() + number.size() || (mult != 0 && n > UINT64_MAX / mult)) {
      std::string msg = head;
      msg += "too large (more than 2^64 bytes)";
      return Status::error(msg);
    }
    return n * mult;
  }
  const double rounded = std::round(bytes);
  if (rounded >= 18446744073709551616.0) {
    std::string msg = head;
    msg += "too large (more than 2^64 bytes)";
    return Status::error(msg);
  }
  return static_cast<uint64_t>(rounded);
}

Expected<double> parse_bandwidth(const std::string& text) {
  return parse_quantity(text, "bandwidth", "100Mbit/s, 1Gbit/s, 500MB/s, 12.5MiB/s", kBandwidthUnits, true);
}

Expected<double> parse_duration(const std::string& text) {
  return parse_quantity(text, "duration", "5ms, 20us, 1.5s", kDurationUnits, true);
}

std::string format_bytes(uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  const char* names[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes) / 1024.0;
  size_t i = 0;
  while (v >= 1024.0 && i + 1 < std::size(names)) {
    v /= 1024.0;
    ++i;
  }
  return fixed3(v, names[i]);
}

std::string format_bandwidth(double bytes_per_s) {
  const double bits = bytes_per_s * 8;
  if (bits >= 1e9) return fixed3(bits / 1e9, "Gbit/s");
  if (bits >= 1e6) return fixed3(bits / 1e6, "Mbit/s");
  if (bits >= 1e3) return fixed3(bits / 1e3, "Kbit/s");
  return fixed3(bits, "bit/s");
}

std::string format_duration(double seconds) {
  if (seconds >= 1.0) return fixed3(seconds, "s");
  if (seconds >= 1e-3) return fixed3(seconds * 1e3, "ms");
  if (seconds >= 1e-6) return fixed3(seconds * 1e6, "us");
  return fixed3(seconds * 1e9, "ns");
}

}  // namespace lingua
