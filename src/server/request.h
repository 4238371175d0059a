// The body of POST /v1/chat/completions and /v1/completions read into one request Lingua can run,
// every field checked for its type and range: a wrong one is a 400 naming the field.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "model/sampler.h"
#include "server/api_error.h"

namespace lingua::server {

enum class Endpoint { kChat, kCompletion };

struct CompletionRequest {
  Endpoint endpoint = Endpoint::kChat;
  std::string model;               // as the client named it ("" when left out)
  nlohmann::json messages;         // chat: [{"role": ..., "content": text}], content parts joined
  std::string prompt;              // completions
  int64_t max_tokens = 0;          // 0: until end-of-generation or the context is full
  SamplerConfig sampling;          // OpenAI's defaults: temperature 1, top_p 1, no top-k or min-p
  bool seed_given = false;
  std::vector<std::string> stop;   // the text ends before the first of these
  bool stream = false;
  bool include_usage = false;      // stream_options.include_usage: a last chunk with the counts
  int logprobs = -1;               // alternatives listed per token (0..20); -1: no log-probabilities
  bool ignore_eos = false;         // Lingua (and llama-server) extension: go on past end-of-generation
};

// The deepest nesting of arrays and objects the parser is given: deeper bodies are refused before
// parsing (a recursive parser's stack is the limit otherwise).
constexpr int kMaxJsonDepth = 64;
constexpr int64_t kMaxTokensLimit = int64_t{1} << 30;

// Fills `out` from a request body, or returns what is wrong with it.
std::optional<ApiError> parse_request(Endpoint endpoint, const std::string& body, CompletionRequest& out);

// How deep arrays and objects nest in JSON text (strings skipped), stopping once past `limit`.
int json_depth(const std::string& text, int limit);

}  // namespace lingua::server
