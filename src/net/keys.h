// CURVE key pairs for the ZeroMQ transport: generate them, keep them in small text files, and
// load the set of head public keys a worker accepts (`lingua keygen`, `lingua worker --keys`).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "core/status.h"

namespace lingua {

// A CURVE25519 key pair as Z85 text (40 characters each), the form ZeroMQ's
// zmq_curve_keypair gives and zmq_setsockopt accepts.
//
// Files written by write_keypair(dir, name) and read back by the loaders:
//   DIR/NAME.key  mode 0600, the secret file, both keys:
//       # lingua CURVE secret key: keep private (chmod 600). Public part: NAME.pub
//       public-key = <40 Z85 chars>
//       secret-key = <40 Z85 chars>
//   DIR/NAME.pub  mode 0644, the public key only (copy it to the peers that must trust you):
//       # lingua CURVE public key
//       public-key = <40 Z85 chars>
// Lines are `name = value` (spaces around '=' optional); blank lines and lines starting with
// '#' are ignored; any other line is an error naming the file and the line number.
struct KeyPair {
  std::string public_key;  // Z85, 40 chars
  std::string secret_key;  // Z85, 40 chars
};

inline constexpr size_t kZ85KeyChars = 40;

// True when `key` is 40 characters of Z85 that decode to 32 bytes.
bool is_z85_key(const std::string& key);

// A fresh key pair from libsodium's random source (via ZeroMQ).
Expected<KeyPair> generate_keypair();

// Writes DIR/NAME.key (0600) and DIR/NAME.pub (0644), creating DIR with mode 0700 when it does
// not exist. Refuses to replace either file unless `force`. NAME is a plain file name.
Status write_keypair(const std::filesystem::path& dir, const std::string& name, const KeyPair& keys,
                     bool force);

// Writes DIR/NAME.pub (0644) alone, creating DIR when needed: a key this machine trusts.
Status write_public_key(const std::filesystem::path& dir, const std::string& name, const std::string& public_key,
                        bool force);

// Reads a NAME.key file: both keys present and valid, the public key matching the secret key,
// and the file not readable by group or others.
Expected<KeyPair> load_keypair(const std::filesystem::path& key_file);

// Reads the public key of a NAME.pub file (a NAME.key file is accepted too; only its public
// key is read).
Expected<std::string> load_public_key(const std::filesystem::path& pub_file);

// The heads a worker accepts: the public keys of the *.pub files in a directory. A file that
// holds no valid key is skipped, not fatal: one stray file must not lock every head out.
struct AuthorizedKeys {
  std::vector<std::string> keys;              // sorted by file name, duplicates removed
  std::vector<std::filesystem::path> files;   // the file each key came from (its first one)
  std::vector<std::string> skipped;           // one message per unusable *.pub file, naming it and why
};

// Reads every *.pub file of `dir`. An error only when `dir` is missing, not a directory, or
// cannot be listed; no keys at all is an empty result (every head is refused).
Expected<AuthorizedKeys> load_authorized_keys(const std::filesystem::path& dir);

// DIR/NAME.key and DIR/NAME.pub.
std::filesystem::path secret_key_path(const std::filesystem::path& dir, const std::string& name);
std::filesystem::path public_key_path(const std::filesystem::path& dir, const std::string& name);

}  // namespace lingua
