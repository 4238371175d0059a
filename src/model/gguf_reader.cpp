// Validating GGUF reader. Model files come from anywhere, so every count, length, type id, shape
// and offset a file claims is checked against the bytes actually present before it is used.
#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/file_kind.h"
#include "model/gguf.h"

namespace lingua::gguf {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader copies little-endian integers straight from the file");

// Arrays expand to one Value (~48 bytes) per item, so a small file could otherwise claim gigabytes
// of RAM through many tiny items. Real vocabularies stay far below this.
constexpr uint64_t kMaxArrayItemsTotal = uint64_t{1} << 24;

constexpr uint32_t kValueTypeCount = 13;
// Smallest possible encoding of one key/value pair and one tensor info: used to reject counts that
// the remaining bytes could never hold before anything is allocated for them.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;           // key length, type, a one-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // name length, n_dims, a dim, type, offset

uint64_t min_encoded_size(ValueType t) {
  switch (t) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
    case ValueType::UINT16: case ValueType::INT16: return 2;
    case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
    case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: return 8;
    case ValueType::STRING: return 8;
    case ValueType::ARRAY: return 4 + 8;
  }
  return 1;
}

std::string known_dtype_names() {
  std::string out;
  for (uint32_t id = 0; id < 256; ++id) {
    if (const DTypeInfo* info = dtype_info(id)) {
      if (!out.empty()) out += ", ";
      out += info->name;
    }
  }
  return out;
}

std::string shape_text(const std::vector<uint64_t>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(dims[i]);
  }
  return out + "]";
}

std::string num(uint64_t v) { return std::to_string(v); }

class Parser {
 public:
  Parser(const uint8_t* bytes, size_t size, const std::string& name)
      : bytes_(bytes), size_(size), name_(name) {}

  Status fail(const std::string& message) const { return Status::error(name_ + ": " + message); }
  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  void set_context(std::string context) { context_ = std::move(context); }
  const std::string& context() const { return context_; }

  template <class T>
  Status read(T& out) {
    if (sizeof(T) > remaining())
      return fail("truncated: the file ends at byte " + num(size_) + ", inside " + context_);
    std::memcpy(&out, bytes_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::ok();
  }

  Status read_string(std::string& out) {
    uint64_t len = 0;
    LINGUA_TRY(read(len));
    if (len > remaining())
      return fail("truncated or corrupt file: " + context_ + " is a string of " + num(len) +
                  " bytes at byte " + num(pos_) + ", but only " + num(remaining()) + " bytes remain");
    out.assign(reinterpret_cast<const char*>(bytes_ + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return Status::ok();
  }

  // depth counts the arrays enclosing this value.
  Status read_value(ValueType type, int depth, Value& out) {
    switch (type) {
      case ValueType::UINT8: return read_as<uint8_t>(out, Value::u8);
      case ValueType::INT8: return read_as<int8_t>(out, Value::i8);
      case ValueType::UINT16: return read_as<uint16_t>(out, Value::u16);
      case ValueType::INT16: return read_as<int16_t>(out, Value::i16);
      case ValueType::UINT32: return read_as<uint32_t>(out, Value::u32);
      case ValueType::INT32: return read_as<int32_t>(out, Value::i32);
      case ValueType::UINT64: return read_as<uint64_t>(out, Value::u64);
      case ValueType::INT64: return read_as<int64_t>(out, Value::i64);
      case ValueType::FLOAT32: return read_as<float>(out, Value::f32);
      case ValueType::FLOAT64: return read_as<double>(out, Value::f64);
      case ValueType::BOOL: {
        uint8_t b = 0;  // never read straight into a bool: any byte but 0/1 would be UB
        LINGUA_TRY(read(b));
        if (b > 1) return fail(context_ + " holds a bool of value " + num(b) + " (must be 0 or 1)");
        out = Value::boolean(b == 1);
        return Status::ok();
      }
      case ValueType::STRING: {
        std::string s;
        LINGUA_TRY(read_string(s));
        out = Value::str(std::move(s));
        return Status::ok();
      }
      case ValueType::ARRAY: return read_array(depth + 1, out);
    }
    return fail(context_ + " has an unknown value type");  // callers validate ids first
  }

 private:
  template <class T, class Make>
  Status read_as(Value& out, Make make) {
    T v{};
    LINGUA_TRY(read(v));
    out = make(v);
    return Status::ok();
  }

  Status read_array(int depth, Value& out) {
    if (depth > kMaxArrayDepth)
      return fail(context_ + " nests arrays more than " + std::to_string(kMaxArrayDepth) + " deep");
    uint32_t type_id = 0;
    LINGUA_TRY(read(type_id));
    if (type_id >= kValueTypeCount)
      return fail(context_ + " is an array of unknown element type id " + num(type_id) +
                  " (valid ids are 0 to " + num(kValueTypeCount - 1) + ")");
    const auto type = static_cast<ValueType>(type_id);
    uint64_t n = 0;
    LINGUA_TRY(read(n));
    const uint64_t each = min_encoded_size(type);
    if (n > remaining() / each)
      return fail("truncated or corrupt file: " + context_ + " claims an array of " + num(n) + " " +
                  value_type_name(type) + " items (at least " + num(each) + " bytes each), but only " +
                  num(remaining()) + " bytes remain");
    items_total_ += n;  // cannot overflow: each term is at most the file size
    if (items_total_ > kMaxArrayItemsTotal)
      return fail("corrupt file: the metadata arrays hold more than " + num(kMaxArrayItemsTotal) +
                  " items in all");
    std::vector<Value> items;
    // Reserve only what a modest array needs: a claim is not yet proof that the items are there.
    items.reserve(static_cast<size_t>(std::min<uint64_t>(n, 1 << 16)));
    for (uint64_t i = 0; i < n; ++i) {
      Value v;
      LINGUA_TRY(read_value(type, depth, v));
      items.push_back(std::move(v));
    }
    out = Value::array(type, std::move(items));
    return Status::ok();
  }

  const uint8_t* bytes_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& name_;
  std::string context_ = "the header";
  uint64_t items_total_ = 0;
};

std::string describe_magic(const uint8_t* p, size_t n) {
  std::string out = "\"";
  for (size_t i = 0; i < n; ++i) {
    if (p[i] >= 0x20 && p[i] < 0x7F && p[i] != '"' && p[i] != '\\') {
      out += static_cast<char>(p[i]);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", p[i]);
      out += buf;
    }
  }
  return out + "\"";
}

}  // namespace

uint64_t TensorInfo::elements() const {
  uint64_t n = 1;
  for (uint64_t d : dims) n *= d;  // the reader and the writer keep this below 2^63
  return n;
}

Expected<File> File::open(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::error(path + ": cannot open: " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return Status::error(path + ": is a directory, not a GGUF file");
  if (!S_ISREG(st.st_mode)) return Status::error(path + ": is " + file_kind(st.st_mode) + ", not a GGUF file");
  auto map = MappedFile::open(path);  // its errors name the path
  if (!map) return map.status();
  auto file = parse(map->data(), map->size(), path);
  if (!file) return file.status();
  file->map_ = std::move(*map);  // moving keeps the mapping's address, so tensor pointers stay valid
  return file;
}

Expected<File> File::parse(const uint8_t* bytes, size_t size, const std::string& name) {
  File f;
  f.path_ = name;
  f.size_ = size;
  f.bytes_ = bytes;
  Parser p(bytes, size, name);

  if (size == 0) return p.fail("the file is empty, not a GGUF file");
  if (std::memcmp(bytes, "GGUF", std::min<size_t>(size, 4)) != 0)
    return p.fail("not a GGUF file (magic is " + describe_magic(bytes, std::min<size_t>(size, 4)) +
                  ", expected \"GGUF\")");
  if (size < 4) return p.fail("truncated: the file is only " + num(size) + " bytes long");
  uint32_t magic = 0;  // checked above; read only to move past it
  LINGUA_TRY(p.read(magic));

  uint32_t version = 0;
  LINGUA_TRY(p.read(version));
  if (version == 1)
    return p.fail("GGUF version 1 is obsolete and not supported; re-convert the model with a current "
                  "converter (versions 2 and 3 are supported)");
  if (version != 2 && version != 3) {
    const uint32_t swapped = __builtin_bswap32(version);
    if (swapped >= 1 && swapped <= 3)
      return p.fail("this is a big-endian GGUF file, which is not supported on this machine");
    return p.fail("unsupported GGUF version " + num(version) + " (versions 2 and 3 are supported)");
  }
  f.version_ = version;

  uint64_t n_tensors = 0, n_kv = 0;
  LINGUA_TRY(p.read(n_tensors));
  LINGUA_TRY(p.read(n_kv));
  if (n_kv > p.remaining() / kMinKvBytes ||
      n_tensors > (p.remaining() - n_kv * kMinKvBytes) / kMinTensorInfoBytes)
    return p.fail("truncated or corrupt file: the header claims " + num(n_tensors) + " tensors and " +
                  num(n_kv) + " metadata entries, which cannot fit in the remaining " +
                  num(p.remaining()) + " bytes");

  for (uint64_t i = 0; i < n_kv; ++i) {
    p.set_context("the key of metadata entry #" + num(i));
    std::string key;
    LINGUA_TRY(p.read_string(key));
    p.set_context("metadata key '" + printable(key) + "'");
    if (f.metadata_index_.count(key)) return p.fail("duplicate metadata key '" + printable(key) + "'");
    uint32_t type_id = 0;
    LINGUA_TRY(p.read(type_id));
    if (type_id >= kValueTypeCount)
      return p.fail(p.context() + " has unknown value type id " + num(type_id) + " (valid ids are 0 to " +
                    num(kValueTypeCount - 1) + ")");
    Value value;
    LINGUA_TRY(p.read_value(static_cast<ValueType>(type_id), 0, value));
    f.metadata_index_.emplace(key, f.metadata_.size());
    f.metadata_.emplace_back(std::move(key), std::move(value));
  }

  if (const Value* a = f.find("general.alignment")) {
    if (a->type != ValueType::UINT32)
      return p.fail(std::string("general.alignment must be a u32, but it is a ") + value_type_name(a->type));
    const uint64_t align = a->as_u64().value();
    if (align == 0 || (align & (align - 1)) != 0)
      return p.fail("general.alignment is " + num(align) + ", which is not a power of two");
    f.alignment_ = align;
  }

  p.set_context("the tensor infos");
  if (n_tensors > p.remaining() / kMinTensorInfoBytes)
    return p.fail("truncated or corrupt file: the header claims " + num(n_tensors) +
                  " tensors, but the remaining " + num(p.remaining()) + " bytes cannot describe them");
  for (uint64_t i = 0; i < n_tensors; ++i) {
    p.set_context("the name of tensor #" + num(i));
    TensorInfo t;
    LINGUA_TRY(p.read_string(t.name));
    if (t.name.empty()) return p.fail("tensor #" + num(i) + " has an empty name");
    const std::string shown = "tensor '" + printable(t.name) + "'";
    p.set_context("the info of " + shown);
    if (f.tensor_index_.count(t.name)) return p.fail("duplicate tensor name '" + printable(t.name) + "'");

    uint32_t n_dims = 0;
    LINGUA_TRY(p.read(n_dims));
    if (n_dims < 1 || n_dims > kMaxDims)
      return p.fail(shown + " has " + num(n_dims) + " dimensions (must be 1 to " + num(kMaxDims) + ")");
    t.dims.resize(n_dims);
    for (uint64_t& d : t.dims) LINGUA_TRY(p.read(d));
    uint64_t elements = 1;
    for (uint64_t d : t.dims) {
      if (d == 0) return p.fail(shown + " has shape " + shape_text(t.dims) + " with an empty dimension");
      // ggml counts elements in int64_t, so stay below 2^63.
      if (d > static_cast<uint64_t>(INT64_MAX) / elements)
        return p.fail(shown + " has shape " + shape_text(t.dims) + ", too many elements for 64 bits");
      elements *= d;
    }

    uint32_t type_id = 0;
    LINGUA_TRY(p.read(type_id));
    const DTypeInfo* info = dtype_info(type_id);
    if (!info)
      return p.fail(shown + " has unknown tensor type id " + num(type_id) + " (known types: " +
                    known_dtype_names() + ")");
    t.type = info->type;
    if (t.dims[0] % info->block_size != 0)
      return p.fail(shown + " has rows of " + num(t.dims[0]) + " elements, not a multiple of the " +
                    info->name + " block size " + num(info->block_size));
    auto size_in_bytes = dtype_bytes(t.type, elements);
    if (!size_in_bytes) return p.fail(shown + ": " + size_in_bytes.error());
    t.bytes = *size_in_bytes;
    LINGUA_TRY(p.read(t.offset));
    f.tensor_index_.emplace(t.name, f.tensors_.size());
    f.tensors_.push_back(std::move(t));
  }

  // The data section starts at the first aligned byte after the header; files without tensors
  // may end before it.
  const uint64_t header_end = p.pos();
  const uint64_t pad = (f.alignment_ - header_end % f.alignment_) % f.alignment_;
  if (pad > UINT64_MAX - header_end) return p.fail("corrupt file: the data section offset overflows");
  f.data_offset_ = header_end + pad;

  const uint64_t available = f.data_offset_ <= size ? size - f.data_offset_ : 0;
  for (TensorInfo& t : f.tensors_) {
    const std::string shown = "tensor '" + printable(t.name) + "'";
    if (t.offset % f.alignment_ != 0)
      return p.fail(shown + " has data offset " + num(t.offset) + ", which is not a multiple of the alignment " +
                    num(f.alignment_));
    if (t.offset > available || t.bytes > available - t.offset) {
      std::string where = t.offset <= UINT64_MAX - f.data_offset_
                              ? "its " + num(t.bytes) + " bytes start at byte " + num(f.data_offset_ + t.offset)
                              : "its offset " + num(t.offset) + " is far beyond the end";
      return p.fail(shown + " data lies outside the file (truncated?): " + where + ", but the file is " +
                    num(size) + " bytes long");
    }
    t.data = bytes + f.data_offset_ + t.offset;
  }

  std::vector<const TensorInfo*> by_offset;
  by_offset.reserve(f.tensors_.size());
  for (const TensorInfo& t : f.tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo& prev = *by_offset[i - 1];
    const TensorInfo& next = *by_offset[i];
    if (prev.offset + prev.bytes > next.offset)  // both ranges lie inside the file: no overflow
      return p.fail("tensors '" + printable(prev.name) + "' and '" + printable(next.name) +
                    "' overlap in the file");
  }
  return f;
}

const Value* File::find(const std::string& key) const {
  const auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const TensorInfo* File::find_tensor(const std::string& name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {
template <class T>
Expected<T> with_key(const std::string& path, const std::string& key, Expected<T> v) {
  if (v) return v;
  return Status::error(path + ": key '" + key + "': " + v.error());
}
Status missing(const std::string& path, const std::string& key) {
  return Status::error(path + ": key '" + key + "' is missing");
}
}  // namespace

Expected<uint64_t> File::get_u64(const std::string& key) const {
  const Value* v = find(key);
  return v ? with_key(path_, key, v->as_u64()) : missing(path_, key);
}
Expected<double> File::get_f64(const std::string& key) const {
  const Value* v = find(key);
  return v ? with_key(path_, key, v->as_f64()) : missing(path_, key);
}
Expected<std::string> File::get_string(const std::string& key) const {
  const Value* v = find(key);
  return v ? with_key(path_, key, v->as_string()) : missing(path_, key);
}
Expected<bool> File::get_bool(const std::string& key) const {
  const Value* v = find(key);
  return v ? with_key(path_, key, v->as_bool()) : missing(path_, key);
}
Expected<uint64_t> File::get_u64_or(const std::string& key, uint64_t fallback) const {
  const Value* v = find(key);
  return v ? with_key(path_, key, v->as_u64()) : Expected<uint64_t>(fallback);
}
Expected<double> File::get_f64_or(const std::string& key, double fallback) const {
  const Value* v = find(key);
  return v ? with_key(path_, key, v->as_f64()) : Expected<double>(fallback);
}
Expected<bool> File::get_bool_or(const std::string& key, bool fallback) const {
  const Value* v = find(key);
  return v ? with_key(path_, key, v->as_bool()) : Expected<bool>(fallback);
}
Expected<std::string> File::get_string_or(const std::string& key, const std::string& fallback) const {
  const Value* v = find(key);
  return v ? with_key(path_, key, v->as_string()) : Expected<std::string>(fallback);
}

Expected<uint64_t> File::keep_in_huge_pages(const std::vector<std::string>& names, uint64_t memory_available,
                                           double max_fraction) {
  if (!map_.data()) return uint64_t{0};
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // [begin, end) in the file
  for (const std::string& n : names)
    if (const TensorInfo* t = find_tensor(n)) ranges.emplace_back(data_offset_ + t->offset, data_offset_ + t->offset + t->bytes);
  std::sort(ranges.begin(), ranges.end());
  std::vector<std::pair<uint64_t, uint64_t>> merged;
  for (const auto& r : ranges) {
    if (!merged.empty() && r.first <= merged.back().second + alignment_) merged.back().second = std::max(merged.back().second, r.second);
    else merged.push_back(r);
  }
  return map_.keep_in_huge_pages(merged, memory_available, max_fraction);
}

}  // namespace lingua::gguf
