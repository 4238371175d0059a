// Splits a template into text and the tokens inside {{ }} and {% %}, applying the whitespace
// rules Hugging Face configures (trim_blocks, lstrip_blocks, {%- -%} control, no trailing newline).
#pragma once
#include <string>
#include <vector>

namespace lingua::jinja {

enum class TokenType {
  Text,        // literal template text (already whitespace-trimmed)
  VarBegin,    // {{
  VarEnd,      // }}
  BlockBegin,  // {%
  BlockEnd,    // %}
  Name,
  String,
  Integer,
  Float,
  Operator,
  End,
};

struct Token {
  TokenType type;
  std::string value;  // text, name, unescaped string, number spelling or operator
  int line;
};

// Throws TemplateError naming the line on an unterminated tag, comment or string.
std::vector<Token> tokenize_template(const std::string& source);

}  // namespace lingua::jinja
