// read_hf_tokenizer on small hand-written tokenizer.json files: what each GGUF key gets, and an
// error naming the problem for everything the converter cannot express.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "model/gguf.h"
#include "model/hf_tokenizer.h"
#include "model/tokenizer.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kLlama3Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

class HfTokenizer : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("lingua-hf-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& name, const json& j) const { std::ofstream(dir_ / name) << j.dump(); }

  // Byte-level BPE in the Llama 3 style: "h", "i", "hi", "Ġ" and three added tokens.
  static json byte_level() {
    json t;
    t["model"] = {{"type", "BPE"},
                  {"vocab", {{"h", 0}, {"i", 1}, {"hi", 2}, {"\xC4\xA0", 3}}},
                  {"merges", json::array({json::array({"h", "i"})})},
                  {"ignore_merges", true},
                  {"byte_fallback", false}};
    t["added_tokens"] = json::array({
        {{"id", 4}, {"content", "<|begin_of_text|>"}, {"special", true}},
        {{"id", 5}, {"content", "<|eot_id|>"}, {"special", true}},
        {{"id", 6}, {"content", "<think>"}, {"special", false}},
        {{"id", 7}, {"content", "<|fim_prefix|>"}, {"special", false}},
    });
    t["normalizer"] = nullptr;
    t["pre_tokenizer"] = {{"type", "Sequence"},
                          {"pretokenizers",
                           json::array({{{"type", "Split"}, {"pattern", {{"Regex", kLlama3Regex}}}, {"behavior", "Isolated"}, {"invert", false}},
                                        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}};
    t["post_processor"] = {{"type", "TemplateProcessing"},
                           {"single", json::array({{{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}},
                                                   {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})}};
    t["decoder"] = {{"type", "ByteLevel"}};
    return t;
  }

  // SentencePiece-style BPE as Gemma's: "▁" for spaces, byte fallback, merges over characters.
  static json sentencepiece_style() {
    json t;
    t["model"] = {{"type", "BPE"},
                  {"vocab", {{"<pad>", 0}, {"<eos>", 1}, {"<bos>", 2}, {"<unk>", 3}, {"<0x41>", 4}, {"a", 5},
                             {"b", 6}, {"ab", 7}, {"\xE2\x96\x81", 8}, {"\xE2\x96\x81" "ab", 9}}},
                  {"merges", json::array({json::array({"a", "b"}), json::array({"\xE2\x96\x81", "ab"})})},
                  {"unk_token", "<unk>"},
                  {"byte_fallback", true}};
    t["added_tokens"] = json::array({{{"id", 0}, {"content", "<pad>"}, {"special", true}},
                                     {{"id", 1}, {"content", "<eos>"}, {"special", true}},
                                     {{"id", 2}, {"content", "<bos>"}, {"special", true}},
                                     {{"id", 3}, {"content", "<unk>"}, {"special", true}}});
    t["normalizer"] = {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}};
    t["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "MergedWithPrevious"}};
    return t;
  }

  std::string error_of(const json& tokenizer) {
    write("tokenizer.json", tokenizer);
    auto r = read_hf_tokenizer(dir_.string());
    return r ? "(converted)" : r.error();
  }

  fs::path dir_;
};

TEST_F(HfTokenizer, ByteLevelLlama3Keys) {
  write("tokenizer.json", byte_level());
  write("tokenizer_config.json", {{"bos_token", "<|begin_of_text|>"},
                                  {"eos_token", {{"content", "<|eot_id|>"}, {"__type", "AddedToken"}}},
                                  {"chat_template", "{{ messages }}"}});
  auto r = read_hf_tokenizer(dir_.string());
  ASSERT_TRUE(r.has_value()) << r.error();
  const Vocab& v = r->vocab;
  EXPECT_EQ(v.model, "gpt2");
  EXPECT_EQ(v.pre, "llama-bpe");
  ASSERT_EQ(v.size(), 8);
  EXPECT_EQ(v.merges, std::vector<std::string>{"h i"});
  EXPECT_EQ(v.types[2], TokenType::NORMAL);
  EXPECT_EQ(v.types[4], TokenType::CONTROL);       // special
  EXPECT_EQ(v.types[6], TokenType::USER_DEFINED);  // not special
  EXPECT_EQ(v.types[7], TokenType::CONTROL);       // not special, but <|...|> as llama.cpp treats it
  EXPECT_EQ(v.bos, 4);
  EXPECT_EQ(v.eos, 5);
  EXPECT_EQ(v.eot, 5);
  EXPECT_TRUE(v.add_bos);  // the post-processor's template starts with BOS
  EXPECT_FALSE(v.add_eos);
  EXPECT_EQ(r->chat_template, "{{ messages }}");

  // Written and read back, the vocabulary tokenizes.
  const std::string path = (dir_ / "vocab.gguf").string();
  ASSERT_TRUE(write_hf_tokenizer_gguf(*r, path).is_ok());
  auto file = gguf::File::open(path);
  ASSERT_TRUE(file.has_value()) << file.error();
  EXPECT_EQ(file->get_string("tokenizer.chat_template").value(), "{{ messages }}");
  auto back = Vocab::from_gguf(*file);
  ASSERT_TRUE(back.has_value()) << back.error();
  auto tok = Tokenizer::create(std::move(back).value());
  ASSERT_TRUE(tok.has_value()) << tok.error();
  // BOS, "hi" whole, the user-defined token cut even without special parsing, the control one
  // only with it.
  auto ids = (*tok)->encode("hi<think>hi", TokenizeOptions{true, false, false});
  ASSERT_TRUE(ids.has_value()) << ids.error();
  EXPECT_EQ(*ids, (std::vector<TokenId>{4, 2, 6, 2}));
  ids = (*tok)->encode("hi<|eot_id|>", TokenizeOptions{false, true, false});
  ASSERT_TRUE(ids.has_value()) << ids.error();
  EXPECT_EQ(*ids, (std::vector<TokenId>{2, 5}));
  EXPECT_TRUE((*tok)->vocab().is_eog(5));
}

TEST_F(HfTokenizer, ConfigFlagsOverrideThePostProcessor) {
  write("tokenizer.json", byte_level());
  write("tokenizer_config.json", {{"bos_token", "<|begin_of_text|>"}, {"add_bos_token", false}, {"add_eos_token", true},
                                  {"eos_token", "<|eot_id|>"}});
  auto r = read_hf_tokenizer(dir_.string());
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_FALSE(r->vocab.add_bos);
  EXPECT_TRUE(r->vocab.add_eos);
}

TEST_F(HfTokenizer, SentencePieceStyleGetsScoresFromMerges) {
  write("tokenizer.json", sentencepiece_style());
  write("tokenizer_config.json", {{"bos_token", "<bos>"}, {"eos_token", "<eos>"}, {"pad_token", "<pad>"},
                                  {"add_bos_token", true}});
  auto r = read_hf_tokenizer(dir_.string());
  ASSERT_TRUE(r.has_value()) << r.error();
  const Vocab& v = r->vocab;
  EXPECT_EQ(v.model, "llama");
  EXPECT_FALSE(v.add_space_prefix);  // no Prepend in the normalizer
  EXPECT_TRUE(v.merges.empty());
  EXPECT_EQ(v.types[3], TokenType::UNKNOWN);
  EXPECT_EQ(v.types[4], TokenType::BYTE);
  EXPECT_EQ(v.types[0], TokenType::CONTROL);
  EXPECT_EQ(v.unk, 3);
  EXPECT_EQ(v.bos, 2);
  EXPECT_EQ(v.pad, 0);
  // Each merge result scores minus its merge rank, so the better merge wins.
  EXPECT_EQ(v.scores[7], 0.0f);
  EXPECT_EQ(v.scores[9], -1.0f);
  EXPECT_GT(v.scores[7], v.scores[9]);

  auto tok = Tokenizer::create(r->vocab);
  ASSERT_TRUE(tok.has_value()) << tok.error();
  auto ids = (*tok)->encode("ab abA", TokenizeOptions{true, false, false});
  ASSERT_TRUE(ids.has_value()) << ids.error();
  EXPECT_EQ(*ids, (std::vector<TokenId>{2, 7, 9, 4}));
}

TEST_F(HfTokenizer, VocabSizePadsAndDrops) {
  write("tokenizer.json", byte_level());
  HfTokenizerOptions o;
  o.vocab_size = 10;
  auto padded = read_hf_tokenizer(dir_.string(), o);
  ASSERT_TRUE(padded.has_value()) << padded.error();
  ASSERT_EQ(padded->vocab.size(), 10);
  EXPECT_EQ(padded->vocab.pieces[9], "[PAD9]");
  EXPECT_EQ(padded->vocab.types[9], TokenType::UNUSED);

  o.vocab_size = 6;  // the added tokens 6 and 7 lie beyond the model's embedding
  auto cut = read_hf_tokenizer(dir_.string(), o);
  ASSERT_TRUE(cut.has_value()) << cut.error();
  EXPECT_EQ(cut->vocab.size(), 6);

  o.vocab_size = 3;  // a model piece beyond it is an error
  auto bad = read_hf_tokenizer(dir_.string(), o);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().find("past the vocabulary size 3"), std::string::npos) << bad.error();

  write("config.json", {{"vocab_size", 12}});
  auto from_config = read_hf_tokenizer(dir_.string());
  ASSERT_TRUE(from_config.has_value()) << from_config.error();
  EXPECT_EQ(from_config->vocab.size(), 12);
}

TEST_F(HfTokenizer, UnknownModelTypeIsNamed) {
  for (const char* type : {"WordPiece", "Unigram", "WordLevel"}) {
    json t = byte_level();
    t["model"]["type"] = type;
    const std::string e = error_of(t);
    EXPECT_NE(e.find(std::string("model type '") + type + "'"), std::string::npos) << e;
    EXPECT_NE(e.find("tokenizer.json"), std::string::npos) << e;
  }
}

TEST_F(HfTokenizer, UnknownPreTokenizerIsNamed) {
  json t = byte_level();
  t["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\p{L}+|\\p{N}+";
  std::string e = error_of(t);
  EXPECT_NE(e.find("unknown pre-tokenizer: Split regex '\\p{L}+|\\p{N}+'"), std::string::npos) << e;

  t = byte_level();
  t["pre_tokenizer"]["pretokenizers"][1] = {{"type", "Digits"}, {"individual_digits", true}};
  e = error_of(t);
  EXPECT_NE(e.find("pre_tokenizer 'Digits' is not supported"), std::string::npos) << e;

  t = byte_level();
  t["normalizer"] = {{"type", "Lowercase"}};
  e = error_of(t);
  EXPECT_NE(e.find("normalizer 'Lowercase'"), std::string::npos) << e;

  t = sentencepiece_style();
  t["model"]["byte_fallback"] = false;
  e = error_of(t);
  EXPECT_NE(e.find("neither byte-level"), std::string::npos) << e;
}

TEST_F(HfTokenizer, BadFilesAreErrors) {
  auto missing = read_hf_tokenizer((dir_ / "absent").string());
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().find("not a directory"), std::string::npos) << missing.error();

  auto no_file = read_hf_tokenizer(dir_.string());
  ASSERT_FALSE(no_file.has_value());
  EXPECT_NE(no_file.error().find("tokenizer.json: cannot open"), std::string::npos) << no_file.error();

  std::ofstream(dir_ / "tokenizer.json") << "{\"model\": ";
  auto truncated = read_hf_tokenizer(dir_.string());
  ASSERT_FALSE(truncated.has_value());
  EXPECT_NE(truncated.error().find("not valid JSON"), std::string::npos) << truncated.error();

  write("tokenizer.json", byte_level());
  write("tokenizer_config.json", {{"eos_token", "<|not_there|>"}});
  auto bad_eos = read_hf_tokenizer(dir_.string());
  ASSERT_FALSE(bad_eos.has_value());
  EXPECT_NE(bad_eos.error().find("eos_token '<|not_there|>' is not a token"), std::string::npos) << bad_eos.error();

  json bad_merge = byte_level();
  bad_merge["model"]["merges"] = json::array({42});
  EXPECT_NE(error_of(bad_merge).find("neither"), std::string::npos);
}

}  // namespace
}  // namespace lingua
