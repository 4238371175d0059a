// The jinja2 filters chat templates use, with jinja2 3.1's behaviour (and transformers' tojson).
#include <algorithm>
#include <cmath>
#include <set>

#include "model/jinja/builtins.h"
#include "model/jinja/error.h"
#include "model/jinja/interpreter.h"
#include "model/jinja/text.h"

namespace lingua::jinja {
namespace {

const std::set<std::string>& filter_names() {
  static const std::set<std::string> k = {
      "abs", "capitalize", "count", "d", "default", "dictsort", "first", "float", "indent", "int",
      "items", "join", "last", "length", "list", "lower", "map", "reject", "rejectattr", "replace",
      "reverse", "round", "safe", "select", "selectattr", "string", "sum", "title", "tojson", "trim",
      "unique", "upper", "max", "min", "wordcount"};
  return k;
}

std::string need_string(const Value& v, const char* filter, int line) {
  if (v.is_undefined()) return "";
  if (!v.is_string()) return v.str();
  (void)filter;
  (void)line;
  return v.as_string();
}

// Dotted attribute path as jinja2's make_attrgetter resolves it ("function.name", "0").
Value attribute_path(const Value& item, const std::string& path, int line) {
  Value v = item;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    v = numeric ? get_item(v, Value::integer(std::stoll(part)), line) : get_item(v, Value::string(part), line);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return v;
}

// select / reject / selectattr / rejectattr
Value select_items(const Value& value, CallArgs& args, bool by_attr, bool keep, Interpreter& interp) {
  const int line = args.line;
  size_t next = 0;
  std::string attr;
  if (by_attr) {
    if (args.positional.empty() || !args.positional[0].is_string())
      throw TemplateError(line, "selectattr/rejectattr need an attribute name");
    attr = args.positional[0].as_string();
    next = 1;
  }
  std::string test;
  CallArgs test_args;
  test_args.line = line;
  if (next < args.positional.size()) {
    test = args.positional[next].str();
    test_args.positional.assign(args.positional.begin() + static_cast<long>(next) + 1, args.positional.end());
  }
  if (!test.empty() && !is_supported_test(test)) throw TemplateError(line, "test '" + test + "' is not supported");
  ValueList out;
  if (!value.truthy()) return Value::generator({});  // jinja2 walks nothing when the input is falsy (none)
  for (const Value& item : iterate(value, line)) {
    const Value subject = by_attr ? attribute_path(item, attr, line) : item;
    const bool pass = test.empty() ? subject.truthy() : apply_test(test, subject, test_args, interp);
    if (pass == keep) out.push_back(item);
  }
  return Value::generator(out);
}

Value filter_map(const Value& value, CallArgs& args, Interpreter& interp) {
  const int line = args.line;
  ValueList out;
  if (!value.truthy()) return Value::generator({});  // as jinja2: a falsy input (none) maps to nothing
  if (args.has(99, "attribute")) {
    const std::string attr = args.get(99, "attribute").str();
    const bool has_default = args.has(99, "default");
    for (const Value& item : iterate(value, line)) {
      Value v = attribute_path(item, attr, line);
      if (v.is_undefined() && has_default) v = args.get(99, "default");
      out.push_back(v);
    }
    return Value::generator(out);
  }
  if (args.positional.empty()) throw TemplateError(line, "map needs a filter name or attribute=");
  const std::string filter = args.positional[0].str();
  if (!is_supported_filter(filter)) throw TemplateError(line, "filter '" + filter + "' is not supported");
  CallArgs rest;
  rest.line = line;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keyword = args.keyword;
  for (const Value& item : iterate(value, line)) {
    CallArgs a = rest;
    out.push_back(apply_filter(filter, item, a, interp));
  }
  return Value::generator(out);
}

Value filter_indent(const Value& value, CallArgs& args) {
  const Value width = args.get(0, "width", Value::integer(4));
  const bool first = args.get(1, "first", Value::boolean(false)).truthy();
  const bool blank = args.get(2, "blank", Value::boolean(false)).truthy();
  const std::string pad = width.is_string() ? width.as_string() : std::string(static_cast<size_t>(std::max<int64_t>(0, width.as_int())), ' ');
  const std::string s = value.str() + "\n";
  const std::vector<std::string> lines = python_splitlines(s);
  std::string rv;
  if (first) rv.append(pad);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) {
      rv.push_back('\n');
      if (blank || !lines[i].empty()) rv.append(pad);
    }
    rv.append(lines[i]);
  }
  return Value::string(rv);
}

Value filter_title(const std::string& s) {
  // jinja2 capitalizes each piece split at runs of -, whitespace, (, {, [ and <.
  std::string out;
  bool at_start = true;
  for (uint32_t cp : decode_code_points(s)) {
    const bool sep = cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || is_python_space(cp);
    std::string one;
    append_code_point(one, cp);
    if (sep) {
      out += one;
      at_start = true;
    } else {
      out += at_start ? simple_upper(one) : simple_lower(one);
      at_start = false;
    }
  }
  return Value::string(out);
}

Value to_int(const Value& v, const Value& fallback) {
  if (v.is_int()) return v;
  if (v.is_bool()) return Value::integer(v.as_int());
  if (v.is_float()) return Value::integer(static_cast<int64_t>(v.as_double()));
  if (v.is_string()) {
    const std::string s = python_strip(v.as_string(), true, true, nullptr);
    try {
      size_t used = 0;
      const long long i = std::stoll(s, &used, 10);
      if (used == s.size()) return Value::integer(i);
      const double d = std::stod(s, &used);
      if (used == s.size()) return Value::integer(static_cast<int64_t>(d));
    } catch (const std::exception&) {
    }
  }
  return fallback;
}

Value to_float(const Value& v, const Value& fallback) {
  if (v.is_number()) return Value::number(v.as_double());
  if (v.is_string()) {
    const std::string s = python_strip(v.as_string(), true, true, nullptr);
    try {
      size_t used = 0;
      const double d = std::stod(s, &used);
      if (used == s.size()) return Value::number(d);
    } catch (const std::exception&) {
    }
  }
  return fallback;
}

Value unique_items(const Value& value, CallArgs& args) {
  const bool case_sensitive = args.get(0, "case_sensitive", Value::boolean(false)).truthy();
  const bool has_attr = args.has(1, "attribute");
  const std::string attr = has_attr ? args.get(1, "attribute").str() : "";
  ValueList seen, out;
  for (const Value& item : iterate(value, args.line)) {
    Value key = has_attr ? attribute_path(item, attr, args.line) : item;
    if (!case_sensitive && key.is_string()) key = Value::string(simple_lower(key.as_string()));
    bool dup = false;
    for (const Value& s : seen) dup = dup || values_equal(s, key);
    if (!dup) {
      seen.push_back(key);
      out.push_back(item);
    }
  }
  return Value::generator(out);
}

}  // namespace

bool is_supported_filter(const std::string& name) { return filter_names().count(name) > 0; }

Value apply_filter(const std::string& name, const Value& value, CallArgs& args, Interpreter& interp) {
  const int line = args.line;
  if (name == "safe") return Value::string(value.str(), true);
  if (name == "string") return value.is_string() ? value : Value::string(value.str());
  if (name == "trim") {
    const Value chars = args.get(0, "chars", Value::none());
    const std::string c = chars.is_string() ? chars.as_string() : "";
    return Value::string(python_strip(need_string(value, "trim", line), true, true, chars.is_string() ? &c : nullptr));
  }
  if (name == "upper") return Value::string(simple_upper(need_string(value, "upper", line)));
  if (name == "lower") return Value::string(simple_lower(need_string(value, "lower", line)));
  if (name == "capitalize") {
    const auto cps = decode_code_points(need_string(value, "capitalize", line));
    if (cps.empty()) return Value::string("");
    return Value::string(simple_upper(encode_code_points(cps, 0, 1)) + simple_lower(encode_code_points(cps, 1, cps.size())));
  }
  if (name == "title") return filter_title(need_string(value, "title", line));
  if (name == "replace") {
    if (args.positional.size() < 2) throw TemplateError(line, "replace needs old and new strings");
    const Value count = args.get(2, "count", Value::none());
    return Value::string(replace_all(need_string(value, "replace", line), args.positional[0].str(),
                                     args.positional[1].str(), count.is_none() ? -1 : count.as_int()));
  }
  if (name == "length" || name == "count") return Value::integer(length_of(value, line));
  if (name == "wordcount") return Value::integer(static_cast<int64_t>(python_split(value.str(), nullptr, -1).size()));
  if (name == "default" || name == "d") {
    const Value fallback = args.get(0, "default_value", Value::string(""));
    const bool boolean = args.get(1, "boolean", Value::boolean(false)).truthy();
    if (value.is_undefined() || (boolean && !value.truthy())) return fallback;
    return value;
  }
  if (name == "join") {
    const std::string sep = args.get(0, "d", Value::string("")).str();
    const bool has_attr = args.has(1, "attribute");
    std::string out;
    bool first = true;
    for (const Value& item : iterate(value, line)) {
      if (!first) out += sep;
      first = false;
      out += (has_attr ? attribute_path(item, args.get(1, "attribute").str(), line) : item).str();
    }
    return Value::string(out);
  }
  if (name == "first" || name == "last") {
    if (name == "last" && value.is_generator()) throw TemplateError(line, "'generator' object is not reversible");
    const ValueList items = iterate(value, line);
    if (items.empty()) return Value::undefined("No " + name + " item, sequence was empty.");
    return name == "first" ? items.front() : items.back();
  }
  if (name == "list") return Value::list(iterate(value, line));
  if (name == "reverse") {
    if (value.is_string()) {
      auto cps = decode_code_points(value.as_string());
      std::reverse(cps.begin(), cps.end());
      return Value::string(encode_code_points(cps, 0, cps.size()));
    }
    if (value.is_generator()) throw TemplateError(line, "argument to reversed() must be a sequence");
    ValueList items = iterate(value, line);
    std::reverse(items.begin(), items.end());
    return Value::generator(items);
  }
  if (name == "items") {
    if (value.is_undefined()) return Value::generator({});
    if (!value.is_dict()) throw TemplateError(line, "Can only get item pairs from a mapping.");
    ValueList pairs;
    for (const auto& [k, v] : value.entries().entries) pairs.push_back(Value::tuple({Value::string(k), v}));
    return Value::generator(pairs);
  }
  if (name == "dictsort") {
    if (!value.is_dict()) throw TemplateError(line, "dictsort needs a mapping");
    const bool case_sensitive = args.get(0, "case_sensitive", Value::boolean(false)).truthy();
    const bool by_value = args.get(1, "by", Value::string("key")).str() == "value";
    const bool reverse = args.get(2, "reverse", Value::boolean(false)).truthy();
    auto entries = value.entries().entries;
    if (by_value) throw TemplateError(line, "dictsort by value is not supported");
    auto key = [&](const std::string& k) { return case_sensitive ? k : simple_lower(k); };
    std::stable_sort(entries.begin(), entries.end(), [&](const auto& a, const auto& b) {
      return reverse ? key(b.first) < key(a.first) : key(a.first) < key(b.first);
    });
    ValueList pairs;
    for (const auto& [k, v] : entries) pairs.push_back(Value::tuple({Value::string(k), v}));
    return Value::list(pairs);
  }
  if (name == "selectattr" || name == "rejectattr") return select_items(value, args, true, name == "selectattr", interp);
  if (name == "select" || name == "reject") return select_items(value, args, false, name == "select", interp);
  if (name == "map") return filter_map(value, args, interp);
  if (name == "unique") return unique_items(value, args);
  if (name == "indent") return filter_indent(value, args);
  if (name == "int") return to_int(value, args.get(0, "default", Value::integer(0)));
  if (name == "float") return to_float(value, args.get(0, "default", Value::number(0.0)));
  if (name == "abs") {
    if (!value.is_number()) throw TemplateError(line, "bad operand type for abs(): '" + value.type_name() + "'");
    return value.is_float() ? Value::number(std::fabs(value.as_double())) : Value::integer(std::llabs(value.as_int()));
  }
  if (name == "round") {
    const int64_t precision = args.get(0, "precision", Value::integer(0)).as_int();
    const std::string method = args.get(1, "method", Value::string("common")).str();
    const double scale = std::pow(10.0, static_cast<double>(precision));
    const double x = value.as_double() * scale;
    const double r = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::round(x);
    return Value::number(r / scale);
  }
  if (name == "sum" || name == "max" || name == "min") {
    const ValueList items = iterate(value, line);
    if (name == "sum") {
      Value total = args.get(1, "start", Value::integer(0));
      for (const Value& v : items) {
        if (!v.is_number() || !total.is_number()) throw TemplateError(line, "sum needs numbers");
        total = (v.is_float() || total.is_float()) ? Value::number(total.as_double() + v.as_double())
                                                  : Value::integer(total.as_int() + v.as_int());
      }
      return total;
    }
    if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
    Value best = items[0];
    for (const Value& v : items) {
      const bool less = v.is_number() && best.is_number() ? v.as_double() < best.as_double() : v.str() < best.str();
      const bool greater = v.is_number() && best.is_number() ? v.as_double() > best.as_double() : v.str() > best.str();
      if ((name == "min" && less) || (name == "max" && greater)) best = v;
    }
    return best;
  }
  if (name == "tojson") {
    const Value indent = args.get(1, "indent", Value::none());
    const bool ensure_ascii = args.get(0, "ensure_ascii", Value::boolean(false)).truthy();
    const bool sort_keys = args.get(3, "sort_keys", Value::boolean(false)).truthy();
    const Value seps = args.get(2, "separators", Value::none());
    const bool indented = !indent.is_none() && !indent.is_undefined();
    std::string item_sep = indented ? "," : ", ", key_sep = ": ";
    if (seps.is_sequence() && seps.items().size() == 2) {
      item_sep = seps.items()[0].str();
      key_sep = seps.items()[1].str();
    }
    return Value::string(to_json(value, indented ? static_cast<int>(indent.as_int()) : -1, ensure_ascii, sort_keys,
                                 item_sep, key_sep, line));
  }
  throw TemplateError(line, "filter '" + name + "' is not supported");
}

}  // namespace lingua::jinja
