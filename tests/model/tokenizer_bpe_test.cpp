// Byte-level BPE rules on a tiny hand-made vocabulary, where every expected id can be worked out
// by hand (merge ranks, the byte table, pre-tokenizer words, special tokens, load errors).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "model/pretokenizer.h"
#include "model/tokenizer.h"

namespace lingua {
namespace {

// Byte-table characters the tests need: space, newline and the two bytes of "é" (C3 A9).
const std::string kSpace = "\xC4\xA0";    // U+0120
const std::string kNewline = "\xC4\x8A";  // U+010A
const std::string kC3 = "\xC3\x83";       // U+00C3
const std::string kA9 = "\xC2\xA9";       // U+00A9

constexpr TokenId kEot = 0, kTool = 1;

// Two specials, every printable ASCII character, the characters above, then `extra` pieces.
Vocab make_vocab(const std::vector<std::string>& extra, const std::vector<std::string>& merges,
                 const std::string& pre = "gpt-2") {
  Vocab v;
  v.model = "gpt2";
  v.pre = pre;
  auto add = [&](const std::string& piece, TokenType type) {
    v.pieces.push_back(piece);
    v.scores.push_back(0);
    v.types.push_back(type);
  };
  add("<|endoftext|>", TokenType::CONTROL);
  add("<tool>", TokenType::USER_DEFINED);
  for (char c = '!'; c <= '~'; ++c) add(std::string(1, c), TokenType::NORMAL);
  for (const std::string& s : {kSpace, kNewline, kC3, kA9}) add(s, TokenType::NORMAL);
  for (const std::string& s : extra) add(s, TokenType::NORMAL);
  v.merges = merges;
  v.bos = v.eos = kEot;
  return v;
}

TokenId id_of(const Vocab& v, const std::string& piece) {
  for (TokenId i = 0; i < v.size(); ++i) {
    if (v.pieces[i] == piece) return i;
  }
  ADD_FAILURE() << "no piece " << piece;
  return -1;
}

std::unique_ptr<Tokenizer> make(Vocab v) {
  auto t = Tokenizer::create(std::move(v));
  EXPECT_TRUE(t.has_value()) << t.error();
  return std::move(t).value();
}

std::vector<TokenId> encode(const Tokenizer& t, const std::string& text, bool special = false) {
  TokenizeOptions o;
  o.parse_special = special;
  auto ids = t.encode(text, o);
  EXPECT_TRUE(ids.has_value()) << ids.error();
  return ids.has_value() ? ids.value() : std::vector<TokenId>{};
}

std::vector<std::string> words(const std::string& pre, const std::string& text) {
  auto p = PreTokenizer::create(pre);
  EXPECT_TRUE(p.has_value()) << p.error();
  if (!p.has_value()) return {};
  auto split = p.value().split(text);
  EXPECT_TRUE(split.has_value()) << split.error();
  std::vector<std::string> out;
  if (split.has_value()) {
    for (std::string_view w : split.value()) out.emplace_back(w);
  }
  return out;
}

Vocab hello_world() {
  return make_vocab({"he", "ll", "hell", "hello", kSpace + "w", "or", kSpace + "wor", "ld",
                     kSpace + "world"},
                    {"h e", "l l", "he ll", "hell o", kSpace + " w", "o r", kSpace + "w or", "l d",
                     kSpace + "wor ld"});
}

TEST(TokenizerBpe, MergesWordsByRank) {
  const Vocab v = hello_world();
  auto t = make(v);
  EXPECT_EQ(encode(*t, "hello world"),
            (std::vector<TokenId>{id_of(v, "hello"), id_of(v, kSpace + "world")}));
  // No merge joins "he" and "x": the rest stays single characters.
  EXPECT_EQ(encode(*t, "hex"), (std::vector<TokenId>{id_of(v, "he"), id_of(v, "x")}));
  EXPECT_TRUE(encode(*t, "").empty());
}

TEST(TokenizerBpe, LowerRankBeatsLeftmostPair) {
  const Vocab v = make_vocab({"ab", "bc"}, {"b c", "a b"});
  auto t = make(v);
  EXPECT_EQ(encode(*t, "abc"), (std::vector<TokenId>{id_of(v, "a"), id_of(v, "bc")}));
  // Equal pairs: the leftmost merges first.
  const Vocab w = make_vocab({"aa"}, {"a a"});
  auto u = make(w);
  EXPECT_EQ(encode(*u, "aaa"), (std::vector<TokenId>{id_of(w, "aa"), id_of(w, "a")}));
}

TEST(TokenizerBpe, BytesGoThroughTheByteTable) {
  const Vocab v = make_vocab({kC3 + kA9}, {kC3 + " " + kA9});
  auto t = make(v);
  EXPECT_EQ(encode(*t, "\xC3\xA9"), (std::vector<TokenId>{id_of(v, kC3 + kA9)}));
  EXPECT_EQ(t->decode(encode(*t, "\xC3\xA9")), "\xC3\xA9");
  EXPECT_EQ(t->piece_bytes(id_of(v, kSpace), -1), " ");
  EXPECT_EQ(t->piece_bytes(id_of(v, kNewline), -1), "\n");
  EXPECT_EQ(t->piece_bytes(id_of(v, "A"), -1), "A");
  for (const std::string s : {"a b\nc", "  x  ", "\xC3\xA9!", "\n\n"}) {
    EXPECT_EQ(t->decode(encode(*t, s)), s) << s;
  }
}

// Qwen's tokenizer normalises to NFC first: "e" + combining acute becomes the one character é.
TEST(TokenizerBpe, NfcNormalizerComposes) {
  Vocab v = make_vocab({kC3 + kA9}, {kC3 + " " + kA9}, "qwen2");
  v.normalizer = "nfc";
  auto t = make(v);
  const std::vector<TokenId> composed = {id_of(v, kC3 + kA9)};
  EXPECT_EQ(encode(*t, "e\xCC\x81"), composed);
  EXPECT_EQ(encode(*t, "\xC3\xA9"), composed);
  EXPECT_EQ(encode(*t, "<tool>e\xCC\x81!"), (std::vector<TokenId>{kTool, composed[0], id_of(v, "!")}));
  // Without the normaliser the combining mark's bytes have no piece here.
  v.normalizer = "";
  auto plain = make(v);
  EXPECT_FALSE(plain->encode("e\xCC\x81", TokenizeOptions{}).has_value());
}

TEST(TokenizerBpe, SpecialTokens) {
  const Vocab v = hello_world();
  auto t = make(v);
  EXPECT_EQ(encode(*t, "<|endoftext|>hello", /*special=*/true),
            (std::vector<TokenId>{kEot, id_of(v, "hello")}));
  const auto plain = encode(*t, "<|endoftext|>hello");
  for (TokenId id : plain) EXPECT_NE(id, kEot);
  EXPECT_EQ(t->decode(plain), "<|endoftext|>hello");
  // User-defined tokens are cut out even without special parsing, and decode as their text.
  EXPECT_EQ(encode(*t, "hello<tool>"), (std::vector<TokenId>{id_of(v, "hello"), kTool}));
  EXPECT_EQ(t->decode({kTool, kEot}), "<tool>");
  EXPECT_EQ(t->decode({kTool, kEot}, /*render_special=*/true), "<tool><|endoftext|>");
}

TEST(TokenizerBpe, BosAndEosOnRequest) {
  auto t = make(hello_world());
  TokenizeOptions o;
  o.add_bos = o.add_eos = true;
  auto ids = t->encode("he", o);
  ASSERT_TRUE(ids.has_value()) << ids.error();
  EXPECT_EQ(ids.value(), (std::vector<TokenId>{kEot, id_of(t->vocab(), "he"), kEot}));
}

TEST(TokenizerBpe, InvalidUtf8IsAnError) {
  auto t = make(hello_world());
  auto ids = t->encode("he\xC3(", TokenizeOptions{});
  ASSERT_FALSE(ids.has_value());
  EXPECT_NE(ids.error().find("byte 2"), std::string::npos) << ids.error();
}

TEST(TokenizerBpe, LlamaBpeTakesWholeWordPieces) {
  // "hel" is a piece no merge reaches; Llama 3 style takes it whole, GPT-2 style cannot.
  Vocab v = make_vocab({"he", "hel"}, {"h e"}, "llama-bpe");
  EXPECT_EQ(encode(*make(v), "hel"), (std::vector<TokenId>{id_of(v, "hel")}));
  v.pre = "gpt-2";
  EXPECT_EQ(encode(*make(v), "hel"), (std::vector<TokenId>{id_of(v, "he"), id_of(v, "l")}));
}

TEST(TokenizerBpe, MergeNamingAnUnknownPieceIsAnError) {
  auto t = Tokenizer::create(make_vocab({"he"}, {"h e", "he zz"}));
  ASSERT_FALSE(t.has_value());
  EXPECT_NE(t.error().find("merge 1 'he zz'"), std::string::npos) << t.error();
  EXPECT_NE(t.error().find("'zz'"), std::string::npos) << t.error();
}

TEST(TokenizerBpe, MalformedOrMissingMergesAreErrors) {
  auto t = Tokenizer::create(make_vocab({"he"}, {"he"}));
  ASSERT_FALSE(t.has_value());
  EXPECT_NE(t.error().find("merge 0 'he'"), std::string::npos) << t.error();
  auto none = Tokenizer::create(make_vocab({}, {}));
  ASSERT_FALSE(none.has_value());
  EXPECT_NE(none.error().find("tokenizer.ggml.merges"), std::string::npos) << none.error();
}

TEST(TokenizerBpe, UnknownPreTokenizerIsNamed) {
  auto t = Tokenizer::create(make_vocab({"he"}, {"h e"}, "no-such-pre"));
  ASSERT_FALSE(t.has_value());
  EXPECT_NE(t.error().find("'no-such-pre'"), std::string::npos) << t.error();
  EXPECT_NE(t.error().find("llama-bpe"), std::string::npos) << t.error();
  EXPECT_NE(t.error().find("qwen2"), std::string::npos) << t.error();
  // Missing means default.
  EXPECT_TRUE(Tokenizer::create(make_vocab({"he"}, {"h e"}, "")).has_value());
}

TEST(PreTokenizer, EverySupportedNameCompiles) {
  const auto names = PreTokenizer::supported_names();
  for (const char* required : {"default", "gpt-2", "llama-bpe", "qwen2", "deepseek-llm",
                               "deepseek-coder", "falcon", "starcoder", "refact", "mpt", "gpt-neox",
                               "smollm", "command-r"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), required), names.end()) << required;
  }
  for (const std::string& name : names) {
    auto p = PreTokenizer::create(name);
    ASSERT_TRUE(p.has_value()) << name << ": " << p.error();
    auto w = p.value().split("Hello, world! It's 2024 \xE4\xBD\xA0\xE5\xA5\xBD  \n ok");
    ASSERT_TRUE(w.has_value()) << name << ": " << w.error();
    std::string joined;
    for (std::string_view s : w.value()) joined += s;
    EXPECT_EQ(joined, "Hello, world! It's 2024 \xE4\xBD\xA0\xE5\xA5\xBD  \n ok") << name;
  }
}

TEST(PreTokenizer, Gpt2Words) {
  using W = std::vector<std::string>;
  EXPECT_EQ(words("gpt-2", "Hello world's  test 123!?"),
            (W{"Hello", " world", "'s", " ", " test", " 123", "!?"}));
  // Whitespace leaves its last character to the next word; at the end it stays whole.
  EXPECT_EQ(words("gpt-2", "a   b  "), (W{"a", "  ", " b", "  "}));
  EXPECT_EQ(words("gpt-2", "x\ny"), (W{"x", "\n", "y"}));
  // Only lower-case contractions are split off in GPT-2.
  EXPECT_EQ(words("gpt-2", "I'M"), (W{"I", "'", "M"}));
}

TEST(PreTokenizer, LlamaBpeAndQwen2Words) {
  using W = std::vector<std::string>;
  EXPECT_EQ(words("llama-bpe", "I'M 12345"), (W{"I", "'M", " ", "123", "45"}));
  EXPECT_EQ(words("qwen2", "I'M 123"), (W{"I", "'M", " ", "1", "2", "3"}));
  EXPECT_EQ(words("llama-bpe", "x\n\n  y"), (W{"x", "\n\n", " ", " y"}));
  EXPECT_EQ(words("llama-bpe", "(hi)\n"), (W{"(hi", ")\n"}));
}

TEST(PreTokenizer, SplitsDigitsPerFamily) {
  using W = std::vector<std::string>;
  EXPECT_EQ(words("starcoder", "a 12"), (W{"a", " ", "1", "2"}));
  EXPECT_EQ(words("default", "1234"), (W{"123", "4"}));
  EXPECT_EQ(words("deepseek-coder", "x1 2"), (W{"x", "1", " ", "2"}));
}

TEST(PreTokenizer, LongWhitespaceRuns) {
  // Backtracking over a long run must not exhaust the matcher's stack.
  const std::string text = "a" + std::string(200000, ' ') + "b";
  for (const char* name : {"gpt-2", "llama-bpe", "deepseek-llm"}) {
    const auto w = words(name, text);
    ASSERT_FALSE(w.empty()) << name;
    EXPECT_EQ(w.back(), " b") << name;
  }
}

}  // namespace
}  // namespace lingua
