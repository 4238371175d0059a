// Vocab::from_gguf on the shared vocabulary files and on small written ones: values, defaults,
// and an error naming the key for each kind of inconsistency.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "model/gguf.h"
#include "model/vocab.h"
#include "test_paths.h"

namespace lingua {
namespace {

using gguf::Value;
using gguf::ValueType;

Expected<Vocab> load(const std::string& rel) {
  auto f = gguf::File::open(testing::shared_model(rel));
  if (!f) return f.status();
  return Vocab::from_gguf(*f);
}

Value strings(std::vector<std::string> items) {
  std::vector<Value> v;
  for (auto& s : items) v.push_back(Value::str(std::move(s)));
  return Value::array(ValueType::STRING, std::move(v));
}

// Writes `w` (metadata only) to a scratch file and reads the vocabulary back.
Expected<Vocab> round_trip(const gguf::Writer& w) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("lingua-vocab-" + std::to_string(::getpid()) + "-" + info->name() + ".gguf")).string();
  const Status st = w.write(path, nullptr);
  if (!st) return st;
  auto f = gguf::File::open(path);
  std::filesystem::remove(path);  // the mapping stays valid after unlinking
  if (!f) return f.status();
  return Vocab::from_gguf(*f);
}

// The smallest valid SentencePiece vocabulary, for tests to spoil one key at a time.
gguf::Writer base(const std::string& model = "llama") {
  gguf::Writer w;
  w.set("tokenizer.ggml.model", Value::str(model));
  w.set("tokenizer.ggml.tokens", strings({"<unk>", "<s>", "</s>", "a", "b"}));
  return w;
}

std::string error_of(const gguf::Writer& w) {
  auto v = round_trip(w);
  return v ? "(loaded)" : v.error();
}

TEST(Vocab, LlamaSpmFile) {
  LINGUA_REQUIRE_SHARED();
  auto v = load("vocab/ggml-vocab-llama-spm.gguf");
  ASSERT_TRUE(v) << v.error();
  EXPECT_EQ(v->model, "llama");
  EXPECT_EQ(v->pre, "default");
  EXPECT_EQ(v->size(), 32000);
  ASSERT_EQ(v->scores.size(), 32000u);
  ASSERT_EQ(v->types.size(), 32000u);
  EXPECT_EQ(v->pieces[1], "<s>");
  EXPECT_EQ(v->pieces[3], "<0x00>");
  EXPECT_EQ(v->pieces[29871], "\xE2\x96\x81");  // the SentencePiece space
  EXPECT_EQ(v->types[0], TokenType::UNKNOWN);
  EXPECT_EQ(v->types[1], TokenType::CONTROL);
  EXPECT_EQ(v->types[3], TokenType::BYTE);
  EXPECT_EQ(v->types[1000], TokenType::NORMAL);
  EXPECT_FLOAT_EQ(v->scores[261], -2.0f);
  EXPECT_FLOAT_EQ(v->scores[1000], -741.0f);
  EXPECT_EQ(v->bos, 1);
  EXPECT_EQ(v->eos, 2);
  EXPECT_EQ(v->unk, 0);
  EXPECT_EQ(v->pad, -1);
  EXPECT_TRUE(v->add_bos);
  EXPECT_FALSE(v->add_eos);
  EXPECT_TRUE(v->add_space_prefix);  // absent: the SentencePiece default
  EXPECT_TRUE(v->merges.empty());
  EXPECT_TRUE(v->is_eog(2));
}

TEST(Vocab, Gpt2FileHasMergesAndBpeDefaults) {
  LINGUA_REQUIRE_SHARED();
  auto v = load("vocab/ggml-vocab-gpt-2.gguf");
  ASSERT_TRUE(v) << v.error();
  EXPECT_EQ(v->model, "gpt2");
  EXPECT_EQ(v->size(), 50257);
  EXPECT_EQ(v->merges.size(), 50000u);
  EXPECT_EQ(v->merges[0], "\xC4\xA0 t");
  EXPECT_EQ(v->bos, 50256);
  EXPECT_EQ(v->eos, 50256);
  EXPECT_EQ(v->unk, -1);
  EXPECT_FALSE(v->add_bos);
  EXPECT_FALSE(v->add_space_prefix);
  EXPECT_FLOAT_EQ(v->scores[5], 0.0f);  // no scores key
}

TEST(Vocab, ModelFilesLoad) {
  LINGUA_REQUIRE_SHARED();
  auto kjv = load("kjv-fortunes-3M-f32.gguf");
  ASSERT_TRUE(kjv) << kjv.error();
  EXPECT_EQ(kjv->size(), 2048);
  EXPECT_EQ(kjv->bos, 1);
  // stories260K marks "no padding token" as 0xFFFFFFFF, which must not count as out of range.
  auto stories = load("stories260K.gguf");
  ASSERT_TRUE(stories) << stories.error();
  EXPECT_EQ(stories->size(), 512);
  EXPECT_EQ(stories->pad, -1);
  EXPECT_EQ(stories->eos, 2);
}

TEST(Vocab, DefaultsWhenOptionalKeysAreAbsent) {
  auto v = round_trip(base());
  ASSERT_TRUE(v) << v.error();
  EXPECT_EQ(v->size(), 5);
  EXPECT_EQ(v->pre, "");
  EXPECT_EQ(v->scores, std::vector<float>(5, 0.0f));
  EXPECT_EQ(v->types, std::vector<TokenType>(5, TokenType::NORMAL));
  EXPECT_EQ(v->bos, -1);
  EXPECT_EQ(v->eos, -1);
  EXPECT_TRUE(v->add_bos);
  EXPECT_FALSE(v->add_eos);
  EXPECT_TRUE(v->add_space_prefix);

  auto bpe = round_trip(base("gpt2"));
  ASSERT_TRUE(bpe) << bpe.error();
  EXPECT_FALSE(bpe->add_space_prefix);
  EXPECT_FALSE(bpe->add_bos);
}

TEST(Vocab, ExplicitValuesWin) {
  gguf::Writer w = base();
  w.set("tokenizer.ggml.pre", Value::str("custom"));
  w.set("tokenizer.ggml.scores", Value::array(ValueType::FLOAT32, {Value::f32(0), Value::f32(0), Value::f32(0),
                                                                   Value::f32(-1.5f), Value::f32(-2)}));
  w.set("tokenizer.ggml.token_type", Value::array(ValueType::INT32, {Value::i32(2), Value::i32(3), Value::i32(3),
                                                                     Value::i32(1), Value::i32(4)}));
  w.set("tokenizer.ggml.merges", strings({"a b"}));
  w.set("tokenizer.ggml.bos_token_id", Value::u32(1));
  w.set("tokenizer.ggml.eos_token_id", Value::u32(2));
  w.set("tokenizer.ggml.unknown_token_id", Value::u32(0));
  w.set("tokenizer.ggml.padding_token_id", Value::u32(4));
  w.set("tokenizer.ggml.add_bos_token", Value::boolean(false));
  w.set("tokenizer.ggml.add_eos_token", Value::boolean(true));
  w.set("tokenizer.ggml.add_space_prefix", Value::boolean(false));
  auto v = round_trip(w);
  ASSERT_TRUE(v) << v.error();
  EXPECT_EQ(v->pre, "custom");
  EXPECT_FLOAT_EQ(v->scores[3], -1.5f);
  EXPECT_EQ(v->types[4], TokenType::USER_DEFINED);
  EXPECT_EQ(v->merges, std::vector<std::string>{"a b"});
  EXPECT_EQ(v->bos, 1);
  EXPECT_EQ(v->eos, 2);
  EXPECT_EQ(v->unk, 0);
  EXPECT_EQ(v->pad, 4);
  EXPECT_FALSE(v->add_bos);
  EXPECT_TRUE(v->add_eos);
  EXPECT_FALSE(v->add_space_prefix);
}

TEST(Vocab, MissingRequiredKeys) {
  gguf::Writer no_model;
  no_model.set("tokenizer.ggml.tokens", strings({"a"}));
  EXPECT_NE(error_of(no_model).find("tokenizer.ggml.model is missing"), std::string::npos);
  gguf::Writer no_tokens;
  no_tokens.set("tokenizer.ggml.model", Value::str("llama"));
  EXPECT_NE(error_of(no_tokens).find("tokenizer.ggml.tokens is missing"), std::string::npos);
  gguf::Writer empty = base();
  empty.set("tokenizer.ggml.tokens", Value::array(ValueType::STRING, {}));
  EXPECT_NE(error_of(empty).find("tokenizer.ggml.tokens is empty"), std::string::npos);
}

TEST(Vocab, WrongTypesAreNamed) {
  gguf::Writer model = base();
  model.set("tokenizer.ggml.model", Value::u32(1));
  EXPECT_NE(error_of(model).find("tokenizer.ggml.model must be a string"), std::string::npos);
  gguf::Writer tokens = base();
  tokens.set("tokenizer.ggml.tokens", Value::str("a b c"));
  EXPECT_NE(error_of(tokens).find("tokenizer.ggml.tokens must be an array of strings, but it is a string"),
            std::string::npos);
  gguf::Writer token_ints = base();
  token_ints.set("tokenizer.ggml.tokens", Value::array(ValueType::UINT32, {Value::u32(1)}));
  EXPECT_NE(error_of(token_ints).find("but it is an array of u32"), std::string::npos);
  gguf::Writer scores = base();
  scores.set("tokenizer.ggml.scores", strings({"1", "2", "3", "4", "5"}));
  EXPECT_NE(error_of(scores).find("tokenizer.ggml.scores must be an array of f32"), std::string::npos);
  gguf::Writer flag = base();
  flag.set("tokenizer.ggml.add_bos_token", Value::u8(1));
  EXPECT_NE(error_of(flag).find("tokenizer.ggml.add_bos_token must be a bool"), std::string::npos);
  gguf::Writer bos = base();
  bos.set("tokenizer.ggml.bos_token_id", Value::str("1"));
  EXPECT_NE(error_of(bos).find("tokenizer.ggml.bos_token_id must be a token id"), std::string::npos);
  gguf::Writer merges = base();
  merges.set("tokenizer.ggml.merges", Value::array(ValueType::INT32, {}));
  EXPECT_NE(error_of(merges).find("tokenizer.ggml.merges must be an array of strings"), std::string::npos);
}

TEST(Vocab, InconsistentValues) {
  gguf::Writer scores = base();
  scores.set("tokenizer.ggml.scores", Value::array(ValueType::FLOAT32, {Value::f32(0)}));
  EXPECT_NE(error_of(scores).find("tokenizer.ggml.scores has 1 entries, but there are 5 tokens"), std::string::npos);
  gguf::Writer types = base();
  types.set("tokenizer.ggml.token_type", Value::array(ValueType::INT32, std::vector<Value>(6, Value::i32(1))));
  EXPECT_NE(error_of(types).find("tokenizer.ggml.token_type has 6 entries"), std::string::npos);
  gguf::Writer bad_type = base();
  bad_type.set("tokenizer.ggml.token_type",
               Value::array(ValueType::INT32, {Value::i32(1), Value::i32(1), Value::i32(9), Value::i32(1), Value::i32(1)}));
  EXPECT_NE(error_of(bad_type).find("tokenizer.ggml.token_type entry 2 is 9, not a known token type"),
            std::string::npos);
  gguf::Writer bos = base();
  bos.set("tokenizer.ggml.bos_token_id", Value::u32(5));
  EXPECT_NE(error_of(bos).find("tokenizer.ggml.bos_token_id is 5, but the vocabulary has only 5 tokens"),
            std::string::npos);
  gguf::Writer eos = base();
  eos.set("tokenizer.ggml.eos_token_id", Value::u64(uint64_t{1} << 40));
  EXPECT_NE(error_of(eos).find("tokenizer.ggml.eos_token_id is 1099511627776"), std::string::npos);
  gguf::Writer none = base();
  none.set("tokenizer.ggml.padding_token_id", Value::i32(-1));
  auto v = round_trip(none);
  ASSERT_TRUE(v) << v.error();
  EXPECT_EQ(v->pad, -1);
}

TEST(Vocab, ErrorsNameTheFile) {
  gguf::Writer w = base();
  w.set("tokenizer.ggml.unknown_token_id", Value::u32(99));
  const std::string msg = error_of(w);
  EXPECT_NE(msg.find(".gguf: tokenizer.ggml.unknown_token_id is 99"), std::string::npos) << msg;
}

}  // namespace
}  // namespace lingua

namespace lingua {
namespace {

// Every token that ends a turn or a text ends generation, as llama.cpp decides: eos, the
// eot/eom ids, and the end-of-turn texts wherever they are; those become control tokens.
TEST(Vocab, EndOfGenerationSet) {
  gguf::Writer w = base("gpt2");
  w.set("tokenizer.ggml.tokens", strings({"x", "<|end_of_text|>", "<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<end_of_turn>",
                                          "y"}));
  w.set("tokenizer.ggml.eos_token_id", Value::u32(1));
  auto v = round_trip(w);
  ASSERT_TRUE(v) << v.error();
  EXPECT_EQ(v->eot, 2);  // found by its text
  EXPECT_EQ(v->eom, 3);
  EXPECT_EQ(v->eog, (std::vector<TokenId>{1, 2, 3, 4, 5}));
  for (TokenId id = 1; id <= 5; ++id) {
    EXPECT_TRUE(v->is_eog(id)) << id;
    EXPECT_EQ(v->types[static_cast<size_t>(id)], TokenType::CONTROL) << id;
  }
  EXPECT_FALSE(v->is_eog(0));
  EXPECT_FALSE(v->is_eog(6));
  EXPECT_FALSE(v->is_eog(-1));

  // An explicit eot id wins over the text search and joins the set.
  w.set("tokenizer.ggml.eot_token_id", Value::u32(6));
  auto explicit_eot = round_trip(w);
  ASSERT_TRUE(explicit_eot) << explicit_eot.error();
  EXPECT_EQ(explicit_eot->eot, 6);
  EXPECT_TRUE(explicit_eot->is_eog(6));
  EXPECT_TRUE(explicit_eot->is_eog(2));

  w.set("tokenizer.ggml.eot_token_id", Value::u32(60));
  EXPECT_NE(error_of(w).find("tokenizer.ggml.eot_token_id is 60"), std::string::npos);
}

// Qwen's fill-in-the-middle pad/repository/file tokens and Gemma's <eos> end generation too.
TEST(Vocab, FimAndGemmaEndTokens) {
  gguf::Writer w = base("gpt2");
  w.set("tokenizer.ggml.tokens", strings({"x", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<|fim_prefix|>", "<eos>"}));
  auto v = round_trip(w);
  ASSERT_TRUE(v) << v.error();
  EXPECT_EQ(v->eog, (std::vector<TokenId>{1, 2, 3, 5}));
  EXPECT_FALSE(v->is_eog(4));  // the prefix token starts a fill-in-the-middle prompt
}

// llama.cpp adds BOS for the Llama 3 pre-tokenizer family when the file does not say otherwise.
TEST(Vocab, Llama3PreTokenizerAddsBosByDefault) {
  for (const char* pre : {"llama-bpe", "llama3", "llama-v3", "falcon3"}) {
    gguf::Writer w = base("gpt2");
    w.set("tokenizer.ggml.pre", Value::str(pre));
    auto v = round_trip(w);
    ASSERT_TRUE(v) << v.error();
    EXPECT_TRUE(v->add_bos) << pre;
    w.set("tokenizer.ggml.add_bos_token", Value::boolean(false));
    auto off = round_trip(w);
    ASSERT_TRUE(off) << off.error();
    EXPECT_FALSE(off->add_bos) << pre;
  }
  gguf::Writer qwen = base("gpt2");
  qwen.set("tokenizer.ggml.pre", Value::str("qwen2"));
  auto v = round_trip(qwen);
  ASSERT_TRUE(v) << v.error();
  EXPECT_FALSE(v->add_bos);
}

// Qwen 2/3 normalise to NFC; the key can say so (or turn it off) for any vocabulary.
TEST(Vocab, NormalizerKey) {
  gguf::Writer w = base("gpt2");
  w.set("tokenizer.ggml.pre", Value::str("qwen2"));
  auto qwen = round_trip(w);
  ASSERT_TRUE(qwen) << qwen.error();
  EXPECT_EQ(qwen->normalizer, "nfc");
  w.set("tokenizer.lingua.normalizer", Value::str(""));
  auto off = round_trip(w);
  ASSERT_TRUE(off) << off.error();
  EXPECT_EQ(off->normalizer, "");
  w.set("tokenizer.lingua.normalizer", Value::str("nfd"));
  EXPECT_NE(error_of(w).find("tokenizer.lingua.normalizer is 'nfd'"), std::string::npos);
  auto plain = round_trip(base("gpt2"));
  ASSERT_TRUE(plain) << plain.error();
  EXPECT_EQ(plain->normalizer, "");
}

}  // namespace
}  // namespace lingua
