// The byte-level BPE tokenizer against llama.cpp's recorded output on real vocabularies, one per
// pre-tokenizer family in the shared test set (GPT-2, DeepSeek LLM, Falcon, StarCoder).
#include <gtest/gtest.h>

#include <iostream>
#include <memory>
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

class BpeParity : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    LINGUA_REQUIRE_SHARED();
    base_ = testing::shared_model(std::string("vocab/ggml-vocab-") + GetParam() + ".gguf");
    auto t = load(base_);
    ASSERT_TRUE(t.has_value()) << t.error();
    tokenizer_ = std::move(t).value();
    ASSERT_EQ(tokenizer_->vocab().model, "gpt2");
    cases_ = testing::read_vocab_cases(base_);
    ASSERT_FALSE(cases_.empty());
  }
  std::string base_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::vector<testing::VocabCase> cases_;
};

// The recorded ids were made without BOS and without special-token parsing.
TEST_P(BpeParity, MatchesLlamaCppOnEveryTestString) {
  size_t matched = 0;
  for (const testing::VocabCase& c : cases_) {
    auto ids = tokenizer_->encode(c.text, TokenizeOptions{});
    ASSERT_TRUE(ids.has_value()) << ids.error();
    if (ids.value() == c.ids) {
      ++matched;
    } else {
      ADD_FAILURE() << "text [" << c.text << "]\n  got      " << testing::show_ids(ids.value())
                    << "\n  expected " << testing::show_ids(c.ids);
    }
  }
  EXPECT_EQ(matched, cases_.size());
  std::cout << "[ parity   ] " << matched << "/" << cases_.size() << " " << GetParam()
            << " vocab strings (pre '" << tokenizer_->vocab().pre << "')\n";
}

// Byte-level BPE loses nothing: decoding the recorded ids gives back the exact input.
TEST_P(BpeParity, DecodeRestoresEveryTestString) {
  for (const testing::VocabCase& c : cases_) EXPECT_EQ(tokenizer_->decode(c.ids), c.text);
}

INSTANTIATE_TEST_SUITE_P(Vocabs, BpeParity,
                         ::testing::Values("gpt-2", "deepseek-llm", "falcon", "starcoder"),
                         [](const ::testing::TestParamInfo<const char*>& param_info) {
                           std::string name;
                           for (const char* p = param_info.param; *p; ++p) name += *p == '-' ? '_' : *p;
                           return name;
                         });

}  // namespace
}  // namespace lingua
