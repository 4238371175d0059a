// CURVE key files: generation through ZeroMQ (libsodium underneath), the small text format
// documented in keys.h, and the checks that turn a garbled or exposed key into a clear error.
#include "net/keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace lingua {
namespace fs = std::filesystem;

namespace {

std::string quoted(const fs::path& p) { return p.string(); }

// Joins pieces with += (GCC 12 warns falsely on `"literal" + std::string`).
template <class... Parts>
std::string cat(const Parts&... parts) {
  std::string s;
  ((s += parts), ...);
  return s;
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) --e;
  return s.substr(b, e - b);
}

struct KeyFile {
  std::string public_key, secret_key;
};

// Parses the `name = value` lines of a key file; `what` names the file in errors.
Expected<KeyFile> parse_key_file(const fs::path& path) {
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    // No advice here: for a peer's public key, `lingua keygen` would only make a new key the
    // peer does not have; the callers know whose key it is and say what to do.
    return Status::error(cat("key file ", quoted(path), " does not exist"));
  }
  if (!fs::is_regular_file(st)) return Status::error(quoted(path) + " is not a key file (not a regular file)");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error(cat("cannot read key file ", quoted(path), ": ", std::strerror(errno)));
  std::string text;
  {
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  if (text.size() > 64 * 1024) return Status::error(quoted(path) + " is too large to be a key file");
  KeyFile out;
  std::istringstream lines(text);
  std::string line;
  int lineno = 0;
  while (std::getline(lines, line)) {
    ++lineno;
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    const size_t eq = t.find('=');
    std::string where = quoted(path);
    where += " line ";
    where += std::to_string(lineno);
    if (eq == std::string::npos)
      return Status::error(where + ": expected `public-key = <key>` or `secret-key = <key>`");
    const std::string name = trim(t.substr(0, eq));
    const std::string value = trim(t.substr(eq + 1));
    std::string* slot = nullptr;
    if (name == "public-key") slot = &out.public_key;
    else if (name == "secret-key") slot = &out.secret_key;
    else return Status::error(where + ": unknown entry '" + name + "' (expected public-key or secret-key)");
    if (!slot->empty()) return Status::error(where + ": " + name + " is given twice");
    if (!is_z85_key(value)) {
      std::string msg = where;
      msg += ": ";
      msg += name;
      msg += " is not a CURVE key (expected 40 Z85 characters, got ";
      msg += std::to_string(value.size());
      msg += " characters";
      msg += value.size() == kZ85KeyChars ? " that do not decode)" : ")";
      return Status::error(msg);
    }
    *slot = value;
  }
  if (in.bad()) return Status::error(cat("cannot read key file ", quoted(path)));
  return out;
}

// Creates (or with `force` replaces) `path` with `mode` and writes `text`; fsyncs it.
Status write_file(const fs::path& path, const std::string& text, mode_t mode, bool force) {
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
  const int fd = ::open(path.c_str(), flags, mode);
  if (fd < 0) {
    if (errno == EEXIST)
      return Status::error(quoted(path) + " already exists (use --force to replace it)");
    return Status::error(cat("cannot create ", quoted(path), ": ", std::strerror(errno)));
  }
  Status st;
  if (::fchmod(fd, mode) != 0) st = Status::error(cat("cannot set the mode of ", quoted(path), ": ", std::strerror(errno)));
  size_t done = 0;
  while (st.is_ok() && done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) st = Status::error(cat("cannot write ", quoted(path), ": ", std::strerror(errno)));
    else done += static_cast<size_t>(n);
  }
  if (st.is_ok() && ::fsync(fd) != 0) st = Status::error(cat("cannot write ", quoted(path), ": ", std::strerror(errno)));
  ::close(fd);
  return st;
}

bool plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos && name[0] != '.';
}

}  // namespace

bool is_z85_key(const std::string& key) {
  if (key.size() != kZ85KeyChars) return false;
  uint8_t bin[32];
  return zmq_z85_decode(bin, key.c_str()) != nullptr;
}

Expected<KeyPair> generate_keypair() {
  char pub[kZ85KeyChars + 1] = {}, sec[kZ85KeyChars + 1] = {};
  if (zmq_curve_keypair(pub, sec) != 0) {
    std::string msg = "cannot generate a CURVE key pair: ";
    msg += errno == ENOTSUP ? "this ZeroMQ library was built without CURVE (libsodium)" : zmq_strerror(errno);
    return Status::error(msg);
  }
  return KeyPair{pub, sec};
}

fs::path secret_key_path(const fs::path& dir, const std::string& name) { return dir / (name + ".key"); }
fs::path public_key_path(const fs::path& dir, const std::string& name) { return dir / (name + ".pub"); }

Status write_keypair(const fs::path& dir, const std::string& name, const KeyPair& keys, bool force) {
  if (!plain_file_name(name))
    return Status::error(cat("key name '", name, "' must be a plain file name (no '/', not starting with '.')"));
  if (!is_z85_key(keys.public_key) || !is_z85_key(keys.secret_key))
    return Status::error(cat("refusing to write an invalid CURVE key pair to ", quoted(dir)));
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return Status::error(cat("cannot create directory ", quoted(dir), ": ", ec.message()));
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (ec) return Status::error(cat("cannot set the mode of ", quoted(dir), ": ", ec.message()));
  } else if (!fs::is_directory(dir, ec)) {
    return Status::error(quoted(dir) + " exists and is not a directory");
  }
  const fs::path key = secret_key_path(dir, name), pub = public_key_path(dir, name);
  if (!force) {
    for (const auto& p : {key, pub})
      if (fs::exists(fs::symlink_status(p, ec)))
        return Status::error(quoted(p) + " already exists (use --force to replace it)");
  }
  std::string secret_text = "# lingua CURVE secret key: keep private (chmod 600). Public part: ";
  secret_text += name;
  secret_text += ".pub\npublic-key = ";
  secret_text += keys.public_key;
  secret_text += "\nsecret-key = ";
  secret_text += keys.secret_key;
  secret_text += "\n";
  LINGUA_TRY(write_file(key, secret_text, 0600, force));
  return write_public_key(dir, name, keys.public_key, force);
}

Status write_public_key(const fs::path& dir, const std::string& name, const std::string& public_key, bool force) {
  if (!plain_file_name(name))
    return Status::error(cat("key name '", name, "' must be a plain file name (no '/', not starting with '.')"));
  if (!is_z85_key(public_key)) return Status::error(cat("refusing to write an invalid CURVE public key to ", quoted(dir)));
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return Status::error(cat("cannot create directory ", quoted(dir), ": ", ec.message()));
  }
  std::string public_text = "# lingua CURVE public key: copy it to the machines that must trust ";
  public_text += name;
  public_text += "\npublic-key = ";
  public_text += public_key;
  public_text += "\n";
  return write_file(public_key_path(dir, name), public_text, 0644, force);
}

Expected<KeyPair> load_keypair(const fs::path& key_file) {
  struct stat st{};
  if (::stat(key_file.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    std::string msg = "secret key file ";
    msg += quoted(key_file);
    msg += " is accessible by other users (mode ";
    msg += mode;
    msg += "); run `chmod 600 ";
    msg += quoted(key_file);
    msg += "`";
    return Status::error(msg);
  }
  LINGUA_ASSIGN_OR_RETURN(KeyFile f, parse_key_file(key_file));
  if (f.secret_key.empty()) {
    std::string msg = quoted(key_file);
    msg += " has no secret-key line";
    if (key_file.extension() == ".pub") msg += " (it is a public key; give the .key file)";
    return Status::error(msg);
  }
  if (f.public_key.empty()) return Status::error(quoted(key_file) + " has no public-key line");
  char derived[kZ85KeyChars + 1] = {};
  if (zmq_curve_public(derived, f.secret_key.c_str()) != 0)
    return Status::error(cat("cannot check the key pair in ", quoted(key_file), ": ", zmq_strerror(errno)));
  if (f.public_key != derived)
    return Status::error(quoted(key_file) + ": the public key does not belong to the secret key");
  return KeyPair{f.public_key, f.secret_key};
}

Expected<std::string> load_public_key(const fs::path& pub_file) {
  LINGUA_ASSIGN_OR_RETURN(KeyFile f, parse_key_file(pub_file));
  if (f.public_key.empty()) return Status::error(quoted(pub_file) + " has no public-key line");
  return f.public_key;
}

Expected<AuthorizedKeys> load_authorized_keys(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    if (!fs::exists(dir, ec)) return Status::error(cat("keys directory ", quoted(dir), " does not exist"));
    return Status::error(quoted(dir) + " is not a directory of *.pub keys");
  }
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".pub" && it->is_regular_file(ec)) files.push_back(it->path());
  }
  if (ec) return Status::error(cat("cannot list ", quoted(dir), ": ", ec.message()));
  std::sort(files.begin(), files.end());
  AuthorizedKeys out;
  std::set<std::string> seen;
  for (const auto& f : files) {
    auto k = load_public_key(f);
    if (!k) {
      out.skipped.push_back(k.error());  // parse_key_file's errors name the file
      continue;
    }
    if (seen.insert(*k).second) {
      out.keys.push_back(std::move(*k));
      out.files.push_back(f);
    }
  }
  return out;
}

}  // namespace lingua
