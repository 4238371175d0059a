// OpenAI's response shapes: chat.completion, text_completion, their streamed chunks
// (chat.completion.chunk) as server-sent events ending with `data: [DONE]`, and logprobs.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "server/logprobs.h"
#include "server/request.h"

namespace lingua::server {

struct ResponseHead {
  std::string id;       // "chatcmpl-..." or "cmpl-..."
  int64_t created = 0;  // Unix seconds
  std::string model;
};

struct Usage {
  int64_t prompt_tokens = 0, completion_tokens = 0;
};

// Log-probabilities as the endpoint lists them: chat {"content": [{token, logprob, bytes,
// top_logprobs}]}, completions {tokens, token_logprobs, top_logprobs, text_offset}.
// `text_offset` (completions) is where the first token's text starts; it advances.
nlohmann::json logprobs_json(Endpoint endpoint, const std::vector<TokenLogprob>& tokens, int64_t& text_offset);

// The whole answer of a request that did not stream. `logprobs` null when not asked for.
nlohmann::json completion_json(Endpoint endpoint, const ResponseHead& head, const std::string& text,
                               const std::string& finish_reason, const nlohmann::json& logprobs, const Usage& usage);

// One streamed chunk: chat's first carries the role; the last carries finish_reason.
nlohmann::json chunk_json(Endpoint endpoint, const ResponseHead& head, const std::string& text, bool first,
                          const nlohmann::json& logprobs, const std::optional<std::string>& finish_reason);
// The chunk after the last when stream_options.include_usage: no choices, the counts.
nlohmann::json usage_chunk_json(Endpoint endpoint, const ResponseHead& head, const Usage& usage);

// One server-sent event carrying a JSON document.
std::string sse_event(const nlohmann::json& data);
inline constexpr const char* kSseDone = "data: [DONE]\n\n";

}  // namespace lingua::server
