// KVCache storage.
#include "graph/kv_cache.h"

namespace lingua {

KVCache::KVCache(const std::vector<int64_t>& kv_dims, int64_t capacity)
    : kv_dims_(kv_dims), capacity_(capacity) {
  for (int64_t d : kv_dims_) {
    keys_.emplace_back(static_cast<size_t>(d * capacity));
    values_.emplace_back(static_cast<size_t>(d * capacity));
  }
}

uint64_t KVCache::bytes() const {
  uint64_t total = 0;
  for (int64_t d : kv_dims_) total += 2ull * static_cast<uint64_t>(d * capacity_) * sizeof(float);
  return total;
}

}  // namespace lingua
