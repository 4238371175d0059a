// JSON documents on stdout: one per command, invalid UTF-8 replaced rather than thrown on.
#pragma once
#include <cstdio>
#include <nlohmann/json.hpp>

namespace lingua::cli {

inline void print_json(const nlohmann::json& doc) {
  const std::string text = doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
}

}  // namespace lingua::cli
