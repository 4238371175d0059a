// The response shapes and SSE framing OpenAI's clients parse, the stop-string cutter, and the
// log-probabilities of a token.
#include <gtest/gtest.h>

#include <cmath>

#include "server/logprobs.h"
#include "server/responses.h"
#include "server/stop_matcher.h"

namespace lingua::server {
namespace {

using json = nlohmann::json;

const ResponseHead kHead{"chatcmpl-7", 1700000000, "kjv"};

TEST(Responses, SseEventFraming) {
  EXPECT_EQ(sse_event(json{{"a", 1}}), "data: {\"a\":1}\n\n");
  EXPECT_STREQ(kSseDone, "data: [DONE]\n\n");
  // Text that is not UTF-8 (half a character) does not throw: it is replaced.
  const std::string event = sse_event(json{{"t", std::string("\xe2\x82")}});
  EXPECT_EQ(event.rfind("data: {\"t\":\"", 0), 0u);
  EXPECT_EQ(event.substr(event.size() - 2), "\n\n");
}

TEST(Responses, ChatChunks) {
  const json first = chunk_json(Endpoint::kChat, kHead, "", true, nullptr, std::nullopt);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["id"], "chatcmpl-7");
  EXPECT_EQ(first["created"], 1700000000);
  EXPECT_EQ(first["model"], "kjv");
  EXPECT_EQ(first["choices"][0]["delta"], (json{{"role", "assistant"}, {"content", ""}}));
  EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());
  const json text = chunk_json(Endpoint::kChat, kHead, "And", false, nullptr, std::nullopt);
  EXPECT_EQ(text["choices"][0]["delta"], (json{{"content", "And"}}));
  EXPECT_EQ(text["choices"][0]["index"], 0);
  const json last = chunk_json(Endpoint::kChat, kHead, "", false, nullptr, std::string("length"));
  EXPECT_EQ(last["choices"][0]["delta"], json::object());
  EXPECT_EQ(last["choices"][0]["finish_reason"], "length");
  const json usage = usage_chunk_json(Endpoint::kChat, kHead, {5, 3});
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"], (json{{"prompt_tokens", 5}, {"completion_tokens", 3}, {"total_tokens", 8}}));
}

TEST(Responses, CompletionChunksAndWholeAnswers) {
  const ResponseHead head{"cmpl-1", 1, "kjv"};
  const json chunk = chunk_json(Endpoint::kCompletion, head, " the", false, nullptr, std::nullopt);
  EXPECT_EQ(chunk["object"], "text_completion");
  EXPECT_EQ(chunk["choices"][0]["text"], " the");
  const json whole = completion_json(Endpoint::kCompletion, head, " the earth", "stop", nullptr, {4, 2});
  EXPECT_EQ(whole["object"], "text_completion");
  EXPECT_EQ(whole["choices"][0]["text"], " the earth");
  EXPECT_EQ(whole["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(whole["usage"]["total_tokens"], 6);
  const json chat = completion_json(Endpoint::kChat, kHead, "Hi", "length", nullptr, {1, 1});
  EXPECT_EQ(chat["object"], "chat.completion");
  EXPECT_EQ(chat["choices"][0]["message"], (json{{"role", "assistant"}, {"content", "Hi"}}));
  EXPECT_TRUE(chat["choices"][0]["logprobs"].is_null());
}

TEST(Responses, LogprobsShapes) {
  TokenLogprob t;
  t.chosen = {5, " God", -0.5f};
  t.top = {{5, " God", -0.5f}, {9, " the", -1.25f}};
  int64_t offset = 3;
  const json chat = logprobs_json(Endpoint::kChat, {t}, offset);
  ASSERT_EQ(chat["content"].size(), 1u);
  EXPECT_EQ(chat["content"][0]["token"], " God");
  EXPECT_FLOAT_EQ(chat["content"][0]["logprob"].get<float>(), -0.5f);
  EXPECT_EQ(chat["content"][0]["bytes"], (json{32, 71, 111, 100}));
  EXPECT_EQ(chat["content"][0]["top_logprobs"][1]["token"], " the");
  const json completion = logprobs_json(Endpoint::kCompletion, {t, t}, offset);
  EXPECT_EQ(completion["tokens"], (json{" God", " God"}));
  EXPECT_EQ(completion["text_offset"], (json{3, 7}));
  EXPECT_FLOAT_EQ(completion["top_logprobs"][0][" the"].get<float>(), -1.25f);
  EXPECT_EQ(offset, 11);
}

TEST(StopMatcher, HoldsBackWhatMayBeginAStop) {
  StopMatcher m({"\n\n", "END"});
  EXPECT_EQ(m.push("Hello"), "Hello");
  EXPECT_EQ(m.push(" E"), " ");  // "E" may begin END
  EXPECT_EQ(m.push("N"), "");
  EXPECT_EQ(m.push("d"), "ENd");  // it did not
  EXPECT_EQ(m.push("x\n"), "x");
  EXPECT_EQ(m.push("\nmore"), "");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.push("later"), "");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, EarliestStopWinsAndFlushGivesTheRest) {
  StopMatcher m({"cd", "b"});
  EXPECT_EQ(m.push("abcd"), "a");
  EXPECT_TRUE(m.stopped());
  StopMatcher n({"xyz"});
  EXPECT_EQ(n.push("axy"), "a");
  EXPECT_EQ(n.flush(), "xy");
  EXPECT_FALSE(n.stopped());
  StopMatcher none({});
  EXPECT_EQ(none.push("anything"), "anything");
}

TEST(Logprobs, LogSoftmaxAndTopAlternatives) {
  const float logits[] = {1.0f, 3.0f, 2.0f, 3.0f};
  const TokenLogprob t = token_logprob(logits, 4, 2, 3);
  double sum = 0;
  for (float l : logits) sum += std::exp(l);
  EXPECT_NEAR(t.chosen.logprob, 2.0 - std::log(sum), 1e-6);
  ASSERT_EQ(t.top.size(), 3u);
  EXPECT_EQ(t.top[0].id, 1);  // ties: the lower id first
  EXPECT_EQ(t.top[1].id, 3);
  EXPECT_EQ(t.top[2].id, 2);
  EXPECT_NEAR(t.top[0].logprob, 3.0 - std::log(sum), 1e-6);
  EXPECT_TRUE(token_logprob(logits, 4, 0, 0).top.empty());
  EXPECT_EQ(token_logprob(logits, 4, 0, 50).top.size(), 4u);
}

}  // namespace
}  // namespace lingua::server
