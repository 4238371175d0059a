// `lingua chat-template` and `lingua generate --chat`: the model's tokenizer.chat_template (or a
// --chat-template file) renders the conversation; a missing template, one that does not parse
// and one that raises each end with a clear message.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "gguf_edit.h"
#include "test_paths.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;
using testing::CliRun;

constexpr const char* kTemplate =
    "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>\n{{ m.content | trim }}{{ eos_token }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}";

class ChatTemplateCli : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("lingua-chat-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  CliRun lingua(const std::vector<std::string>& args) { return testing::run_lingua(args, dir_); }
  std::string with_template(const std::string& name, const std::string& tmpl) {
    const std::string path = (dir_ / name).string();
    const Status st = testing::write_edited_gguf(shipped(), path, {{{"tokenizer.chat_template", gguf::Value::str(tmpl)}}, ""});
    EXPECT_TRUE(st.is_ok()) << st.message();
    return path;
  }
  std::string write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  static std::string shipped() { return testing::source_dir() + "/models/kjv-fortunes-3M-f32.gguf"; }

  fs::path dir_;
};

TEST_F(ChatTemplateCli, PrintsTheModelsTemplateRendered) {
  const std::string model = with_template("chat.gguf", kTemplate);
  const std::string messages = write("m.json", R"([{"role": "system", "content": "Be brief. "},
      {"role": "user", "content": "Héllo \"there\" 🌍"}])");
  CliRun r = lingua({"chat-template", "-m", model, "--messages", messages});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "<s><|system|>\nBe brief.</s>\n<|user|>\nHéllo \"there\" 🌍</s>\n");
  EXPECT_NE(r.err.find("lingua: 2 messages,"), std::string::npos) << r.err;
  r = lingua({"chat-template", "-m", model, "--messages", messages, "--add-generation-prompt"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "<s><|system|>\nBe brief.</s>\n<|user|>\nHéllo \"there\" 🌍</s>\n<|assistant|>\n");
  // Without --messages: one example user message.
  r = lingua({"chat-template", "-m", model});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.rfind("<s><|user|>\n", 0), 0u) << r.out;
}

TEST_F(ChatTemplateCli, ChatTemplateFileOverridesTheModels) {
  const std::string model = with_template("chat.gguf", kTemplate);
  const std::string file = write("t.jinja", "{% for m in messages %}{{ m.role | upper }}: {{ m.content }}\n{% endfor %}");
  CliRun r = lingua({"chat-template", "-m", model, "--chat-template", file});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "USER: Hello! What can you do?\n");
  // A model without a template works with a file too.
  r = lingua({"chat-template", "-m", shipped(), "--chat-template", file});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "USER: Hello! What can you do?\n");
}

TEST_F(ChatTemplateCli, ModelWithoutTemplateSaysSoAndSuggestsAFile) {
  CliRun r = lingua({"chat-template", "-m", shipped()});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("has no chat template"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--chat-template"), std::string::npos) << r.err;
  r = lingua({"generate", "-m", shipped(), "-p", "hi", "-n", "1", "--chat"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("lingua generate: " + shipped() + " has no chat template"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--chat-template FILE"), std::string::npos) << r.err;
}

TEST_F(ChatTemplateCli, TemplateThatDoesNotParseNamesTheLine) {
  const std::string model = with_template("bad.gguf", "{% for m in messages %}\n{{ m.content | wordwrap }}\n{% endfor %}");
  CliRun r = lingua({"chat-template", "-m", model});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("does not parse: line 2: filter 'wordwrap' is not supported"), std::string::npos) << r.err;
  const std::string broken = with_template("broken.gguf", "{% if messages %}\nunclosed");
  r = lingua({"generate", "-m", broken, "-p", "hi", "-n", "1", "--chat"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("tokenizer.chat_template) does not parse: line 2: unexpected end of template"), std::string::npos)
      << r.err;
}

TEST_F(ChatTemplateCli, TemplateThatRaisesPrintsItsMessage) {
  const std::string model = with_template(
      "raise.gguf", "{% if messages[0].role == 'system' %}\n{{ raise_exception('System role not supported') }}\n{% endif %}ok");
  const std::string messages = write("m.json", R"([{"role": "system", "content": "x"}])");
  CliRun r = lingua({"chat-template", "-m", model, "--messages", messages});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("line 2: template raised: System role not supported"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST_F(ChatTemplateCli, BadMessagesFileIsRefused) {
  const std::string model = with_template("chat.gguf", kTemplate);
  CliRun r = lingua({"chat-template", "-m", model, "--messages", write("a.json", R"({"role": "user"})")});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("must be a JSON array"), std::string::npos) << r.err;
  r = lingua({"chat-template", "-m", model, "--messages", write("b.json", "[{")});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("invalid JSON"), std::string::npos) << r.err;
  r = lingua({"chat-template", "-m", model, "--messages", (dir_ / "absent.json").string()});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("cannot read the messages file"), std::string::npos) << r.err;
}

// generate --chat feeds exactly the rendered prompt, special tokens parsed, and adds no second
// BOS when the template wrote one; a template without one gets the vocabulary's BOS.
TEST_F(ChatTemplateCli, GenerateChatTokenizesTheRenderedPrompt) {
  const std::string model = with_template("chat.gguf", kTemplate);
  const std::string prompt = "And God said";
  const std::string rendered = "<s><|user|>\nAnd God said</s>\n<|assistant|>\n";
  CliRun tok = lingua({"tokenize", "-m", model, "--special", "--json", "--", rendered});
  ASSERT_EQ(tok.rc, 0) << tok.err;
  const auto expected = nlohmann::json::parse(tok.out)["tokens"];
  ASSERT_EQ(expected[0], 1);
  ASSERT_NE(expected[1], 1);
  CliRun r = lingua({"generate", "-m", model, "-p", prompt, "-n", "2", "--temp", "0", "--chat", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["prompt_tokens"], expected) << r.out;

  const std::string no_bos = write("nobos.jinja", "{% for m in messages %}{{ m.content }}{% endfor %}");
  r = lingua({"generate", "-m", model, "-p", prompt, "-n", "2", "--temp", "0", "--chat-template", no_bos, "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  tok = lingua({"tokenize", "-m", model, "--bos", "--special", "--json", "--", prompt});
  ASSERT_EQ(tok.rc, 0) << tok.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["prompt_tokens"], nlohmann::json::parse(tok.out)["tokens"]) << r.out;
}

}  // namespace
}  // namespace lingua
