// Head admission for the worker: the heads/ folder through net/keys, times for messages.
#include "runtime/head_admission.h"

#include <ctime>

#include "net/keys.h"

namespace lingua {

std::vector<std::string> TrustedHeads::reload(Server& server) {
  AuthorizedKeys found;
  if (auto read = load_authorized_keys(dir_)) found = std::move(*read);
  else found.skipped.push_back(read.error());  // no folder: no head is admitted
  server.set_head_keys(found.keys);
  std::vector<std::string> lines;
  std::set<std::string> problems(found.skipped.begin(), found.skipped.end());
  for (const std::string& p : problems)
    if (!reported_.count(p)) lines.push_back("ignores a head key file: " + p);
  reported_ = std::move(problems);
  files_.clear();
  for (size_t i = 0; i < found.keys.size(); ++i) files_[found.keys[i]] = found.files[i].filename().string();
  if (found.keys.empty() && !said_no_keys_)
    lines.push_back("no head keys in " + dir_ + ": every head is refused until a head's public key (the lingua.pub in its keys "
                    "directory) is copied there as NAME.pub; the folder is read every 2 s");
  said_no_keys_ = found.keys.empty();
  return lines;
}

std::string TrustedHeads::file_of(const std::string& key) const {
  auto it = files_.find(key);
  return it == files_.end() ? "" : it->second;
}

void HeadSession::start(const Received& from, const std::string& head_name) {
  peer = from.peer;
  key = from.key;
  name = head_name;
  const std::time_t now = std::time(nullptr);
  char when[32] = {};
  std::tm tm{};
  if (::localtime_r(&now, &tm)) std::strftime(when, sizeof when, "%H:%M:%S", &tm);
  since = when;
}

std::string HeadSession::label(const TrustedHeads* keys) const {
  std::string text = name.empty() ? "(unnamed)" : name;
  const std::string file = keys ? keys->file_of(key) : "";
  if (!file.empty()) text += " (key heads/" + file + ")";
  return text;
}

}  // namespace lingua
