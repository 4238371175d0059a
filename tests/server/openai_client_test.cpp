// The stock `openai` npm client (pinned in tests/npm/package-lock.json, installed into the build
// tree at test time) against `lingua serve` on the shipped model and on the same model with a
// chat template: its answers equal `lingua generate`'s. Skipped, saying why, without npm/node.
#include <unistd.h>

#include "gguf_edit.h"
#include "serve_process.h"
#include "server_harness.h"

namespace lingua {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

json run_client(const testing::ServeProcess& serve, const std::string& model_id) {
  const std::string script = testing::source_dir() + "/tests/server/openai_client_test.mjs";
  const std::string cmd = "node " + testing::shell_quote(script) + " " +
                          testing::shell_quote(testing::npm_dir() + "/node_modules") + " " +
                          testing::shell_quote("http://127.0.0.1:" + std::to_string(serve.port()) + "/v1") + " " +
                          testing::shell_quote(model_id) + " test-key 2>&1";
  int status = 0;
  const std::string out = testing::run_command(cmd, status);
  EXPECT_EQ(status, 0) << out;
  const json doc = json::parse(out, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << out;
  return doc;
}

class OpenAIClient : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = testing::ensure_npm_packages(); !why.empty()) GTEST_SKIP() << why;
    dir_ = fs::temp_directory_path() / ("lingua-openai-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
};

TEST_F(OpenAIClient, ShippedModel) {
  testing::ServeProcess serve({"-m", testing::shipped_model(), "--api-key", "test-key", "-t", "2"}, dir_ / "serve.log");
  ASSERT_GT(serve.port(), 0) << serve.log();
  const json got = run_client(serve, "kjv-fortunes-3M-f32");
  const auto ref = testing::greedy_generate(testing::shipped_model(), "And God said", 16);
  EXPECT_EQ(got["completion_text"], ref.text);
  EXPECT_EQ(got["completion_usage"]["completion_tokens"], ref.tokens);
  EXPECT_EQ(got["completion_usage"]["prompt_tokens"], 4);  // BOS And God said
  // No chat template: the plain transcript, cut where the model starts the user's next turn.
  std::string transcript = testing::greedy_generate(testing::shipped_model(), "user: Who made the earth?\nassistant:", 16).text;
  transcript = transcript.substr(0, transcript.find("\nuser:"));
  EXPECT_EQ(got["chat_text"], transcript);
  EXPECT_NE(got["not_found_message"].get<std::string>().find("no-such-model"), std::string::npos);
  EXPECT_EQ(serve.stop(), 0) << serve.log();
}

TEST_F(OpenAIClient, ModelWithChatTemplate) {
  const std::string model = (dir_ / "chat-model.gguf").string();
  const std::string tmpl =
      "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>\n{{ m.content | trim }}{{ eos_token }}\n"
      "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}";
  ASSERT_TRUE(testing::write_edited_gguf(testing::shipped_model(), model, {{{"tokenizer.chat_template", gguf::Value::str(tmpl)}}, ""}).is_ok());
  testing::ServeProcess serve({"-m", model, "--api-key", "test-key", "-t", "2"}, dir_ / "serve.log");
  ASSERT_GT(serve.port(), 0) << serve.log();
  const json got = run_client(serve, "chat-model");
  const auto ref = testing::greedy_generate(model, "Who made the earth?", 16, {"--chat"});
  EXPECT_EQ(got["chat_text"], ref.text);
  EXPECT_EQ(got["chat_usage"]["completion_tokens"], ref.tokens);
  EXPECT_EQ(serve.stop(), 0) << serve.log();
}

}  // namespace
}  // namespace lingua
