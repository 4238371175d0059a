// parse_request: OpenAI's fields read with their defaults, and every wrong type or range a 400
// naming the field.
#include <gtest/gtest.h>

#include "server/request.h"

namespace lingua::server {
namespace {

std::optional<ApiError> parse(Endpoint e, const std::string& body, CompletionRequest& out) { return parse_request(e, body, out); }

TEST(Request, ChatWithDefaults) {
  CompletionRequest r;
  ASSERT_FALSE(parse(Endpoint::kChat, R"({"model":"m","messages":[{"role":"user","content":"Hi"}]})", r));
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0]["role"], "user");
  EXPECT_EQ(r.messages[0]["content"], "Hi");
  EXPECT_EQ(r.max_tokens, 0);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 1.0f);
  EXPECT_EQ(r.sampling.top_k, 0);
  EXPECT_FLOAT_EQ(r.sampling.min_p, 0.0f);
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.seed_given);
  EXPECT_EQ(r.logprobs, -1);
}

TEST(Request, ChatOptions) {
  CompletionRequest r;
  ASSERT_FALSE(parse(Endpoint::kChat, R"({"messages":[{"role":"system","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
      {"role":"user","content":"x","name":"ann"}], "max_completion_tokens":7, "temperature":0, "top_p":0.5, "seed":-3,
      "stop":["\n","END"], "stream":true, "stream_options":{"include_usage":true}, "logprobs":true, "top_logprobs":3,
      "top_k":5, "min_p":0.1, "repeat_penalty":1.1, "ignore_eos":true, "n":1, "presence_penalty":0, "user":"u", "unknown_field":[1,2]})", r));
  EXPECT_EQ(r.messages[0]["content"], "ab");
  EXPECT_EQ(r.messages[1]["name"], "ann");
  EXPECT_EQ(r.max_tokens, 7);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 0.0f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 0.5f);
  EXPECT_TRUE(r.seed_given);
  EXPECT_EQ(r.sampling.seed, static_cast<uint64_t>(int64_t{-3}));
  EXPECT_EQ(r.stop, (std::vector<std::string>{"\n", "END"}));
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.logprobs, 3);
  EXPECT_EQ(r.sampling.top_k, 5);
  EXPECT_FLOAT_EQ(r.sampling.repeat_penalty, 1.1f);
  EXPECT_TRUE(r.ignore_eos);
}

TEST(Request, Completion) {
  CompletionRequest r;
  ASSERT_FALSE(parse(Endpoint::kCompletion, R"({"prompt":"And God said","max_tokens":16,"logprobs":2,"stop":"\n"})", r));
  EXPECT_EQ(r.prompt, "And God said");
  EXPECT_EQ(r.max_tokens, 16);
  EXPECT_EQ(r.logprobs, 2);
  EXPECT_EQ(r.stop, std::vector<std::string>{"\n"});
  ASSERT_FALSE(parse(Endpoint::kCompletion, R"({"prompt":["one"]})", r));
  EXPECT_EQ(r.prompt, "one");
  ASSERT_FALSE(parse(Endpoint::kCompletion, R"({"prompt":""})", r));
  EXPECT_EQ(r.prompt, "");
}

struct BadCase {
  Endpoint endpoint;
  const char* body;
  const char* param;  // the field the error names ("" = none)
};

TEST(Request, WrongTypesAndRangesNameTheField) {
  const BadCase cases[] = {
      {Endpoint::kChat, "", ""},
      {Endpoint::kChat, "{", ""},
      {Endpoint::kChat, "[]", ""},
      {Endpoint::kChat, "null", ""},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],})", ""},
      {Endpoint::kChat, R"({})", "messages"},
      {Endpoint::kChat, R"({"messages":"hi"})", "messages"},
      {Endpoint::kChat, R"({"messages":[]})", "messages"},
      {Endpoint::kChat, R"({"messages":[1]})", "messages[0]"},
      {Endpoint::kChat, R"({"messages":[{"content":"x"}]})", "messages[0].role"},
      {Endpoint::kChat, R"({"messages":[{"role":5,"content":"x"}]})", "messages[0].role"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":5}]})", "messages[0].content"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":[{"type":"image_url"}]}]})", "messages[0].content[0].type"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":[{"type":"text"}]}]})", "messages[0].content[0].text"},
      {Endpoint::kChat, R"({"model":7,"messages":[{"role":"user","content":"x"}]})", "model"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"max_tokens":"5"})", "max_tokens"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"max_tokens":0})", "max_tokens"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"max_tokens":-1})", "max_tokens"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"max_tokens":1.5})", "max_tokens"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"max_tokens":99999999999999999999999})", "max_tokens"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"max_tokens":1e308})", "max_tokens"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"temperature":"hot"})", "temperature"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"temperature":3})", "temperature"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"temperature":-0.1})", "temperature"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"top_p":0})", "top_p"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"top_p":1.5})", "top_p"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"seed":"1"})", "seed"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"seed":1.5})", "seed"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"n":2})", "n"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"n":"1"})", "n"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"stop":5})", "stop"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"stop":[""]})", "stop"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"stop":""})", "stop"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"stream":"yes"})", "stream"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"ignore_eos":1})", "ignore_eos"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"stream_options":1})", "stream_options"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"logprobs":1})", "logprobs"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"top_logprobs":2})", "top_logprobs"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":21})", "top_logprobs"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"presence_penalty":0.5})", "presence_penalty"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"frequency_penalty":"0"})", "frequency_penalty"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]})", "tools"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"logit_bias":{"5":1}})", "logit_bias"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"}})", "response_format"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"top_k":-1})", "top_k"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"min_p":2})", "min_p"},
      {Endpoint::kCompletion, R"({})", "prompt"},
      {Endpoint::kCompletion, R"({"prompt":5})", "prompt"},
      {Endpoint::kCompletion, R"({"prompt":["a","b"]})", "prompt"},
      {Endpoint::kCompletion, R"({"prompt":[1,2,3]})", "prompt"},
      {Endpoint::kCompletion, R"({"prompt":"x","logprobs":true})", "logprobs"},
      {Endpoint::kCompletion, R"({"prompt":"x","logprobs":6})", "logprobs"},
      {Endpoint::kCompletion, R"({"prompt":"x","echo":true})", "echo"},
      {Endpoint::kCompletion, R"({"prompt":"x","suffix":"y"})", "suffix"},
      {Endpoint::kCompletion, R"({"prompt":"x","best_of":2})", "best_of"},
  };
  for (const BadCase& c : cases) {
    CompletionRequest r;
    auto e = parse(c.endpoint, c.body, r);
    ASSERT_TRUE(e.has_value()) << c.body;
    EXPECT_EQ(e->status, 400) << c.body;
    EXPECT_EQ(e->param, c.param) << c.body << ": " << e->message;
    EXPECT_FALSE(e->message.empty());
    if (*c.param) {
      EXPECT_NE(e->message.find(c.param), std::string::npos) << e->message;
    }
  }
}

TEST(Request, InvalidUtf8IsRefused) {
  CompletionRequest r;
  // Raw bytes that are not UTF-8 (the JSON parser refuses them) and an escaped lone surrogate.
  auto e = parse(Endpoint::kCompletion, std::string("{\"prompt\":\"a\xff\xfe\"}"), r);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->status, 400);
  e = parse(Endpoint::kCompletion, R"({"prompt":"\ud800"})", r);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->status, 400);
  e = parse(Endpoint::kChat, std::string("{\"messages\":[{\"role\":\"user\",\"content\":\"\xc3\x28\"}]}"), r);
  ASSERT_TRUE(e.has_value());
}

TEST(Request, DeepNestingIsRefusedBeforeParsing) {
  CompletionRequest r;
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  auto e = parse(Endpoint::kChat, deep, r);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->message.find("deeper"), std::string::npos) << e->message;
  // Brackets inside strings do not count.
  EXPECT_EQ(json_depth(R"({"a":"[[[[[[{{{{"})", 64), 1);
  EXPECT_EQ(json_depth(R"([[["\"]]]"]]])", 64), 3);
}

TEST(Request, ErrorJsonHasOpenAIsShape) {
  const nlohmann::json j = error_json(bad_request("'n' must be 1", "n", "unsupported_parameter"));
  EXPECT_EQ(j["error"]["message"], "'n' must be 1");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "n");
  EXPECT_EQ(j["error"]["code"], "unsupported_parameter");
  const nlohmann::json k = error_json({401, "no key", "invalid_request_error", "", ""});
  EXPECT_TRUE(k["error"]["param"].is_null());
  EXPECT_TRUE(k["error"]["code"].is_null());
}

}  // namespace
}  // namespace lingua::server
