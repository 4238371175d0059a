// KVCache storage.
#include "graph/kv_cache.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/system_memory.h"

namespace lingua {

namespace {
std::string size_text(uint64_t bytes) {
  char buf[32];
  const double b = static_cast<double>(bytes);
  if (bytes >= (1ull << 40)) std::snprintf(buf, sizeof buf, "%.1f TiB", b / static_cast<double>(1ull << 40));
  else if (bytes >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.1f GiB", b / static_cast<double>(1ull << 30));
  else std::snprintf(buf, sizeof buf, "%.1f MiB", b / static_cast<double>(1ull << 20));
  return buf;
}
}  // namespace

uint64_t KVCache::bytes_for(const std::vector<int64_t>& kv_dims, int64_t capacity) {
  uint64_t total = 0;
  for (int64_t d : kv_dims) {
    uint64_t slot = 0;
    if (d < 0 || capacity < 0 ||
        __builtin_mul_overflow(static_cast<uint64_t>(d), static_cast<uint64_t>(capacity), &slot) ||
        __builtin_mul_overflow(slot, 2 * sizeof(float), &slot) || __builtin_add_overflow(total, slot, &total))
      return UINT64_MAX;
  }
  return total;
}

Status KVCache::check_fits(const std::vector<int64_t>& kv_dims, int64_t capacity, uint64_t available) {
  if (capacity <= 0) return Status::error("a KV cache needs at least 1 position");
  const uint64_t total = bytes_for(kv_dims, capacity);
  if (available == 0) available = available_memory_bytes();
  if (available > 0 && total > available)
    return Status::error("a KV cache of " + std::to_string(capacity) + " positions for " + std::to_string(kv_dims.size()) +
                         " attention layers needs " + (total == UINT64_MAX ? std::string("more than 16 EiB") : size_text(total)) +
                         ", more than the " + size_text(available) + " of memory available (use a smaller context)");
  return Status::ok();
}

Expected<KVCache> KVCache::create(const std::vector<int64_t>& kv_dims, int64_t capacity, uint64_t available) {
  LINGUA_TRY(check_fits(kv_dims, capacity, available));
  const uint64_t total = bytes_for(kv_dims, capacity);
  KVCache kv;
  kv.kv_dims_ = kv_dims;
  kv.capacity_ = capacity;
  // Anonymous memory is zero and takes no room until touched: the cache grows with the sequence.
  auto memory = HugePageBuffer::allocate(total);
  if (!memory) return memory.status().with_context("KV cache of " + std::to_string(capacity) + " positions");
  kv.memory_ = std::move(*memory);
  auto* at = reinterpret_cast<float*>(kv.memory_.data());
  for (int64_t d : kv_dims) {
    kv.keys_.push_back(at);
    at += d * capacity;
    kv.values_.push_back(at);
    at += d * capacity;
  }
  return kv;
}

uint64_t KVCache::bytes() const { return bytes_for(kv_dims_, capacity_); }

namespace {
constexpr char kMagic[4] = {'L', 'K', 'V', '1'};

// resize + memcpy rather than insert: GCC 12 misreads small inserts as out of bounds.
void append(std::vector<uint8_t>& out, const void* data, size_t n) {
  const size_t at = out.size();
  out.resize(at + n);
  if (n) std::memcpy(out.data() + at, data, n);
}

template <class T>
void put(std::vector<uint8_t>& out, T v) { append(out, &v, sizeof v); }
}  // namespace

std::vector<uint8_t> KVCache::serialize(int64_t positions, int first, int count) const {
  if (count < 0) count = n_slots() - first;
  std::vector<uint8_t> out;
  append(out, kMagic, sizeof kMagic);
  put(out, static_cast<uint32_t>(count));
  put(out, static_cast<uint64_t>(positions));
  for (int s = first; s < first + count; ++s) put(out, static_cast<uint64_t>(kv_dim(s)));
  for (int s = first; s < first + count; ++s)
    for (const auto* store : {&keys_, &values_})
      append(out, (*store)[static_cast<size_t>(s)], static_cast<size_t>(positions * kv_dim(s)) * sizeof(float));
  return out;
}

Expected<int64_t> KVCache::deserialize(const uint8_t* data, size_t size, int first) {
  size_t at = 0;
  auto take = [&](void* dst, size_t n) {
    if (size - at < n) return false;
    std::memcpy(dst, data + at, n);
    at += n;
    return true;
  };
  char magic[4];
  uint32_t slots = 0;
  uint64_t positions = 0;
  if (!take(magic, 4) || std::memcmp(magic, kMagic, 4) != 0) return Status::error("not a KV cache snapshot (bad magic)");
  if (!take(&slots, 4) || !take(&positions, 8)) return Status::error("KV cache snapshot is truncated");
  if (first < 0 || first > n_slots() || slots > static_cast<uint32_t>(n_slots() - first))
    return Status::error("KV cache snapshot has " + std::to_string(slots) + " attention layers, this segment " +
                         std::to_string(n_slots() - std::max(first, 0)) + " from layer " + std::to_string(first));
  const int count = static_cast<int>(slots);
  if (positions > static_cast<uint64_t>(capacity_))
    return Status::error("KV cache snapshot holds " + std::to_string(positions) + " positions, more than the context of " +
                         std::to_string(capacity_));
  for (int s = first; s < first + count; ++s) {
    uint64_t d = 0;
    if (!take(&d, 8)) return Status::error("KV cache snapshot is truncated");
    if (d != static_cast<uint64_t>(kv_dim(s)))
      return Status::error("KV cache snapshot layer " + std::to_string(s) + " is " + std::to_string(d) +
                           " wide, this segment's is " + std::to_string(kv_dim(s)));
  }
  uint64_t need = 0;
  for (int s = first; s < first + count; ++s) need += 2 * positions * static_cast<uint64_t>(kv_dim(s)) * sizeof(float);
  if (size - at != need)
    return Status::error("KV cache snapshot has " + std::to_string(size - at) + " data bytes, expected " + std::to_string(need));
  for (int s = first; s < first + count; ++s)
    for (auto* store : {&keys_, &values_})
      take((*store)[static_cast<size_t>(s)], static_cast<size_t>(positions) * static_cast<size_t>(kv_dim(s)) * sizeof(float));
  return static_cast<int64_t>(positions);
}

}  // namespace lingua
