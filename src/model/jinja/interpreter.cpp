// Statement execution and expression evaluation for parsed templates.
#include "model/jinja/interpreter.h"

#include <algorithm>
#include <optional>

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
    if (key.is_string()) {
      if (const Value* v = object.entries().find(key.as_string())) return *v;
      return Value::undefined(missing_attr_hint(object, key.as_string()));
    }
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
      for (const auto& kv : value.entries().entries) keys.push_back(Value::string(kv.first));
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
  if (container.is_dict()) return item.is_string() && container.entries().find(item.as_string());
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

Interpreter::Interpreter(Dict globals) : globals_(std::move(globals)) {
  frames_.push_back(std::make_shared<Dict>());
}

std::string Interpreter::render(const NodeList& body) {
  std::string out;
  exec_body(body, out);
  return out;
}

Value Interpreter::lookup(const std::string& name) const {
  for (auto it = frames_.rbegin(); it != frames_.rend(); ++it)
    if (const Value* v = (*it)->find(name)) return *v;
  if (const Value* v = globals_.find(name)) return *v;
  return Value::undefined(quoted(name) + " is undefined");
}

void Interpreter::assign(const std::string& name, Value value) { frames_.back()->set(name, std::move(value)); }

void Interpreter::assign_targets(const std::vector<std::string>& targets, const Value& value, int line) {
  if (targets.size() == 1) {
    assign(targets[0], value);
    return;
  }
  const ValueList items = iterate(value, line);
  if (items.size() != targets.size())
    throw TemplateError(line, "cannot unpack " + std::to_string(items.size()) + " values into " +
                                  std::to_string(targets.size()) + " names");
  for (size_t i = 0; i < targets.size(); ++i) assign(targets[i], items[i]);
}

Interpreter::Flow Interpreter::exec_body(const NodeList& body, std::string& out) {
  for (const auto& node : body) {
    const Flow f = exec(*node, out);
    if (f != Flow::Normal) return f;
  }
  return Flow::Normal;
}

Interpreter::Flow Interpreter::exec(const Node& node, std::string& out) {
  switch (node.kind) {
    case NodeKind::Text: out += node.name; return Flow::Normal;
    case NodeKind::Output: {
      const Value v = eval(*node.children[0]);
      // Python would print "<generator object ... at 0x...>", an address no prompt should hold.
      if (v.is_generator())
        throw TemplateError(node.line, "printing a generator (a map/select/reject result) is not supported; add |list");
      out += v.str();
      return Flow::Normal;
    }
    case NodeKind::If:
      for (size_t i = 0; i < node.children.size(); ++i)
        if (eval(*node.children[i]).truthy()) return exec_body(node.branches[i], out);
      return exec_body(node.else_body, out);
    case NodeKind::For: exec_for(node, out); return Flow::Normal;
    case NodeKind::Set: exec_set(node); return Flow::Normal;
    case NodeKind::SetBlock: {
      std::string captured;
      exec_body(node.body, captured);
      Value v = Value::string(captured);
      for (const auto& f : node.children) v = apply_filter_node(*f, v);
      assign(node.targets[0], v);
      return Flow::Normal;
    }
    case NodeKind::Macro: define_macro(node); return Flow::Normal;
    case NodeKind::FilterBlock: {
      std::string captured;
      const Flow f = exec_body(node.body, captured);
      out += apply_filter_node(*node.children[0], Value::string(captured)).str();
      return f;
    }
    case NodeKind::Generation: return exec_body(node.body, out);
    case NodeKind::Break: return Flow::Break;
    case NodeKind::Continue: return Flow::Continue;
    default: throw TemplateError(node.line, "internal: expression used as a statement");
  }
}

void Interpreter::exec_for(const Node& node, std::string& out) {
  const ValueList source = iterate(eval(*node.children[0]), node.line);
  frames_.push_back(std::make_shared<Dict>());
  ValueList items;
  if (node.children[1]) {
    for (const Value& v : source) {
      assign_targets(node.targets, v, node.line);
      if (eval(*node.children[1]).truthy()) items.push_back(v);
    }
  } else {
    items = source;
  }
  const auto n = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < n; ++i) {
    const auto idx = static_cast<size_t>(i);
    Dict loop;
    loop.set("index", Value::integer(i + 1));
    loop.set("index0", Value::integer(i));
    loop.set("revindex", Value::integer(n - i));
    loop.set("revindex0", Value::integer(n - i - 1));
    loop.set("first", Value::boolean(i == 0));
    loop.set("last", Value::boolean(i == n - 1));
    loop.set("length", Value::integer(n));
    loop.set("depth", Value::integer(1));
    loop.set("depth0", Value::integer(0));
    loop.set("previtem", i > 0 ? items[idx - 1] : Value::undefined("there is no previous item"));
    loop.set("nextitem", i + 1 < n ? items[idx + 1] : Value::undefined("there is no next item"));
    loop.set("cycle", Value::callable("cycle", [i](CallArgs& args, Interpreter&) {
               if (args.positional.empty()) throw TemplateError(args.line, "no items for cycling given");
               return args.positional[static_cast<size_t>(i) % args.positional.size()];
             }));
    // Each iteration starts from a fresh scope: a `set` in one is not seen by the next (jinja2).
    frames_.back() = std::make_shared<Dict>();
    assign("loop", Value::dict(std::move(loop)));
    assign_targets(node.targets, items[idx], node.line);
    if (exec_body(node.body, out) == Flow::Break) break;
  }
  frames_.pop_back();
  if (items.empty()) exec_body(node.else_body, out);
}

void Interpreter::exec_set(const Node& node) {
  Value v = eval(*node.children[0]);
  if (!node.name.empty()) {
    Value ns = lookup(node.name);
    if (!ns.is_namespace())
      throw TemplateError(node.line, "cannot assign attribute on non-namespace object '" + node.name + "'");
    ns.entries().set(node.targets[0], std::move(v));
    return;
  }
  assign_targets(node.targets, v, node.line);
}

namespace {
bool refers_to(const NodeList& nodes, const std::string& name);
bool refers_to(const Node* n, const std::string& name) {
  if (!n) return false;
  if (n->kind == NodeKind::Name && n->name == name) return true;
  if (refers_to(n->children, name) || refers_to(n->body, name) || refers_to(n->else_body, name)) return true;
  for (const auto& kv : n->kwargs)
    if (refers_to(kv.second.get(), name)) return true;
  for (const auto& b : n->branches)
    if (refers_to(b, name)) return true;
  return false;
}
bool refers_to(const NodeList& nodes, const std::string& name) {
  for (const auto& n : nodes)
    if (refers_to(n.get(), name)) return true;
  return false;
}
}  // namespace

void Interpreter::define_macro(const Node& node) {
  MacroInfo info{&node, frames_, refers_to(node.body, "varargs"), refers_to(node.body, "kwargs")};
  assign(node.name, Value::callable(node.name, [this, info](CallArgs& args, Interpreter&) {
           return call_macro(info, args);
         }));
}

Value Interpreter::call_macro(const MacroInfo& info, CallArgs& args) {
  const Node& macro = *info.node;
  ValueList extra_positional;
  Dict extra_keyword;
  if (args.positional.size() > macro.targets.size()) {
    if (!info.uses_varargs)
      throw TemplateError(args.line, "macro '" + macro.name + "' takes not more than " +
                                         std::to_string(macro.targets.size()) + " argument(s)");
    extra_positional.assign(args.positional.begin() + static_cast<long>(macro.targets.size()), args.positional.end());
  }
  for (const auto& kv : args.keyword) {
    bool known = false;
    for (const auto& p : macro.targets) known = known || p == kv.first;
    if (known) continue;
    if (!info.uses_kwargs)
      throw TemplateError(args.line, "macro '" + macro.name + "' takes no keyword argument '" + kv.first + "'");
    extra_keyword.set(kv.first, kv.second);
  }
  // Python would stop a runaway recursion with RecursionError; so does this, before the stack.
  constexpr int kMaxMacroDepth = 200;
  if (macro_depth_ >= kMaxMacroDepth)
    throw TemplateError(args.line, "macro '" + macro.name + "' recursed deeper than " + std::to_string(kMaxMacroDepth) + " calls");
  ++macro_depth_;
  std::vector<Frame> saved = std::move(frames_);
  frames_ = info.closure;
  frames_.push_back(std::make_shared<Dict>());
  if (info.uses_varargs) assign("varargs", Value::tuple(extra_positional));
  if (info.uses_kwargs) assign("kwargs", Value::dict(extra_keyword));
  std::string out;
  try {
    for (size_t i = 0; i < macro.targets.size(); ++i) {
      const std::string& param = macro.targets[i];
      Value v;
      if (args.has(i, param)) {
        v = args.get(i, param);
      } else if (macro.children[i]) {
        v = eval(*macro.children[i]);
      } else {
        v = Value::undefined("parameter " + quoted(param) + " was not provided");
      }
      assign(param, v);
    }
    exec_body(macro.body, out);
  } catch (...) {
    frames_ = std::move(saved);
    --macro_depth_;
    throw;
  }
  frames_ = std::move(saved);
  --macro_depth_;
  return Value::string(out);
}

CallArgs Interpreter::eval_args(const Node& node, size_t first_child) {
  CallArgs args;
  args.line = node.line;
  for (size_t i = first_child; i < node.children.size(); ++i) args.positional.push_back(eval(*node.children[i]));
  for (const auto& [k, v] : node.kwargs) args.keyword.emplace_back(k, eval(*v));
  return args;
}

Value Interpreter::apply_filter_node(const Node& node, const Value& operand) {
  // A chain in a filter block or block set: inner filters first.
  Value input = operand;
  if (const Node* inner = node.children[0].get())
    input = inner->kind == NodeKind::Filter ? apply_filter_node(*inner, operand) : eval(*inner);
  CallArgs args = eval_args(node, 1);
  return apply_filter(node.name, input, args, *this);
}

namespace {
Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step, int line) {
  if (obj.is_undefined()) fail_undefined(obj, line);
  auto as_opt = [&](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.is_undefined() || v.is_none()) return std::nullopt;
    if (!v.is_int() && !v.is_bool()) throw TemplateError(line, std::string("slice ") + what + " must be an integer");
    return v.as_int();
  };
  const int64_t st = as_opt(step, "step").value_or(1);
  if (st == 0) throw TemplateError(line, "slice step cannot be zero");
  std::vector<uint32_t> cps;
  int64_t size = 0;
  if (obj.is_string()) {
    cps = decode_code_points(obj.as_string());
    size = static_cast<int64_t>(cps.size());
  } else if (obj.is_sequence()) {
    size = static_cast<int64_t>(obj.items().size());
  } else {
    throw TemplateError(line, quoted(obj.type_name()) + " cannot be sliced");
  }
  auto clamp = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t x = *v < 0 ? *v + size : *v;
    if (st > 0) return std::clamp<int64_t>(x, 0, size);
    return std::clamp<int64_t>(x, -1, size - 1);
  };
  const int64_t b = clamp(as_opt(start, "start"), st > 0 ? 0 : size - 1);
  const int64_t e = clamp(as_opt(stop, "stop"), st > 0 ? size : -1);
  std::vector<int64_t> picks;
  for (int64_t i = b; st > 0 ? i < e : i > e; i += st) picks.push_back(i);
  if (obj.is_string()) {
    std::string out;
    for (int64_t i : picks) append_code_point(out, cps[static_cast<size_t>(i)]);
    return Value::string(out);
  }
  ValueList out;
  for (int64_t i : picks) out.push_back(obj.items()[static_cast<size_t>(i)]);
  return obj.is_tuple() ? Value::tuple(out) : Value::list(out);
}
}  // namespace

Value Interpreter::eval(const Node& node) {
  switch (node.kind) {
    case NodeKind::Literal: return node.literal;
    case NodeKind::Name: return lookup(node.name);
    case NodeKind::ListLit:
    case NodeKind::TupleLit: {
      ValueList items;
      for (const auto& c : node.children) items.push_back(eval(*c));
      return node.kind == NodeKind::ListLit ? Value::list(items) : Value::tuple(items);
    }
    case NodeKind::DictLit: {
      Dict d;
      for (size_t i = 0; i + 1 < node.children.size(); i += 2) {
        Value k = eval(*node.children[i]);
        if (!k.is_string()) throw TemplateError(node.line, "dict keys other than strings are not supported");
        d.set(k.as_string(), eval(*node.children[i + 1]));
      }
      return Value::dict(std::move(d));
    }
    case NodeKind::GetAttr: return get_attribute(eval(*node.children[0]), node.name, node.line);
    case NodeKind::GetItem: return get_item(eval(*node.children[0]), eval(*node.children[1]), node.line);
    case NodeKind::Slice: {
      auto part = [&](size_t i) { return node.children[i] ? eval(*node.children[i]) : Value::none(); };
      return slice(eval(*node.children[0]), part(1), part(2), part(3), node.line);
    }
    case NodeKind::Call: {
      Value callee = eval(*node.children[0]);
      if (callee.is_undefined()) fail_undefined(callee, node.line);
      if (!callee.is_callable()) throw TemplateError(node.line, quoted(callee.type_name()) + " is not callable");
      CallArgs args = eval_args(node, 1);
      return callee.function().call(args, *this);
    }
    case NodeKind::Filter: return apply_filter_node(node, Value());
    case NodeKind::Test: {
      const Value v = eval(*node.children[0]);
      CallArgs args = eval_args(node, 1);
      return Value::boolean(apply_test(node.name, v, args, *this) != node.flag);
    }
    case NodeKind::Unary: {
      const Value v = eval(*node.children[0]);
      if (node.name == "not") return Value::boolean(!v.truthy());
      if (v.is_undefined()) fail_undefined(v, node.line);
      if (!v.is_number()) throw TemplateError(node.line, "bad operand type for unary " + node.name + ": '" + v.type_name() + "'");
      if (node.name == "+") return v.is_bool() ? Value::integer(v.as_int()) : v;
      return v.is_float() ? Value::number(-v.as_double()) : Value::integer(-v.as_int());
    }
    case NodeKind::Binary: return eval_binary(node);
    case NodeKind::Conditional:
      if (eval(*node.children[0]).truthy()) return eval(*node.children[1]);
      return node.children[2] ? eval(*node.children[2]) : Value::undefined("the inline if-expression evaluated to false and no else section was defined");
    default: throw TemplateError(node.line, "internal: statement used as an expression");
  }
}

}  // namespace lingua::jinja
