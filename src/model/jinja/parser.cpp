// Recursive-descent parser over the lexer's tokens. Grammar and precedence follow jinja2's
// (or < and < not < comparisons < + - < ~ < * / // % < ** < unary, then postfix and filters).
#include "model/jinja/parser.h"

#include <set>

#include "model/jinja/builtins.h"
#include "model/jinja/error.h"
#include "model/jinja/lexer.h"

namespace lingua::jinja {
namespace {

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  NodeList parse_root() {
    NodeList body = parse_body({});
    if (cur().type != TokenType::End) throw TemplateError(cur().line, "unexpected token");
    return body;
  }

 private:
  const Token& cur() const { return toks_[pos_]; }
  const Token& peek(size_t ahead = 1) const {
    return toks_[std::min(pos_ + ahead, toks_.size() - 1)];
  }
  Token next() { return toks_[pos_ < toks_.size() - 1 ? pos_++ : pos_]; }
  bool is_op(const char* op) const { return cur().type == TokenType::Operator && cur().value == op; }
  bool is_name(const char* n) const { return cur().type == TokenType::Name && cur().value == n; }
  bool accept_op(const char* op) {
    if (!is_op(op)) return false;
    ++pos_;
    return true;
  }
  bool accept_name(const char* n) {
    if (!is_name(n)) return false;
    ++pos_;
    return true;
  }
  std::string describe(const Token& t) const {
    switch (t.type) {
      case TokenType::End: return "end of template";
      case TokenType::BlockEnd: return "'%}'";
      case TokenType::VarEnd: return "'}}'";
      case TokenType::Text: return "template text";
      default: return "'" + t.value + "'";
    }
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw TemplateError(cur().line, what + ", found " + describe(cur()));
  }
  void expect_op(const char* op) {
    if (!accept_op(op)) fail(std::string("expected '") + op + "'");
  }
  std::string expect_name() {
    if (cur().type != TokenType::Name) fail("expected a name");
    return next().value;
  }
  void expect_block_end() {
    if (cur().type != TokenType::BlockEnd) fail("expected '%}'");
    ++pos_;
  }

  // Statements up to (not including) a {% tag %} whose name is in end_tags.
  // Nesting beyond this is refused rather than risking the stack on a hostile template.
  static constexpr int kMaxDepth = 256;
  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxDepth)
        throw TemplateError(p.cur().line, "template nests deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    ~DepthGuard() { --p.depth_; }
  };

  NodeList parse_body(const std::set<std::string>& end_tags) {
    DepthGuard guard(*this);
    NodeList body;
    while (true) {
      const Token& t = cur();
      if (t.type == TokenType::End) {
        if (!end_tags.empty())
          throw TemplateError(t.line, "unexpected end of template, expected one of the tags " + join_tags(end_tags));
        return body;
      }
      if (t.type == TokenType::Text) {
        auto n = make_node(NodeKind::Text, t.line);
        n->name = t.value;
        body.push_back(n);
        ++pos_;
      } else if (t.type == TokenType::VarBegin) {
        ++pos_;
        auto n = make_node(NodeKind::Output, t.line);
        n->children.push_back(parse_tuple_expr());
        if (cur().type != TokenType::VarEnd) fail("expected '}}'");
        ++pos_;
        body.push_back(n);
      } else if (t.type == TokenType::BlockBegin) {
        const Token& tag = peek();
        if (tag.type == TokenType::Name && end_tags.count(tag.value)) return body;
        ++pos_;
        body.push_back(parse_statement());
      } else {
        fail("unexpected token");
      }
    }
  }

  static std::string join_tags(const std::set<std::string>& tags) {
    std::string s;
    for (const auto& t : tags) s += (s.empty() ? "'" : ", '") + t + "'";
    return s;
  }

  NodePtr parse_statement() {
    const int line = cur().line;
    if (cur().type != TokenType::Name) fail("expected a statement name");
    const std::string tag = next().value;
    if (tag == "if") return parse_if(line);
    if (tag == "for") return parse_for(line);
    if (tag == "set") return parse_set(line);
    if (tag == "macro") return parse_macro(line);
    if (tag == "filter") return parse_filter_block(line);
    if (tag == "generation") {
      expect_block_end();
      auto n = make_node(NodeKind::Generation, line);
      n->body = parse_body({"endgeneration"});
      close_tag("endgeneration");
      return n;
    }
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) throw TemplateError(line, "'" + tag + "' outside of a for loop");
      expect_block_end();
      return make_node(tag == "break" ? NodeKind::Break : NodeKind::Continue, line);
    }
    static const std::set<std::string> kUnsupported = {"call", "include", "import", "from", "extends",
                                                       "block", "raw", "with", "autoescape", "do", "trans"};
    if (kUnsupported.count(tag)) throw TemplateError(line, "statement '" + tag + "' is not supported");
    throw TemplateError(line, "unknown statement '" + tag + "'");
  }

  void close_tag(const char* name) {
    ++pos_;  // BlockBegin
    if (!accept_name(name)) fail(std::string("expected '") + name + "'");
    expect_block_end();
  }

  NodePtr parse_if(int line) {
    auto n = make_node(NodeKind::If, line);
    n->children.push_back(parse_tuple_expr());
    expect_block_end();
    while (true) {
      n->branches.push_back(parse_body({"elif", "else", "endif"}));
      ++pos_;  // BlockBegin
      const std::string tag = next().value;
      if (tag == "elif") {
        n->children.push_back(parse_tuple_expr());
        expect_block_end();
        continue;
      }
      expect_block_end();
      if (tag == "else") {
        n->else_body = parse_body({"endif"});
        close_tag("endif");
      }
      return n;
    }
  }

  std::vector<std::string> parse_targets() {
    std::vector<std::string> names;
    const bool paren = accept_op("(");
    do {
      names.push_back(expect_name());
    } while (accept_op(","));
    if (paren) expect_op(")");
    return names;
  }

  NodePtr parse_for(int line) {
    auto n = make_node(NodeKind::For, line);
    n->targets = parse_targets();
    if (!accept_name("in")) fail("expected 'in'");
    n->children.push_back(parse_tuple_expr(/*with_condexpr=*/false));
    n->children.push_back(accept_name("if") ? parse_expression() : nullptr);
    if (accept_name("recursive")) throw TemplateError(line, "recursive for loops are not supported");
    expect_block_end();
    ++loop_depth_;
    n->body = parse_body({"endfor", "else"});
    --loop_depth_;
    ++pos_;
    const std::string tag = next().value;
    expect_block_end();
    if (tag == "else") {
      n->else_body = parse_body({"endfor"});
      close_tag("endfor");
    }
    return n;
  }

  NodePtr parse_set(int line) {
    const std::string first = expect_name();
    if (accept_op(".")) {
      auto n = make_node(NodeKind::Set, line);
      n->name = first;
      n->targets.push_back(expect_name());
      expect_op("=");
      n->children.push_back(parse_tuple_expr());
      expect_block_end();
      return n;
    }
    std::vector<std::string> targets{first};
    while (accept_op(",")) targets.push_back(expect_name());
    if (accept_op("=")) {
      auto n = make_node(NodeKind::Set, line);
      n->targets = targets;
      n->children.push_back(parse_tuple_expr());
      expect_block_end();
      return n;
    }
    if (targets.size() != 1) fail("expected '='");
    auto n = make_node(NodeKind::SetBlock, line);
    n->targets = targets;
    while (accept_op("|")) n->children.push_back(parse_filter(nullptr));
    expect_block_end();
    n->body = parse_body({"endset"});
    close_tag("endset");
    return n;
  }

  NodePtr parse_macro(int line) {
    auto n = make_node(NodeKind::Macro, line);
    n->name = expect_name();
    expect_op("(");
    while (!accept_op(")")) {
      if (!n->targets.empty()) expect_op(",");
      if (accept_op(")")) break;
      n->targets.push_back(expect_name());
      n->children.push_back(accept_op("=") ? parse_expression() : nullptr);
    }
    expect_block_end();
    const int saved = loop_depth_;
    loop_depth_ = 0;
    n->body = parse_body({"endmacro"});
    loop_depth_ = saved;
    close_tag("endmacro");
    return n;
  }

  NodePtr parse_filter_block(int line) {
    auto n = make_node(NodeKind::FilterBlock, line);
    NodePtr chain = parse_filter(nullptr);
    while (accept_op("|")) chain = parse_filter(chain);
    n->children.push_back(chain);
    expect_block_end();
    n->body = parse_body({"endfilter"});
    close_tag("endfilter");
    return n;
  }

  // Expressions ---------------------------------------------------------------------------

  // A bare `a, b` is a tuple (jinja2 allows it in {{ }}, set and for).
  NodePtr parse_tuple_expr(bool with_condexpr = true) {
    const int line = cur().line;
    NodePtr first = with_condexpr ? parse_expression() : parse_or();
    if (!is_op(",")) return first;
    auto t = make_node(NodeKind::TupleLit, line);
    t->children.push_back(first);
    while (accept_op(",")) {
      if (cur().type == TokenType::BlockEnd || cur().type == TokenType::VarEnd || is_op(")")) break;
      t->children.push_back(with_condexpr ? parse_expression() : parse_or());
    }
    return t;
  }

  NodePtr parse_expression() {
    NodePtr expr = parse_or();
    while (is_name("if")) {
      const int line = next().line;
      auto n = make_node(NodeKind::Conditional, line);
      n->children.push_back(parse_or());
      n->children.push_back(expr);
      n->children.push_back(accept_name("else") ? parse_expression() : nullptr);
      expr = n;
    }
    return expr;
  }

  NodePtr binary(const std::string& op, NodePtr l, NodePtr r, int line) {
    auto n = make_node(NodeKind::Binary, line);
    n->name = op;
    n->children = {std::move(l), std::move(r)};
    return n;
  }

  NodePtr parse_or() {
    NodePtr l = parse_and();
    while (is_name("or")) {
      const int line = next().line;
      l = binary("or", l, parse_and(), line);
    }
    return l;
  }
  NodePtr parse_and() {
    NodePtr l = parse_not();
    while (is_name("and")) {
      const int line = next().line;
      l = binary("and", l, parse_not(), line);
    }
    return l;
  }
  NodePtr parse_not() {
    if (is_name("not")) {
      const int line = next().line;
      auto n = make_node(NodeKind::Unary, line);
      n->name = "not";
      n->children.push_back(parse_not());
      return n;
    }
    return parse_compare();
  }
  NodePtr parse_compare() {
    NodePtr l = parse_math1();
    while (true) {
      const int line = cur().line;
      std::string op;
      if (cur().type == TokenType::Operator &&
          (cur().value == "==" || cur().value == "!=" || cur().value == "<" || cur().value == ">" ||
           cur().value == "<=" || cur().value == ">=")) {
        op = next().value;
      } else if (is_name("in")) {
        ++pos_;
        op = "in";
      } else if (is_name("not") && peek().type == TokenType::Name && peek().value == "in") {
        pos_ += 2;
        op = "not in";
      } else {
        return l;
      }
      l = binary(op, l, parse_math1(), line);
    }
  }
  NodePtr parse_math1() {
    NodePtr l = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token t = next();
      l = binary(t.value, l, parse_concat(), t.line);
    }
    return l;
  }
  NodePtr parse_concat() {
    NodePtr l = parse_math2();
    while (is_op("~")) {
      const int line = next().line;
      l = binary("~", l, parse_math2(), line);
    }
    return l;
  }
  NodePtr parse_math2() {
    NodePtr l = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token t = next();
      l = binary(t.value, l, parse_pow(), t.line);
    }
    return l;
  }
  NodePtr parse_pow() {
    NodePtr l = parse_unary(true);
    while (is_op("**")) {
      const int line = next().line;
      l = binary("**", l, parse_unary(true), line);
    }
    return l;
  }
  NodePtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    NodePtr node;
    if (is_op("-") || is_op("+")) {
      const Token t = next();
      node = make_node(NodeKind::Unary, t.line);
      node->name = t.value;
      node->children.push_back(parse_unary(false));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(node);
    if (with_filter) node = parse_filter_expr(node);
    return node;
  }

  NodePtr parse_primary() {
    const Token t = cur();
    switch (t.type) {
      case TokenType::Name: {
        ++pos_;
        auto lit = make_node(NodeKind::Literal, t.line);
        if (t.value == "true" || t.value == "True") {
          lit->literal = Value::boolean(true);
        } else if (t.value == "false" || t.value == "False") {
          lit->literal = Value::boolean(false);
        } else if (t.value == "none" || t.value == "None") {
          lit->literal = Value::none();
        } else {
          auto n = make_node(NodeKind::Name, t.line);
          n->name = t.value;
          return n;
        }
        return lit;
      }
      case TokenType::String: {
        std::string s;
        while (cur().type == TokenType::String) s += next().value;  // adjacent literals join
        auto lit = make_node(NodeKind::Literal, t.line);
        lit->literal = Value::string(s);
        return lit;
      }
      case TokenType::Integer: {
        ++pos_;
        auto lit = make_node(NodeKind::Literal, t.line);
        try {
          lit->literal = Value::integer(std::stoll(t.value));
        } catch (const std::exception&) {
          throw TemplateError(t.line, "integer literal " + t.value + " is too large");
        }
        return lit;
      }
      case TokenType::Float: {
        ++pos_;
        auto lit = make_node(NodeKind::Literal, t.line);
        lit->literal = Value::number(std::stod(t.value));
        return lit;
      }
      case TokenType::Operator:
        if (t.value == "(") {
          ++pos_;
          if (accept_op(")")) return make_node(NodeKind::TupleLit, t.line);
          NodePtr inner = parse_tuple_expr();
          expect_op(")");
          return inner;
        }
        if (t.value == "[") {
          ++pos_;
          auto n = make_node(NodeKind::ListLit, t.line);
          while (!accept_op("]")) {
            if (!n->children.empty()) expect_op(",");
            if (accept_op("]")) break;
            n->children.push_back(parse_expression());
          }
          return n;
        }
        if (t.value == "{") {
          ++pos_;
          auto n = make_node(NodeKind::DictLit, t.line);
          while (!accept_op("}")) {
            if (!n->children.empty()) expect_op(",");
            if (accept_op("}")) break;
            n->children.push_back(parse_expression());
            expect_op(":");
            n->children.push_back(parse_expression());
          }
          return n;
        }
        break;
      default: break;
    }
    fail("expected an expression");
  }

  void parse_call_args(const NodePtr& call) {
    // after '('
    bool first = true;
    while (!accept_op(")")) {
      if (!first) expect_op(",");
      first = false;
      if (accept_op(")")) break;
      if (is_op("*") || is_op("**")) throw TemplateError(cur().line, "*args and **kwargs in calls are not supported");
      if (cur().type == TokenType::Name && peek().type == TokenType::Operator && peek().value == "=") {
        const std::string key = next().value;
        ++pos_;
        call->kwargs.emplace_back(key, parse_expression());
      } else {
        if (!call->kwargs.empty()) fail("positional argument after a keyword argument");
        call->children.push_back(parse_expression());
      }
    }
  }

  NodePtr parse_postfix(NodePtr node) {
    while (true) {
      const int line = cur().line;
      if (accept_op(".")) {
        auto n = make_node(NodeKind::GetAttr, line);
        if (cur().type == TokenType::Integer) {
          n = make_node(NodeKind::GetItem, line);
          auto idx = make_node(NodeKind::Literal, line);
          idx->literal = Value::integer(std::stoll(next().value));
          n->children = {node, idx};
        } else {
          n->name = expect_name();
          n->children.push_back(node);
        }
        node = n;
      } else if (accept_op("[")) {
        node = parse_subscript(node, line);
      } else if (accept_op("(")) {
        auto n = make_node(NodeKind::Call, line);
        n->children.push_back(node);
        parse_call_args(n);
        node = n;
      } else {
        return node;
      }
    }
  }

  NodePtr parse_subscript(NodePtr obj, int line) {
    NodePtr parts[3];
    bool slice = false;
    for (int i = 0; i < 3; ++i) {
      if (!is_op(":") && !is_op("]")) parts[i] = parse_expression();
      if (i < 2 && accept_op(":")) {
        slice = true;
        continue;
      }
      break;
    }
    expect_op("]");
    if (!slice) {
      if (!parts[0]) throw TemplateError(line, "empty subscript");
      auto n = make_node(NodeKind::GetItem, line);
      n->children = {obj, parts[0]};
      return n;
    }
    auto n = make_node(NodeKind::Slice, line);
    n->children = {obj, parts[0], parts[1], parts[2]};
    return n;
  }

  NodePtr parse_filter(NodePtr operand) {
    const int line = cur().line;
    std::string name = expect_name();
    while (accept_op(".")) name += "." + expect_name();
    if (!is_supported_filter(name)) throw TemplateError(line, "filter '" + name + "' is not supported");
    auto n = make_node(NodeKind::Filter, line);
    n->name = name;
    n->children.push_back(operand);
    if (accept_op("(")) parse_call_args(n);
    return n;
  }

  NodePtr parse_filter_expr(NodePtr node) {
    while (true) {
      if (accept_op("|")) {
        node = parse_filter(node);
      } else if (is_name("is")) {
        const int line = next().line;
        auto n = make_node(NodeKind::Test, line);
        n->flag = accept_name("not");
        n->name = expect_name();
        if (!is_supported_test(n->name)) throw TemplateError(line, "test '" + n->name + "' is not supported");
        n->children.push_back(node);
        if (accept_op("(")) {
          parse_call_args(n);
        } else if ((cur().type == TokenType::Name || cur().type == TokenType::String ||
                    cur().type == TokenType::Integer || cur().type == TokenType::Float || is_op("[") ||
                    is_op("{")) &&
                   !is_name("else") && !is_name("or") && !is_name("and") && !is_name("if")) {
          if (is_name("is")) fail("cannot chain tests with 'is'");
          n->children.push_back(parse_postfix(parse_primary()));
        }
        node = n;
      } else if (accept_op("(")) {
        auto n = make_node(NodeKind::Call, cur().line);
        n->children.push_back(node);
        parse_call_args(n);
        node = n;
      } else {
        return node;
      }
    }
  }

  std::vector<Token> toks_;
  size_t pos_ = 0;
  int loop_depth_ = 0;
  int depth_ = 0;
};

}  // namespace

NodeList parse_template(const std::string& source) { return Parser(tokenize_template(source)).parse_root(); }

}  // namespace lingua::jinja
