// Byte-level BPE encoding and decoding. llama.cpp (src/llama-vocab.cpp, src/unicode.cpp) is the
// reference for every rule here; parity tests compare against its recorded output.
#include "model/tokenizer_bpe.h"

#include <cstdio>
#include <queue>

#include "model/normalize.h"
#include "model/special_split.h"

namespace lingua {
namespace {

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Decodes the character at `pos` of a vocabulary piece and advances past it. Pieces come from the
// file, not the user, so a malformed sequence is passed through as single bytes (code point -1).
int32_t next_char(std::string_view s, size_t& pos) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  size_t n = b0 < 0x80 ? 1 : b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : b0 >= 0xC0 ? 2 : 0;
  if (n == 0 || pos + n > s.size()) {
    ++pos;
    return -1;
  }
  uint32_t cp = n == 1 ? b0 : b0 & (0x7F >> n);
  for (size_t i = 1; i < n; ++i) {
    const auto b = static_cast<unsigned char>(s[pos + i]);
    if ((b & 0xC0) != 0x80) {
      ++pos;
      return -1;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  pos += n;
  return static_cast<int32_t>(cp);
}

// GPT-2's byte-to-unicode table: printable Latin-1 bytes stand for themselves, every other byte
// (controls, space, DEL, NBSP, soft hyphen) for U+0100 upwards in byte order, so every byte is
// one visible character and no piece contains a space.
uint32_t byte_char(int b) {
  const auto printable = [](int x) {
    return (x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF);
  };
  if (printable(b)) return static_cast<uint32_t>(b);
  uint32_t n = 0;
  for (int x = 0; x < b; ++x) n += printable(x) ? 0 : 1;
  return 256 + n;
}

std::string quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '\'';
  out.append(s);
  out += '\'';
  return out;
}

}  // namespace

Expected<std::unique_ptr<Tokenizer>> BpeTokenizer::create(Vocab vocab) {
  LINGUA_TRY(vocab.validate());
  LINGUA_ASSIGN_OR_RETURN(PreTokenizer pre, PreTokenizer::create(vocab.pre));
  std::unique_ptr<BpeTokenizer> t(new BpeTokenizer(std::move(vocab), std::move(pre)));
  LINGUA_TRY(t->load_merges());
  return std::unique_ptr<Tokenizer>(std::move(t));
}

BpeTokenizer::BpeTokenizer(Vocab vocab, PreTokenizer pre)
    : Tokenizer(std::move(vocab)), pre_(std::move(pre)) {
  const TokenId n = vocab_.size();
  piece_to_id_.reserve(static_cast<size_t>(n));
  for (TokenId id = 0; id < n; ++id) {
    // A later duplicate wins, as in the reference's piece map.
    if (!vocab_.pieces[id].empty()) piece_to_id_[vocab_.pieces[id]] = id;
  }
  char_to_byte_.fill(-1);
  for (int b = 0; b < 256; ++b) {
    const uint32_t cp = byte_char(b);
    append_utf8(byte_chars_[b], cp);
    char_to_byte_[cp] = static_cast<int16_t>(b);
    byte_to_id_[b] = find(byte_chars_[b]);
  }
  specials_ = special_token_candidates(vocab_);
}

TokenId BpeTokenizer::find(std::string_view piece) const {
  const auto it = piece_to_id_.find(piece);
  return it == piece_to_id_.end() ? -1 : it->second;
}

Status BpeTokenizer::load_merges() {
  if (vocab_.merges.empty()) {
    return Status::error("tokenizer model 'gpt2' (byte-level BPE) needs merges, but "
                         "tokenizer.ggml.merges is missing or empty");
  }
  merges_.reserve(vocab_.merges.size());
  std::string joined;
  for (size_t rank = 0; rank < vocab_.merges.size(); ++rank) {
    const std::string& m = vocab_.merges[rank];
    const auto where = [&] { return "merge " + std::to_string(rank) + " " + quoted(m); };
    // Searching from 1 lets a piece that is itself a space be a left part.
    const size_t space = m.find(' ', 1);
    if (space == std::string::npos || space + 1 >= m.size()) {
      return Status::error(where() + " is not two pieces separated by a space");
    }
    const std::string_view left = std::string_view(m).substr(0, space);
    const std::string_view right = std::string_view(m).substr(space + 1);
    const TokenId l = find(left), r = find(right);
    if (l < 0 || r < 0) {
      return Status::error(where() + " names " + quoted(l < 0 ? left : right) +
                           ", which is not a piece of the vocabulary");
    }
    joined.assign(left);
    joined.append(right);
    // The first (lowest-ranked) occurrence of a pair wins, as in the reference.
    merges_.emplace(pair_key(l, r), Merge{static_cast<int32_t>(rank), find(joined)});
  }
  return Status::ok();
}

Expected<std::vector<TokenId>> BpeTokenizer::encode(const std::string& text,
                                                    const TokenizeOptions& options) const {
  LINGUA_TRY(validate_utf8(text));
  std::vector<TokenId> out;
  if (options.add_bos && vocab_.bos >= 0) out.push_back(vocab_.bos);
  for (const TextFragment& f : split_special_tokens(text, vocab_, specials_, options.parse_special)) {
    if (f.id >= 0) {
      out.push_back(f.id);
      continue;
    }
    std::string_view fragment = std::string_view(text).substr(f.offset, f.length);
    std::string normalized;  // owns the words when the vocabulary normalises
    if (vocab_.normalizer == "nfc") {
      LINGUA_ASSIGN_OR_RETURN(normalized, normalize_nfc(fragment));
      fragment = normalized;
    }
    LINGUA_ASSIGN_OR_RETURN(auto words, pre_.split(fragment));
    for (std::string_view word : words) LINGUA_TRY(encode_word(word, out));
  }
  if (options.add_eos && vocab_.eos >= 0) out.push_back(vocab_.eos);
  return out;
}

Status BpeTokenizer::encode_word(std::string_view word, std::vector<TokenId>& out) const {
  if (pre_.ignore_merges()) {
    std::string mapped;
    for (char c : word) mapped += byte_chars_[static_cast<unsigned char>(c)];
    if (const TokenId id = find(mapped); id >= 0) {
      out.push_back(id);
      return Status::ok();
    }
  }

  // One symbol per byte (each byte is one character after the byte table), linked as a list; a
  // merge grows the left symbol and kills the right one. Queue entries remember the ids they were
  // made for, so entries made stale by an earlier merge are recognised and dropped.
  struct Symbol {
    TokenId id;  // -1: not a piece (a byte the vocabulary lacks)
    uint32_t start;
    uint32_t length;
    int prev;
    int next;
  };
  struct Candidate {
    int32_t rank;
    int left;
    int right;
    TokenId left_id;
    TokenId right_id;
    TokenId result;
  };
  // Lowest rank first; among equal ranks the leftmost pair, as in the reference.
  struct Later {
    bool operator()(const Candidate& a, const Candidate& b) const {
      return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    }
  };

  const int n = static_cast<int>(word.size());
  std::vector<Symbol> symbols(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    symbols[i] = {byte_to_id_[static_cast<unsigned char>(word[i])], static_cast<uint32_t>(i), 1,
                  i - 1, i + 1 < n ? i + 1 : -1};
  }

  std::priority_queue<Candidate, std::vector<Candidate>, Later> queue;
  auto consider = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const TokenId l = symbols[left].id, r = symbols[right].id;
    if (l < 0 || r < 0) return;
    const auto it = merges_.find(pair_key(l, r));
    if (it != merges_.end()) queue.push({it->second.rank, left, right, l, r, it->second.result});
  };
  for (int i = 1; i < n; ++i) consider(i - 1, i);

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& left = symbols[c.left];
    Symbol& right = symbols[c.right];
    if (left.length == 0 || right.length == 0 || left.next != c.right || left.id != c.left_id ||
        right.id != c.right_id) {
      continue;
    }
    left.id = c.result;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.left;
    consider(left.prev, c.left);
    consider(c.left, left.next);
  }

  for (int i = n > 0 ? 0 : -1; i >= 0; i = symbols[i].next) {
    const Symbol& s = symbols[i];
    if (s.id >= 0) {
      out.push_back(s.id);
      continue;
    }
    // A merge whose result is not a piece, or a byte with no piece: one token per byte, the
    // unknown token when even that is missing.
    for (uint32_t k = s.start; k < s.start + s.length; ++k) {
      const auto b = static_cast<unsigned char>(word[k]);
      const TokenId id = byte_to_id_[b] >= 0 ? byte_to_id_[b] : vocab_.unk;
      if (id < 0) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02X", b);
        return Status::error(std::string("no token for byte ") + hex + " (piece " +
                             quoted(byte_chars_[b]) + "): the vocabulary lacks it and has no unknown token");
      }
      out.push_back(id);
    }
  }
  return Status::ok();
}

std::string BpeTokenizer::piece_bytes(TokenId id, TokenId /*previous*/, bool render_special) const {
  if (id < 0 || id >= vocab_.size()) return "";
  const std::string& piece = vocab_.pieces[id];
  switch (token_type(vocab_, id)) {
    case TokenType::CONTROL:
    case TokenType::UNKNOWN:
      return render_special ? piece : "";
    case TokenType::USER_DEFINED:
      return piece;
    case TokenType::NORMAL: {
      std::string out;
      out.reserve(piece.size());
      for (size_t pos = 0; pos < piece.size();) {
        const size_t start = pos;
        const int32_t cp = next_char(piece, pos);
        if (cp >= 0 && static_cast<size_t>(cp) < char_to_byte_.size() && char_to_byte_[cp] >= 0) {
          out += static_cast<char>(char_to_byte_[cp]);
        } else {
          // Not from the byte table: a converter wrote the text itself; keep it as it is.
          out.append(piece, start, pos - start);
        }
      }
      return out;
    }
    case TokenType::BYTE:
    case TokenType::UNDEFINED:
    case TokenType::UNUSED:
      break;  // the reference prints nothing for these in byte-level vocabularies
  }
  return "";
}

}  // namespace lingua
