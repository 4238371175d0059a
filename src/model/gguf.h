// GGUF v2/v3 model files: a validating reader over mmap (every count, length, offset and size a
// file claims is checked before use) and a writer. Format: magic "GGUF", u32 version, u64 tensor
// count, u64 metadata count, metadata key/values, tensor infos, padding to general.alignment
// (default 32), tensor data. All integers little-endian.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"
#include "core/status.h"

namespace lingua::gguf {

inline constexpr uint64_t kDefaultAlignment = 32;
inline constexpr int kMaxArrayDepth = 8;  // arrays of arrays nest at most this deep
inline constexpr uint32_t kMaxDims = 4;

enum class ValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
const char* value_type_name(ValueType t);
// Bytes from a file made safe to print: control bytes and invalid UTF-8 become \xNN, quotes and
// backslashes are escaped, and text past max_bytes is cut ("..." plus the full length).
std::string printable(const std::string& bytes, size_t max_bytes = 96);

struct Value;
struct Array {
  ValueType element_type = ValueType::UINT8;
  std::vector<Value> items;
};

// One metadata value. Arrays may nest (arrays of arrays).
struct Value {
  ValueType type = ValueType::UINT8;
  std::variant<uint64_t, int64_t, double, bool, std::string, std::shared_ptr<Array>> data;

  // Numeric accessors convert between integer kinds when the value fits; error otherwise.
  Expected<uint64_t> as_u64() const;
  Expected<int64_t> as_i64() const;
  Expected<double> as_f64() const;
  Expected<bool> as_bool() const;
  Expected<std::string> as_string() const;
  const Array* as_array() const;  // nullptr when not an array
  std::string to_display(size_t max_items = 8) const;  // for `lingua info`

  static Value u8(uint8_t v);
  static Value i8(int8_t v);
  static Value u16(uint16_t v);
  static Value i16(int16_t v);
  static Value u32(uint32_t v);
  static Value i32(int32_t v);
  static Value u64(uint64_t v);
  static Value i64(int64_t v);
  static Value f32(float v);
  static Value f64(double v);
  static Value boolean(bool v);
  static Value str(std::string v);
  static Value array(ValueType element_type, std::vector<Value> items);
};

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // GGUF order: dims[0] is the contiguous (innermost) dimension
  DType type = DType::F32;
  uint64_t offset = 0;         // relative to the data section
  uint64_t bytes = 0;          // validated size of the data
  const uint8_t* data = nullptr;  // into the mapping
  uint64_t elements() const;
};

class File {
 public:
  // Maps and validates the whole header; tensor data ranges are checked against the file size.
  // Errors name the file and what is wrong ("truncated", "bad magic", ...).
  static Expected<File> open(const std::string& path);
  // Same from bytes already in memory (tests, fuzzing); `bytes` must outlive the File.
  static Expected<File> parse(const uint8_t* bytes, size_t size, const std::string& name);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  const std::string& path() const { return path_; }
  size_t file_size() const { return size_; }
  const uint8_t* bytes() const { return bytes_; }  // the whole file (mapped, or as given to parse)
  uint64_t data_offset() const { return data_offset_; }

  const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }
  const Value* find(const std::string& key) const;
  // Typed look-ups: error when missing or of an incompatible type, naming the key.
  Expected<uint64_t> get_u64(const std::string& key) const;
  Expected<double> get_f64(const std::string& key) const;
  Expected<std::string> get_string(const std::string& key) const;
  Expected<bool> get_bool(const std::string& key) const;
  // Defaults when absent; errors only when present with a wrong type.
  Expected<uint64_t> get_u64_or(const std::string& key, uint64_t fallback) const;
  Expected<double> get_f64_or(const std::string& key, double fallback) const;
  Expected<bool> get_bool_or(const std::string& key, bool fallback) const;
  Expected<std::string> get_string_or(const std::string& key, const std::string& fallback) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(const std::string& name) const;

  // Holds exactly the named tensors' data in huge pages (MappedFile::keep_in_huge_pages), tensors
  // apart only by alignment padding as one range; returns the bytes held. Nothing to do for a
  // parsed buffer.
  Expected<uint64_t> keep_in_huge_pages(const std::vector<std::string>& names, uint64_t memory_available = 0,
                                        double max_fraction = 0.8);

 private:
  MappedFile map_;
  std::string path_;
  size_t size_ = 0;
  const uint8_t* bytes_ = nullptr;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::map<std::string, size_t> metadata_index_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

// Builds a GGUF v3 file. Tensor data is streamed: add_tensor records shape and type, then write()
// asks a callback for each tensor's bytes in order, so multi-GB files need no full copy in RAM.
class Writer {
 public:
  void set(const std::string& key, Value value);  // replaces an existing key
  void set_alignment(uint64_t alignment);         // also written as general.alignment if != 32
  // dims in GGUF order (dims[0] innermost).
  Status add_tensor(const std::string& name, DType type, std::vector<uint64_t> dims);

  // fill(index, dst, bytes) writes tensor `index`'s data (in add order) into dst.
  using FillFn = std::function<Status(size_t index, uint8_t* dst, uint64_t bytes)>;
  Status write(const std::string& path, const FillFn& fill) const;

 private:
  struct PendingTensor {
    std::string name;
    DType type;
    std::vector<uint64_t> dims;
    uint64_t bytes;
  };
  std::vector<std::pair<std::string, Value>> metadata_;
  std::vector<PendingTensor> tensors_;
  uint64_t alignment_ = 32;
};

}  // namespace lingua::gguf
