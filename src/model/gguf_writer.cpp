// GGUF v3 writer, laid out as llama.cpp's reader expects (tensors in order, each padded to the
// alignment). Tensor data streams from a callback into the file, one tensor in memory at a time.
#include <algorithm>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <vector>

#include "core/output_file.h"
#include "model/gguf.h"

namespace lingua::gguf {
namespace {

constexpr const char* kAlignmentKey = "general.alignment";
// llama.cpp keeps tensor names in a fixed 64-byte buffer including the terminator.
constexpr size_t kMaxTensorNameBytes = 63;

bool power_of_two(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

class HeaderBuffer {
 public:
  template <class T>
  void put(T v) {
    char raw[sizeof(T)];
    std::memcpy(raw, &v, sizeof(T));  // hosts are little-endian, like the format
    out_.append(raw, sizeof(T));
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    out_ += s;
  }
  void pad_to(uint64_t alignment) { out_.append((alignment - out_.size() % alignment) % alignment, '\0'); }
  const std::string& bytes() const { return out_; }

  // Encodes `v` as `type`, refusing values the type cannot hold so that a file always reads back
  // as what the caller meant.
  Status put_value(ValueType type, const Value& v, int depth) {
    if (v.type != type)
      return Status::error(std::string("is a ") + value_type_name(v.type) + " where a " + value_type_name(type) +
                           " was declared");
    switch (type) {
      case ValueType::UINT8: return put_unsigned<uint8_t>(v);
      case ValueType::UINT16: return put_unsigned<uint16_t>(v);
      case ValueType::UINT32: return put_unsigned<uint32_t>(v);
      case ValueType::UINT64: return put_unsigned<uint64_t>(v);
      case ValueType::INT8: return put_signed<int8_t>(v);
      case ValueType::INT16: return put_signed<int16_t>(v);
      case ValueType::INT32: return put_signed<int32_t>(v);
      case ValueType::INT64: return put_signed<int64_t>(v);
      case ValueType::FLOAT32: {
        LINGUA_ASSIGN_OR_RETURN(const double d, v.as_f64());
        put(static_cast<float>(d));
        return Status::ok();
      }
      case ValueType::FLOAT64: {
        LINGUA_ASSIGN_OR_RETURN(const double d, v.as_f64());
        put(d);
        return Status::ok();
      }
      case ValueType::BOOL: {
        LINGUA_ASSIGN_OR_RETURN(const bool b, v.as_bool());
        put<uint8_t>(b ? 1 : 0);
        return Status::ok();
      }
      case ValueType::STRING: {
        const std::string* s = std::get_if<std::string>(&v.data);
        if (!s) return Status::error("is declared a string but holds no string");
        put_string(*s);
        return Status::ok();
      }
      case ValueType::ARRAY: {
        const Array* a = v.as_array();
        if (!a) return Status::error("is declared an array but holds no array");
        // Same limit as the reader, so everything written can be read back.
        if (depth + 1 > kMaxArrayDepth)
          return Status::error("nests arrays more than " + std::to_string(kMaxArrayDepth) + " deep");
        if (static_cast<uint32_t>(a->element_type) > static_cast<uint32_t>(ValueType::FLOAT64))
          return Status::error("is an array of unknown element type");
        put(static_cast<uint32_t>(a->element_type));
        put<uint64_t>(a->items.size());
        for (size_t i = 0; i < a->items.size(); ++i) {
          Status st = put_value(a->element_type, a->items[i], depth + 1);
          if (!st) return Status::error("item " + std::to_string(i) + " " + st.message());
        }
        return Status::ok();
      }
    }
    return Status::error("has unknown value type " + std::to_string(static_cast<uint32_t>(type)));
  }

 private:
  template <class T>
  Status put_unsigned(const Value& v) {
    LINGUA_ASSIGN_OR_RETURN(const uint64_t u, v.as_u64());
    if (u > std::numeric_limits<T>::max())
      return Status::error("value " + std::to_string(u) + " does not fit in a " + value_type_name(v.type));
    put(static_cast<T>(u));
    return Status::ok();
  }
  template <class T>
  Status put_signed(const Value& v) {
    LINGUA_ASSIGN_OR_RETURN(const int64_t i, v.as_i64());
    if (i < std::numeric_limits<T>::min() || i > std::numeric_limits<T>::max())
      return Status::error("value " + std::to_string(i) + " does not fit in a " + value_type_name(v.type));
    put(static_cast<T>(i));
    return Status::ok();
  }

  std::string out_;
};

}  // namespace

void Writer::set(const std::string& key, Value value) {
  for (auto& kv : metadata_) {
    if (kv.first == key) {
      kv.second = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(key, std::move(value));
}

void Writer::set_alignment(uint64_t alignment) {
  alignment_ = alignment;
  if (alignment != kDefaultAlignment && power_of_two(alignment) && alignment <= UINT32_MAX) {
    set(kAlignmentKey, Value::u32(static_cast<uint32_t>(alignment)));
  } else {
    // The default needs no key; an invalid value must not leave an older key in force, since
    // write() reports it (this function cannot fail).
    std::erase_if(metadata_, [](const auto& kv) { return kv.first == kAlignmentKey; });
  }
}

Status Writer::add_tensor(const std::string& name, DType type, std::vector<uint64_t> dims) {
  const std::string shown = "tensor '" + name + "'";
  if (name.empty()) return Status::error("a tensor needs a name");
  if (name.size() > kMaxTensorNameBytes)
    return Status::error(shown + ": the name is longer than " + std::to_string(kMaxTensorNameBytes) +
                         " bytes, which llama.cpp cannot read");
  for (const auto& t : tensors_)
    if (t.name == name) return Status::error(shown + " was already added");
  const DTypeInfo* info = dtype_info(static_cast<uint32_t>(type));
  if (!info) return Status::error(shown + " has an unknown type");
  if (dims.empty() || dims.size() > kMaxDims)
    return Status::error(shown + " has " + std::to_string(dims.size()) + " dimensions (must be 1 to " +
                         std::to_string(kMaxDims) + ")");
  uint64_t elements = 1;
  for (uint64_t d : dims) {
    if (d == 0) return Status::error(shown + " has an empty dimension");
    if (d > static_cast<uint64_t>(INT64_MAX) / elements)
      return Status::error(shown + " has too many elements for 64 bits");
    elements *= d;
  }
  if (dims[0] % info->block_size != 0)
    return Status::error(shown + ": rows of " + std::to_string(dims[0]) + " elements are not a multiple of the " +
                         info->name + " block size " + std::to_string(info->block_size));
  auto bytes = dtype_bytes(type, elements);
  if (!bytes) return Status::error(shown + ": " + bytes.error());
  tensors_.push_back(PendingTensor{name, type, std::move(dims), *bytes});
  return Status::ok();
}

Status Writer::write(const std::string& path, const FillFn& fill) const {
  const auto fail = [&](const std::string& what) { return Status::error(path + ": " + what); };

  // A general.alignment set directly wins over set_alignment(): it is what readers will obey.
  uint64_t alignment = alignment_;
  for (const auto& [key, value] : metadata_) {
    if (key != kAlignmentKey) continue;
    if (value.type != ValueType::UINT32) return fail("general.alignment must be a u32");
    auto a = value.as_u64();
    if (!a) return fail("general.alignment: " + a.error());
    alignment = *a;
  }
  if (!power_of_two(alignment) || alignment > UINT32_MAX)
    return fail("alignment " + std::to_string(alignment) + " is not a power of two that fits in 32 bits");

  HeaderBuffer header;
  header.put<uint32_t>(0x46554747);  // "GGUF" read as a little-endian u32
  header.put<uint32_t>(3);
  header.put<uint64_t>(tensors_.size());
  header.put<uint64_t>(metadata_.size());
  for (const auto& [key, value] : metadata_) {  // set() keeps keys unique
    header.put_string(key);
    header.put(static_cast<uint32_t>(value.type));
    Status st = header.put_value(value.type, value, 0);
    if (!st) return fail("metadata key '" + key + "' " + st.message());
  }
  uint64_t offset = 0;
  uint64_t largest = 0;
  for (const PendingTensor& t : tensors_) {
    header.put_string(t.name);
    header.put(static_cast<uint32_t>(t.dims.size()));
    for (uint64_t d : t.dims) header.put(d);
    header.put(static_cast<uint32_t>(t.type));
    header.put(offset);
    const uint64_t padded = t.bytes + (alignment - t.bytes % alignment) % alignment;
    if (padded < t.bytes || offset > UINT64_MAX - padded) return fail("the tensor data exceeds 64 bits");
    offset += padded;
    largest = std::max(largest, t.bytes);
  }
  // Like gguf-py, pad only when a data section follows: vocab-only files end right after the header.
  if (!tensors_.empty()) header.pad_to(alignment);
  if (!tensors_.empty() && !fill) return fail("no callback to supply the tensor data");

  // One buffer reused for every tensor: memory is bounded by the largest tensor, not the file.
  std::vector<uint8_t> buffer;
  try {
    buffer.resize(static_cast<size_t>(largest));
  } catch (const std::bad_alloc&) {
    return fail("not enough memory to stage a tensor of " + std::to_string(largest) + " bytes");
  } catch (const std::length_error&) {
    return fail("not enough memory to stage a tensor of " + std::to_string(largest) + " bytes");
  }
  const std::vector<uint8_t> zeros(static_cast<size_t>(alignment), 0);

  // Beside the output until complete: a failed write leaves whatever was at the path, and only a
  // regular file is ever replaced (never a device node, FIFO or symlink).
  LINGUA_ASSIGN_OR_RETURN(OutputFile out, OutputFile::create(path));
  LINGUA_TRY(out.write(header.bytes().data(), header.bytes().size()));
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const PendingTensor& t = tensors_[i];
    Status st = fill(i, buffer.data(), t.bytes);
    if (!st) return fail("tensor '" + t.name + "': " + st.message());
    LINGUA_TRY(out.write(buffer.data(), static_cast<size_t>(t.bytes)));
    LINGUA_TRY(out.write(zeros.data(), static_cast<size_t>((alignment - t.bytes % alignment) % alignment)));
  }
  return out.commit();
}

}  // namespace lingua::gguf
