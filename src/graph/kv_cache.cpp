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

std::vector<KVLayer> KVCache::layers_of(const Graph& graph, int first_op, int last_op) {
  if (last_op < 0) last_op = graph.size() - 1;
  std::vector<KVLayer> layers;
  for (int id = std::max(first_op, 0); id <= last_op && id < graph.size(); ++id) {
    const Op& op = graph.op(id);
    if (op.kind == OpKind::kAttention) layers.push_back({op.attn.n_kv_heads * op.attn.head_dim, op.attn.sliding_window});
  }
  return layers;
}

std::vector<KVLayer> KVCache::full_layers(const std::vector<int64_t>& kv_dims) {
  std::vector<KVLayer> layers;
  for (int64_t d : kv_dims) layers.push_back({d, 0});
  return layers;
}

uint64_t KVCache::bytes_for(const std::vector<KVLayer>& layers, int64_t capacity) {
  uint64_t total = 0;
  for (const KVLayer& layer : layers) {
    uint64_t slot = 0;
    const int64_t rows = rows_for(layer, capacity);
    if (layer.kv_dim < 0 || rows < 0 ||
        __builtin_mul_overflow(static_cast<uint64_t>(layer.kv_dim), static_cast<uint64_t>(rows), &slot) ||
        __builtin_mul_overflow(slot, 2 * sizeof(float), &slot) || __builtin_add_overflow(total, slot, &total))
      return UINT64_MAX;
  }
  return total;
}

Status KVCache::check_fits(const std::vector<KVLayer>& layers, int64_t capacity, uint64_t available) {
  if (capacity <= 0) return Status::error("a KV cache needs at least 1 position");
  for (const KVLayer& layer : layers)
    if (layer.window < 0) return Status::error("a sliding window of " + std::to_string(layer.window) + " positions");
  const uint64_t total = bytes_for(layers, capacity);
  if (available == 0) available = available_memory_bytes();
  if (available > 0 && total > available)
    return Status::error("a KV cache of " + std::to_string(capacity) + " positions for " + std::to_string(layers.size()) +
                         " attention layers needs " + (total == UINT64_MAX ? std::string("more than 16 EiB") : size_text(total)) +
                         ", more than the " + size_text(available) + " of memory available (use a smaller context)");
  return Status::ok();
}

Expected<KVCache> KVCache::create(const std::vector<KVLayer>& layers, int64_t capacity, uint64_t available) {
  LINGUA_TRY(check_fits(layers, capacity, available));
  const uint64_t total = bytes_for(layers, capacity);
  KVCache kv;
  kv.layers_ = layers;
  kv.capacity_ = capacity;
  // Anonymous memory is zero and takes no room until touched: the cache grows with the sequence.
  auto memory = HugePageBuffer::allocate(total);
  if (!memory) return memory.status().with_context("KV cache of " + std::to_string(capacity) + " positions");
  kv.memory_ = std::move(*memory);
  auto* at = reinterpret_cast<float*>(kv.memory_.data());
  for (const KVLayer& layer : layers) {
    const int64_t rows = rows_for(layer, capacity);
    kv.rows_.push_back(rows);
    kv.keys_.push_back(at);
    at += layer.kv_dim * rows;
    kv.values_.push_back(at);
    at += layer.kv_dim * rows;
  }
  return kv;
}

uint64_t KVCache::bytes() const { return bytes_for(layers_, capacity_); }

namespace {
constexpr char kMagic[4] = {'L', 'K', 'V', '2'};

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
  for (int s = first; s < first + count; ++s) {
    put(out, static_cast<uint64_t>(kv_dim(s)));
    put(out, static_cast<uint64_t>(std::min(positions, rows(s))));
  }
  for (int s = first; s < first + count; ++s)
    for (const bool keys : {true, false})
      for (int64_t pos = positions - std::min(positions, rows(s)); pos < positions; ++pos)
        append(out, keys ? k(s, pos) : v(s, pos), static_cast<size_t>(kv_dim(s)) * sizeof(float));
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
  const auto n = static_cast<int64_t>(positions);
  std::vector<int64_t> held(static_cast<size_t>(count));
  uint64_t need = 0;
  for (int s = first; s < first + count; ++s) {
    uint64_t d = 0, r = 0;
    if (!take(&d, 8) || !take(&r, 8)) return Status::error("KV cache snapshot is truncated");
    if (d != static_cast<uint64_t>(kv_dim(s)))
      return Status::error("KV cache snapshot layer " + std::to_string(s) + " is " + std::to_string(d) +
                           " wide, this segment's is " + std::to_string(kv_dim(s)));
    // A layer needs its last min(positions, rows) positions; a snapshot may hold more (it came
    // from a wider ring), never fewer, and never more than there are positions.
    if (r > positions || static_cast<int64_t>(r) < std::min(n, rows(s)))
      return Status::error("KV cache snapshot layer " + std::to_string(s) + " holds " + std::to_string(r) + " of " +
                           std::to_string(positions) + " positions, this layer needs the last " +
                           std::to_string(std::min(n, rows(s))));
    held[static_cast<size_t>(s - first)] = static_cast<int64_t>(r);
    need += 2 * r * d * sizeof(float);
  }
  if (size - at != need)
    return Status::error("KV cache snapshot has " + std::to_string(size - at) + " data bytes, expected " + std::to_string(need));
  for (int s = first; s < first + count; ++s) {
    const int64_t r = held[static_cast<size_t>(s - first)];
    const size_t row_bytes = static_cast<size_t>(kv_dim(s)) * sizeof(float);
    for (const bool keys : {true, false})
      for (int64_t pos = n - r; pos < n; ++pos) {
        // Rows older than this ring holds are skipped; the newer ones land where k()/v() look.
        if (pos >= n - rows(s)) std::memcpy(keys ? k(s, pos) : v(s, pos), data + at, row_bytes);
        at += row_bytes;
      }
  }
  return n;
}

}  // namespace lingua
