// The jinja2 tests (`x is defined`, `x is string`, ...) chat templates use, with jinja2 3.1's
// definitions (a bool is a number but not an integer; undefined counts as iterable).
#include <set>

#include "model/jinja/builtins.h"
#include "model/jinja/error.h"
#include "model/jinja/interpreter.h"

namespace lingua::jinja {

bool is_supported_test(const std::string& name) {
  static const std::set<std::string> k = {
      "defined", "undefined", "none", "string", "mapping", "iterable", "sequence", "number", "integer",
      "float", "boolean", "true", "false", "equalto", "eq", "==", "ne", "!=", "in", "odd", "even",
      "divisibleby", "callable", "lower", "upper", "sameas", "gt", "ge", "lt", "le"};
  return k.count(name) > 0;
}

bool apply_test(const std::string& name, const Value& v, CallArgs& args, Interpreter&) {
  const int line = args.line;
  auto arg = [&]() -> Value {
    if (args.positional.empty() && args.keyword.empty())
      throw TemplateError(line, "test '" + name + "' needs an argument");
    return args.positional.empty() ? args.keyword[0].second : args.positional[0];
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable")
    return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict() || v.is_generator();
  if (name == "sequence") return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "callable") return v.is_callable();
  if (name == "equalto" || name == "eq" || name == "==") return values_equal(v, arg());
  if (name == "ne" || name == "!=") return !values_equal(v, arg());
  if (name == "sameas") {
    const Value other = arg();
    if (v.is_none() || v.is_bool() || v.is_undefined()) return v.kind() == other.kind() && values_equal(v, other);
    return values_equal(v, other) && v.kind() == other.kind();
  }
  if (name == "in") return contains(arg(), v, line);
  if (name == "gt" || name == "ge" || name == "lt" || name == "le") {
    const Value o = arg();
    if (!v.is_number() || !o.is_number()) throw TemplateError(line, "test '" + name + "' compares numbers only");
    const double a = v.as_double(), b = o.as_double();
    return name == "gt" ? a > b : name == "ge" ? a >= b : name == "lt" ? a < b : a <= b;
  }
  if (name == "odd" || name == "even" || name == "divisibleby") {
    if (!v.is_int() && !v.is_bool()) throw TemplateError(line, "test '" + name + "' needs an integer");
    if (name == "divisibleby") {
      const int64_t d = arg().as_int();
      if (d == 0) throw TemplateError(line, "integer division or modulo by zero");
      return v.as_int() % d == 0;
    }
    return (v.as_int() % 2 != 0) == (name == "odd");
  }
  if (name == "lower" || name == "upper") {
    if (!v.is_string()) return false;
    bool cased = false;
    for (char c : v.as_string()) {
      if (std::isalpha(static_cast<unsigned char>(c))) cased = true;
      if (name == "lower" && std::isupper(static_cast<unsigned char>(c))) return false;
      if (name == "upper" && std::islower(static_cast<unsigned char>(c))) return false;
    }
    return cased;
  }
  throw TemplateError(line, "test '" + name + "' is not supported");
}

}  // namespace lingua::jinja
