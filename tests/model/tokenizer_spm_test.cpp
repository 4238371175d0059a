// SentencePiece tokenizer rules on a tiny hand-made vocabulary, where every expected id can be
// worked out by hand (merge order, byte fallback, dummy prefix, special tokens, decoding).
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "model/tokenizer.h"

namespace lingua {
namespace {

const std::string kSp = "\xE2\x96\x81";  // U+2581

constexpr TokenId kUnk = 0, kBos = 1, kEos = 2;
constexpr TokenId byte_id(int b) { return 3 + b; }  // <0x00>..<0xFF> follow the three specials

// Specials, 256 byte tokens, then `normal` pieces with their scores (ids from 259 on).
Vocab make_vocab(const std::vector<std::pair<std::string, float>>& normal, bool byte_tokens = true) {
  Vocab v;
  v.model = "llama";
  auto add = [&](std::string piece, float score, TokenType type) {
    v.pieces.push_back(std::move(piece));
    v.scores.push_back(score);
    v.types.push_back(type);
  };
  add("<unk>", 0, TokenType::UNKNOWN);
  add("<s>", 0, TokenType::CONTROL);
  add("</s>", 0, TokenType::CONTROL);
  static const char kHex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    if (byte_tokens) {
      add(std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">", 0, TokenType::BYTE);
    } else {
      add("[unused" + std::to_string(b) + "]", 0, TokenType::UNUSED);
    }
  }
  for (const auto& [piece, score] : normal) add(piece, score, TokenType::NORMAL);
  v.unk = kUnk;
  v.bos = kBos;
  v.eos = kEos;
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

std::vector<TokenId> encode(const Tokenizer& t, const std::string& text, bool bos = false,
                            bool special = false) {
  TokenizeOptions o;
  o.add_bos = bos;
  o.parse_special = special;
  auto r = t.encode(text, o);
  EXPECT_TRUE(r.has_value()) << r.error();
  return r.has_value() ? r.value() : std::vector<TokenId>{};
}

std::vector<TokenId> ids(const Vocab& v, const std::vector<std::string>& pieces) {
  std::vector<TokenId> out;
  for (const auto& p : pieces) out.push_back(id_of(v, p));
  return out;
}

TEST(TokenizerSpm, HigherScoringPairMergesFirst) {
  Vocab v = make_vocab({{"a", -5}, {"b", -5}, {"c", -5}, {"ab", -2}, {"bc", -1}});
  v.add_space_prefix = false;
  auto t = make(v);
  EXPECT_EQ(encode(*t, "abc"), ids(v, {"a", "bc"}));

  Vocab w = make_vocab({{"a", -5}, {"b", -5}, {"c", -5}, {"ab", -1}, {"bc", -2}});
  w.add_space_prefix = false;
  auto u = make(w);
  EXPECT_EQ(encode(*u, "abc"), ids(w, {"ab", "c"}));
}

TEST(TokenizerSpm, EqualScoresMergeLeftmostFirst) {
  Vocab v = make_vocab({{"a", -5}, {"b", -5}, {"ab", -1}, {"ba", -1}});
  v.add_space_prefix = false;
  auto t = make(v);
  EXPECT_EQ(encode(*t, "aba"), ids(v, {"ab", "a"}));
  EXPECT_EQ(encode(*t, "baba"), ids(v, {"ba", "ba"}));
}

TEST(TokenizerSpm, MergesChainIntoWholeWords) {
  Vocab v = make_vocab({{kSp, -1},        {"h", -9},         {"e", -9},          {"l", -9},
                        {"o", -9},        {"w", -9},         {"r", -9},          {"d", -9},
                        {"ll", -2},       {kSp + "h", -3},   {kSp + "he", -4},   {"lo", -6},
                        {"llo", -5},      {kSp + "hello", -7}, {kSp + "w", -3},  {"or", -3},
                        {"orld", -5},     {"ld", -4},        {kSp + "world", -6}});
  auto t = make(v);
  EXPECT_EQ(encode(*t, "hello world"), ids(v, {kSp + "hello", kSp + "world"}));
  // The next-best merges that never complete a word leave the pieces they made.
  EXPECT_EQ(encode(*t, "hell"), ids(v, {kSp + "he", "ll"}));
}

TEST(TokenizerSpm, UnknownCharactersFallBackToBytes) {
  Vocab v = make_vocab({{kSp, -1}, {"a", -2}});
  auto t = make(v);
  EXPECT_EQ(encode(*t, "a\xC3\xA9"), (std::vector<TokenId>{id_of(v, kSp), id_of(v, "a"),
                                                           byte_id(0xC3), byte_id(0xA9)}));
  EXPECT_EQ(encode(*t, "\xF0\x9F\xA6\x99"),  // llama emoji, U+1F999
            (std::vector<TokenId>{id_of(v, kSp), byte_id(0xF0), byte_id(0x9F), byte_id(0xA6),
                                  byte_id(0x99)}));
}

TEST(TokenizerSpm, WithoutByteTokensUnknownCharactersBecomeUnk) {
  Vocab v = make_vocab({{kSp, -1}, {"a", -2}}, /*byte_tokens=*/false);
  auto t = make(v);
  EXPECT_EQ(encode(*t, "a\xC3\xA9"),
            (std::vector<TokenId>{id_of(v, kSp), id_of(v, "a"), kUnk, kUnk}));

  v.unk = -1;
  auto no_unk = make(v);
  auto r = no_unk->encode("\xC3\xA9", {});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().find("0xC3"), std::string::npos) << r.error();
}

TEST(TokenizerSpm, DummyPrefixAndSpaceEscaping) {
  Vocab v = make_vocab({{kSp, -1}, {"a", -2}, {kSp + "a", -1.5f}, {kSp + kSp, -3}});
  auto t = make(v);
  EXPECT_EQ(encode(*t, "a a"), ids(v, {kSp + "a", kSp + "a"}));
  // "▁a" outscores "▁▁", so a leading space stays a lone piece, as in Llama.
  EXPECT_EQ(encode(*t, " a"), ids(v, {kSp, kSp + "a"}));
  EXPECT_EQ(encode(*t, ""), std::vector<TokenId>{});
  EXPECT_EQ(encode(*t, "", /*bos=*/true), std::vector<TokenId>{kBos});
  EXPECT_EQ(encode(*t, "a", /*bos=*/true), (std::vector<TokenId>{kBos, id_of(v, kSp + "a")}));

  v.add_space_prefix = false;
  auto no_prefix = make(v);
  EXPECT_EQ(encode(*no_prefix, "a a"), ids(v, {"a", kSp + "a"}));
}

TEST(TokenizerSpm, AddsEosOnlyWhenAsked) {
  Vocab v = make_vocab({{kSp + "a", -1}});
  auto t = make(v);
  TokenizeOptions o;
  o.add_bos = true;
  o.add_eos = true;
  auto r = t->encode("a", o);
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_EQ(r.value(), (std::vector<TokenId>{kBos, id_of(v, kSp + "a"), kEos}));
}

TEST(TokenizerSpm, SpecialTokensParsedOnlyWhenAsked) {
  Vocab v = make_vocab({{kSp, -1}, {"a", -2}, {kSp + "a", -1.5f}, {"s", -2}, {"<", -2}, {">", -2}});
  auto t = make(v);
  // The text after a special token gets its own dummy prefix, as in llama.cpp.
  EXPECT_EQ(encode(*t, "a<s>a</s>", false, /*special=*/true),
            (std::vector<TokenId>{id_of(v, kSp + "a"), kBos, id_of(v, kSp + "a"), kEos}));
  EXPECT_EQ(encode(*t, "<s>a", false, true), (std::vector<TokenId>{kBos, id_of(v, kSp + "a")}));
  EXPECT_EQ(encode(*t, "<unk>", false, true), std::vector<TokenId>{kUnk});

  const auto plain = encode(*t, "a<s>a", false, /*special=*/false);
  EXPECT_EQ(plain, ids(v, {kSp + "a", "<", "s", ">", "a"}));
}

TEST(TokenizerSpm, UserDefinedTokensAreAlwaysCut) {
  Vocab v = make_vocab({{kSp, -1}, {"a", -2}, {kSp + "a", -1.5f}});
  v.pieces.push_back("<tool>");
  v.scores.push_back(0);
  v.types.push_back(TokenType::USER_DEFINED);
  const TokenId tool = v.size() - 1;
  auto t = make(v);
  EXPECT_EQ(encode(*t, "a<tool>a", false, /*special=*/false),
            (std::vector<TokenId>{id_of(v, kSp + "a"), tool, id_of(v, kSp + "a")}));
  EXPECT_EQ(t->piece_bytes(tool, kBos), "<tool>");
}

TEST(TokenizerSpm, LongerSpecialTokenIsCutFirst) {
  Vocab v = make_vocab({{kSp, -1}, {"a", -2}});
  for (const char* s : {"<|x|>", "<|x|>y"}) {
    v.pieces.push_back(s);
    v.scores.push_back(0);
    v.types.push_back(TokenType::CONTROL);
  }
  auto t = make(v);
  EXPECT_EQ(encode(*t, "<|x|>y<|x|>", false, true),
            (std::vector<TokenId>{v.size() - 1, v.size() - 2}));
}

TEST(TokenizerSpm, InvalidUtf8NamesTheByte) {
  auto t = make(make_vocab({{kSp, -1}}));
  auto r = t->encode("ab\xC3(", {});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().find("byte 2"), std::string::npos) << r.error();
  EXPECT_FALSE(t->encode("\xFF", {}).has_value());
}

TEST(TokenizerSpm, PieceBytes) {
  Vocab v = make_vocab({{kSp + "a", -1}, {"b", -2}, {kSp, -3}});
  auto t = make(v);
  const TokenId sa = id_of(v, kSp + "a");
  EXPECT_EQ(t->piece_bytes(sa, 200), " a");
  EXPECT_EQ(t->piece_bytes(sa, -1), "a");    // dummy prefix at the start of a text
  EXPECT_EQ(t->piece_bytes(sa, kBos), "a");  // ... and after BOS
  EXPECT_EQ(t->piece_bytes(id_of(v, "b"), -1), "b");
  EXPECT_EQ(t->piece_bytes(byte_id(0x0A), 200), "\n");
  EXPECT_EQ(t->piece_bytes(byte_id(0xC3), 200), "\xC3");
  EXPECT_EQ(t->piece_bytes(kBos, -1), "");
  EXPECT_EQ(t->piece_bytes(kEos, 200, /*render_special=*/true), "</s>");
  EXPECT_EQ(t->piece_bytes(kUnk, 200), "");
  EXPECT_EQ(t->piece_bytes(-3, 200), "");
  EXPECT_EQ(t->piece_bytes(v.size(), 200), "");

  v.add_space_prefix = false;
  auto no_prefix = make(v);
  EXPECT_EQ(no_prefix->piece_bytes(sa, kBos), " a");
}

TEST(TokenizerSpm, DecodeUndoesEncode) {
  Vocab v = make_vocab({{kSp, -1}, {"h", -2}, {"l", -2}, {"o", -2}, {kSp + "h", -1.5f}});
  auto t = make(v);
  for (const std::string s : {"h\xC3\xA9llo w\xC3\xB6rld \xF0\x9F\xA6\x99", " lead", "two  spaces",
                              "\n\ttabs", ""}) {
    EXPECT_EQ(t->decode(encode(*t, s)), s);
    EXPECT_EQ(t->decode(encode(*t, s, /*bos=*/true)), s);
  }
}

TEST(TokenizerCreate, RejectsOtherModelsByName) {
  Vocab v = make_vocab({});
  v.model = "bert";
  auto t = Tokenizer::create(v);
  ASSERT_FALSE(t.has_value());
  EXPECT_NE(t.error().find("'bert'"), std::string::npos) << t.error();
  EXPECT_NE(t.error().find("llama"), std::string::npos) << t.error();
}

TEST(TokenizerCreate, RejectsInconsistentVocab) {
  Vocab v = make_vocab({{"a", -1}});
  v.scores.pop_back();
  EXPECT_FALSE(Tokenizer::create(v).has_value());
  Vocab w = make_vocab({{"a", -1}});
  w.bos = w.size();
  auto r = Tokenizer::create(w);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().find("bos"), std::string::npos) << r.error();
}

TEST(TokenizerCreate, ScoresAndTypesMayBeAbsent) {
  Vocab v;
  v.model = "llama";
  v.pieces = {kSp + "x", "x"};
  auto t = make(v);
  EXPECT_EQ(encode(*t, "x"), std::vector<TokenId>{0});
}

}  // namespace
}  // namespace lingua
