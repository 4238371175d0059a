// Renders a parsed template: evaluates expressions with Python semantics and runs statements
// with jinja2's scoping (for loops and macros open a scope; if does not; namespaces cross them).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "model/jinja/ast.h"
#include "model/jinja/value.h"

namespace lingua::jinja {

class Interpreter {
 public:
  // `globals`: builtins plus the render variables (messages, add_generation_prompt, ...).
  explicit Interpreter(Dict globals);

  // Throws TemplateError (or RaisedError from raise_exception) with the failing line.
  std::string render(const NodeList& body);

  Value eval(const Node& node);

 private:
  enum class Flow { Normal, Break, Continue };
  using Frame = std::shared_ptr<Dict>;

  Flow exec_body(const NodeList& body, std::string& out);
  Flow exec(const Node& node, std::string& out);
  void exec_for(const Node& node, std::string& out);
  void exec_set(const Node& node);
  void define_macro(const Node& node);
  struct MacroInfo {
    const Node* node;
    std::vector<Frame> closure;
    bool uses_varargs, uses_kwargs;  // a body naming them takes extra arguments (jinja2)
  };
  Value call_macro(const MacroInfo& macro, CallArgs& args);

  Value lookup(const std::string& name) const;
  void assign(const std::string& name, Value value);
  void assign_targets(const std::vector<std::string>& targets, const Value& value, int line);
  Value apply_filter_node(const Node& node, const Value& operand);
  CallArgs eval_args(const Node& node, size_t first_child);
  Value eval_binary(const Node& node);

  Dict globals_;
  std::vector<Frame> frames_;
  int macro_depth_ = 0;
};

// Helpers shared with the filters: Python semantics on values.
Value get_attribute(const Value& object, const std::string& name, int line);
Value get_item(const Value& object, const Value& key, int line);
ValueList iterate(const Value& value, int line);  // what `for x in value` walks
bool contains(const Value& container, const Value& item, int line);
int64_t length_of(const Value& value, int line);
[[noreturn]] void fail_undefined(const Value& undefined, int line);

}  // namespace lingua::jinja
