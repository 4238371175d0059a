// Python's binary operators on template values: arithmetic (bool counts as int), string and
// list concatenation (with Markup's escaping of plain strings), comparisons, `in`, and/or.
#include <cmath>

#include "model/jinja/error.h"
#include "model/jinja/interpreter.h"

namespace lingua::jinja {
namespace {

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\'': out += "&#39;"; break;
      case '"': out += "&#34;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string python_type(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::None: return "NoneType";
    case Value::Kind::Bool: return "bool";
    case Value::Kind::Int: return "int";
    case Value::Kind::Float: return "float";
    case Value::Kind::String: return "str";
    case Value::Kind::List: return "list";
    case Value::Kind::Tuple: return "tuple";
    case Value::Kind::Dict: return "dict";
    default: return v.type_name();
  }
}

[[noreturn]] void unsupported(const std::string& op, const Value& a, const Value& b, int line) {
  throw TemplateError(line, "unsupported operand type(s) for " + op + ": '" + python_type(a) + "' and '" +
                                python_type(b) + "'");
}

double floor_mod(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  return m;
}

Value arithmetic(const std::string& op, const Value& a, const Value& b, int line) {
  if (a.is_undefined()) fail_undefined(a, line);
  if (b.is_undefined()) fail_undefined(b, line);
  if (a.is_number() && b.is_number()) {
    const bool as_float = a.is_float() || b.is_float();
    if (op == "/") {
      if (b.as_double() == 0) throw TemplateError(line, "division by zero");
      return Value::number(a.as_double() / b.as_double());
    }
    if (as_float) {
      const double x = a.as_double(), y = b.as_double();
      if (op == "+") return Value::number(x + y);
      if (op == "-") return Value::number(x - y);
      if (op == "*") return Value::number(x * y);
      if (op == "**") return Value::number(std::pow(x, y));
      if (y == 0) throw TemplateError(line, "float division by zero");
      if (op == "//") return Value::number(std::floor(x / y));
      return Value::number(floor_mod(x, y));
    }
    const int64_t x = a.as_int(), y = b.as_int();
    if (op == "+") return Value::integer(x + y);
    if (op == "-") return Value::integer(x - y);
    if (op == "*") return Value::integer(x * y);
    if (op == "**") {
      if (y < 0) return Value::number(std::pow(static_cast<double>(x), static_cast<double>(y)));
      int64_t r = 1;
      for (int64_t i = 0; i < y; ++i) r *= x;
      return Value::integer(r);
    }
    if (y == 0) throw TemplateError(line, "integer division or modulo by zero");
    int64_t q = x / y;
    if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
    if (op == "//") return Value::integer(q);
    return Value::integer(x - q * y);
  }
  if (op == "+") {
    if (a.is_string() && b.is_string()) {
      if (a.is_markup() || b.is_markup()) {
        const std::string l = a.is_markup() ? a.as_string() : html_escape(a.as_string());
        const std::string r = b.is_markup() ? b.as_string() : html_escape(b.as_string());
        return Value::string(l + r, true);
      }
      return Value::string(a.as_string() + b.as_string());
    }
    if (((a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple())) && !a.view_name() && !b.view_name()) {
      ValueList items = a.items();
      items.insert(items.end(), b.items().begin(), b.items().end());
      return a.is_list() ? Value::list(items) : Value::tuple(items);
    }
    if (a.is_string() && !b.is_string())
      throw TemplateError(line, "can only concatenate str (not \"" + python_type(b) + "\") to str");
    if (a.is_list()) throw TemplateError(line, "can only concatenate list (not \"" + python_type(b) + "\") to list");
  }
  if (op == "*") {
    const Value* seq = (a.is_string() || a.is_sequence()) ? &a : (b.is_string() || b.is_sequence()) ? &b : nullptr;
    const Value* count = seq == &a ? &b : &a;
    if (seq && (count->is_int() || count->is_bool())) {
      const int64_t n = std::max<int64_t>(0, count->as_int());
      const size_t unit = seq->is_string() ? seq->as_string().size() : seq->items().size();
      if (unit > 0 && static_cast<uint64_t>(n) > (64u << 20) / unit)
        throw TemplateError(line, "repetition result is too large");
      if (seq->is_string()) {
        std::string out;
        for (int64_t i = 0; i < n; ++i) out += seq->as_string();
        return Value::string(out);
      }
      ValueList items;
      for (int64_t i = 0; i < n; ++i) items.insert(items.end(), seq->items().begin(), seq->items().end());
      return seq->is_list() ? Value::list(items) : Value::tuple(items);
    }
  }
  if (op == "%" && a.is_string()) throw TemplateError(line, "string formatting with '%' is not supported");
  unsupported(op, a, b, line);
}

bool less_than(const Value& a, const Value& b, const std::string& op, int line) {
  if (a.is_number() && b.is_number()) return a.as_double() < b.as_double();
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();
  if (a.is_undefined()) fail_undefined(a, line);
  if (b.is_undefined()) fail_undefined(b, line);
  throw TemplateError(line, "'" + op + "' not supported between instances of '" + python_type(a) + "' and '" +
                                python_type(b) + "'");
}

}  // namespace

Value Interpreter::eval_binary(const Node& node) {
  const std::string& op = node.name;
  const int line = node.line;
  if (op == "and") {
    Value l = eval(*node.children[0]);
    return l.truthy() ? eval(*node.children[1]) : l;
  }
  if (op == "or") {
    Value l = eval(*node.children[0]);
    return l.truthy() ? l : eval(*node.children[1]);
  }
  const Value a = eval(*node.children[0]);
  const Value b = eval(*node.children[1]);
  if (op == "~") return Value::string(a.str() + b.str());
  if (op == "==") return Value::boolean(values_equal(a, b));
  if (op == "!=") return Value::boolean(!values_equal(a, b));
  if (op == "<") return Value::boolean(less_than(a, b, op, line));
  if (op == ">") return Value::boolean(less_than(b, a, op, line));
  if (op == "<=") return Value::boolean(!less_than(b, a, op, line));
  if (op == ">=") return Value::boolean(!less_than(a, b, op, line));
  if (op == "in") return Value::boolean(contains(b, a, line));
  if (op == "not in") return Value::boolean(!contains(b, a, line));
  return arithmetic(op, a, b, line);
}

}  // namespace lingua::jinja
