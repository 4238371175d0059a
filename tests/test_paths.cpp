// Resolves test data locations from compile-time defaults and the LINGUA_SHARED override, and
// installs the npm reference tokenizers into the build tree on demand.
#include "test_paths.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace lingua::testing {
std::string source_dir() { return LINGUA_SOURCE_DIR; }
std::string shared_dir() {
  if (const char* env = std::getenv("LINGUA_SHARED"); env && *env) return env;
  return LINGUA_SHARED_DIR_DEFAULT;
}
bool shared_available() { return std::filesystem::is_directory(shared_dir() + "/models"); }
std::string lingua_binary() { return LINGUA_BINARY; }
std::string shared_model(const std::string& rel) { return shared_dir() + "/models/" + rel; }

std::string run_command(const std::string& command, int& status) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) {
    status = -1;
    return out;
  }
  char buffer[65536];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  status = ::pclose(pipe);
  return out;
}

namespace {
std::string quoted_for_shell(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}
}  // namespace

std::string npm_dir() { return (std::filesystem::path(lingua_binary()).parent_path() / "npm").string(); }

std::string ensure_npm_packages() {
  namespace fs = std::filesystem;
  auto read = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  int status = 0;
  run_command("command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1", status);
  if (status != 0) return "npm or node is not installed";
  const fs::path dir = npm_dir();
  std::error_code ec;
  fs::create_directories(dir, ec);
  const int lock = ::open((dir / ".install.lock").c_str(), O_CREAT | O_RDWR, 0644);
  if (lock < 0) return "cannot create " + (dir / ".install.lock").string();
  if (::flock(lock, LOCK_EX) != 0) {
    ::close(lock);
    return "cannot lock " + (dir / ".install.lock").string();
  }
  const fs::path source = fs::path(source_dir()) / "tests" / "npm";
  const std::string wanted = read(source / "package-lock.json");
  std::string reason;
  if (read(dir / "installed-lock.json") != wanted || !fs::exists(dir / "node_modules" / "@lenml" / "tokenizers")) {
    fs::copy_file(source / "package.json", dir / "package.json", fs::copy_options::overwrite_existing, ec);
    if (!ec) fs::copy_file(source / "package-lock.json", dir / "package-lock.json", fs::copy_options::overwrite_existing, ec);
    const std::string log = ec ? "" : run_command("npm ci --prefix " + quoted_for_shell(dir.string()) +
                                                      " --no-audit --no-fund --loglevel=error 2>&1", status);
    if (ec) {
      reason = "cannot copy tests/npm into " + dir.string() + ": " + ec.message();
    } else if (status != 0) {
      reason = "npm ci failed (offline, or the registry is unreachable): " + log.substr(0, 400);
    } else {
      std::ofstream(dir / "installed-lock.json", std::ios::binary) << wanted;
    }
  }
  ::flock(lock, LOCK_UN);
  ::close(lock);
  return reason;
}
}  // namespace lingua::testing
