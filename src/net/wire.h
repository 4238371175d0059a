// The wire format between devices: versioned, checksummed frames with a fixed little-endian
// header, and a decoder that validates every field before anything uses a received frame.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace lingua {

// Frame header, kFrameHeaderBytes = 80 bytes, every integer little-endian, written and read byte
// by byte (never a struct memcpy). docs/runtime.md "Wire format" has the same table.
//
//  offset size field           meaning
//   0      4   magic           "LNGW"
//   4      2   version         kWireVersion (1); any other is rejected
//   6      2   type            MessageType
//   8      8   sequence        which stream (generation) the frame belongs to
//  16      8   position        token position (signed; -1 when not about one token)
//  24      4   tensor_id       producer op id for TENSOR, 0 otherwise
//  28      4   dtype           ggml dtype id of the payload elements (core/dtype.h), 0 if untyped
//  32      4   n_dims          0 (untyped payload), 1 or 2
//  36      4   reserved        zero
//  40      8   dims[0]         rows (or the only dimension); 0 beyond n_dims
//  48      8   dims[1]         columns; 0 beyond n_dims
//  56      8   payload_length  bytes of payload after the header
//  64      8   payload_hash    XXH64(payload, seed 0)
//  72      8   header_hash     XXH64(header bytes 0..71, seed 0)
inline constexpr size_t kFrameHeaderBytes = 80;
inline constexpr uint16_t kWireVersion = 1;
inline constexpr char kWireMagic[4] = {'L', 'N', 'G', 'W'};
inline constexpr uint32_t kMaxWireDims = 2;

enum class MessageType : uint16_t {
  kHello = 1,     // head <-> worker handshake and device profile; payload JSON, untyped
  kAssign = 2,    // head -> worker segment assignment; payload JSON, untyped
  kTensor = 3,    // activation rows; dtype F32 or F16, shape [rows, cols]
  kToken = 4,     // sampled token ids; dtype I32, shape [count]
  kLogits = 5,    // output logits; dtype F32 or F16, shape [rows, vocab]
  kKvExport = 6,  // KV cache bytes leaving a device (migration); opaque, untyped
  kKvImport = 7,  // KV cache bytes arriving at a device; opaque, untyped
  kError = 8,     // UTF-8 text naming a problem, untyped
  kBye = 9,       // orderly shutdown; payload empty or a UTF-8 reason, untyped
  kWeights = 10,  // a piece of a model file for a worker without it: 8-byte LE file offset + bytes; untyped
  kStats = 11,    // worker -> head after each step: its timings and readings, JSON (runtime/protocol.h); untyped
  // Link measurement (runtime/link_probe.h), untyped. tensor_id = the probe's kind (ProbeKind),
  // sequence = the measurement's id, position = the ping's index, or bytes sent (BULK_END) or
  // received (ACK); payload opaque bytes. A PING is echoed unchanged, BULK pieces are counted, a
  // BULK_END is answered by an ACK.
  kProbe = 12,
  // JSON (runtime/protocol.h), untyped, sequence = the request's id. Head -> worker: a
  // LinkTestRequest (measure your links to these targets; accept probes from these keys).
  // Worker -> head: a LinkTestReport, one per target measured (position = the target's index),
  // or one with no links acknowledging a request without targets.
  kLinkTest = 13,
  // Head -> every worker holding a segment: one step of several sequences at once, JSON BatchStep
  // (runtime/protocol.h), untyped, sequence = the batch's id. TENSOR frames of that step carry the
  // same id as their sequence and position -1, and every group's rows in group order.
  kBatch = 14,
};
inline constexpr uint16_t kMaxMessageType = 14;
// "TENSOR", "HELLO"...; "unknown" for a value outside the enum.
const char* message_type_name(MessageType type);

struct FrameHeader {
  MessageType type = MessageType::kHello;
  uint64_t sequence = 0;
  int64_t position = -1;
  uint32_t tensor_id = 0;
  DType dtype = DType::F32;
  uint32_t n_dims = 0;
  uint64_t dims[kMaxWireDims] = {0, 0};
  uint64_t payload_length = 0;  // set by encode_frame
  uint64_t payload_hash = 0;    // set by encode_frame
};

struct Frame {
  FrameHeader header;
  std::vector<uint8_t> payload;
};

struct DecodeLimits {
  uint64_t max_payload_bytes = uint64_t{256} << 20;
  uint32_t max_dims = kMaxWireDims;  // at most kMaxWireDims
};

// Header + payload; fills in payload_length and payload_hash from the payload, the version, the
// magic and the header hash. Does not validate: decode_frame is the gate.
std::vector<uint8_t> encode_frame(const Frame& frame);

// Validates and decodes one whole frame (header immediately followed by exactly payload_length
// bytes). Any malformed, oversized or inconsistent frame is an error naming the field; it never
// reads outside [data, data + size).
Expected<Frame> decode_frame(const uint8_t* data, size_t size, const DecodeLimits& limits = {});
inline Expected<Frame> decode_frame(const std::vector<uint8_t>& bytes, const DecodeLimits& limits = {}) {
  return decode_frame(bytes.data(), bytes.size(), limits);
}
// The header checks alone (for a header received apart from its payload, e.g. a multipart
// message); check_payload then checks the payload against it.
Expected<FrameHeader> decode_header(const uint8_t* data, size_t size, const DecodeLimits& limits = {});
Status check_payload(const FrameHeader& header, const uint8_t* payload, size_t size);

// XXH64 of header bytes [0, 72): what the header_hash field must hold.
uint64_t header_checksum(const uint8_t* header);

// An error unless frame is of the expected type ("expected TENSOR frame, got HELLO").
Status expect_type(const Frame& frame, MessageType expected);

// Wire dtype of activations from the command line (`--wire-dtype f32|f16`); only F32 and F16.
Expected<DType> parse_wire_dtype(const std::string& name);

// f32 rows -> TENSOR frame, converted to f16 on the wire when wire_dtype is F16 (round to nearest
// even); any wire_dtype other than F16 sends F32. data holds rows * cols floats.
Frame tensor_frame(uint64_t sequence, int64_t position, uint32_t tensor_id, const float* data,
                   uint64_t rows, uint64_t cols, DType wire_dtype);
// A TENSOR or LOGITS frame's payload as f32 (f16 widened), after checking dtype, shape and length.
Expected<std::vector<float>> tensor_payload_f32(const Frame& frame);

// Token ids <-> TOKEN frame (I32, shape [count]).
Frame token_frame(uint64_t sequence, int64_t position, const int32_t* ids, uint64_t count);
Expected<std::vector<int32_t>> token_payload(const Frame& frame);

// An untyped frame (HELLO, ASSIGN, KV_EXPORT, KV_IMPORT, ERROR, BYE) carrying bytes or text.
Frame bytes_frame(MessageType type, uint64_t sequence, std::string_view bytes);

}  // namespace lingua
