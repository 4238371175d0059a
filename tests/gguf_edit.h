// Copies of a GGUF file with metadata keys changed, added or removed and tensors left out: how the
// model and cli tests make the malformed files a loader must refuse without shipping them.
#pragma once
#include <cstring>
#include <map>
#include <optional>
#include <string>

#include "model/gguf.h"

namespace lingua::testing {

struct GgufEdit {
  std::map<std::string, std::optional<gguf::Value>> keys;  // nullopt: remove the key
  std::string drop_tensors;                                 // tensors whose name starts so are left out
};

inline Status write_edited_gguf(const std::string& from, const std::string& to, const GgufEdit& edit) {
  LINGUA_ASSIGN_OR_RETURN(gguf::File f, gguf::File::open(from));
  gguf::Writer w;
  for (const auto& [key, value] : f.metadata()) {
    auto e = edit.keys.find(key);
    if (e == edit.keys.end()) w.set(key, value);
    else if (e->second) w.set(key, *e->second);
  }
  for (const auto& [key, value] : edit.keys)
    if (value && !f.find(key)) w.set(key, *value);
  std::vector<const gguf::TensorInfo*> kept;
  for (const gguf::TensorInfo& t : f.tensors()) {
    if (!edit.drop_tensors.empty() && t.name.rfind(edit.drop_tensors, 0) == 0) continue;
    LINGUA_TRY(w.add_tensor(t.name, t.type, t.dims));
    kept.push_back(&t);
  }
  return w.write(to, [&](size_t index, uint8_t* dst, uint64_t bytes) {
    std::memcpy(dst, kept[index]->data, bytes);
    return Status::ok();
  });
}

}  // namespace lingua::testing
