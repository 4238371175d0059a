// parse_request: OpenAI's request fields, their types and ranges, and the options Lingua adds
// (top_k, min_p, repeat_penalty); fields it cannot honour are refused rather than ignored.
#include "server/request.h"

#include <cmath>

#include "model/tokenizer.h"

namespace lingua::server {
namespace {

using json = nlohmann::json;
using Error = std::optional<ApiError>;

const json* field(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

Error get_bool(const json& body, const char* key, bool& out) {
  const json* v = field(body, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) return bad_request(std::string("'") + key + "' must be a boolean", key);
  out = v->get<bool>();
  return std::nullopt;
}

// An integer in [lo, hi]; a number with a fraction, a string or a value out of range is refused.
Error get_int(const json& body, const char* key, int64_t lo, int64_t hi, int64_t& out) {
  const json* v = field(body, key);
  if (!v) return std::nullopt;
  const std::string range = " between " + std::to_string(lo) + " and " + std::to_string(hi);
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(hi)) return bad_request(std::string("'") + key + "' must be" + range, key);
    out = static_cast<int64_t>(u);
  } else if (v->is_number_integer()) {
    out = v->get<int64_t>();
  } else if (v->is_number_float() && std::isfinite(v->get<double>()) && std::floor(v->get<double>()) == v->get<double>() &&
             std::fabs(v->get<double>()) < 9e15) {
    out = static_cast<int64_t>(v->get<double>());
  } else {
    return bad_request(std::string("'") + key + "' must be an integer" + range, key);
  }
  if (out < lo || out > hi) return bad_request(std::string("'") + key + "' must be" + range, key);
  return std::nullopt;
}

Error get_number(const json& body, const char* key, double lo, double hi, double& out) {
  const json* v = field(body, key);
  if (!v) return std::nullopt;
  auto range = [&] {
    char text[96];
    std::snprintf(text, sizeof text, " between %g and %g", lo, hi);
    return std::string(text);
  };
  if (!v->is_number() || !std::isfinite(v->get<double>()))
    return bad_request(std::string("'") + key + "' must be a number" + range(), key);
  out = v->get<double>();
  if (out < lo || out > hi) return bad_request(std::string("'") + key + "' must be" + range(), key);
  return std::nullopt;
}

Error get_string(const json& body, const char* key, std::string& out) {
  const json* v = field(body, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) return bad_request(std::string("'") + key + "' must be a string", key);
  out = v->get<std::string>();
  return std::nullopt;
}

// A field Lingua does not implement: accepted at its neutral value, refused otherwise.
Error refuse_unless(bool neutral, const char* key, const std::string& why) {
  if (neutral) return std::nullopt;
  return bad_request(std::string("'") + key + "' is not supported" + why, key, "unsupported_parameter");
}

Error check_utf8(const std::string& text, const std::string& param) {
  if (Status st = validate_utf8(text); !st) return bad_request("'" + param + "' is not valid UTF-8: " + st.message(), param);
  return std::nullopt;
}

// content: a string, null, or [{"type": "text", "text": ...}] whose texts are joined.
Error read_content(const json& message, const std::string& where, std::string& text) {
  const json* c = field(message, "content");
  if (!c) return std::nullopt;
  if (c->is_string()) {
    text = c->get<std::string>();
    return check_utf8(text, where + ".content");
  }
  if (!c->is_array()) return bad_request("'" + where + ".content' must be a string or an array of text parts", where + ".content");
  for (size_t i = 0; i < c->size(); ++i) {
    const json& part = (*c)[i];
    const std::string at = where + ".content[" + std::to_string(i) + "]";
    if (!part.is_object()) return bad_request("'" + at + "' must be an object", at);
    const json* type = field(part, "type");
    if (!type || !type->is_string()) return bad_request("'" + at + ".type' must be a string", at + ".type");
    if (*type != "text")
      return bad_request("'" + at + ".type' is '" + type->get<std::string>() + "': only text parts are supported", at + ".type",
                         "unsupported_content");
    const json* t = field(part, "text");
    if (!t || !t->is_string()) return bad_request("'" + at + ".text' must be a string", at + ".text");
    text += t->get<std::string>();
  }
  return check_utf8(text, where + ".content");
}

Error read_messages(const json& body, json& out) {
  const json* m = field(body, "messages");
  if (!m) return bad_request("'messages' is required", "messages");
  if (!m->is_array()) return bad_request("'messages' must be an array", "messages");
  if (m->empty()) return bad_request("'messages' must hold at least one message", "messages");
  out = json::array();
  for (size_t i = 0; i < m->size(); ++i) {
    const json& message = (*m)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!message.is_object()) return bad_request("'" + where + "' must be an object", where);
    const json* role = field(message, "role");
    if (!role || !role->is_string() || role->get<std::string>().empty())
      return bad_request("'" + where + ".role' must be a non-empty string", where + ".role");
    if (Error e = check_utf8(role->get<std::string>(), where + ".role")) return e;
    std::string text;
    if (Error e = read_content(message, where, text)) return e;
    json normalized = {{"role", *role}, {"content", text}};
    if (const json* name = field(message, "name"); name && name->is_string()) normalized["name"] = *name;
    out.push_back(std::move(normalized));
  }
  return std::nullopt;
}

Error read_prompt(const json& body, std::string& out) {
  const json* p = field(body, "prompt");
  if (!p) return bad_request("'prompt' is required", "prompt");
  if (p->is_array()) {
    if (p->size() != 1 || !(*p)[0].is_string())
      return bad_request("'prompt' must be a string (one prompt per request)", "prompt");
    p = &(*p)[0];
  }
  if (!p->is_string()) return bad_request("'prompt' must be a string", "prompt");
  out = p->get<std::string>();
  return check_utf8(out, "prompt");
}

Error read_stop(const json& body, std::vector<std::string>& out) {
  const json* s = field(body, "stop");
  if (!s) return std::nullopt;
  constexpr size_t kMaxStops = 16;
  if (s->is_string()) {
    if (s->get<std::string>().empty()) return bad_request("'stop' must not be empty", "stop");
    out.push_back(s->get<std::string>());
    return check_utf8(out.back(), "stop");
  }
  if (!s->is_array() || s->size() > kMaxStops)
    return bad_request("'stop' must be a string or an array of at most " + std::to_string(kMaxStops) + " strings", "stop");
  for (const json& one : *s) {
    if (!one.is_string() || one.get<std::string>().empty())
      return bad_request("'stop' must hold non-empty strings", "stop");
    out.push_back(one.get<std::string>());
    if (Error e = check_utf8(out.back(), "stop")) return e;
  }
  return std::nullopt;
}

// A float setting: left as it is when the field is absent.
Error get_float(const json& body, const char* key, double lo, double hi, float& target) {
  double value = target;
  if (Error e = get_number(body, key, lo, hi, value)) return e;
  target = static_cast<float>(value);
  return std::nullopt;
}

Error read_sampling(const json& body, CompletionRequest& out) {
  SamplerConfig& s = out.sampling;
  s.temperature = 1.0f;
  s.top_p = 1.0f;
  s.top_k = 0;
  s.min_p = 0.0f;
  s.repeat_penalty = 1.0f;
  if (Error e = get_float(body, "temperature", 0, 2, s.temperature)) return e;
  if (Error e = get_float(body, "top_p", 0, 1, s.top_p)) return e;
  if (s.top_p <= 0) return bad_request("'top_p' must be above 0 and at most 1", "top_p");
  int64_t top_k = 0;
  if (Error e = get_int(body, "top_k", 0, int64_t{1} << 24, top_k)) return e;
  s.top_k = static_cast<int>(top_k);
  if (Error e = get_float(body, "min_p", 0, 1, s.min_p)) return e;
  if (Error e = get_float(body, "repeat_penalty", 0.01, 100, s.repeat_penalty)) return e;
  if (const json* seed = field(body, "seed")) {
    if (seed->is_number_unsigned()) s.seed = seed->get<uint64_t>();
    else if (seed->is_number_integer()) s.seed = static_cast<uint64_t>(seed->get<int64_t>());
    else return bad_request("'seed' must be an integer", "seed");
    out.seed_given = true;
  }
  for (const char* penalty : {"presence_penalty", "frequency_penalty"}) {
    double value = 0;
    if (Error e = get_number(body, penalty, -2, 2, value)) return e;
    if (Error e = refuse_unless(value == 0, penalty, " (use repeat_penalty)")) return e;
  }
  if (Status st = validate(s); !st) return bad_request(st.message());
  return std::nullopt;
}

Error read_unsupported(const json& body) {
  if (const json* b = field(body, "logit_bias"))
    if (Error e = refuse_unless(b->is_object() && b->empty(), "logit_bias", "")) return e;
  for (const char* key : {"tools", "functions"})
    if (const json* t = field(body, key))
      if (Error e = refuse_unless(t->is_array() && t->empty(), key, ": Lingua does not call tools")) return e;
  if (const json* f = field(body, "response_format")) {
    const bool text = f->is_object() && f->contains("type") && (*f)["type"] == "text";
    if (Error e = refuse_unless(text, "response_format", ": only {\"type\": \"text\"}")) return e;
  }
  bool echo = false;
  if (Error e = get_bool(body, "echo", echo)) return e;
  if (Error e = refuse_unless(!echo, "echo", "")) return e;
  std::string suffix;
  if (Error e = get_string(body, "suffix", suffix)) return e;
  if (Error e = refuse_unless(suffix.empty(), "suffix", "")) return e;
  int64_t best_of = 1;
  if (Error e = get_int(body, "best_of", 1, 1, best_of)) return e;
  return std::nullopt;
}

}  // namespace

int json_depth(const std::string& text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') deepest = std::max(deepest, ++depth);
    else if (c == ']' || c == '}') --depth;
    if (deepest > limit) break;
  }
  return deepest;
}

std::optional<ApiError> parse_request(Endpoint endpoint, const std::string& body_text, CompletionRequest& out) {
  out = CompletionRequest{};
  out.endpoint = endpoint;
  if (json_depth(body_text, kMaxJsonDepth) > kMaxJsonDepth)
    return bad_request("the body nests arrays and objects deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  json body;
  try {
    body = json::parse(body_text);
  } catch (const json::exception& e) {
    return bad_request(std::string("the body is not valid JSON: ") + e.what(), "", "invalid_json");
  }
  if (!body.is_object()) return bad_request("the body must be a JSON object");
  if (Error e = get_string(body, "model", out.model)) return e;
  if (endpoint == Endpoint::kChat) {
    if (Error e = read_messages(body, out.messages)) return e;
  } else if (Error e = read_prompt(body, out.prompt)) {
    return e;
  }
  const char* max_key = endpoint == Endpoint::kChat && field(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  if (Error e = get_int(body, max_key, 1, kMaxTokensLimit, out.max_tokens)) return e;
  int64_t n = 1;
  if (Error e = get_int(body, "n", 1, 128, n)) return e;
  if (n != 1) return bad_request("'n' must be 1: Lingua answers each request with one choice", "n", "unsupported_parameter");
  if (Error e = read_sampling(body, out)) return e;
  if (Error e = read_stop(body, out.stop)) return e;
  if (Error e = get_bool(body, "stream", out.stream)) return e;
  if (Error e = get_bool(body, "ignore_eos", out.ignore_eos)) return e;
  if (const json* so = field(body, "stream_options")) {
    if (!so->is_object()) return bad_request("'stream_options' must be an object", "stream_options");
    if (Error e = get_bool(*so, "include_usage", out.include_usage))
      return bad_request("'stream_options.include_usage' must be a boolean", "stream_options.include_usage");
  }
  if (endpoint == Endpoint::kChat) {
    bool logprobs = false;
    int64_t top = 0;
    if (Error e = get_bool(body, "logprobs", logprobs)) return e;
    if (Error e = get_int(body, "top_logprobs", 0, 20, top)) return e;
    if (field(body, "top_logprobs") && !logprobs)
      return bad_request("'top_logprobs' needs 'logprobs': true", "top_logprobs");
    out.logprobs = logprobs ? static_cast<int>(top) : -1;
  } else {
    int64_t top = -1;
    if (Error e = get_int(body, "logprobs", 0, 5, top)) return e;
    out.logprobs = static_cast<int>(top);
  }
  return read_unsupported(body);
}

}  // namespace lingua::server
