// Devices file parsing on yaml-cpp: every value is checked for type and range and every key
// against the allowed ones, so a typo is an error naming the file and line, not a silent default.
#include "plan/devices_file.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <system_error>

#include "core/endpoint.h"
#include "core/file_kind.h"
#include "core/printable.h"
#include "plan/units.h"

namespace lingua {

const DeviceSpec* DevicesFile::find(const std::string& name) const {
  for (const auto& d : devices)
    if (d.name == name) return &d;
  return nullptr;
}

LinkSpec DevicesFile::link(const std::string& a, const std::string& b) const {
  for (const auto& [x, y, spec] : pair_links)
    if ((x == a && y == b) || (x == b && y == a)) return spec;
  return default_link;
}

namespace {

constexpr uint64_t kMaxFileBytes = 16u << 20;  // a devices file is a few KiB; refuse anything huge
constexpr int kMaxThreads = 1024;

int line_of(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.line >= 0 ? mark.line + 1 : 0;
}

// "'abc'", "a map", "a list", "nothing": what a node is, for "got ..." in messages.
std::string describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a map";
  std::string out = "'";
  out += node.Scalar();
  out += "'";
  return out;
}

std::string quote(const std::string& text) {
  std::string out = "'";
  out += text;
  out += "'";
  return out;
}

std::string join(std::initializer_list<const char*> names) {
  std::string out;
  for (const char* n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

std::optional<double> to_double(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return std::nullopt;
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<int64_t> to_int(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return std::nullopt;
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (unsigned char c : name)
    if (!(std::isalnum(c) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

class Parser {
 public:
  explicit Parser(std::string source) : source_(std::move(source)) {}

  Expected<DevicesFile> parse(const std::string& text) {
    try {
      return parse_root(YAML::Load(text));
    } catch (const YAML::Exception& e) {
      const int line = e.mark.line >= 0 ? e.mark.line + 1 : 0;
      std::string msg = "YAML syntax error: ";
      msg += e.msg;
      return error_at(line, msg);
    } catch (const std::exception& e) {
      std::string msg = "cannot parse: ";
      msg += e.what();
      return error_at(0, msg);
    } catch (...) {
      return error_at(0, "cannot parse: unknown error in the YAML reader");
    }
  }

 private:
  // "source:line: context: message"; without a line when yaml-cpp gave none.
  Status error_at(int line, const std::string& message) const {
    std::string out = source_;
    if (line > 0) {
      out += ":";
      out += std::to_string(line);
    }
    out += ": ";
    out += context_;
    out += message;
    return Status::error(out);
  }
  Status error(const YAML::Node& node, const std::string& message) const {
    return error_at(line_of(node), message);
  }

  // Every key of `map` is a plain name, appears once, and is one of `allowed`.
  Status check_keys(const YAML::Node& map, const char* where, std::initializer_list<const char*> allowed) {
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node key = it->first;
      if (!key.IsScalar()) {
        std::string msg = "keys must be plain names, got ";
        msg += describe(key);
        msg += " as a key in ";
        msg += where;
        return error(key, msg);
      }
      const std::string& name = key.Scalar();
      bool ok = false;
      for (const char* a : allowed) ok = ok || name == a;
      if (!ok) {
        std::string msg = "unknown key '";
        msg += name;
        msg += "' in ";
        msg += where;
        msg += " (allowed: ";
        msg += join(allowed);
        msg += ")";
        return error(key, msg);
      }
      if (!seen.insert(name).second) {
        std::string msg = "key '";
        msg += name;
        msg += "' appears twice in ";
        msg += where;
        return error(key, msg);
      }
    }
    return Status::ok();
  }

  Status require_scalar(const YAML::Node& key, const YAML::Node& value) {
    if (value.IsScalar()) return Status::ok();
    std::string msg = "'";
    msg += key.Scalar();
    msg += "' must be a single value, got ";
    msg += describe(value);
    return error(key, msg);
  }

  Expected<double> number_value(const YAML::Node& key, const YAML::Node& value) {
    LINGUA_TRY(require_scalar(key, value));
    const std::string& text = value.Scalar();
    const auto v = to_double(text);
    if (!v) {
      std::string msg = "'";
      msg += key.Scalar();
      msg += "' must be a number, got '";
      msg += text;
      msg += "'";
      return error(key, msg);
    }
    return *v;
  }

  Expected<int64_t> int_value(const YAML::Node& key, const YAML::Node& value) {
    LINGUA_TRY(require_scalar(key, value));
    const std::string& text = value.Scalar();
    const auto v = to_int(text);
    if (!v) {
      std::string msg = "'";
      msg += key.Scalar();
      msg += "' must be a whole number, got '";
      msg += text;
      msg += "'";
      return error(key, msg);
    }
    return *v;
  }

  // A unit parser's error, prefixed with the key it came from and placed at its line.
  template <class T>
  Expected<T> with_key(const YAML::Node& key, Expected<T> parsed) {
    if (parsed) return parsed;
    std::string msg = "'";
    msg += key.Scalar();
    msg += "': ";
    msg += parsed.error();
    return error(key, msg);
  }

  Status range_error(const YAML::Node& key, const std::string& value, const char* rule) {
    std::string msg = "'";
    msg += key.Scalar();
    msg += "' ";
    msg += rule;
    msg += ", got ";
    msg += value;
    return error(key, msg);
  }

  static std::string num(double v) {
    std::ostringstream os;
    os << v;
    return os.str();
  }

  Expected<DevicesFile> parse_root(const YAML::Node& root) {
    DevicesFile file;
    file.source = source_;
    const char* shape = "the top level must be a map with 'devices:' (a non-empty list) and optional 'links:'";
    if (!root.IsMap()) {
      std::string msg = shape;
      msg += ", got ";
      msg += describe(root);
      return error_at(std::max(line_of(root), 1), msg);
    }
    LINGUA_TRY(check_keys(root, "the top level", {"devices", "links"}));
    const YAML::Node devices = root["devices"];
    if (!devices.IsDefined()) return error_at(std::max(line_of(root), 1), std::string("no 'devices:' list: ") + shape);
    if (!devices.IsSequence() || devices.size() == 0) {
      std::string msg = "'devices' must be a non-empty list of devices, got ";
      msg += devices.IsSequence() ? std::string("an empty list") : describe(devices);
      return error(devices.IsNull() ? root : devices, msg);
    }
    std::map<std::string, int> first_line;
    std::map<std::string, const DeviceSpec*> on_endpoint;  // canonical endpoint -> its first device
    file.devices.reserve(devices.size());                   // keeps those pointers valid
    size_t index = 0;
    for (const YAML::Node& d : devices) {
      ++index;
      LINGUA_ASSIGN_OR_RETURN(DeviceSpec spec, parse_device(d, index));
      const auto [it, fresh] = first_line.emplace(spec.name, spec.line);
      if (!fresh) {
        std::string msg = "duplicate device name '";
        msg += spec.name;
        msg += "' (first declared at line ";
        msg += std::to_string(it->second);
        msg += ")";
        return error_at(spec.line, msg);
      }
      if (!spec.endpoint.empty()) {
        // One worker serves one device: a second device there would be a second head's work.
        const std::string where = parse_endpoint(spec.endpoint, EndpointUse::kConnect)->canonical();
        if (const auto seen = on_endpoint.find(where); seen != on_endpoint.end()) {
          const DeviceSpec& other = *seen->second;
          std::string msg = "device '";
          msg += spec.name;
          msg += "' has endpoint '";
          msg += spec.endpoint;
          msg += "', the same as device '";
          msg += other.name;
          msg += "' (";
          msg += other.endpoint;
          msg += ", line ";
          msg += std::to_string(other.line);
          msg += "): each device needs its own worker";
          return error_at(spec.line, msg);
        }
      }
      file.devices.push_back(std::move(spec));
      const DeviceSpec& added = file.devices.back();
      if (!added.endpoint.empty())
        on_endpoint.emplace(parse_endpoint(added.endpoint, EndpointUse::kConnect)->canonical(), &added);
    }
    const YAML::Node links = root["links"];
    if (links.IsDefined() && !links.IsNull()) LINGUA_TRY(parse_links(links, file));
    return file;
  }

  Expected<DeviceSpec> parse_device(const YAML::Node& node, size_t index) {
    context_.clear();
    DeviceSpec spec;
    spec.line = std::max(line_of(node), 1);
    if (!node.IsMap()) {
      std::string msg = "device #";
      msg += std::to_string(index);
      msg += " must be a map (name:, memory:, ...), got ";
      msg += describe(node);
      return error_at(spec.line, msg);
    }
    // The name first, so every later message can say which device it is about.
    const YAML::Node name = node["name"];
    if (!name.IsDefined()) {
      std::string msg = "device #";
      msg += std::to_string(index);
      msg += " has no 'name'";
      return error_at(spec.line, msg);
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() == "name") {
        LINGUA_TRY(require_scalar(it->first, it->second));
        spec.name = it->second.Scalar();
        if (!valid_name(spec.name)) {
          std::string msg = "device name '";
          msg += spec.name;
          msg += "' must be 1-64 letters, digits, '-', '_' or '.'";
          return error(it->first, msg);
        }
        break;
      }
    }
    context_ = "device '";
    context_ += spec.name;
    context_ += "': ";
    LINGUA_TRY(check_keys(node, "a device",
                          {"name", "endpoint", "threads", "memory", "gflops", "mem_bandwidth", "power_w",
                           "battery", "slowdown", "cpu"}));
    bool has_memory = false, has_threads = false;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      const std::string& k = key.Scalar();
      if (k == "endpoint") {
        LINGUA_TRY(require_scalar(key, value));
        LINGUA_ASSIGN_OR_RETURN(const Endpoint ep, with_key(key, parse_endpoint(value.Scalar(), EndpointUse::kConnect)));
        if (ep.scheme == Endpoint::Scheme::kInproc)
          return range_error(key, quote(value.Scalar()), "must be tcp://HOST:PORT or ipc://PATH (inproc:// works only inside one process)");
        spec.endpoint = value.Scalar();
      } else if (k == "threads") {
        LINGUA_ASSIGN_OR_RETURN(const int64_t t, int_value(key, value));
        if (t < 1 || t > kMaxThreads) {
          std::string rule = "must be between 1 and ";
          rule += std::to_string(kMaxThreads);
          return range_error(key, std::to_string(t), rule.c_str());
        }
        spec.threads = static_cast<int>(t);
        has_threads = true;
      } else if (k == "memory") {
        LINGUA_TRY(require_scalar(key, value));
        const std::string& text = value.Scalar();
        LINGUA_ASSIGN_OR_RETURN(spec.memory_bytes, with_key(key, parse_size(text)));
        if (spec.memory_bytes == 0) return range_error(key, quote(text), "must be more than zero");
        has_memory = true;
      } else if (k == "gflops") {
        LINGUA_TRY(parse_gflops(key, value, spec));
      } else if (k == "mem_bandwidth") {
        LINGUA_TRY(require_scalar(key, value));
        const std::string& text = value.Scalar();
        LINGUA_ASSIGN_OR_RETURN(spec.mem_bandwidth_bytes_per_s, with_key(key, parse_bandwidth(text)));
        if (spec.mem_bandwidth_bytes_per_s <= 0) return range_error(key, quote(text), "must be more than zero");
      } else if (k == "power_w") {
        LINGUA_TRY(parse_power(key, value, spec));
      } else if (k == "battery") {
        LINGUA_ASSIGN_OR_RETURN(spec.battery, number_value(key, value));
        if (spec.battery < 0 || spec.battery > 1)
          return range_error(key, num(spec.battery), "must be between 0 and 1 (leave it out for mains power)");
      } else if (k == "slowdown") {
        LINGUA_TRY(parse_slowdown(key, value, spec));
      } else if (k == "cpu") {
        LINGUA_ASSIGN_OR_RETURN(spec.cpu_cores, number_value(key, value));
        if (spec.cpu_cores < kMinCpuCores || spec.cpu_cores > kMaxCpuCores)
          return range_error(key, num(spec.cpu_cores), "(cores the host may use, e.g. 0.25) must be between 0.01 and 1024");
      }
    }
    // A device with an endpoint has a worker that measures itself; one the head starts does not.
    if (!has_memory && spec.endpoint.empty())
      return error_at(spec.line,
                      "no 'memory' (how much Lingua may use on it, e.g. 1.5GiB; only a device with an 'endpoint' "
                      "may leave it out, its worker measures it)");
    if (!has_threads && !spec.endpoint.empty()) spec.threads = 0;
    context_.clear();
    return spec;
  }

  Status parse_gflops(const YAML::Node& key, const YAML::Node& value, DeviceSpec& spec) {
    if (!value.IsMap()) {
      std::string msg = "'gflops' must be a map of tensor type to GFLOP/s, e.g. {f32: 20, q8_0: 35}, got ";
      msg += describe(value);
      return error(key, msg);
    }
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (!it->first.IsScalar()) {
        std::string msg = "'gflops' keys must be tensor types, got ";
        msg += describe(it->first);
        return error(it->first, msg);
      }
      Expected<DType> type = parse_dtype(it->first.Scalar());
      if (!type) {
        std::string msg = "'gflops': ";
        msg += type.error();
        return error(it->first, msg);
      }
      LINGUA_ASSIGN_OR_RETURN(const double g, number_value(it->first, it->second));
      if (g <= 0) return range_error(it->first, num(g), "GFLOP/s must be more than zero");
      if (!spec.flops_per_s.emplace(*type, g * 1e9).second) {
        std::string msg = "'gflops' gives '";
        msg += it->first.Scalar();
        msg += "' twice";
        return error(it->first, msg);
      }
    }
    return Status::ok();
  }

  Status parse_power(const YAML::Node& key, const YAML::Node& value, DeviceSpec& spec) {
    if (!value.IsMap()) {
      std::string msg = "'power_w' must be a map like {busy: 4.5, idle: 0.6}, got ";
      msg += describe(value);
      return error(key, msg);
    }
    LINGUA_TRY(check_keys(value, "'power_w'", {"busy", "idle"}));
    for (auto it = value.begin(); it != value.end(); ++it) {
      LINGUA_ASSIGN_OR_RETURN(const double w, number_value(it->first, it->second));
      if (w < 0) return range_error(it->first, num(w), "watts must not be negative");
      (it->first.Scalar() == "busy" ? spec.power_busy_w : spec.power_idle_w) = w;
    }
    return Status::ok();
  }

  Status check_factor(const YAML::Node& key, double f) {
    if (f < kMinSlowdown || f > kMaxSlowdown)
      return range_error(key, num(f), "(how many times slower than full speed) must be between 1 and 1000");
    return Status::ok();
  }

  Status parse_slowdown(const YAML::Node& key, const YAML::Node& value, DeviceSpec& spec) {
    if (value.IsScalar()) {
      LINGUA_ASSIGN_OR_RETURN(spec.slowdown.factor, number_value(key, value));
      return check_factor(key, spec.slowdown.factor);
    }
    if (!value.IsMap()) {
      std::string msg = "'slowdown' must be a factor like 2.0 or a map like {after_tokens: 8, factor: 3.0}, got ";
      msg += describe(value);
      return error(key, msg);
    }
    LINGUA_TRY(check_keys(value, "'slowdown'", {"factor", "after_tokens"}));
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (it->first.Scalar() == "factor") {
        LINGUA_ASSIGN_OR_RETURN(spec.slowdown.factor, number_value(it->first, it->second));
        LINGUA_TRY(check_factor(it->first, spec.slowdown.factor));
      } else {
        LINGUA_ASSIGN_OR_RETURN(spec.slowdown.after_tokens, int_value(it->first, it->second));
        if (spec.slowdown.after_tokens < 0)
          return range_error(it->first, std::to_string(spec.slowdown.after_tokens), "must not be negative");
      }
    }
    return Status::ok();
  }

  // `link` starts as the default (or built-in) values; keys given override them.
  Status parse_link(const YAML::Node& key, const YAML::Node& value, LinkSpec& link) {
    if (!value.IsMap()) {
      std::string msg = "link '";
      msg += key.Scalar();
      msg += "' must be a map like {bandwidth: 100Mbit/s, latency: 5ms}, got ";
      msg += describe(value);
      return error(key, msg);
    }
    context_ = "link '";
    context_ += key.Scalar();
    context_ += "': ";
    LINGUA_TRY(check_keys(value, "a link", {"bandwidth", "latency"}));
    for (auto it = value.begin(); it != value.end(); ++it) {
      const YAML::Node field = it->second;
      LINGUA_TRY(require_scalar(it->first, field));
      const std::string& text = field.Scalar();
      if (it->first.Scalar() == "bandwidth") {
        LINGUA_ASSIGN_OR_RETURN(link.bandwidth_bytes_per_s, with_key(it->first, parse_bandwidth(text)));
        if (link.bandwidth_bytes_per_s <= 0) return range_error(it->first, quote(text), "must be more than zero");
      } else {
        LINGUA_ASSIGN_OR_RETURN(link.latency_s, with_key(it->first, parse_duration(text)));
      }
    }
    context_.clear();
    return Status::ok();
  }

  Status parse_links(const YAML::Node& links, DevicesFile& file) {
    context_.clear();
    if (!links.IsMap()) {
      std::string msg = "'links' must be a map ('default' and \"a <-> b\" entries), got ";
      msg += describe(links);
      return error(links, msg);
    }
    std::set<std::string> seen;
    for (auto it = links.begin(); it != links.end(); ++it) {
      const YAML::Node key = it->first;
      if (!key.IsScalar() || (key.Scalar() != "default" && key.Scalar().find("<->") == std::string::npos)) {
        std::string msg = "unknown key ";
        msg += describe(key);
        msg += " in 'links' (allowed: default, \"a <-> b\" for the link between devices a and b)";
        return error(key, msg);
      }
      if (!seen.insert(key.Scalar()).second) {
        std::string msg = "link '";
        msg += key.Scalar();
        msg += "' appears twice";
        return error(key, msg);
      }
      if (key.Scalar() == "default") LINGUA_TRY(parse_link(key, it->second, file.default_link));
    }
    for (auto it = links.begin(); it != links.end(); ++it) {
      const YAML::Node key = it->first;
      const std::string& k = key.Scalar();
      if (k == "default") continue;
      const size_t arrow = k.find("<->");
      const std::string a = trim(std::string_view(k).substr(0, arrow));
      const std::string b = trim(std::string_view(k).substr(arrow + 3));
      for (const std::string* n : {&a, &b}) {
        if (!file.find(*n)) {
          std::string msg = "link '";
          msg += k;
          msg += "' names unknown device '";
          msg += *n;
          msg += "' (devices:";
          for (const auto& d : file.devices) {
            msg += " ";
            msg += d.name;
          }
          msg += ")";
          return error(key, msg);
        }
      }
      if (a == b) {
        std::string msg = "link '";
        msg += k;
        msg += "' joins a device to itself";
        return error(key, msg);
      }
      for (const auto& [x, y, spec] : file.pair_links) {
        if ((x == a && y == b) || (x == b && y == a)) {
          std::string msg = "link '";
          msg += k;
          msg += "' repeats the link between '";
          msg += a;
          msg += "' and '";
          msg += b;
          msg += "'";
          return error(key, msg);
        }
      }
      LinkSpec link = file.default_link;
      LINGUA_TRY(parse_link(key, it->second, link));
      file.pair_links.emplace_back(a, b, link);
    }
    return Status::ok();
  }

  std::string source_;
  std::string context_;  // "device 'x': " while inside a device
};

}  // namespace

namespace {
// File names, keys and values are echoed in messages: bytes that are not text are shown as \xNN.
Expected<DevicesFile> printable_error(Expected<DevicesFile> parsed) {
  if (parsed) return parsed;
  return Status::error(printable_text(parsed.error()));
}
Expected<DevicesFile> load_unescaped(const std::string& path);
}  // namespace

Expected<DevicesFile> parse_devices_yaml(const std::string& text, const std::string& source) {
  return printable_error(Parser(source).parse(text));
}

Expected<DevicesFile> load_devices_file(const std::string& path) { return printable_error(load_unescaped(path)); }

namespace {
Expected<DevicesFile> load_unescaped(const std::string& path) {
  std::string head = "cannot read devices file '";
  head += path;
  head += "': ";
  if (const std::string why = why_not_an_input_file(path); !why.empty()) return Status::error(head + why);
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error(head + std::strerror(errno));
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxFileBytes) {
      std::string msg = head;
      msg += "larger than ";
      msg += format_bytes(kMaxFileBytes);
      msg += ", not a devices file";
      return Status::error(msg);
    }
  }
  if (in.bad()) return Status::error(head + std::strerror(errno));
  return Parser(path).parse(text);
}
}  // namespace

}  // namespace lingua
