// Response builders. Token texts may be parts of a UTF-8 character: dump_json replaces what is
// not UTF-8, and "bytes" carries the exact bytes.
#include "server/responses.h"

#include "server/api_error.h"

namespace lingua::server {
namespace {
using json = nlohmann::json;

json bytes_of(const std::string& s) {
  json out = json::array();
  for (unsigned char c : s) out.push_back(static_cast<int>(c));
  return out;
}

json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens}, {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

const char* object_of(Endpoint e, bool chunk) {
  if (e == Endpoint::kChat) return chunk ? "chat.completion.chunk" : "chat.completion";
  return "text_completion";
}
}  // namespace

json logprobs_json(Endpoint endpoint, const std::vector<TokenLogprob>& tokens, int64_t& text_offset) {
  if (endpoint == Endpoint::kChat) {
    json content = json::array();
    for (const TokenLogprob& t : tokens) {
      json top = json::array();
      for (const TokenAlternative& a : t.top)
        top.push_back({{"token", a.text}, {"logprob", a.logprob}, {"bytes", bytes_of(a.text)}});
      content.push_back({{"token", t.chosen.text}, {"logprob", t.chosen.logprob}, {"bytes", bytes_of(t.chosen.text)},
                         {"top_logprobs", top}});
    }
    return {{"content", content}};
  }
  json texts = json::array(), logprobs = json::array(), tops = json::array(), offsets = json::array();
  for (const TokenLogprob& t : tokens) {
    texts.push_back(t.chosen.text);
    logprobs.push_back(t.chosen.logprob);
    json top = json::object();
    for (const TokenAlternative& a : t.top) top[a.text] = a.logprob;
    tops.push_back(top);
    offsets.push_back(text_offset);
    text_offset += static_cast<int64_t>(t.chosen.text.size());
  }
  return {{"tokens", texts}, {"token_logprobs", logprobs}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

json completion_json(Endpoint endpoint, const ResponseHead& head, const std::string& text, const std::string& finish_reason,
                     const json& logprobs, const Usage& usage) {
  json choice = {{"index", 0}};
  if (endpoint == Endpoint::kChat) choice["message"] = {{"role", "assistant"}, {"content", text}};
  else choice["text"] = text;
  choice["logprobs"] = logprobs;
  choice["finish_reason"] = finish_reason;
  return {{"id", head.id}, {"object", object_of(endpoint, false)}, {"created", head.created}, {"model", head.model},
          {"choices", json::array({choice})}, {"usage", usage_json(usage)}};
}

json chunk_json(Endpoint endpoint, const ResponseHead& head, const std::string& text, bool first, const json& logprobs,
                const std::optional<std::string>& finish_reason) {
  json choice = {{"index", 0}};
  if (endpoint == Endpoint::kChat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!text.empty() || (first && !finish_reason)) delta["content"] = text;
    choice["delta"] = delta;
  } else {
    choice["text"] = text;
  }
  choice["logprobs"] = logprobs;
  choice["finish_reason"] = finish_reason ? json(*finish_reason) : json(nullptr);
  return {{"id", head.id}, {"object", object_of(endpoint, true)}, {"created", head.created}, {"model", head.model},
          {"choices", json::array({choice})}};
}

json usage_chunk_json(Endpoint endpoint, const ResponseHead& head, const Usage& usage) {
  return {{"id", head.id}, {"object", object_of(endpoint, true)}, {"created", head.created}, {"model", head.model},
          {"choices", json::array()}, {"usage", usage_json(usage)}};
}

std::string sse_event(const json& data) { return "data: " + dump_json(data) + "\n\n"; }

}  // namespace lingua::server
