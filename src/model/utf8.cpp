// UTF-8 checking and the streaming decoder for generated text: tokens split characters at byte
// boundaries, and a terminal must never see half a character or an invalid sequence.
#include <cstdint>
#include <cstdio>
#include <string>

#include "model/tokenizer.h"

namespace lingua {
namespace {

enum class Seq { kComplete, kIncomplete, kInvalid };

struct SeqResult {
  Seq kind;
  size_t length;  // complete: the character's bytes; invalid: bytes to replace (at least 1)
  const char* why;
};

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. The allowed
// range of the second byte depends on the lead byte, which is how those three are excluded
// without decoding the code point. An invalid sequence is replaced as its maximal valid prefix
// (Unicode's recommended practice), so one bad byte never swallows the good ones after it.
SeqResult examine(const unsigned char* p, size_t n) {
  const unsigned char b0 = p[0];
  if (b0 < 0x80) return {Seq::kComplete, 1, nullptr};
  size_t need = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {Seq::kInvalid, 1,
            b0 < 0xC0 ? "continuation byte without a lead byte" : "byte never valid in UTF-8"};
  }
  for (size_t i = 1; i < need; ++i) {
    if (i >= n) return {Seq::kIncomplete, i, "truncated sequence"};
    const unsigned char b = p[i];
    const unsigned char l = i == 1 ? lo : 0x80;
    const unsigned char h = i == 1 ? hi : 0xBF;
    if (b < l || b > h) {
      return {Seq::kInvalid, i,
              (i == 1 && b >= 0x80 && b <= 0xBF) ? "overlong form, surrogate or code point above U+10FFFF"
                                                 : "missing continuation byte"};
    }
  }
  return {Seq::kComplete, need, nullptr};
}

const char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace

Status validate_utf8(const std::string& text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    const SeqResult r = examine(p + i, text.size() - i);
    if (r.kind != Seq::kComplete) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", p[i]);
      return Status::error("invalid UTF-8 at byte " + std::to_string(i) + " (" + hex + "): " + r.why);
    }
    i += r.length;
  }
  return Status::ok();
}

std::string Utf8Streamer::push(const std::string& bytes) {
  pending_ += bytes;
  std::string out;
  const auto* p = reinterpret_cast<const unsigned char*>(pending_.data());
  size_t i = 0;
  while (i < pending_.size()) {
    const SeqResult r = examine(p + i, pending_.size() - i);
    if (r.kind == Seq::kIncomplete) break;  // the next token may finish this character
    if (r.kind == Seq::kComplete) {
      out.append(pending_, i, r.length);
    } else {
      out += kReplacement;  // more bytes cannot make this valid, so do not hold it back
    }
    i += r.length;
  }
  pending_.erase(0, i);
  return out;
}

std::string Utf8Streamer::flush() {
  // Whatever is still held back is a character the stream never finished.
  std::string out = pending_.empty() ? "" : kReplacement;
  pending_.clear();
  return out;
}

}  // namespace lingua
