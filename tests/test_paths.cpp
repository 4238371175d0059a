// Resolves test data locations from compile-time defaults and the LINGUA_SHARED override.
#include "test_paths.h"

#include <cstdlib>
#include <filesystem>

namespace lingua::testing {
std::string source_dir() { return LINGUA_SOURCE_DIR; }
std::string shared_dir() {
  if (const char* env = std::getenv("LINGUA_SHARED"); env && *env) return env;
  return LINGUA_SHARED_DIR_DEFAULT;
}
bool shared_available() { return std::filesystem::is_directory(shared_dir() + "/models"); }
std::string lingua_binary() { return LINGUA_BINARY; }
std::string shared_model(const std::string& rel) { return shared_dir() + "/models/" + rel; }
}  // namespace lingua::testing
