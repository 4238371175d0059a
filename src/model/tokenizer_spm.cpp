// SentencePiece BPE encoding and decoding. llama.cpp (src/llama-vocab.cpp) is the reference for
// every rule here; parity tests compare against its recorded output.
#include "model/tokenizer_spm.h"

#include "model/special_split.h"

#include <algorithm>
#include <cstdio>
#include <queue>

namespace lingua {
namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

std::string escape_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  for (char c : text) {
    if (c == ' ') {
      out += kSpaceMark;
    } else {
      out += c;
    }
  }
  return out;
}

std::string unescape_spaces(const std::string& piece) {
  std::string out;
  out.reserve(piece.size());
  for (size_t i = 0; i < piece.size();) {
    if (piece.compare(i, kSpaceMark.size(), kSpaceMark) == 0) {
      out += ' ';
      i += kSpaceMark.size();
    } else {
      out += piece[i++];
    }
  }
  return out;
}

// "<0x41>" -> 0x41; -1 for anything else.
int parse_byte_piece(const std::string& piece) {
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return -1;
  int value = 0;
  for (size_t i = 3; i < 5; ++i) {
    const char c = piece[i];
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return -1;
    }
    value = value * 16 + digit;
  }
  return value;
}

// Length of the UTF-8 character starting with `lead`. Input was validated, so the lead byte is
// trustworthy; the caller still clamps at the end of the text.
size_t utf8_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

}  // namespace

Expected<std::unique_ptr<Tokenizer>> SpmTokenizer::create(Vocab vocab) {
  LINGUA_TRY(vocab.validate());
  return std::unique_ptr<Tokenizer>(new SpmTokenizer(std::move(vocab)));
}

SpmTokenizer::SpmTokenizer(Vocab vocab) : Tokenizer(std::move(vocab)) {
  const TokenId n = vocab_.size();
  piece_to_id_.reserve(static_cast<size_t>(n));
  for (TokenId id = 0; id < n; ++id) {
    // An empty piece could never be merged into or matched; a later duplicate wins, as in the
    // reference's piece map.
    if (!vocab_.pieces[id].empty()) piece_to_id_[vocab_.pieces[id]] = id;
  }

  // Byte fallback looks for "<0xNN>" first, then for the byte as a one-character piece.
  static const char kHex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    const char name[] = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'};
    auto it = piece_to_id_.find(std::string_view(name, sizeof name));
    if (it == piece_to_id_.end()) {
      const char single = static_cast<char>(b);
      it = piece_to_id_.find(std::string_view(&single, 1));
    }
    byte_to_id_[b] = it != piece_to_id_.end() ? it->second : vocab_.unk;
  }

  specials_ = special_token_candidates(vocab_);
}

float SpmTokenizer::score(TokenId id) const {
  return static_cast<size_t>(id) < vocab_.scores.size() ? vocab_.scores[id] : 0.0f;
}

TokenType SpmTokenizer::type(TokenId id) const { return token_type(vocab_, id); }

Expected<std::vector<TokenId>> SpmTokenizer::encode(const std::string& text,
                                                    const TokenizeOptions& options) const {
  LINGUA_TRY(validate_utf8(text));

  const std::vector<TextFragment> fragments =
      split_special_tokens(text, vocab_, specials_, options.parse_special);

  std::vector<TokenId> out;
  if (options.add_bos && vocab_.bos >= 0) out.push_back(vocab_.bos);
  // SentencePiece's dummy prefix: the reference adds it to the first text fragment and to any
  // text right after a special token, whether or not BOS was added.
  bool after_special = true;
  for (const TextFragment& f : fragments) {
    if (f.id >= 0) {
      out.push_back(f.id);
      after_special = true;
      continue;
    }
    std::string piece;
    if (vocab_.add_space_prefix && after_special) piece = " ";
    piece.append(text, f.offset, f.length);
    LINGUA_TRY(encode_fragment(escape_spaces(piece), out));
    after_special = false;
  }
  if (options.add_eos && vocab_.eos >= 0) out.push_back(vocab_.eos);
  return out;
}

Status SpmTokenizer::encode_fragment(const std::string& escaped, std::vector<TokenId>& out) const {
  // Symbols form a linked list over the text; a merge grows the left symbol and empties the
  // right one, so stale queue entries are recognisable by their lengths no longer adding up.
  struct Symbol {
    size_t start;
    size_t length;
    int prev;
    int next;
  };
  struct Candidate {
    float score;
    int left;
    int right;
    size_t length;
  };
  // Highest score first; among equal scores the leftmost pair, as in the reference.
  struct Lower {
    bool operator()(const Candidate& a, const Candidate& b) const {
      return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
  };

  std::vector<Symbol> symbols;
  symbols.reserve(escaped.size());
  for (size_t pos = 0; pos < escaped.size();) {
    const size_t len =
        std::min(utf8_length(static_cast<unsigned char>(escaped[pos])), escaped.size() - pos);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({pos, len, index - 1, pos + len == escaped.size() ? -1 : index + 1});
    pos += len;
  }

  std::priority_queue<Candidate, std::vector<Candidate>, Lower> queue;
  auto consider = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const size_t length = symbols[left].length + symbols[right].length;
    const auto it = piece_to_id_.find(std::string_view(escaped).substr(symbols[left].start, length));
    if (it == piece_to_id_.end()) return;
    queue.push({score(it->second), left, right, length});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) consider(i - 1, i);

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& left = symbols[c.left];
    Symbol& right = symbols[c.right];
    if (left.length == 0 || right.length == 0 || left.length + right.length != c.length) continue;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.left;
    consider(left.prev, c.left);
    consider(c.left, left.next);
  }

  // Every merged symbol is a vocabulary piece; only single characters can be missing, and those
  // fall back to one token per byte.
  for (int i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
    const std::string_view sv = std::string_view(escaped).substr(symbols[i].start, symbols[i].length);
    const auto it = piece_to_id_.find(sv);
    if (it != piece_to_id_.end()) {
      out.push_back(it->second);
      continue;
    }
    for (char c : sv) {
      const TokenId id = byte_to_id_[static_cast<unsigned char>(c)];
      if (id < 0) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(c));
        return Status::error(std::string("no token for byte ") + hex +
                             ": the vocabulary has neither byte-fallback pieces nor an unknown token");
      }
      out.push_back(id);
    }
  }
  return Status::ok();
}

std::string SpmTokenizer::piece_bytes(TokenId id, TokenId previous, bool render_special) const {
  if (id < 0 || id >= vocab_.size()) return "";
  const std::string& piece = vocab_.pieces[id];
  std::string out;
  switch (type(id)) {
    case TokenType::CONTROL:
    case TokenType::UNKNOWN:
      if (render_special) out = piece;
      break;
    case TokenType::USER_DEFINED:
    case TokenType::NORMAL:
      // User-defined pieces can hold U+2581 too (Gemma's runs of spaces); Hugging Face's decoder
      // turns it into a space in every piece.
      out = unescape_spaces(piece);
      break;
    case TokenType::BYTE:
      if (const int b = parse_byte_piece(piece); b >= 0) out.assign(1, static_cast<char>(b));
      break;
    case TokenType::UNDEFINED:
    case TokenType::UNUSED:
      break;  // the reference prints nothing for these
  }
  // Undo the dummy prefix: the first piece of a text, or the first after BOS, carries a space
  // the user never typed.
  if (vocab_.add_space_prefix && (previous < 0 || previous == vocab_.bos) && !out.empty() &&
      out[0] == ' ') {
    out.erase(0, 1);
  }
  return out;
}

}  // namespace lingua
