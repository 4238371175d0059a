// `synth --vocab-from`: a random-weight model carries another file's tokenizer keys unchanged, with
// its vocabulary size, so real-shape models can be tested with real vocabularies.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "model/gguf.h"
#include "model/synth.h"
#include "model/synth_vocab.h"
#include "model/tokenizer.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;
using gguf::Value;
using gguf::ValueType;

class SynthVocabFrom : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("lingua-vocab-from-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // A vocabulary-only GGUF: byte-level BPE over the 256 byte characters (ids 0-255), "he",
  // "hel", "lo", "hello" (256-259) and two control tokens (260, 261), with a chat template.
  std::string write_vocab(const std::string& name) const {
    std::vector<Value> tokens, types;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      uint32_t cp = static_cast<uint32_t>(b);
      if (!printable) {
        uint32_t n = 0;
        for (int x = 0; x < b; ++x)
          n += ((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE)) ? 0 : 1;
        cp = 256 + n;
      }
      std::string s;
      if (cp < 0x80) {
        s += static_cast<char>(cp);
      } else {
        s += static_cast<char>(0xC0 | (cp >> 6));
        s += static_cast<char>(0x80 | (cp & 0x3F));
      }
      tokens.push_back(Value::str(s));
      types.push_back(Value::i32(1));
    }
    for (const char* piece : {"he", "hel", "lo", "hello"}) {
      tokens.push_back(Value::str(piece));
      types.push_back(Value::i32(1));
    }
    for (const char* special : {"<|end|>", "<|start|>"}) {
      tokens.push_back(Value::str(special));
      types.push_back(Value::i32(3));
    }
    std::vector<Value> merges = {Value::str("h e"), Value::str("he l"), Value::str("l o"), Value::str("hel lo")};
    gguf::Writer w;
    w.set("general.architecture", Value::str("vocab"));
    w.set("tokenizer.ggml.model", Value::str("gpt2"));
    w.set("tokenizer.ggml.pre", Value::str("qwen2"));
    w.set("tokenizer.ggml.tokens", Value::array(ValueType::STRING, std::move(tokens)));
    w.set("tokenizer.ggml.token_type", Value::array(ValueType::INT32, std::move(types)));
    w.set("tokenizer.ggml.merges", Value::array(ValueType::STRING, std::move(merges)));
    w.set("tokenizer.ggml.eos_token_id", Value::u32(260));
    w.set("tokenizer.chat_template", Value::str("{% for m in messages %}{{ m.content }}{% endfor %}"));
    const std::string out = path(name);
    const Status st = w.write(out, nullptr);
    EXPECT_TRUE(st.is_ok()) << st.message();
    return out;
  }

  static SynthSpec small_spec() {
    SynthSpec s;
    s.dim = 64, s.layers = 1, s.heads = 4, s.kv_heads = 2, s.ffn = 128, s.ctx = 64;
    return s;
  }

  fs::path dir_;
};

TEST_F(SynthVocabFrom, ModelCarriesTheTokenizerKeysAndItsSize) {
  const std::string vocab_path = write_vocab("vocab.gguf");
  SynthSpec spec = small_spec();
  spec.vocab_from = vocab_path;
  ASSERT_TRUE(resolve_vocab_from(spec, -1).is_ok());
  EXPECT_EQ(spec.vocab, 262);
  const std::string model_path = path("model.gguf");
  const Status st = write_synth_model(spec, model_path);
  ASSERT_TRUE(st.is_ok()) << st.message();

  auto vocab_file = gguf::File::open(vocab_path);
  auto model_file = gguf::File::open(model_path);
  ASSERT_TRUE(vocab_file.has_value() && model_file.has_value());
  size_t copied = 0;
  for (const auto& [key, value] : vocab_file->metadata()) {
    if (key.rfind("tokenizer.", 0) != 0) continue;
    const Value* in_model = model_file->find(key);
    ASSERT_NE(in_model, nullptr) << key;
    EXPECT_EQ(in_model->to_display(1000000), value.to_display(1000000)) << key;
    ++copied;
  }
  EXPECT_EQ(copied, 7u);
  EXPECT_EQ(model_file->get_u64("llama.vocab_size").value(), 262u);
  const gguf::TensorInfo* embd = model_file->find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->dims[1], 262u);

  // The borrowed tokenizer works from the model file.
  auto vocab = Vocab::from_gguf(*model_file);
  ASSERT_TRUE(vocab.has_value()) << vocab.error();
  auto tokenizer = Tokenizer::create(std::move(vocab).value());
  ASSERT_TRUE(tokenizer.has_value()) << tokenizer.error();
  auto ids = (*tokenizer)->encode("hello<|end|>", TokenizeOptions{false, true, false});
  ASSERT_TRUE(ids.has_value()) << ids.error();
  EXPECT_EQ(*ids, (std::vector<TokenId>{259, 260}));
}

TEST_F(SynthVocabFrom, DisagreeingVocabSizeIsAnError) {
  SynthSpec spec = small_spec();
  spec.vocab_from = write_vocab("vocab.gguf");
  const Status st = resolve_vocab_from(spec, 1000);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("262 tokens"), std::string::npos) << st.message();

  // A spec whose size was changed after resolving is refused when writing.
  ASSERT_TRUE(resolve_vocab_from(spec, -1).is_ok());
  spec.vocab = 300;
  const Status write = write_synth_model(spec, path("model.gguf"));
  ASSERT_FALSE(write.is_ok());
  EXPECT_NE(write.message().find("has 262 tokens"), std::string::npos) << write.message();
}

TEST_F(SynthVocabFrom, FileWithoutTokenizerIsAnError) {
  gguf::Writer w;
  w.set("general.architecture", Value::str("llama"));
  ASSERT_TRUE(w.write(path("empty.gguf"), nullptr).is_ok());
  SynthSpec spec = small_spec();
  spec.vocab_from = path("empty.gguf");
  const Status st = resolve_vocab_from(spec, -1);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("tokenizer.ggml.model is missing"), std::string::npos) << st.message();

  spec.vocab_from = path("absent.gguf");
  EXPECT_FALSE(resolve_vocab_from(spec, -1).is_ok());
}

}  // namespace
}  // namespace lingua
