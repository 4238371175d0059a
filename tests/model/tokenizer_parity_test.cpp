// The SentencePiece tokenizer against recorded llama.cpp output on real vocabularies: the
// llama.cpp vocab test set (Llama 2's 32000 pieces) and the bundled kjv-fortunes-3M prompts.
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/gguf.h"
#include "model/tokenizer.h"
#include "test_paths.h"
#include "vocab_cases.h"

namespace lingua {
namespace {

Expected<std::unique_ptr<Tokenizer>> load(const std::string& path) {
  LINGUA_ASSIGN_OR_RETURN(auto file, gguf::File::open(path));
  LINGUA_ASSIGN_OR_RETURN(auto vocab, Vocab::from_gguf(file));
  return Tokenizer::create(std::move(vocab));
}

using testing::read_all;
using testing::read_vocab_cases;
using testing::VocabCase;

std::string show(const std::vector<TokenId>& ids) { return testing::show_ids(ids); }

class TokenizerLlamaSpm : public ::testing::Test {
 protected:
  void SetUp() override {
    LINGUA_REQUIRE_SHARED();
    base_ = testing::shared_model("vocab/ggml-vocab-llama-spm.gguf");
    auto t = load(base_);
    ASSERT_TRUE(t.has_value()) << t.error();
    tokenizer_ = std::move(t).value();
    cases_ = read_vocab_cases(base_);
    ASSERT_FALSE(cases_.empty());
  }
  std::string base_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::vector<VocabCase> cases_;
};

TEST_F(TokenizerLlamaSpm, MatchesLlamaCppOnEveryTestString) {
  size_t matched = 0;
  for (const VocabCase& c : cases_) {
    auto ids = tokenizer_->encode(c.text, TokenizeOptions{});
    ASSERT_TRUE(ids.has_value()) << ids.error();
    if (ids.value() == c.ids) {
      ++matched;
    } else {
      ADD_FAILURE() << "text [" << c.text << "]\n  got      " << show(ids.value())
                    << "\n  expected " << show(c.ids);
    }
  }
  EXPECT_EQ(matched, cases_.size());
  std::cout << "[ parity   ] " << matched << "/" << cases_.size() << " llama-spm vocab strings\n";
}

TEST_F(TokenizerLlamaSpm, DecodeRestoresEveryTestString) {
  for (const VocabCase& c : cases_) {
    EXPECT_EQ(tokenizer_->decode(c.ids), c.text);
    TokenizeOptions with_bos;
    with_bos.add_bos = true;
    auto ids = tokenizer_->encode(c.text, with_bos);
    ASSERT_TRUE(ids.has_value()) << ids.error();
    EXPECT_EQ(tokenizer_->decode(ids.value()), c.text);
  }
}

TEST_F(TokenizerLlamaSpm, SpecialTokensInText) {
  TokenizeOptions special;
  special.parse_special = true;
  auto ids = tokenizer_->encode("<s>Hello</s>", special);
  ASSERT_TRUE(ids.has_value()) << ids.error();
  // <s>, "▁Hello" (the dummy prefix follows a special token), </s>
  EXPECT_EQ(ids.value(), (std::vector<TokenId>{1, 15043, 2}));
  auto plain = tokenizer_->encode("<s>Hello</s>", TokenizeOptions{});
  ASSERT_TRUE(plain.has_value()) << plain.error();
  for (TokenId id : plain.value()) EXPECT_GT(id, 2) << "control token from plain text";
  EXPECT_EQ(tokenizer_->decode(plain.value()), "<s>Hello</s>");
}

TEST(TokenizerKjv, PromptsMatchGoldenIds) {
  LINGUA_REQUIRE_SHARED();
  auto t = load(testing::shared_model("kjv-fortunes-3M-f32.gguf"));
  ASSERT_TRUE(t.has_value()) << t.error();
  const auto golden =
      nlohmann::json::parse(read_all(testing::shared_model("kjv-fortunes-3M.golden5.json")));
  ASSERT_FALSE(golden.at("prompts").empty());
  TokenizeOptions with_bos;
  with_bos.add_bos = true;
  for (const auto& p : golden.at("prompts")) {
    const std::string prompt = p.at("prompt").get<std::string>();
    const auto expected = p.at("prompt_ids").get<std::vector<TokenId>>();
    auto ids = t.value()->encode(prompt, with_bos);
    ASSERT_TRUE(ids.has_value()) << ids.error();
    EXPECT_EQ(ids.value(), expected) << prompt;
    EXPECT_EQ(t.value()->decode(expected), prompt);
  }
}

TEST(TokenizerKjv, GeneratedTextStreamsAsValidUtf8) {
  LINGUA_REQUIRE_SHARED();
  auto t = load(testing::shared_model("kjv-fortunes-3M-f32.gguf"));
  ASSERT_TRUE(t.has_value()) << t.error();
  // Every id in turn, as a generator would emit them: the streamer output must always be valid,
  // whatever byte tokens split.
  Utf8Streamer streamer;
  std::string text;
  TokenId previous = t.value()->vocab().bos;
  for (TokenId id = 0; id < t.value()->vocab().size(); ++id) {
    text += streamer.push(t.value()->piece_bytes(id, previous));
    previous = id;
  }
  text += streamer.flush();
  EXPECT_TRUE(validate_utf8(text).is_ok()) << validate_utf8(text).message();
}

}  // namespace
}  // namespace lingua
