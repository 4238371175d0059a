// The values a chat template computes with, shaped after the Python objects jinja2 hands
// templates (str, int, float, bool, None, list, tuple, dict, namespace, Undefined, callables),
// so truthiness, equality and printing come out as Hugging Face's renderer prints them.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace lingua::jinja {

class Value;
struct CallArgs;
class Interpreter;

using ValueList = std::vector<Value>;

// A dict keeps insertion order (Python 3.7+ dicts and JSON objects as transformers loads them).
struct Dict {
  std::vector<std::pair<std::string, Value>> entries;
  const Value* find(const std::string& key) const;
  Value* find(const std::string& key);
  void set(const std::string& key, Value value);
};

// A builtin function or a macro: called with evaluated arguments.
struct Callable {
  std::string name;
  std::function<Value(CallArgs&, Interpreter&)> call;
};

class Value {
 public:
  // Generator: what jinja2's map/select/reject/unique/items/reverse filters return, a lazy
  // iterator: always true, no len(), not JSON, usable in for loops and by |list or |join.
  enum class Kind { Undefined, None, Bool, Int, Float, String, List, Tuple, Dict, Namespace, Callable, Generator };

  Value() = default;  // undefined
  static Value undefined(std::string hint) {
    Value v;
    v.text_ = std::move(hint);
    return v;
  }
  static Value none() { return Value(Kind::None); }
  static Value boolean(bool b) {
    Value v(Kind::Bool);
    v.int_ = b ? 1 : 0;
    return v;
  }
  static Value integer(int64_t i) {
    Value v(Kind::Int);
    v.int_ = i;
    return v;
  }
  static Value number(double d) {
    Value v(Kind::Float);
    v.float_ = d;
    return v;
  }
  static Value string(std::string s, bool markup = false) {
    Value v(Kind::String);
    v.text_ = std::move(s);
    v.markup_ = markup;
    return v;
  }
  static Value list(ValueList items = {});
  // dict.items()/keys()/values(): a list that prints as Python's view ("dict_items([...])").
  static Value dict_view(const char* view, ValueList items);
  static Value tuple(ValueList items);
  static Value generator(ValueList items);
  static Value dict(Dict d = {});
  static Value namespace_object(Dict d);
  static Value callable(std::string name, std::function<Value(CallArgs&, Interpreter&)> fn);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_int() const { return kind_ == Kind::Int; }
  bool is_float() const { return kind_ == Kind::Float; }
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_markup() const { return is_string() && markup_; }
  bool is_sequence() const { return kind_ == Kind::List || kind_ == Kind::Tuple; }
  bool is_list() const { return kind_ == Kind::List; }
  bool is_tuple() const { return kind_ == Kind::Tuple; }
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_namespace() const { return kind_ == Kind::Namespace; }
  bool is_callable() const { return kind_ == Kind::Callable; }
  bool is_generator() const { return kind_ == Kind::Generator; }
  const char* view_name() const { return view_; }  // nullptr unless a dict view

  bool as_bool() const { return int_ != 0; }
  int64_t as_int() const { return int_; }  // also a bool's 0/1
  double as_double() const { return is_float() ? float_ : static_cast<double>(int_); }
  const std::string& as_string() const { return text_; }
  const std::string& undefined_hint() const { return text_; }
  ValueList& items() const { return *list_; }
  Dict& entries() const { return *dict_; }
  const Callable& function() const { return *callable_; }

  bool truthy() const;
  // Python's str(): what {{ value }} prints (Undefined prints nothing).
  std::string str() const;
  // Python's repr(): how a value prints inside a printed list or dict.
  std::string repr() const;
  // jinja2's object_type_repr: "'dict object'", used in undefined-attribute messages.
  std::string type_name() const;

 private:
  explicit Value(Kind k) : kind_(k) {}
  Kind kind_ = Kind::Undefined;
  bool markup_ = false;
  const char* view_ = nullptr;
  int64_t int_ = 0;
  double float_ = 0;
  std::string text_;
  std::shared_ptr<ValueList> list_;
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<Callable> callable_;
};

// Python ==, across kinds (1 == 1.0 == True; a list equals a list with equal items).
bool values_equal(const Value& a, const Value& b);

// Positional and keyword arguments of a call, with the line of the call for errors.
struct CallArgs {
  ValueList positional;
  std::vector<std::pair<std::string, Value>> keyword;
  int line = 0;
  // The argument named `name` or at `index`, else `fallback`; marks it used.
  Value get(size_t index, const std::string& name, Value fallback = Value()) const;
  bool has(size_t index, const std::string& name) const;
};

// Python's repr of a float (shortest round trip: 1.0, 0.1, 1e+16, 1e-05).
std::string python_float_repr(double d);

}  // namespace lingua::jinja
