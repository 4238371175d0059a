// Wire frame encoding and the validating decoder (see wire.h and docs/runtime.md "Wire format").
// Every read is bounds-checked against the bytes received; nothing trusts a length field.
#include "net/wire.h"

#include <xxhash.h>

#include <cstring>

#include "core/fp16.h"

namespace lingua {
namespace {

constexpr size_t kHeaderHashOffset = 72;

void put_u16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint16_t get_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t get_u32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::string hex64(uint64_t v) {
  static const char* digits = "0123456789abcdef";
  std::string s = "0x";
  for (int i = 15; i >= 0; --i) s += digits[(v >> (4 * i)) & 0xf];
  return s;
}

std::string dtype_label(uint32_t id) {
  const DTypeInfo* info = dtype_info(id);
  return info ? std::string(info->name) : "id " + std::to_string(id);
}

std::string shape_label(const FrameHeader& h) {
  std::string s = "[";
  for (uint32_t i = 0; i < h.n_dims && i < kMaxWireDims; ++i) {
    if (i) s += ", ";
    s += std::to_string(h.dims[i]);
  }
  s += "]";
  return s;
}

Status frame_error(const std::string& what) {
  std::string m = "wire frame: ";
  m += what;
  return Status::error(std::move(m));
}

bool is_tensor_type(MessageType t) { return t == MessageType::kTensor || t == MessageType::kLogits; }
bool is_typed(MessageType t) { return is_tensor_type(t) || t == MessageType::kToken; }

uint64_t element_bytes(uint32_t dtype) {
  switch (dtype) {
    case static_cast<uint32_t>(DType::F32): return 4;
    case static_cast<uint32_t>(DType::F16): return 2;
    case static_cast<uint32_t>(DType::I32): return 4;
    default: return 0;
  }
}

// Type-specific dtype and shape rules; on success *bytes is the payload size the shape implies
// (or is left alone for untyped frames).
Status check_shape(MessageType type, uint32_t dtype, const FrameHeader& h, uint64_t* bytes) {
  const std::string tname = message_type_name(type);
  if (!is_typed(type)) {
    if (h.n_dims != 0) return frame_error("n_dims " + std::to_string(h.n_dims) + " must be 0 for " + tname);
    if (dtype != 0) return frame_error("dtype " + dtype_label(dtype) + " must be 0 for " + tname);
    return Status::ok();
  }
  if (is_tensor_type(type)) {
    if (dtype != static_cast<uint32_t>(DType::F32) && dtype != static_cast<uint32_t>(DType::F16))
      return frame_error("dtype " + dtype_label(dtype) + " is not allowed for " + tname + " (f32, f16)");
    if (h.n_dims == 0) return frame_error("n_dims 0 is not allowed for " + tname + " (1 or 2)");
  } else {  // TOKEN
    if (dtype != static_cast<uint32_t>(DType::I32))
      return frame_error("dtype " + dtype_label(dtype) + " is not allowed for " + tname + " (i32)");
    if (h.n_dims != 1) return frame_error("n_dims " + std::to_string(h.n_dims) + " must be 1 for " + tname);
  }
  uint64_t elements = 1;
  for (uint32_t i = 0; i < h.n_dims; ++i) {
    if (h.dims[i] == 0) return frame_error("dims[" + std::to_string(i) + "] is 0 in shape " + shape_label(h));
    if (__builtin_mul_overflow(elements, h.dims[i], &elements))
      return frame_error("dims " + shape_label(h) + " overflow (element count exceeds 2^64)");
  }
  if (__builtin_mul_overflow(elements, element_bytes(dtype), bytes))
    return frame_error("dims " + shape_label(h) + " x " + dtype_label(dtype) + " overflow (byte count exceeds 2^64)");
  return Status::ok();
}

}  // namespace

const char* message_type_name(MessageType type) {
  switch (type) {
    case MessageType::kHello: return "HELLO";
    case MessageType::kAssign: return "ASSIGN";
    case MessageType::kTensor: return "TENSOR";
    case MessageType::kToken: return "TOKEN";
    case MessageType::kLogits: return "LOGITS";
    case MessageType::kKvExport: return "KV_EXPORT";
    case MessageType::kKvImport: return "KV_IMPORT";
    case MessageType::kError: return "ERROR";
    case MessageType::kBye: return "BYE";
    case MessageType::kWeights: return "WEIGHTS";
    case MessageType::kStats: return "STATS";
    case MessageType::kProbe: return "PROBE";
    case MessageType::kLinkTest: return "LINK_TEST";
    case MessageType::kBatch: return "BATCH";
  }
  return "unknown";
}

uint64_t header_checksum(const uint8_t* header) { return XXH64(header, kHeaderHashOffset, 0); }

std::vector<uint8_t> encode_frame(const Frame& frame) {
  const FrameHeader& h = frame.header;
  std::vector<uint8_t> out(kFrameHeaderBytes + frame.payload.size(), 0);
  uint8_t* p = out.data();
  std::memcpy(p, kWireMagic, 4);
  put_u16(p + 4, kWireVersion);
  put_u16(p + 6, static_cast<uint16_t>(h.type));
  put_u64(p + 8, h.sequence);
  put_u64(p + 16, static_cast<uint64_t>(h.position));
  put_u32(p + 24, h.tensor_id);
  put_u32(p + 28, static_cast<uint32_t>(h.dtype));
  put_u32(p + 32, h.n_dims);
  put_u32(p + 36, 0);
  put_u64(p + 40, h.dims[0]);
  put_u64(p + 48, h.dims[1]);
  put_u64(p + 56, frame.payload.size());
  put_u64(p + 64, XXH64(frame.payload.data(), frame.payload.size(), 0));
  put_u64(p + kHeaderHashOffset, header_checksum(p));
  if (!frame.payload.empty()) std::memcpy(p + kFrameHeaderBytes, frame.payload.data(), frame.payload.size());
  return out;
}

Expected<FrameHeader> decode_header(const uint8_t* data, size_t size, const DecodeLimits& limits) {
  if (data == nullptr || size < kFrameHeaderBytes)
    return frame_error("size " + std::to_string(size) + " bytes is shorter than the " +
                       std::to_string(kFrameHeaderBytes) + "-byte header");
  if (std::memcmp(data, kWireMagic, 4) != 0) {
    std::string got;
    for (int i = 0; i < 4; ++i) got += hex64(data[i]).substr(16);
    return frame_error("magic 0x" + got + " is not \"LNGW\"");
  }
  const uint16_t version = get_u16(data + 4);
  if (version != kWireVersion)
    return frame_error("version " + std::to_string(version) + " is not supported (this build speaks " +
                       std::to_string(kWireVersion) + ")");
  const uint64_t stored_hash = get_u64(data + kHeaderHashOffset);
  const uint64_t header_hash = header_checksum(data);
  if (stored_hash != header_hash)
    return frame_error("header_hash " + hex64(stored_hash) + " does not match the header (" + hex64(header_hash) + ")");
  const uint16_t type = get_u16(data + 6);
  if (type == 0 || type > kMaxMessageType)
    return frame_error("message type " + std::to_string(type) + " is unknown");
  if (get_u32(data + 36) != 0) return frame_error("reserved bytes 36..39 are not zero");

  FrameHeader h;
  h.type = static_cast<MessageType>(type);
  h.sequence = get_u64(data + 8);
  h.position = static_cast<int64_t>(get_u64(data + 16));
  h.tensor_id = get_u32(data + 24);
  const uint32_t dtype = get_u32(data + 28);
  h.n_dims = get_u32(data + 32);
  h.dims[0] = get_u64(data + 40);
  h.dims[1] = get_u64(data + 48);
  h.payload_length = get_u64(data + 56);
  h.payload_hash = get_u64(data + 64);

  const uint32_t max_dims = limits.max_dims < kMaxWireDims ? limits.max_dims : kMaxWireDims;
  if (h.n_dims > max_dims)
    return frame_error("n_dims " + std::to_string(h.n_dims) + " exceeds " + std::to_string(max_dims));
  for (uint32_t i = h.n_dims; i < kMaxWireDims; ++i)
    if (h.dims[i] != 0)
      return frame_error("dims[" + std::to_string(i) + "] is " + std::to_string(h.dims[i]) + " beyond n_dims " +
                         std::to_string(h.n_dims) + " (must be 0)");
  if (h.payload_length > limits.max_payload_bytes)
    return frame_error("payload_length " + std::to_string(h.payload_length) + " exceeds the limit of " +
                       std::to_string(limits.max_payload_bytes) + " bytes");
  uint64_t shape_bytes = h.payload_length;
  LINGUA_TRY(check_shape(h.type, dtype, h, &shape_bytes));
  if (shape_bytes != h.payload_length)
    return frame_error("dims " + shape_label(h) + " of " + dtype_label(dtype) + " make " + std::to_string(shape_bytes) +
                       " bytes, but payload_length is " + std::to_string(h.payload_length));
  h.dtype = static_cast<DType>(dtype);
  return h;
}

Status check_payload(const FrameHeader& header, const uint8_t* payload, size_t size) {
  if (header.payload_length != size)
    return frame_error("payload_length " + std::to_string(header.payload_length) + " does not match the " +
                       std::to_string(size) + " payload bytes present");
  const uint64_t hash = XXH64(size ? payload : nullptr, size, 0);
  if (hash != header.payload_hash)
    return frame_error("payload_hash " + hex64(header.payload_hash) + " does not match the payload (" + hex64(hash) + ")");
  return Status::ok();
}

Expected<Frame> decode_frame(const uint8_t* data, size_t size, const DecodeLimits& limits) {
  LINGUA_ASSIGN_OR_RETURN(FrameHeader header, decode_header(data, size, limits));
  const uint8_t* payload = data + kFrameHeaderBytes;
  const size_t present = size - kFrameHeaderBytes;
  LINGUA_TRY(check_payload(header, payload, present));
  Frame frame;
  frame.header = header;
  frame.payload.assign(payload, payload + present);
  return frame;
}

Status expect_type(const Frame& frame, MessageType expected) {
  if (frame.header.type == expected) return Status::ok();
  std::string m = "expected ";
  m += message_type_name(expected);
  m += " frame, got ";
  m += message_type_name(frame.header.type);
  return frame_error(m);
}

Expected<DType> parse_wire_dtype(const std::string& name) {
  if (name == "f32" || name == "F32") return DType::F32;
  if (name == "f16" || name == "F16") return DType::F16;
  std::string m = "wire dtype '";
  m += name;
  m += "' is not supported (f32, f16)";
  return Status::error(m);
}

Frame tensor_frame(uint64_t sequence, int64_t position, uint32_t tensor_id, const float* data, uint64_t rows,
                   uint64_t cols, DType wire_dtype) {
  Frame f;
  FrameHeader& h = f.header;
  h.type = MessageType::kTensor;
  h.sequence = sequence;
  h.position = position;
  h.tensor_id = tensor_id;
  h.dtype = wire_dtype == DType::F16 ? DType::F16 : DType::F32;
  h.n_dims = 2;
  h.dims[0] = rows;
  h.dims[1] = cols;
  const size_t n = static_cast<size_t>(rows * cols);
  if (h.dtype == DType::F16) {
    f.payload.resize(n * 2);
    for (size_t i = 0; i < n; ++i) put_u16(f.payload.data() + 2 * i, fp32_to_fp16(data[i]));
  } else {
    f.payload.resize(n * 4);
    for (size_t i = 0; i < n; ++i) put_u32(f.payload.data() + 4 * i, fp32_to_bits(data[i]));
  }
  h.payload_length = f.payload.size();
  return f;
}

Expected<std::vector<float>> tensor_payload_f32(const Frame& frame) {
  const FrameHeader& h = frame.header;
  if (!is_tensor_type(h.type))
    return frame_error(std::string("expected TENSOR or LOGITS frame, got ") + message_type_name(h.type));
  if (h.n_dims > kMaxWireDims) return frame_error("n_dims " + std::to_string(h.n_dims) + " exceeds 2");
  uint64_t bytes = 0;
  LINGUA_TRY(check_shape(h.type, static_cast<uint32_t>(h.dtype), h, &bytes));
  if (bytes != frame.payload.size())
    return frame_error("dims " + shape_label(h) + " make " + std::to_string(bytes) + " bytes, but the payload has " +
                       std::to_string(frame.payload.size()));
  const uint8_t* p = frame.payload.data();
  std::vector<float> out;
  if (h.dtype == DType::F16) {
    out.resize(frame.payload.size() / 2);
    for (size_t i = 0; i < out.size(); ++i) out[i] = fp16_to_fp32(get_u16(p + 2 * i));
  } else {
    out.resize(frame.payload.size() / 4);
    for (size_t i = 0; i < out.size(); ++i) out[i] = fp32_from_bits(get_u32(p + 4 * i));
  }
  return out;
}

Frame token_frame(uint64_t sequence, int64_t position, const int32_t* ids, uint64_t count) {
  Frame f;
  FrameHeader& h = f.header;
  h.type = MessageType::kToken;
  h.sequence = sequence;
  h.position = position;
  h.dtype = DType::I32;
  h.n_dims = 1;
  h.dims[0] = count;
  f.payload.resize(static_cast<size_t>(count) * 4);
  for (size_t i = 0; i < count; ++i) put_u32(f.payload.data() + 4 * i, static_cast<uint32_t>(ids[i]));
  h.payload_length = f.payload.size();
  return f;
}

Expected<std::vector<int32_t>> token_payload(const Frame& frame) {
  const FrameHeader& h = frame.header;
  if (h.type != MessageType::kToken)
    return frame_error(std::string("expected TOKEN frame, got ") + message_type_name(h.type));
  uint64_t bytes = 0;
  LINGUA_TRY(check_shape(h.type, static_cast<uint32_t>(h.dtype), h, &bytes));
  if (bytes != frame.payload.size())
    return frame_error("dims " + shape_label(h) + " make " + std::to_string(bytes) + " bytes, but the payload has " +
                       std::to_string(frame.payload.size()));
  std::vector<int32_t> out(frame.payload.size() / 4);
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int32_t>(get_u32(frame.payload.data() + 4 * i));
  return out;
}

Frame bytes_frame(MessageType type, uint64_t sequence, std::string_view bytes) {
  Frame f;
  f.header.type = type;
  f.header.sequence = sequence;
  f.header.dtype = DType::F32;  // id 0: untyped
  f.payload.assign(bytes.begin(), bytes.end());
  f.header.payload_length = f.payload.size();
  return f;
}

}  // namespace lingua
