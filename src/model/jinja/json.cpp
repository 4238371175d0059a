// Python's json.dumps as transformers' tojson filter calls it: ensure_ascii off by default, key
// order as given, ", " / ": " separators (or "," with an indent), floats as Python prints them.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "model/jinja/builtins.h"
#include "model/jinja/error.h"
#include "model/jinja/text.h"

namespace lingua::jinja {
namespace {

void json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  for (uint32_t cp : decode_code_points(s)) {
    switch (cp) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default: {
        char buf[16];
        if (cp < 0x20 || (ensure_ascii && cp > 0x7E)) {
          if (cp >= 0x10000) {
            const uint32_t v = cp - 0x10000;
            std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
          } else {
            std::snprintf(buf, sizeof buf, "\\u%04x", cp);
          }
          out += buf;
        } else {
          append_code_point(out, cp);
        }
      }
    }
  }
  out += '"';
}

struct JsonWriter {
  int indent;
  bool ensure_ascii;
  bool sort_keys;
  std::string item_sep, key_sep;
  int line;
  std::string out;

  void newline(int depth) {
    out += '\n';
    out.append(static_cast<size_t>(indent * depth), ' ');
  }

  void write(const Value& v, int depth) {
    switch (v.kind()) {
      case Value::Kind::None: out += "null"; return;
      case Value::Kind::Bool: out += v.as_bool() ? "true" : "false"; return;
      case Value::Kind::Int: out += std::to_string(v.as_int()); return;
      case Value::Kind::Float: {
        const double d = v.as_double();
        out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity") : python_float_repr(d);
        return;
      }
      case Value::Kind::String: json_string(out, v.as_string(), ensure_ascii); return;
      case Value::Kind::List:
      case Value::Kind::Tuple: {
        if (v.view_name())
          throw TemplateError(line, std::string("Object of type ") + v.view_name() + " is not JSON serializable");
        if (v.items().empty()) {
          out += "[]";
          return;
        }
        out += '[';
        bool first = true;
        for (const Value& item : v.items()) {
          if (!first) out += item_sep;
          first = false;
          if (indent >= 0) newline(depth + 1);
          write(item, depth + 1);
        }
        if (indent >= 0) newline(depth);
        out += ']';
        return;
      }
      case Value::Kind::Dict: {
        auto entries = v.entries().entries;
        if (entries.empty()) {
          out += "{}";
          return;
        }
        if (sort_keys)
          std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        out += '{';
        bool first = true;
        for (const auto& [k, item] : entries) {
          if (!first) out += item_sep;
          first = false;
          if (indent >= 0) newline(depth + 1);
          json_string(out, k, ensure_ascii);
          out += key_sep;
          write(item, depth + 1);
        }
        if (indent >= 0) newline(depth);
        out += '}';
        return;
      }
      case Value::Kind::Undefined:
        throw TemplateError(line, "Object of type Undefined is not JSON serializable");
      default: {
        std::string type = v.type_name();
        if (type.size() > 7 && type.ends_with(" object")) type.resize(type.size() - 7);
        throw TemplateError(line, "Object of type " + type + " is not JSON serializable");
      }
    }
  }
};

}  // namespace

std::string to_json(const Value& value, int indent, bool ensure_ascii, bool sort_keys,
                    const std::string& item_sep, const std::string& key_sep, int line) {
  JsonWriter w{indent, ensure_ascii, sort_keys, item_sep, key_sep, line, {}};
  w.write(value, 0);
  return std::move(w.out);
}

}  // namespace lingua::jinja
