// Runs the built `lingua` command for the CLI tests: arguments quoted for the shell, stdin closed (or a given file),
// stdout and stderr captured from files in a scratch directory, a timeout so a hang fails.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "test_paths.h"

namespace lingua::testing {

struct CliRun {
  int rc = -1;
  std::string out, err;
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'')
      q.append("'\\''");
    else
      q.push_back(c);
  }
  q.push_back('\'');
  return q;
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// `scratch` holds the captured output (and is where tests put their files).
// `input` is what it reads on standard input (a file; nothing by default).
inline CliRun run_lingua(const std::vector<std::string>& args, const std::filesystem::path& scratch,
                         int timeout_s = 120, const std::string& input = "/dev/null") {
  std::string cmd = "timeout ";
  cmd += std::to_string(timeout_s);
  cmd += ' ';
  cmd += shell_quote(lingua_binary());
  for (const auto& a : args) {
    cmd += ' ';
    cmd += shell_quote(a);
  }
  const auto out = scratch / "out.txt", err = scratch / "err.txt";
  cmd += " <" + shell_quote(input) + " >";
  cmd += shell_quote(out.string());
  cmd += " 2>";
  cmd += shell_quote(err.string());
  CliRun r;
  const int status = std::system(cmd.c_str());
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

}  // namespace lingua::testing
