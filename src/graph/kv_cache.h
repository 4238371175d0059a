// Keys and values of past positions for every attention op of a segment (the whole graph on one
// device), so each new token costs one step instead of the whole prefix. Plain f32 rows [position][kv_dim] per attention op, kept
// contiguous so a later migration can ship them as bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/status.h"

namespace lingua {

class KVCache {
 public:
  KVCache() = default;
  // One K and one V buffer of `capacity` rows per attention slot, row width kv_dims[slot].
  KVCache(const std::vector<int64_t>& kv_dims, int64_t capacity);

  int64_t capacity() const { return capacity_; }
  int n_slots() const { return static_cast<int>(kv_dims_.size()); }
  int64_t kv_dim(int slot) const { return kv_dims_[static_cast<size_t>(slot)]; }
  float* k(int slot, int64_t pos) { return keys_[static_cast<size_t>(slot)].data() + pos * kv_dim(slot); }
  float* v(int slot, int64_t pos) { return values_[static_cast<size_t>(slot)].data() + pos * kv_dim(slot); }
  const float* k(int slot, int64_t pos) const { return keys_[static_cast<size_t>(slot)].data() + pos * kv_dim(slot); }
  const float* v(int slot, int64_t pos) const { return values_[static_cast<size_t>(slot)].data() + pos * kv_dim(slot); }
  uint64_t bytes() const;  // memory held

  // A snapshot of the first `positions` positions of slots first..first+count-1 (count -1: to the
  // last slot), for moving attention layers to another device.
  // Layout (little-endian): char[4] "LKV1", u32 n_slots, u64 positions, u64 kv_dim[n_slots], then
  // for each slot f32 K[positions][kv_dim] followed by f32 V[positions][kv_dim].
  std::vector<uint8_t> serialize(int64_t positions, int first = 0, int count = -1) const;
  // Loads a snapshot into slots first.. (its slot count of them); returns its number of positions.
  // Any mismatch (magic, slot count, widths, more positions than capacity, size) is an error.
  Expected<int64_t> deserialize(const uint8_t* data, size_t size, int first = 0);

 private:
  std::vector<int64_t> kv_dims_;
  int64_t capacity_ = 0;
  std::vector<std::vector<float>> keys_, values_;
};

}  // namespace lingua
