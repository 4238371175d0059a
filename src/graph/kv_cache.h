// Keys and values of past positions for every attention op of a segment (the whole graph on one
// device), so each new token costs one step instead of the whole prefix. Plain f32 rows
// [position][kv_dim] per attention op, kept contiguous so a later migration can ship them as bytes.
// The whole context is reserved as address space but memory is only taken as positions are
// written: a long context costs nothing until the sequence grows into it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/huge_pages.h"
#include "core/status.h"

namespace lingua {

class KVCache {
 public:
  KVCache() = default;
  // One K and one V buffer of `capacity` rows per attention slot, row width kv_dims[slot]. Refused
  // (naming both sizes) when the full context would not fit in `available` bytes (0: the
  // machine's MemAvailable): it may grow to all of it, and that is better said before the run.
  static Expected<KVCache> create(const std::vector<int64_t>& kv_dims, int64_t capacity, uint64_t available = 0);
  // Bytes of K and V for `capacity` positions; UINT64_MAX when that overflows.
  static uint64_t bytes_for(const std::vector<int64_t>& kv_dims, int64_t capacity);
  // The refusal create() gives, for asking before anything is built.
  static Status check_fits(const std::vector<int64_t>& kv_dims, int64_t capacity, uint64_t available = 0);

  int64_t capacity() const { return capacity_; }
  int n_slots() const { return static_cast<int>(kv_dims_.size()); }
  int64_t kv_dim(int slot) const { return kv_dims_[static_cast<size_t>(slot)]; }
  float* k(int slot, int64_t pos) { return keys_[static_cast<size_t>(slot)] + pos * kv_dim(slot); }
  float* v(int slot, int64_t pos) { return values_[static_cast<size_t>(slot)] + pos * kv_dim(slot); }
  const float* k(int slot, int64_t pos) const { return keys_[static_cast<size_t>(slot)] + pos * kv_dim(slot); }
  const float* v(int slot, int64_t pos) const { return values_[static_cast<size_t>(slot)] + pos * kv_dim(slot); }
  uint64_t bytes() const;  // for the whole context: the most it takes (pages are touched as positions fill)

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
  HugePageBuffer memory_;                  // every slot's K then V, zero until written
  std::vector<float*> keys_, values_;      // into memory_
};

}  // namespace lingua
