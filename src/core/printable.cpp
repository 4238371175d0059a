// Escaping for messages: a strict UTF-8 decoder (no overlongs, surrogates or code points past
// U+10FFFF), so whatever it keeps is text a terminal shows as it is.
#include "core/printable.h"

#include <cstdint>
#include <cstdio>

namespace lingua {
namespace {

// Length of the valid UTF-8 sequence at s[i], 0 when it is not one; *cp gets its code point.
size_t utf8_sequence(std::string_view s, size_t i, uint32_t* cp) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t c = byte(i);
  size_t n = 0;
  uint32_t v = 0, min = 0;
  if (c < 0x80) {
    *cp = c;
    return 1;
  } else if ((c & 0xE0) == 0xC0) {
    n = 2, v = c & 0x1Fu, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, v = c & 0x0Fu, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, v = c & 0x07u, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (byte(i + k) & 0x3Fu);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return n;
}

}  // namespace

std::string printable_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    uint32_t cp = 0;
    const size_t n = utf8_sequence(text, i, &cp);
    if (n > 0 && cp >= 0x20 && cp != 0x7F && !(cp >= 0x80 && cp < 0xA0)) {
      out.append(text.substr(i, n));
      i += n;
      continue;
    }
    if (cp == '\n' && n == 1) {
      out += "\\n";
    } else if (cp == '\t' && n == 1) {
      out += "\\t";
    } else {
      // One byte at a time: the rest of a bad sequence may start valid text.
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned>(static_cast<uint8_t>(text[i])));
      out += buf;
    }
    ++i;
  }
  return out;
}

}  // namespace lingua
