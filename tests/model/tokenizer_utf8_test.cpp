// UTF-8 validation and the streaming decoder: generated tokens split characters anywhere, and
// neither half characters nor invalid bytes may reach the user's terminal.
#include <gtest/gtest.h>

#include <string>

#include "model/tokenizer.h"

namespace lingua {
namespace {

const std::string kLlama = "\xF0\x9F\xA6\x99";  // U+1F999, four bytes
const std::string kReplacement = "\xEF\xBF\xBD";

TEST(Utf8Validate, AcceptsValidText) {
  EXPECT_TRUE(validate_utf8("").is_ok());
  EXPECT_TRUE(validate_utf8("plain ascii\n").is_ok());
  EXPECT_TRUE(validate_utf8("h\xC3\xA9 \xE2\x96\x81 " + kLlama + " \xF4\x8F\xBF\xBF").is_ok());
}

TEST(Utf8Validate, NamesTheOffsetOfTheFirstBadSequence) {
  struct Case {
    std::string text;
    size_t offset;
  };
  const Case cases[] = {
      {"ab\x80", 2},              // stray continuation byte
      {"a\xC3", 1},               // truncated at the end
      {"a\xC3(", 1},              // missing continuation
      {"xy\xC0\xAF", 2},          // overlong '/'
      {"\xE0\x80\xAF", 0},        // overlong, three bytes
      {"ok\xED\xA0\x80", 2},      // UTF-16 surrogate
      {"\xF4\x90\x80\x80", 0},    // above U+10FFFF
      {"abc\xFF", 3},             // never valid
      {"\xF0\x9F\xA6", 0},        // three of four bytes
  };
  for (const Case& c : cases) {
    const Status s = validate_utf8(c.text);
    ASSERT_FALSE(s.is_ok()) << "offset " << c.offset;
    EXPECT_NE(s.message().find("byte " + std::to_string(c.offset) + " "), std::string::npos)
        << s.message();
  }
}

TEST(Utf8Streamer, HoldsBackAFourByteCharacterUntilComplete) {
  Utf8Streamer s;
  // Literal pieces: GCC 12 gives a false -Wrestrict on `"a" + std::string` at -O3.
  EXPECT_EQ(s.push("a\xF0"), "a");
  EXPECT_EQ(s.push("\x9F\xA6"), "");
  EXPECT_EQ(s.push("\x99" "b"), "\xF0\x9F\xA6\x99" "b");
  EXPECT_EQ(s.flush(), "");
}

TEST(Utf8Streamer, ByteAtATime) {
  const std::string text = "\xC3\xA9t\xC3\xA9 " + kLlama + "\xE2\x96\x81";
  Utf8Streamer s;
  std::string out;
  for (char c : text) out += s.push(std::string(1, c));
  out += s.flush();
  EXPECT_EQ(out, text);
}

TEST(Utf8Streamer, InvalidBytesBecomeReplacementCharacters) {
  Utf8Streamer s;
  // The bad byte cannot be completed by later bytes, so it is replaced at once, and the good
  // text after it is not lost.
  EXPECT_EQ(s.push("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(s.push("\xC3(x"), "\xEF\xBF\xBD(x");
}

TEST(Utf8Streamer, FlushReplacesAnUnfinishedCharacter) {
  Utf8Streamer s;
  EXPECT_EQ(s.push("ok\xF0\x9F"), "ok");
  EXPECT_EQ(s.flush(), kReplacement);
  EXPECT_EQ(s.flush(), "");
  EXPECT_EQ(s.push("x"), "x");
}

}  // namespace
}  // namespace lingua
