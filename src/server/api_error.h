// An error as OpenAI's API reports it: an HTTP status and {"error": {message, type, param, code}},
// so clients (the openai packages, curl scripts) read Lingua's errors as they read OpenAI's.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace lingua::server {

struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";  // or "authentication_error", "not_found_error", "server_error", ...
  std::string param;                           // the request field at fault ("" = none)
  std::string code;                            // a stable machine-readable name ("" = none)
};

inline ApiError bad_request(std::string message, std::string param = "", std::string code = "") {
  return {400, std::move(message), "invalid_request_error", std::move(param), std::move(code)};
}

inline nlohmann::json error_json(const ApiError& e) {
  nlohmann::json inner = {{"message", e.message}, {"type", e.type}, {"param", nullptr}, {"code", nullptr}};
  if (!e.param.empty()) inner["param"] = e.param;
  if (!e.code.empty()) inner["code"] = e.code;
  return {{"error", inner}};
}

// JSON text that never throws: text that is not UTF-8 (a token cut mid-character) is replaced by
// U+FFFD rather than failing the response.
inline std::string dump_json(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace lingua::server
