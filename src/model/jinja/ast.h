// The parsed template: one node type for expressions and statements, each with its source line
// so a failure while rendering names the line it happened on.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/jinja/value.h"

namespace lingua::jinja {

enum class NodeKind {
  // expressions
  Literal,    // literal
  Name,       // name
  ListLit,    // children
  TupleLit,   // children
  DictLit,    // children: key, value, key, value, ...
  GetAttr,    // children[0] . name
  GetItem,    // children[0] [ children[1] ]
  Slice,      // children[0] [ children[1] : children[2] : children[3] ] (null parts allowed)
  Call,       // children[0] ( children[1..], kwargs )
  Filter,     // children[0] | name ( children[1..], kwargs )
  Test,       // children[0] is [not] name ( children[1..], kwargs ); flag = negated
  Unary,      // name (not, -, +) children[0]
  Binary,     // name (op) children[0], children[1]
  Conditional,  // children[1] if children[0] else children[2] (null: undefined)
  // statements
  Text,       // name holds the text
  Output,     // {{ children[0] }}
  If,         // children: conditions; branches: bodies; else_body
  For,        // targets in children[0] [if children[1]]: body, else_body
  Set,        // targets (or namespace attribute: name = ns, targets[0] = attr) = children[0]
  SetBlock,   // targets[0] = rendered body, then filters in children (Filter nodes over null)
  Macro,      // name(targets = params, children = defaults or null): body
  FilterBlock,  // children[0]: Filter chain over null; body
  Break,
  Continue,
  Generation,  // transformers' {% generation %} block: renders its body
};

struct Node;
using NodePtr = std::shared_ptr<Node>;
using NodeList = std::vector<NodePtr>;

struct Node {
  NodeKind kind;
  int line = 0;
  std::string name;
  Value literal;
  NodeList children;
  std::vector<std::pair<std::string, NodePtr>> kwargs;
  std::vector<std::string> targets;
  std::vector<NodeList> branches;
  NodeList body;
  NodeList else_body;
  bool flag = false;
};

inline NodePtr make_node(NodeKind kind, int line) {
  auto n = std::make_shared<Node>();
  n->kind = kind;
  n->line = line;
  return n;
}

}  // namespace lingua::jinja
