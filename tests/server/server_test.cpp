// `lingua serve` in-process on the shipped model: greedy answers equal `lingua generate`, streamed
// or not, alone or among concurrent requests; a client that leaves mid-stream frees its sequence;
// and the errors (401, 404, 405, 429, 400) come in OpenAI's shape with the right status.
#include <atomic>
#include <chrono>

#include "gguf_edit.h"
#include "server_harness.h"

namespace lingua {
namespace {

using json = nlohmann::json;
using testing::RunningServer;

class ServeTest : public testing::ShippedModelSuite {
 protected:
  static server::ServerOptions options(int parallel = 4) {
    server::ServerOptions o;
    o.parallel = parallel;
    o.read_timeout_s = 2;
    return o;
  }
  static json post(httplib::Client& c, const std::string& path, const json& body, int* status = nullptr) {
    auto res = c.Post(path, body.dump(), "application/json");
    if (!res) {
      ADD_FAILURE() << "no response to " << path << ": " << httplib::to_string(res.error());
      return json();
    }
    if (status) *status = res->status;
    else EXPECT_EQ(res->status, 200) << res->body;
    return json::parse(res->body, nullptr, false);
  }
  // The whole SSE body of a streamed request.
  static std::string post_stream(httplib::Client& c, const std::string& path, json body) {
    body["stream"] = true;
    auto res = c.Post(path, body.dump(), "application/json");
    if (!res) {
      ADD_FAILURE() << "no response: " << httplib::to_string(res.error());
      return "";
    }
    EXPECT_EQ(res->status, 200) << res->body;
    EXPECT_EQ(res->get_header_value("Content-Type"), "text/event-stream");
    return res->body;
  }
  static std::string metrics(RunningServer& s, const std::string& key = "") {
    auto c = s.client();
    if (!key.empty()) c.set_bearer_token_auth(key);
    auto res = c.Get("/metrics");
    return res ? res->body : "";
  }
  // Waits (up to 20 s) until a gauge shows `value`.
  static bool wait_for_gauge(RunningServer& s, const std::string& name, double value, const std::string& key = "") {
    for (int i = 0; i < 400; ++i) {
      if (testing::metric(metrics(s, key), name) == value) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
};

TEST_F(ServeTest, GreedyCompletionEqualsGenerate) {
  RunningServer s(*model_, options());
  ASSERT_TRUE(s.error().empty()) << s.error();
  auto c = s.client();
  for (const std::string prompt : {"And God said", "Thou shalt", ""}) {
    const auto ref = testing::greedy_generate(testing::shipped_model(), prompt, 24);
    const json r = post(c, "/v1/completions", {{"model", "kjv-fortunes-3M-f32"}, {"prompt", prompt}, {"max_tokens", 24}, {"temperature", 0}});
    EXPECT_EQ(r["object"], "text_completion");
    EXPECT_EQ(r["choices"][0]["text"], ref.text) << prompt;
    EXPECT_EQ(r["usage"]["completion_tokens"], ref.tokens) << prompt;
    EXPECT_EQ(r["choices"][0]["finish_reason"], ref.stop_reason == "eos" ? "stop" : "length");
    EXPECT_EQ(r["usage"]["total_tokens"], r["usage"]["prompt_tokens"].get<int>() + r["usage"]["completion_tokens"].get<int>());
    // Streamed: the same text in chunks, then a finish chunk and [DONE].
    const auto docs = testing::sse_documents(
        post_stream(c, "/v1/completions", {{"prompt", prompt}, {"max_tokens", 24}, {"temperature", 0},
                                           {"stream_options", {{"include_usage", true}}}}));
    ASSERT_GE(docs.size(), 3u);
    EXPECT_EQ(testing::streamed_text(docs), ref.text);
    EXPECT_EQ(docs.back(), "[DONE]");
    EXPECT_EQ(docs[docs.size() - 2]["usage"]["completion_tokens"], ref.tokens);
    EXPECT_FALSE(docs[docs.size() - 3]["choices"][0]["finish_reason"].is_null());
  }
}

TEST_F(ServeTest, PromptsLongerThanABatchEqualGenerate) {
  server::ServerOptions o = options();
  o.batch = 8;  // the prompt goes in several steps while other sequences decode
  RunningServer s(*model_, o);
  ASSERT_TRUE(s.error().empty()) << s.error();
  const std::string prompt = "In the beginning God created the heaven and the earth. And the earth was without form, and void";
  const auto ref = testing::greedy_generate(testing::shipped_model(), prompt, 20, {"-b", "8"});
  std::vector<std::string> got(3);
  std::vector<std::thread> clients;
  for (size_t i = 0; i < got.size(); ++i)
    clients.emplace_back([&, i] {
      auto c = s.client();
      got[i] = testing::streamed_text(testing::sse_documents(
          post_stream(c, "/v1/completions", {{"prompt", prompt}, {"max_tokens", 20}, {"temperature", 0}})));
    });
  for (auto& t : clients) t.join();
  for (const std::string& g : got) EXPECT_EQ(g, ref.text);
}

TEST_F(ServeTest, ChatOnAModelWithoutTemplateUsesTheTranscript) {
  RunningServer s(*model_, options());
  ASSERT_TRUE(s.error().empty()) << s.error();
  EXPECT_FALSE(s.server().chat_format().has_template());
  auto c = s.client();
  const json chat = post(c, "/v1/chat/completions",
                         {{"messages", {{{"role", "system"}, {"content", "Be wise."}}, {{"role", "user"}, {"content", "Who made the earth?"}}}},
                          {"max_tokens", 30}, {"temperature", 0}});
  EXPECT_EQ(chat["object"], "chat.completion");
  EXPECT_EQ(chat["choices"][0]["message"]["role"], "assistant");
  // The transcript format, run as a plain completion with the stop it implies, answers the same.
  const json plain = post(c, "/v1/completions", {{"prompt", "system: Be wise.\nuser: Who made the earth?\nassistant:"},
                                                 {"max_tokens", 30}, {"temperature", 0}, {"stop", "\nuser:"}});
  EXPECT_EQ(chat["choices"][0]["message"]["content"], plain["choices"][0]["text"]);
  EXPECT_EQ(chat["usage"], plain["usage"]);
  // Streamed chat: a role chunk first, content deltas, a finish chunk, [DONE].
  const auto docs = testing::sse_documents(post_stream(
      c, "/v1/chat/completions",
      {{"messages", {{{"role", "system"}, {"content", "Be wise."}}, {{"role", "user"}, {"content", "Who made the earth?"}}}},
       {"max_tokens", 30}, {"temperature", 0}}));
  ASSERT_GE(docs.size(), 3u);
  EXPECT_EQ(docs[0]["object"], "chat.completion.chunk");
  EXPECT_EQ(docs[0]["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(testing::streamed_text(docs), chat["choices"][0]["message"]["content"]);
  EXPECT_EQ(docs[docs.size() - 2]["choices"][0]["finish_reason"], chat["choices"][0]["finish_reason"]);
}

TEST_F(ServeTest, ChatWithTheModelsTemplateEqualsGenerateChat) {
  const auto dir = std::filesystem::temp_directory_path() / ("lingua-serve-chat-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "chat.gguf").string();
  const std::string tmpl =
      "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>\n{{ m.content | trim }}{{ eos_token }}\n"
      "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}";
  ASSERT_TRUE(testing::write_edited_gguf(testing::shipped_model(), path, {{{"tokenizer.chat_template", gguf::Value::str(tmpl)}}, ""}).is_ok());
  auto m = Model::load(path);
  ASSERT_TRUE(m) << m.error();
  {
    RunningServer s(**m, options());
    ASSERT_TRUE(s.error().empty()) << s.error();
    EXPECT_TRUE(s.server().chat_format().has_template());
    auto c = s.client();
    const auto ref = testing::greedy_generate(path, "Who made the earth?", 24, {"--chat"});
    const json chat = post(c, "/v1/chat/completions",
                           {{"model", "chat"}, {"messages", {{{"role", "user"}, {"content", "Who made the earth?"}}}},
                            {"max_tokens", 24}, {"temperature", 0}});
    EXPECT_EQ(chat["choices"][0]["message"]["content"], ref.text);
    EXPECT_EQ(chat["usage"]["completion_tokens"], ref.tokens);
    // A conversation the template cannot render is the client's error.
    int status = 0;
    const json bad = post(c, "/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"model", "other"}}, &status);
    EXPECT_EQ(status, 404);
    EXPECT_EQ(bad["error"]["code"], "model_not_found");
  }
  std::filesystem::remove_all(dir);
}

TEST_F(ServeTest, ConcurrentStreamsEachEqualTheirPromptAlone) {
  RunningServer s(*model_, options(4));
  ASSERT_TRUE(s.error().empty()) << s.error();
  const std::vector<std::string> prompts = {"And God said", "Thou shalt not", "The Lord is my shepherd", "Blessed are"};
  std::vector<std::string> alone;
  for (const auto& p : prompts) alone.push_back(testing::greedy_generate(testing::shipped_model(), p, 40).text);
  constexpr int kClients = 8;
  std::vector<std::string> got(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i)
    clients.emplace_back([&, i] {
      auto c = s.client();
      got[static_cast<size_t>(i)] = testing::streamed_text(testing::sse_documents(post_stream(
          c, "/v1/completions", {{"prompt", prompts[static_cast<size_t>(i) % prompts.size()]}, {"max_tokens", 40}, {"temperature", 0}})));
    });
  for (auto& t : clients) t.join();
  for (int i = 0; i < kClients; ++i) EXPECT_EQ(got[static_cast<size_t>(i)], alone[static_cast<size_t>(i) % prompts.size()]) << i;
  // Each sequence leaves at the step after its last token: soon after its client has [DONE].
  EXPECT_TRUE(wait_for_gauge(s, "lingua_active_sequences", 0)) << metrics(s);
  const std::string m = metrics(s);
  EXPECT_EQ(testing::metric(m, "lingua_queue_depth"), 0) << m;
  EXPECT_EQ(testing::metric(m, "lingua_requests_total{endpoint=\"/v1/completions\",status=\"200\"}"), kClients) << m;
  EXPECT_GT(testing::metric(m, "lingua_generated_tokens_total"), 0);
  // More sequences than one per step: the batches carried several.
  EXPECT_GT(testing::metric(m, "lingua_step_sequences_total"), testing::metric(m, "lingua_steps_total")) << m;
}

TEST_F(ServeTest, ClientLeavingMidStreamCancelsItsSequence) {
  server::ServerOptions o = options(2);
  o.context = 2048;  // a long answer, so the client leaves well before it ends
  RunningServer s(*model_, o);
  ASSERT_TRUE(s.error().empty()) << s.error();
  {
    auto c = s.client();
    int chunks = 0;
    const std::string body = json{{"prompt", "And"}, {"max_tokens", 2000}, {"temperature", 0.9}, {"stream", true}, {"ignore_eos", true}}.dump();
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = body;
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 3; };
    auto cut = c.send(req);
    EXPECT_FALSE(cut);  // the client stopped reading
    EXPECT_EQ(chunks, 3);
  }
  ASSERT_TRUE(wait_for_gauge(s, "lingua_active_sequences", 0)) << metrics(s);
  EXPECT_GE(testing::metric(metrics(s), "lingua_cancelled_total"), 1) << metrics(s);
  // Still serving.
  auto c = s.client();
  const json r = post(c, "/v1/completions", {{"prompt", "And God said"}, {"max_tokens", 4}, {"temperature", 0}});
  EXPECT_EQ(r["usage"]["completion_tokens"], 4);
}

TEST_F(ServeTest, ErrorsComeWithTheRightStatus) {
  server::ServerOptions o = options(1);
  o.api_key = "sekret";
  o.queue_limit = 1;
  o.context = 2048;
  RunningServer s(*model_, o);
  ASSERT_TRUE(s.error().empty()) << s.error();
  auto c = s.client();
  const std::string good = json{{"prompt", "And"}, {"max_tokens", 2}}.dump();
  auto expect_error = [](const httplib::Result& r, int status, const std::string& code) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    const json j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.contains("error")) << r->body;
    EXPECT_TRUE(j["error"]["message"].is_string());
    EXPECT_TRUE(j["error"]["type"].is_string());
    if (!code.empty()) {
      EXPECT_EQ(j["error"]["code"], code) << r->body;
    }
  };
  // 401: no key, a wrong key; /health needs none.
  expect_error(c.Post("/v1/completions", good, "application/json"), 401, "invalid_api_key");
  expect_error(c.Post("/v1/completions", {{"Authorization", "Bearer wrong"}}, good, "application/json"), 401, "invalid_api_key");
  expect_error(c.Get("/metrics"), 401, "invalid_api_key");
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  c.set_bearer_token_auth("sekret");
  auto ok = c.Post("/v1/completions", good, "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  // 404: an unknown path, an unknown model.
  expect_error(c.Get("/v2/nothing"), 404, "not_found");
  expect_error(c.Post("/v1/completions", json{{"prompt", "x"}, {"model", "gpt-4"}}.dump(), "application/json"), 404, "model_not_found");
  expect_error(c.Get("/v1/models/gpt-4"), 404, "model_not_found");
  // 405: a served path with the wrong method.
  auto wrong = c.Get("/v1/completions");
  expect_error(wrong, 405, "method_not_allowed");
  EXPECT_EQ(wrong->get_header_value("Allow"), "POST");
  expect_error(c.Delete("/v1/models"), 405, "method_not_allowed");
  // 400: bad JSON, a wrong type, n > 1, a prompt over the context.
  expect_error(c.Post("/v1/completions", "{\"prompt\": ", "application/json"), 400, "invalid_json");
  expect_error(c.Post("/v1/completions", json{{"prompt", "x"}, {"temperature", "warm"}}.dump(), "application/json"), 400, "");
  expect_error(c.Post("/v1/chat/completions", json{{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"n", 2}}.dump(), "application/json"),
               400, "unsupported_parameter");
  std::string long_prompt;
  for (int i = 0; i < 3000; ++i) long_prompt += "And God said ";
  expect_error(c.Post("/v1/completions", json{{"prompt", long_prompt}}.dump(), "application/json"), 400, "context_length_exceeded");
  // 429: one request running, one waiting, the third is turned away with Retry-After.
  std::atomic<bool> release{false};
  auto long_stream = [&] {
    auto lc = s.client();
    lc.set_bearer_token_auth("sekret");
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = json{{"prompt", "And"}, {"max_tokens", 2000}, {"temperature", 0.9}, {"stream", true}, {"ignore_eos", true}}.dump();
    req.set_header("Content-Type", "application/json");
    req.set_header("Authorization", "Bearer sekret");
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return !release.load(); };
    (void)lc.send(req);
  };
  std::thread first(long_stream);
  ASSERT_TRUE(wait_for_gauge(s, "lingua_active_sequences", 1, "sekret"));
  std::thread second(long_stream);
  ASSERT_TRUE(wait_for_gauge(s, "lingua_queue_depth", 1, "sekret"));
  auto busy = c.Post("/v1/completions", good, "application/json");
  expect_error(busy, 429, "queue_full");
  EXPECT_EQ(busy->get_header_value("Retry-After"), "1");
  release = true;
  first.join();
  second.join();
  ASSERT_TRUE(wait_for_gauge(s, "lingua_active_sequences", 0, "sekret"));
  ok = c.Post("/v1/completions", good, "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(ServeTest, StoppingEndsRunningRequestsWithAnError) {
  server::ServerOptions o = options(1);
  o.context = 2048;
  auto s = std::make_unique<RunningServer>(*model_, o);
  ASSERT_TRUE(s->error().empty()) << s->error();
  std::string streamed, whole;
  std::thread streaming([&] {
    auto c = s->client();
    auto res = c.Post("/v1/completions", json{{"prompt", "And"}, {"max_tokens", 2000}, {"temperature", 0}, {"stream", true}, {"ignore_eos", true}}.dump(),
                      "application/json");
    if (res) streamed = res->body;
  });
  ASSERT_TRUE(wait_for_gauge(*s, "lingua_active_sequences", 1));
  std::thread waiting([&] {  // queued behind the stream (one at a time)
    auto c = s->client();
    auto res = c.Post("/v1/completions", json{{"prompt", "And"}, {"max_tokens", 5}}.dump(), "application/json");
    if (res) whole = std::to_string(res->status) + " " + res->body;
  });
  ASSERT_TRUE(wait_for_gauge(*s, "lingua_queue_depth", 1));
  s->server().stop();
  streaming.join();
  waiting.join();
  const auto docs = testing::sse_documents(streamed);
  ASSERT_GE(docs.size(), 2u) << streamed;
  EXPECT_EQ(docs.back(), "[DONE]");
  EXPECT_EQ(docs[docs.size() - 2]["error"]["code"], "shutting_down") << streamed;
  EXPECT_EQ(whole.rfind("503 ", 0), 0u) << whole;
  s.reset();
}

TEST_F(ServeTest, ModelsHealthAndMetrics) {
  RunningServer s(*model_, options());
  ASSERT_TRUE(s.error().empty()) << s.error();
  auto c = s.client();
  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  const json list = json::parse(models->body);
  EXPECT_EQ(list["object"], "list");
  EXPECT_EQ(list["data"][0]["id"], "kjv-fortunes-3M-f32");
  EXPECT_EQ(list["data"][0]["object"], "model");
  auto one = c.Get("/v1/models/kjv-fortunes-3M-f32");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200);
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(json::parse(health->body)["status"], "ok");
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->get_header_value("Content-Type"), "text/plain; version=0.0.4");
  for (const char* name : {"lingua_requests_total", "lingua_prompt_tokens_total", "lingua_generated_tokens_total",
                           "lingua_queue_depth", "lingua_active_sequences", "lingua_device_step_seconds",
                           "lingua_migrations_total", "lingua_failovers_total"})
    EXPECT_NE(m->body.find(std::string("# TYPE ") + name + " "), std::string::npos) << name;
  EXPECT_EQ(testing::metric(m->body, "lingua_requests_total{endpoint=\"/v1/models\",status=\"200\"}"), 1) << m->body;
}

TEST_F(ServeTest, LogprobsStopStringsAndSeeds) {
  RunningServer s(*model_, options());
  ASSERT_TRUE(s.error().empty()) << s.error();
  auto c = s.client();
  const json r = post(c, "/v1/completions", {{"prompt", "And God said"}, {"max_tokens", 12}, {"temperature", 0}, {"logprobs", 3}});
  const json& lp = r["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), r["usage"]["completion_tokens"].get<size_t>());
  std::string joined;
  for (size_t i = 0; i < lp["tokens"].size(); ++i) {
    joined += lp["tokens"][i].get<std::string>();
    EXPECT_LE(lp["token_logprobs"][i].get<double>(), 0.0);
    ASSERT_EQ(lp["top_logprobs"][i].size(), 3u);
    // Greedy: the chosen token is the most likely one.
    double best = -1e30;
    for (auto& [text, value] : lp["top_logprobs"][i].items()) best = std::max(best, value.get<double>());
    EXPECT_DOUBLE_EQ(lp["token_logprobs"][i].get<double>(), best);
  }
  EXPECT_EQ(joined, r["choices"][0]["text"]);
  const json chat = post(c, "/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 5},
                                                     {"temperature", 0}, {"logprobs", true}, {"top_logprobs", 2}});
  ASSERT_TRUE(chat["choices"][0]["logprobs"]["content"].is_array());
  EXPECT_EQ(chat["choices"][0]["logprobs"]["content"][0]["top_logprobs"].size(), 2u);

  // A stop string cuts the text before it.
  const std::string full = post(c, "/v1/completions", {{"prompt", "And God said"}, {"max_tokens", 40}, {"temperature", 0}})["choices"][0]["text"];
  ASSERT_GT(full.size(), 20u);
  const std::string stop = full.substr(10, 4);
  const json cut = post(c, "/v1/completions", {{"prompt", "And God said"}, {"max_tokens", 40}, {"temperature", 0}, {"stop", {stop}}});
  EXPECT_EQ(cut["choices"][0]["text"], full.substr(0, full.find(stop)));
  EXPECT_EQ(cut["choices"][0]["finish_reason"], "stop");
  const auto docs = testing::sse_documents(
      post_stream(c, "/v1/completions", {{"prompt", "And God said"}, {"max_tokens", 40}, {"temperature", 0}, {"stop", stop}}));
  EXPECT_EQ(testing::streamed_text(docs), full.substr(0, full.find(stop)));

  // The same seed samples the same text; `lingua generate` with that seed and OpenAI's sampling too.
  const json a = post(c, "/v1/completions", {{"prompt", "And"}, {"max_tokens", 20}, {"temperature", 0.9}, {"seed", 42}});
  const json b = post(c, "/v1/completions", {{"prompt", "And"}, {"max_tokens", 20}, {"temperature", 0.9}, {"seed", 42}});
  EXPECT_EQ(a["choices"][0]["text"], b["choices"][0]["text"]);
  int status = 0;
  const std::string out = testing::run_command(
      testing::shell_quote(testing::lingua_binary()) + " generate -m " + testing::shell_quote(testing::shipped_model()) +
          " -p And -n 20 --temp 0.9 --top-k 0 --top-p 1 --min-p 0 --seed 42 -t 2 --json 2>/dev/null", status);
  ASSERT_EQ(status, 0);
  EXPECT_EQ(json::parse(out)["text"], a["choices"][0]["text"]);
}

}  // namespace
}  // namespace lingua
