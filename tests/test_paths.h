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
}  // namespace lingua::testing

// Skips the current test, saying why, when ../shared is not on this machine.
#define LINGUA_REQUIRE_SHARED()                                                              \
  do {                                                                                       \
    if (!::lingua::testing::shared_available())                                              \
      GTEST_SKIP() << "needs ../shared/models (test data from other projects), absent here: " \
                   << ::lingua::testing::shared_dir();                                       \
  } while (0)
