// The str and dict methods templates call (`content.strip()`, `message.get('tool_calls')`).
// Mutating methods are refused as transformers' immutable sandbox refuses them.
#include "model/jinja/builtins.h"
#include "model/jinja/error.h"
#include "model/jinja/interpreter.h"
#include "model/jinja/text.h"

namespace lingua::jinja {
namespace {

std::string string_arg(const CallArgs& args, size_t i, const char* name, const std::string& method) {
  const Value v = args.get(i, name);
  if (!v.is_string()) throw TemplateError(args.line, "str." + method + "() needs a string argument");
  return v.as_string();
}

bool affix_match(const std::string& s, const Value& affix, bool prefix, int line, const std::string& method) {
  auto one = [&](const Value& a) {
    if (!a.is_string()) throw TemplateError(line, "str." + method + "() needs a string or a tuple of strings");
    const std::string& x = a.as_string();
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (affix.is_sequence()) {
    for (const Value& a : affix.items())
      if (one(a)) return true;
    return false;
  }
  return one(affix);
}

Value string_method(const std::string& s, const std::string& name, CallArgs& args) {
  const int line = args.line;
  if (name == "startswith" || name == "endswith") {
    if (args.positional.empty()) throw TemplateError(line, "str." + name + "() needs an argument");
    if (args.positional.size() > 1) throw TemplateError(line, "str." + name + "() with start/end is not supported");
    return Value::boolean(affix_match(s, args.positional[0], name == "startswith", line, name));
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const Value chars = args.get(0, "chars", Value::none());
    const std::string c = chars.is_string() ? chars.as_string() : "";
    return Value::string(python_strip(s, name != "rstrip", name != "lstrip", chars.is_string() ? &c : nullptr));
  }
  if (name == "split") {
    const Value sep = args.get(0, "sep", Value::none());
    const int64_t maxsplit = args.get(1, "maxsplit", Value::integer(-1)).as_int();
    if (sep.is_string() && sep.as_string().empty()) throw TemplateError(line, "empty separator");
    const std::string sep_s = sep.is_string() ? sep.as_string() : "";
    ValueList parts;
    for (auto& p : python_split(s, sep.is_string() ? &sep_s : nullptr, maxsplit)) parts.push_back(Value::string(p));
    return Value::list(parts);
  }
  if (name == "upper") return Value::string(simple_upper(s));
  if (name == "lower") return Value::string(simple_lower(s));
  if (name == "capitalize") {
    const auto cps = decode_code_points(s);
    if (cps.empty()) return Value::string("");
    return Value::string(simple_upper(encode_code_points(cps, 0, 1)) + simple_lower(encode_code_points(cps, 1, cps.size())));
  }
  if (name == "title") {
    // Python's str.title: a cased letter after an uncased character starts a word.
    std::string out;
    bool prev_cased = false;
    for (uint32_t cp : decode_code_points(s)) {
      std::string one;
      append_code_point(one, cp);
      const bool cased = simple_upper(one) != simple_lower(one);
      out += cased ? (prev_cased ? simple_lower(one) : simple_upper(one)) : one;
      prev_cased = cased;
    }
    return Value::string(out);
  }
  if (name == "replace") {
    const Value count = args.get(2, "count", Value::integer(-1));
    return Value::string(replace_all(s, string_arg(args, 0, "old", name), string_arg(args, 1, "new", name), count.as_int()));
  }
  if (name == "removeprefix" || name == "removesuffix") {
    const std::string a = string_arg(args, 0, name == "removeprefix" ? "prefix" : "suffix", name);
    if (affix_match(s, Value::string(a), name == "removeprefix", line, name))
      return Value::string(name == "removeprefix" ? s.substr(a.size()) : s.substr(0, s.size() - a.size()));
    return Value::string(s);
  }
  if (name == "find" || name == "count") {
    const std::string sub = string_arg(args, 0, "sub", name);
    if (name == "find") {
      const size_t hit = s.find(sub);
      return Value::integer(hit == std::string::npos ? -1 : static_cast<int64_t>(code_point_count(s.substr(0, hit))));
    }
    if (sub.empty()) return Value::integer(static_cast<int64_t>(code_point_count(s)) + 1);
    int64_t n = 0;
    for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
    return Value::integer(n);
  }
  if (name == "join") {
    std::string out;
    bool first = true;
    for (const Value& v : iterate(args.get(0, "iterable"), line)) {
      if (!v.is_string()) throw TemplateError(line, "str.join() needs strings");
      if (!first) out += s;
      first = false;
      out += v.as_string();
    }
    return Value::string(out);
  }
  if (name == "isdigit" || name == "isspace" || name == "isalpha" || name == "isalnum") {
    if (s.empty()) return Value::boolean(false);
    for (uint32_t cp : decode_code_points(s)) {
      const bool ok = name == "isspace" ? is_python_space(cp)
                      : name == "isdigit" ? (cp >= '0' && cp <= '9')
                      : name == "isalpha" ? (cp < 0x80 && std::isalpha(static_cast<int>(cp)))
                                          : (cp < 0x80 && std::isalnum(static_cast<int>(cp)));
      if (!ok) return Value::boolean(false);
    }
    return Value::boolean(true);
  }
  throw TemplateError(line, "method str." + name + "() is not supported");
}

Value dict_method(const Value& d, const std::string& name, CallArgs& args) {
  const int line = args.line;
  if (name == "get") {
    if (args.positional.empty()) throw TemplateError(line, "dict.get() needs a key");
    const Value& key = args.positional[0];
    const Value fallback = args.positional.size() > 1 ? args.positional[1] : Value::none();
    if (!key.is_string()) return fallback;
    const Value* v = d.entries().find(key.as_string());
    return v ? *v : fallback;
  }
  if (name == "items" || name == "keys" || name == "values") {
    ValueList out;
    for (const auto& [k, v] : d.entries().entries) {
      if (name == "items") out.push_back(Value::tuple({Value::string(k), v}));
      if (name == "keys") out.push_back(Value::string(k));
      if (name == "values") out.push_back(v);
    }
    return Value::dict_view(name == "items" ? "dict_items" : name == "keys" ? "dict_keys" : "dict_values", out);
  }
  if (name == "copy") return Value::dict(d.entries());
  throw TemplateError(line, "access to attribute '" + name + "' of 'dict' object is unsafe.");
}

}  // namespace

Value call_method(const Value& object, const std::string& name, CallArgs& args) {
  if (object.is_string()) return string_method(object.as_string(), name, args);
  if (object.is_dict()) return dict_method(object, name, args);
  if (object.is_list()) {
    if (name == "index" || name == "count") {
      const Value needle = args.get(0, "value");
      int64_t n = 0, i = 0;
      for (const Value& v : object.items()) {
        if (values_equal(v, needle)) {
          if (name == "index") return Value::integer(i);
          ++n;
        }
        ++i;
      }
      if (name == "index") throw TemplateError(args.line, needle.repr() + " is not in list");
      return Value::integer(n);
    }
    if (name == "copy") return Value::list(object.items());
    throw TemplateError(args.line, "access to attribute '" + name + "' of 'list' object is unsafe.");
  }
  throw TemplateError(args.line, "method '" + name + "' of " + object.type_name() + " is not supported");
}

}  // namespace lingua::jinja
