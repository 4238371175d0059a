// Template lexing with jinja2's whitespace rules as transformers sets them: trim_blocks (the
// newline after a block or comment tag goes), lstrip_blocks (indentation before a block or
// comment tag on its own line goes), `-` strips all whitespace on that side, `+` keeps it.
#include "model/jinja/lexer.h"

#include <algorithm>
#include <cctype>

#include "model/jinja/error.h"
#include "model/jinja/text.h"

namespace lingua::jinja {
namespace {

std::string normalize_newlines(const std::string& in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\r') {
      out += '\n';
      if (i + 1 < in.size() && in[i + 1] == '\n') ++i;
    } else {
      out += in[i];
    }
  }
  // keep_trailing_newline is off: one final newline of the source is dropped.
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Skips Python whitespace (Unicode \s) from pos; returns the new position.
size_t skip_space(const std::string& s, size_t pos) {
  while (pos < s.size()) {
    const size_t len = std::min<size_t>(4, s.size() - pos);
    const auto cps = decode_code_points(std::string_view(s).substr(pos, len));
    if (cps.empty() || !is_python_space(cps[0])) break;
    std::string enc;
    append_code_point(enc, cps[0]);
    pos += enc.size();
  }
  return pos;
}

int count_newlines(const std::string& s, size_t from, size_t to) {
  return static_cast<int>(std::count(s.begin() + static_cast<long>(from),
                                     s.begin() + static_cast<long>(std::min(to, s.size())), '\n'));
}

bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

void append_hex_escape(std::string& out, const std::string& s, size_t& i, int digits, int line) {
  if (i + static_cast<size_t>(digits) >= s.size() + 1)
    throw TemplateError(line, "truncated \\x/\\u escape in a string literal");
  uint32_t cp = 0;
  for (int k = 0; k < digits; ++k) {
    const char c = s[i + static_cast<size_t>(k)];
    if (!std::isxdigit(static_cast<unsigned char>(c)))
      throw TemplateError(line, "bad \\x/\\u escape in a string literal");
    cp = cp * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (std::tolower(c) - 'a' + 10));
  }
  i += static_cast<size_t>(digits);
  append_code_point(out, cp);
}

// A Python string literal's escapes (as jinja2 decodes them with unicode-escape).
std::string unescape(const std::string& body, int line) {
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '\\' || i + 1 == body.size()) {
      out += body[i];
      continue;
    }
    const char c = body[++i];
    switch (c) {
      case '\n': break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case 'x': ++i; append_hex_escape(out, body, i, 2, line); --i; break;
      case 'u': ++i; append_hex_escape(out, body, i, 4, line); --i; break;
      case 'U': ++i; append_hex_escape(out, body, i, 8, line); --i; break;
      default:
        if (c >= '0' && c <= '7') {
          uint32_t cp = 0;
          int n = 0;
          while (n < 3 && i < body.size() && body[i] >= '0' && body[i] <= '7') {
            cp = cp * 8 + static_cast<uint32_t>(body[i] - '0');
            ++i;
            ++n;
          }
          --i;
          append_code_point(out, cp);
        } else {
          out += '\\';
          out += c;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(const std::string& source) : src_(normalize_newlines(source)) {}

  std::vector<Token> run() {
    bool line_starting = true;
    while (pos_ < src_.size()) {
      const size_t tag = next_tag(pos_);
      std::string text = src_.substr(pos_, tag == std::string::npos ? std::string::npos : tag - pos_);
      if (tag == std::string::npos) {
        emit_text(text, line_);
        break;
      }
      const char kind = src_[tag + 1];
      const char mod = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
      const bool has_mod = mod == '-' || (mod == '+' && kind != '{');
      if (mod == '-') {
        text = python_strip(text, false, true, nullptr);
      } else if (mod != '+' && kind != '{') {
        const size_t l_pos = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
        if (l_pos > 0 || line_starting) {
          const std::string tail = text.substr(l_pos);
          if (!tail.empty() && python_strip(tail, true, true, nullptr).empty()) text.resize(l_pos);
        }
      }
      emit_text(text, line_);
      line_ += count_newlines(src_, pos_, tag);
      pos_ = tag + 2 + (has_mod ? 1 : 0);
      if (kind == '#')
        lex_comment();
      else
        lex_tag(kind == '{');
      line_starting = src_[pos_ - 1] == '\n';
    }
    tokens_.push_back({TokenType::End, "", line_});
    return std::move(tokens_);
  }

 private:
  size_t next_tag(size_t from) const {
    size_t p = from;
    while ((p = src_.find('{', p)) != std::string::npos) {
      if (p + 1 < src_.size() && (src_[p + 1] == '{' || src_[p + 1] == '%' || src_[p + 1] == '#'))
        return p;
      ++p;
    }
    return std::string::npos;
  }

  void emit_text(const std::string& text, int line) {
    if (!text.empty()) tokens_.push_back({TokenType::Text, text, line});
  }

  // After a tag's closing characters: `-` strips whitespace, else trim_blocks eats one newline.
  void after_close(size_t close_end, bool strip, bool trim_newline) {
    size_t p = close_end;
    if (strip) {
      p = skip_space(src_, p);
    } else if (trim_newline && p < src_.size() && src_[p] == '\n') {
      ++p;
    }
    line_ += count_newlines(src_, close_end, p);
    pos_ = p;
  }

  void lex_comment() {
    const int start_line = line_;
    const size_t end = src_.find("#}", pos_);
    if (end == std::string::npos) throw TemplateError(start_line, "unterminated comment {# ... #}");
    const bool strip = end > pos_ && src_[end - 1] == '-';
    const bool keep = end > pos_ && src_[end - 1] == '+';
    line_ += count_newlines(src_, pos_, end);
    after_close(end + 2, strip, !keep);
  }

  void lex_tag(bool variable) {
    const int start_line = line_;
    tokens_.push_back({variable ? TokenType::VarBegin : TokenType::BlockBegin, "", line_});
    int depth = 0;
    while (true) {
      // whitespace inside the tag
      while (pos_ < src_.size() && std::isspace(static_cast<unsigned char>(src_[pos_]))) {
        if (src_[pos_] == '\n') ++line_;
        ++pos_;
      }
      if (pos_ >= src_.size())
        throw TemplateError(start_line, std::string("unterminated tag ") + (variable ? "{{ ... }}" : "{% ... %}"));
      const char closer = variable ? '}' : '%';
      if (depth == 0) {
        const bool dash = src_.compare(pos_, 3, std::string("-") + closer + "}") == 0;
        const bool plus = !variable && src_.compare(pos_, 3, "+%}") == 0;
        if (dash || plus || src_.compare(pos_, 2, std::string(1, closer) + "}") == 0) {
          tokens_.push_back({variable ? TokenType::VarEnd : TokenType::BlockEnd, "", line_});
          after_close(pos_ + ((dash || plus) ? 3 : 2), dash, !variable && !plus);
          return;
        }
      }
      const char c = src_[pos_];
      if (c == '\'' || c == '"') {
        lex_string(c);
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        lex_number();
      } else if (is_name_start(c)) {
        size_t e = pos_;
        while (e < src_.size() && is_name_char(src_[e])) ++e;
        tokens_.push_back({TokenType::Name, src_.substr(pos_, e - pos_), line_});
        pos_ = e;
      } else {
        static const char* kOps[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~",
                                     "(", ")", "[", "]", "{", "}", ",", ".", ":", "|", "=", "<", ">"};
        bool found = false;
        for (const char* op : kOps) {
          const std::string o(op);
          if (src_.compare(pos_, o.size(), o) == 0) {
            if (o == "(" || o == "[" || o == "{") ++depth;
            if ((o == ")" || o == "]" || o == "}") && depth > 0) --depth;
            tokens_.push_back({TokenType::Operator, o, line_});
            pos_ += o.size();
            found = true;
            break;
          }
        }
        if (!found) throw TemplateError(line_, std::string("unexpected character '") + c + "' in a tag");
      }
    }
  }

  void lex_string(char quote) {
    const int start_line = line_;
    size_t p = pos_ + 1;
    while (p < src_.size() && src_[p] != quote) {
      if (src_[p] == '\\') ++p;
      ++p;
    }
    if (p >= src_.size()) throw TemplateError(start_line, "unterminated string literal");
    const std::string body = src_.substr(pos_ + 1, p - pos_ - 1);
    line_ += count_newlines(src_, pos_, p);
    tokens_.push_back({TokenType::String, unescape(body, start_line), start_line});
    pos_ = p + 1;
  }

  void lex_number() {
    size_t p = pos_;
    auto digits = [&] {
      while (p < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[p])) || src_[p] == '_')) ++p;
    };
    digits();
    bool is_float = false;
    if (p + 1 < src_.size() && src_[p] == '.' && std::isdigit(static_cast<unsigned char>(src_[p + 1]))) {
      is_float = true;
      ++p;
      digits();
    }
    if (p < src_.size() && (src_[p] == 'e' || src_[p] == 'E')) {
      size_t q = p + 1;
      if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (q < src_.size() && std::isdigit(static_cast<unsigned char>(src_[q]))) {
        is_float = true;
        p = q;
        digits();
      }
    }
    std::string spelled;
    for (size_t i = pos_; i < p; ++i)
      if (src_[i] != '_') spelled += src_[i];
    tokens_.push_back({is_float ? TokenType::Float : TokenType::Integer, spelled, line_});
    pos_ = p;
  }

  std::string src_;
  size_t pos_ = 0;
  int line_ = 1;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize_template(const std::string& source) { return Lexer(source).run(); }

}  // namespace lingua::jinja
