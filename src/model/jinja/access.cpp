// Python's object protocol as jinja2 applies it to template values: attribute and item access
// (a missing one is Undefined carrying jinja2's message), iteration, `in`, len().
#include "model/jinja/access.h"

#include "model/jinja/builtins.h"
#include "model/jinja/error.h"
#include "model/jinja/text.h"

namespace lingua::jinja {

namespace {
std::string quoted(const std::string& s) { return "'" + s + "'"; }
std::string missing_attr_hint(const Value& object, const std::string& name) {
  return quoted(object.type_name()) + " has no attribute " + quoted(name);
}
bool is_python_str_method(const std::string& n) {
  static const char* kNames[] = {"capitalize", "casefold", "center", "count", "encode", "endswith",
      "expandtabs", "find", "format", "format_map", "index", "isalnum", "isalpha", "isascii",
      "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric", "isprintable", "isspace",
      "istitle", "isupper", "join", "ljust", "lower", "lstrip", "maketrans", "partition",
      "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition", "rsplit",
      "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "translate",
      "upper", "zfill"};
  for (const char* k : kNames)
    if (n == k) return true;
  return false;
}
bool is_python_dict_method(const std::string& n) {
  static const char* kNames[] = {"clear", "copy", "fromkeys", "get", "items", "keys", "pop",
                                 "popitem", "setdefault", "update", "values"};
  for (const char* k : kNames)
    if (n == k) return true;
  return false;
}
bool is_python_list_method(const std::string& n) {
  static const char* kNames[] = {"append", "clear", "copy", "count", "extend", "index", "insert",
                                 "pop", "remove", "reverse", "sort"};
  for (const char* k : kNames)
    if (n == k) return true;
  return false;
}
Value bound_method(const Value& object, const std::string& name) {
  return Value::callable(name, [object, name](CallArgs& args, Interpreter&) {
    return call_method(object, name, args);
  });
}
int64_t normalize_index(int64_t i, int64_t size) { return i < 0 ? i + size : i; }
}  // namespace

[[noreturn]] void fail_undefined(const Value& undefined, int line) {
  throw TemplateError(line, undefined.undefined_hint().empty() ? "value is undefined" : undefined.undefined_hint());
}

Value get_attribute(const Value& object, const std::string& name, int line) {
  switch (object.kind()) {
    case Value::Kind::Undefined: fail_undefined(object, line);
    case Value::Kind::Dict:
      if (is_python_dict_method(name)) return bound_method(object, name);
      if (const Value* v = object.entries().find(name)) return *v;
      break;
    case Value::Kind::Namespace:
      if (const Value* v = object.entries().find(name)) return *v;
      break;
    case Value::Kind::String:
      if (is_python_str_method(name)) return bound_method(object, name);
      break;
    case Value::Kind::List:
      if (is_python_list_method(name)) return bound_method(object, name);
      break;
    default: break;
  }
  return Value::undefined(missing_attr_hint(object, name));
}

Value get_item(const Value& object, const Value& key, int line) {
  if (object.is_undefined()) fail_undefined(object, line);
  if (object.is_dict() || object.is_namespace()) {
    if (const Value* v = object.entries().find(key)) return *v;
    if (key.is_string()) return Value::undefined(missing_attr_hint(object, key.as_string()));
    return Value::undefined(object.type_name() + " has no element " + key.repr());
  } else if ((object.is_sequence() || object.is_string()) && !object.view_name() && (key.is_int() || key.is_bool())) {
    if (object.is_string()) {
      const auto cps = decode_code_points(object.as_string());
      const int64_t i = normalize_index(key.as_int(), static_cast<int64_t>(cps.size()));
      if (i >= 0 && i < static_cast<int64_t>(cps.size()))
        return Value::string(encode_code_points(cps, static_cast<size_t>(i), static_cast<size_t>(i) + 1));
    } else {
      const auto& items = object.items();
      const int64_t i = normalize_index(key.as_int(), static_cast<int64_t>(items.size()));
      if (i >= 0 && i < static_cast<int64_t>(items.size())) return items[static_cast<size_t>(i)];
    }
    return Value::undefined(object.type_name() + " has no element " + key.repr());
  } else if (key.is_string()) {
    // jinja2 falls back to the attribute of that name (a str method, for instance).
    return get_attribute(object, key.as_string(), line);
  }
  return Value::undefined(object.type_name() + " has no element " + key.repr());
}

ValueList iterate(const Value& value, int line) {
  switch (value.kind()) {
    case Value::Kind::Undefined: return {};
    case Value::Kind::List:
    case Value::Kind::Tuple:
    case Value::Kind::Generator: return value.items();
    case Value::Kind::Dict: {
      ValueList keys;
      for (const auto& kv : value.entries().entries) keys.push_back(value.entries().key_of(kv.first));
      return keys;
    }
    case Value::Kind::String: {
      ValueList chars;
      const auto cps = decode_code_points(value.as_string());
      for (size_t i = 0; i < cps.size(); ++i) chars.push_back(Value::string(encode_code_points(cps, i, i + 1)));
      return chars;
    }
    default:
      throw TemplateError(line, quoted(value.is_none() ? "NoneType" : value.type_name()) + " object is not iterable");
  }
}

bool contains(const Value& container, const Value& item, int line) {
  if (container.is_string()) {
    if (!item.is_string())
      throw TemplateError(line, "'in <string>' requires string as left operand, not " + item.type_name());
    return container.as_string().find(item.as_string()) != std::string::npos;
  }
  if (container.is_dict()) return container.entries().find(item) != nullptr;
  if (container.is_undefined()) return false;
  for (const Value& v : iterate(container, line))
    if (values_equal(v, item)) return true;
  return false;
}

int64_t length_of(const Value& value, int line) {
  switch (value.kind()) {
    case Value::Kind::Undefined: return 0;
    case Value::Kind::String: return static_cast<int64_t>(code_point_count(value.as_string()));
    case Value::Kind::List:
    case Value::Kind::Tuple: return static_cast<int64_t>(value.items().size());
    case Value::Kind::Dict: return static_cast<int64_t>(value.entries().entries.size());
    default:
      throw TemplateError(line, "object of type '" + std::string(value.is_generator() ? "generator" : value.type_name()) +
                                    "' has no len()");
  }
}

}  // namespace lingua::jinja
