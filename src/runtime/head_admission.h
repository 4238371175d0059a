// Which heads a worker admits and which one it serves: the keys of its heads/ folder, read again
// every 2 s (keys added are admitted, keys removed revoked, a broken file named once), and the
// one head whose session it holds, named in messages by what it calls itself and its key file.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "net/secure_channel.h"

namespace lingua {

class TrustedHeads {
 public:
  explicit TrustedHeads(std::string dir) : dir_(std::move(dir)) {}
  // Reads the folder and gives the server exactly its keys (a missing folder admits no head).
  // Returns lines for the worker's log: each unusable file the first time it is seen, and once
  // that there is no key at all.
  std::vector<std::string> reload(Server& server);
  bool admits(const std::string& key) const { return files_.count(key) > 0; }
  // The file a key came from ("head.pub"), "" when it is not admitted.
  std::string file_of(const std::string& key) const;

 private:
  std::string dir_;
  std::map<std::string, std::string> files_;  // admitted key -> its file name
  std::set<std::string> reported_;            // problems already logged (each until its file changes)
  bool said_no_keys_ = false;
};

// The session a worker holds for one head, from its HELLO to its BYE.
struct HeadSession {
  std::string peer;   // ROUTER routing id; "" when no head holds the worker
  std::string key;    // its CURVE key ("" in plain mode)
  std::string name;   // what the head calls itself in its HELLO
  std::string since;  // local time the session began, HH:MM:SS

  bool active() const { return !peer.empty(); }
  void start(const Received& from, const std::string& head_name);
  void clear() { *this = HeadSession{}; }
  // "laptop pid 42 (key heads/head.pub)", for messages.
  std::string label(const TrustedHeads* keys) const;
};

}  // namespace lingua
