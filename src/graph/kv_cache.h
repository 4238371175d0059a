// Keys and values of past positions for every attention op of a segment (the whole graph on one
// device), so each new token costs one step instead of the whole prefix. Plain f32 rows
// [position][kv_dim] per attention op, kept contiguous so a migration can ship them as bytes.
// The whole context is reserved as address space but memory is only taken as positions are
// written: a long context costs nothing until the sequence grows into it. A sliding-window layer
// only ever reads its last `window` positions, so it keeps a ring of that many rows instead.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/huge_pages.h"
#include "core/status.h"
#include "graph/graph.h"

namespace lingua {

// One attention layer's cache shape: row width, and the sliding window (0: it sees the whole
// context, so it keeps every position).
struct KVLayer {
  int64_t kv_dim = 0;
  int64_t window = 0;
};

class KVCache {
 public:
  KVCache() = default;
  // The layers of the attention ops first_op..last_op (-1: to the end), in slot order.
  static std::vector<KVLayer> layers_of(const Graph& graph, int first_op = 0, int last_op = -1);
  // Full-context layers of the given widths.
  static std::vector<KVLayer> full_layers(const std::vector<int64_t>& kv_dims);

  // One K and one V buffer per attention slot of rows(slot) rows: `capacity` (the context), or
  // min(window, capacity) for a sliding-window layer. Refused (naming both sizes) when that would
  // not fit in `available` bytes (0: the machine's MemAvailable): it may grow to all of it, and that
  // is better said before the run.
  static Expected<KVCache> create(const std::vector<KVLayer>& layers, int64_t capacity, uint64_t available = 0);
  // Bytes of K and V for a context of `capacity` positions; UINT64_MAX when that overflows.
  static uint64_t bytes_for(const std::vector<KVLayer>& layers, int64_t capacity);
  // The refusal create() gives, for asking before anything is built.
  static Status check_fits(const std::vector<KVLayer>& layers, int64_t capacity, uint64_t available = 0);
  // Positions a layer keeps for a context of `capacity`.
  static int64_t rows_for(const KVLayer& layer, int64_t capacity) {
    return layer.window > 0 && layer.window < capacity ? layer.window : capacity;
  }

  int64_t capacity() const { return capacity_; }
  int n_slots() const { return static_cast<int>(layers_.size()); }
  int64_t kv_dim(int slot) const { return layers_[static_cast<size_t>(slot)].kv_dim; }
  int64_t window(int slot) const { return layers_[static_cast<size_t>(slot)].window; }
  int64_t rows(int slot) const { return rows_[static_cast<size_t>(slot)]; }
  // Row of position `pos`; in a ring it is valid while pos is among the last rows(slot) written.
  float* k(int slot, int64_t pos) { return keys_[static_cast<size_t>(slot)] + row_offset(slot, pos); }
  float* v(int slot, int64_t pos) { return values_[static_cast<size_t>(slot)] + row_offset(slot, pos); }
  const float* k(int slot, int64_t pos) const { return keys_[static_cast<size_t>(slot)] + row_offset(slot, pos); }
  const float* v(int slot, int64_t pos) const { return values_[static_cast<size_t>(slot)] + row_offset(slot, pos); }
  uint64_t bytes() const;  // the most it takes (pages are touched as positions fill)

  // A snapshot of the first `positions` positions of slots first..first+count-1 (count -1: to the
  // last slot), for moving attention layers to another device. A sliding-window layer ships only
  // the positions it still holds.
  // Layout (little-endian): char[4] "LKV2", u32 n_slots, u64 positions, then per slot u64 kv_dim and
  // u64 rows (the last `rows` positions are held: min(positions, the layer's rows)), then for each
  // slot f32 K[rows][kv_dim] followed by f32 V[rows][kv_dim], oldest position first.
  std::vector<uint8_t> serialize(int64_t positions, int first = 0, int count = -1) const;
  // Loads a snapshot into slots first.. (its slot count of them); returns its number of positions.
  // Any mismatch (magic, slot count, widths, more positions than capacity, fewer rows than the
  // layer needs, size) is an error.
  Expected<int64_t> deserialize(const uint8_t* data, size_t size, int first = 0);

 private:
  int64_t row_offset(int slot, int64_t pos) const {
    return (pos % rows_[static_cast<size_t>(slot)]) * layers_[static_cast<size_t>(slot)].kv_dim;
  }

  std::vector<KVLayer> layers_;
  std::vector<int64_t> rows_;
  int64_t capacity_ = 0;
  HugePageBuffer memory_;                  // every slot's K then V, zero until written
  std::vector<float*> keys_, values_;      // into memory_
};

}  // namespace lingua
