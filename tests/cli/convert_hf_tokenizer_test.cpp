// `lingua convert hf-tokenizer` and `lingua synth --vocab-from` as a user runs them: a small
// Hugging Face tokenizer becomes a vocabulary file, then the tokenizer of a random-weight model.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "cli_runner.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::run_lingua;

class ConvertHfTokenizer : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("lingua-cli-hf-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "tok");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // GPT-2 style byte-level BPE: "h", "i", "hi", "Ġ" and an end-of-text token, with a template.
  void write_tokenizer(const std::string& model_type = "BPE") const {
    json t;
    t["model"] = {{"type", model_type},
                  {"vocab", {{"h", 0}, {"i", 1}, {"hi", 2}, {"\xC4\xA0", 3}}},
                  {"merges", json::array({"h i"})}};
    t["added_tokens"] = json::array({{{"id", 4}, {"content", "<|endoftext|>"}, {"special", true}}});
    t["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
    t["decoder"] = {{"type", "ByteLevel"}};
    std::ofstream(dir_ / "tok" / "tokenizer.json") << t.dump();
    std::ofstream(dir_ / "tok" / "tokenizer_config.json")
        << json{{"eos_token", "<|endoftext|>"}, {"chat_template", "{{ bos_token }}"}}.dump();
  }

  fs::path dir_;
};

TEST_F(ConvertHfTokenizer, VocabularyThenSynthModel) {
  write_tokenizer();
  const std::string vocab = (dir_ / "vocab.gguf").string();
  auto r = run_lingua({"convert", "hf-tokenizer", (dir_ / "tok").string(), "-o", vocab}, dir_);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("gpt2, pre gpt-2, 5 tokens, 1 merges"), std::string::npos) << r.err;

  r = run_lingua({"tokenize", "-m", vocab, "hi<|endoftext|>", "--special", "--json"}, dir_);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["tokens"], json::array({2, 4})) << r.out;

  const std::string model = (dir_ / "model.gguf").string();
  r = run_lingua({"synth", "--vocab-from", vocab, "--dim", "64", "--layers", "1", "--heads", "4", "--kv-heads", "2",
                  "--ffn", "128", "--ctx", "64", "-o", model},
                 dir_);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("vocab 5)"), std::string::npos) << r.err;
  r = run_lingua({"tokenize", "-m", model, "hi", "--json"}, dir_);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["tokens"], json::array({2})) << r.out;

  r = run_lingua({"synth", "--vocab-from", vocab, "--vocab", "512", "--dim", "64", "--layers", "1", "--heads", "4",
                  "-o", model},
                 dir_);
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("--vocab 512 disagrees with --vocab-from"), std::string::npos) << r.err;
}

TEST_F(ConvertHfTokenizer, UnsupportedModelTypeIsNamed) {
  write_tokenizer("WordPiece");
  auto r = run_lingua({"convert", "hf-tokenizer", (dir_ / "tok").string(), "-o", (dir_ / "v.gguf").string()}, dir_);
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("tokenizer model type 'WordPiece'"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "v.gguf"));

  r = run_lingua({"convert", "hf-tokenizer", "-o", (dir_ / "v.gguf").string()}, dir_);
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("hf-tokenizer needs one directory"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace lingua
