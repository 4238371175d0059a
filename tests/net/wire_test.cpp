// The wire format: every message type round-trips, f32/f16 tensor frames carry the right values
// and sizes, and each validation rule rejects a hand-corrupted frame with a message naming the field.
#include <gtest/gtest.h>

#include <xxhash.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/fp16.h"
#include "net/wire.h"

namespace lingua {
namespace {

void put_u32(std::vector<uint8_t>& b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}
void put_u64(std::vector<uint8_t>& b, size_t off, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}
// Recomputes the header hash after a field was changed, so the field's own check is what fires.
void reseal(std::vector<uint8_t>& b) { put_u64(b, 72, header_checksum(b.data())); }

std::string decode_error(const std::vector<uint8_t>& b, const DecodeLimits& limits = {}) {
  auto r = decode_frame(b, limits);
  EXPECT_FALSE(r.has_value()) << "frame was accepted";
  return r.has_value() ? std::string() : r.error();
}

Frame sample_tensor(DType dtype = DType::F32) {
  std::vector<float> v(3 * 5);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.1f * static_cast<float>(i) - 0.7f;
  return tensor_frame(7, 42, 13, v.data(), 3, 5, dtype);
}

void expect_same(const Frame& a, const Frame& b) {
  EXPECT_EQ(a.header.type, b.header.type);
  EXPECT_EQ(a.header.sequence, b.header.sequence);
  EXPECT_EQ(a.header.position, b.header.position);
  EXPECT_EQ(a.header.tensor_id, b.header.tensor_id);
  EXPECT_EQ(a.header.dtype, b.header.dtype);
  EXPECT_EQ(a.header.n_dims, b.header.n_dims);
  EXPECT_EQ(a.header.dims[0], b.header.dims[0]);
  EXPECT_EQ(a.header.dims[1], b.header.dims[1]);
  EXPECT_EQ(a.payload, b.payload);
  EXPECT_EQ(b.header.payload_length, b.payload.size());
}

TEST(Wire, HeaderLayoutIsLittleEndianAndDocumented) {
  Frame f = sample_tensor();
  auto b = encode_frame(f);
  ASSERT_EQ(b.size(), kFrameHeaderBytes + 15 * 4);
  EXPECT_EQ(std::memcmp(b.data(), "LNGW", 4), 0);
  EXPECT_EQ(b[4], 1);  // version
  EXPECT_EQ(b[5], 0);
  EXPECT_EQ(b[6], 3);  // TENSOR
  EXPECT_EQ(b[8], 7);  // sequence
  EXPECT_EQ(b[16], 42);  // position
  EXPECT_EQ(b[24], 13);  // tensor id
  EXPECT_EQ(b[28], 0);   // dtype F32
  EXPECT_EQ(b[32], 2);   // n_dims
  EXPECT_EQ(b[40], 3);   // rows
  EXPECT_EQ(b[48], 5);   // cols
  EXPECT_EQ(b[56], 60);  // payload length
  uint64_t ph = 0;
  for (int i = 7; i >= 0; --i) ph = (ph << 8) | b[64 + i];
  EXPECT_EQ(ph, XXH64(b.data() + kFrameHeaderBytes, 60, 0));
}

TEST(Wire, EveryMessageTypeRoundTrips) {
  std::vector<Frame> frames;
  frames.push_back(bytes_frame(MessageType::kHello, 1, R"({"name":"phone-a","threads":2})"));
  frames.push_back(bytes_frame(MessageType::kAssign, 1, R"({"first_op":3,"last_op":40})"));
  frames.push_back(sample_tensor(DType::F32));
  frames.push_back(sample_tensor(DType::F16));
  const int32_t ids[] = {1, 0, -5, 2047};
  frames.push_back(token_frame(9, 100, ids, 4));
  Frame logits = sample_tensor();
  logits.header.type = MessageType::kLogits;
  logits.header.tensor_id = 0;
  frames.push_back(logits);
  std::string kv(1000, '\0');
  for (size_t i = 0; i < kv.size(); ++i) kv[i] = static_cast<char>(i * 31);
  frames.push_back(bytes_frame(MessageType::kKvExport, 2, kv));
  frames.push_back(bytes_frame(MessageType::kKvImport, 2, kv));
  frames.push_back(bytes_frame(MessageType::kError, 3, "segment 2: out of memory"));
  frames.push_back(bytes_frame(MessageType::kBye, 0, ""));
  std::string piece(8 + 100, '\x5a');  // WEIGHTS: offset then bytes
  frames.push_back(bytes_frame(MessageType::kWeights, 0, piece));
  frames.push_back(bytes_frame(MessageType::kStats, 4, "{\"compute_s\":0.01}"));
  Frame probe = bytes_frame(MessageType::kProbe, 0x1234567890abcdefULL, std::string(64, '\x5a'));
  probe.header.tensor_id = 1;  // a PING (runtime/link_probe.h)
  probe.header.position = 3;
  frames.push_back(probe);
  frames.push_back(bytes_frame(MessageType::kLinkTest, 5, "{\"links\":[]}"));
  frames.push_back(bytes_frame(MessageType::kBatch, 6, "{\"groups\":[]}"));
  for (uint16_t t = 1; t <= kMaxMessageType; ++t) {
    bool seen = false;
    for (const Frame& f : frames) seen |= static_cast<uint16_t>(f.header.type) == t;
    EXPECT_TRUE(seen) << "no round trip for message type " << t;
  }
  for (const Frame& f : frames) {
    SCOPED_TRACE(message_type_name(f.header.type));
    auto bytes = encode_frame(f);
    auto back = decode_frame(bytes);
    ASSERT_TRUE(back.has_value()) << back.error();
    expect_same(f, *back);
    EXPECT_EQ(encode_frame(*back), bytes);
  }
  auto toks = token_payload(*decode_frame(encode_frame(frames[4])));
  ASSERT_TRUE(toks.has_value()) << toks.error();
  EXPECT_EQ(*toks, std::vector<int32_t>(ids, ids + 4));
}

TEST(Wire, F32TensorIsExact) {
  std::vector<float> v = {1.0f, -0.0f, 3.14159265f, 1e-30f, -65504.0f, 123456.789f};
  Frame f = tensor_frame(1, 0, 5, v.data(), 2, 3, DType::F32);
  auto back = decode_frame(encode_frame(f));
  ASSERT_TRUE(back.has_value()) << back.error();
  auto got = tensor_payload_f32(*back);
  ASSERT_TRUE(got.has_value()) << got.error();
  ASSERT_EQ(got->size(), v.size());
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(fp32_to_bits((*got)[i]), fp32_to_bits(v[i])) << i;
}

TEST(Wire, F16TensorIsHalfTheBytesAndRoundsLikeFp16) {
  std::vector<float> v(64 * 48);
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.37f * static_cast<float>(i)) * (1.0f + i % 17);
  v[0] = 1e-7f;  // subnormal in half
  v[1] = 70000.f;  // overflows half -> inf
  Frame f32 = tensor_frame(1, 0, 5, v.data(), 64, 48, DType::F32);
  Frame f16 = tensor_frame(1, 0, 5, v.data(), 64, 48, DType::F16);
  EXPECT_EQ(f16.header.dtype, DType::F16);
  EXPECT_EQ(f16.payload.size() * 2, f32.payload.size());
  EXPECT_EQ(encode_frame(f16).size() - kFrameHeaderBytes, (encode_frame(f32).size() - kFrameHeaderBytes) / 2);
  auto back = decode_frame(encode_frame(f16));
  ASSERT_TRUE(back.has_value()) << back.error();
  auto got = tensor_payload_f32(*back);
  ASSERT_TRUE(got.has_value()) << got.error();
  ASSERT_EQ(got->size(), v.size());
  for (size_t i = 0; i < v.size(); ++i)
    EXPECT_EQ(fp32_to_bits((*got)[i]), fp32_to_bits(fp16_to_fp32(fp32_to_fp16(v[i])))) << i;
  EXPECT_TRUE(std::isinf((*got)[1]));
}

TEST(Wire, ParseWireDtype) {
  EXPECT_EQ(*parse_wire_dtype("f32"), DType::F32);
  EXPECT_EQ(*parse_wire_dtype("f16"), DType::F16);
  auto bad = parse_wire_dtype("q8_0");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().find("q8_0"), std::string::npos);
}

TEST(Wire, ExpectType) {
  Frame f = bytes_frame(MessageType::kHello, 0, "{}");
  EXPECT_TRUE(expect_type(f, MessageType::kHello).is_ok());
  Status s = expect_type(f, MessageType::kTensor);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("expected TENSOR frame, got HELLO"), std::string::npos) << s.message();
}

// Each rule, from a valid frame with one thing broken. The error must name the field.
#define EXPECT_ERROR_NAMES(bytes, needle)                                     \
  do {                                                                        \
    std::string e_ = decode_error(bytes);                                     \
    EXPECT_NE(e_.find(needle), std::string::npos) << "error was: " << e_;     \
    EXPECT_EQ(e_.find('\n'), std::string::npos) << "multi-line: " << e_;      \
  } while (0)

TEST(WireValidation, ShorterThanHeader) {
  auto b = encode_frame(sample_tensor());
  b.resize(40);
  EXPECT_ERROR_NAMES(b, "header");
  EXPECT_ERROR_NAMES(std::vector<uint8_t>{}, "header");
}

TEST(WireValidation, BadMagic) {
  auto b = encode_frame(sample_tensor());
  b[0] = 'X';
  reseal(b);
  EXPECT_ERROR_NAMES(b, "magic");
}

TEST(WireValidation, UnsupportedVersion) {
  auto b = encode_frame(sample_tensor());
  b[4] = 2;
  reseal(b);
  EXPECT_ERROR_NAMES(b, "version 2");
}

TEST(WireValidation, HeaderHashMismatch) {
  auto b = encode_frame(sample_tensor());
  b[17] ^= 0x10;  // position changed in flight
  EXPECT_ERROR_NAMES(b, "header_hash");
}

TEST(WireValidation, UnknownMessageType) {
  for (uint16_t t : {uint16_t{0}, static_cast<uint16_t>(kMaxMessageType + 1), uint16_t{0xffff}}) {
    auto b = encode_frame(sample_tensor());
    b[6] = static_cast<uint8_t>(t);
    b[7] = static_cast<uint8_t>(t >> 8);
    reseal(b);
    EXPECT_ERROR_NAMES(b, "message type " + std::to_string(t));
  }
}

TEST(WireValidation, ReservedNotZero) {
  auto b = encode_frame(sample_tensor());
  b[38] = 1;
  reseal(b);
  EXPECT_ERROR_NAMES(b, "reserved");
}

TEST(WireValidation, TruncatedPayload) {
  auto b = encode_frame(sample_tensor());
  b.resize(b.size() - 4);
  EXPECT_ERROR_NAMES(b, "payload_length 60 does not match the 56 payload bytes");
}

TEST(WireValidation, TrailingBytes) {
  auto b = encode_frame(sample_tensor());
  b.push_back(0);
  EXPECT_ERROR_NAMES(b, "payload_length 60 does not match the 61 payload bytes");
}

TEST(WireValidation, PayloadOverLimit) {
  auto b = encode_frame(sample_tensor());
  DecodeLimits small;
  small.max_payload_bytes = 59;
  std::string e = decode_error(b, small);
  EXPECT_NE(e.find("payload_length 60 exceeds the limit of 59"), std::string::npos) << e;
  // A forged huge length is refused from the header alone, before anything is allocated.
  auto big = encode_frame(bytes_frame(MessageType::kKvExport, 0, "abc"));
  put_u64(big, 56, uint64_t{1} << 40);
  reseal(big);
  EXPECT_ERROR_NAMES(big, "exceeds the limit");
}

TEST(WireValidation, PayloadHashMismatch) {
  auto b = encode_frame(sample_tensor());
  b[kFrameHeaderBytes + 5] ^= 1;
  EXPECT_ERROR_NAMES(b, "payload_hash");
}

TEST(WireValidation, TensorDtypeNotF32OrF16) {
  for (uint32_t dt : {uint32_t{8} /* q8_0 */, uint32_t{26} /* i32 */, uint32_t{999}}) {
    auto b = encode_frame(sample_tensor());
    put_u32(b, 28, dt);
    reseal(b);
    EXPECT_ERROR_NAMES(b, "dtype");
    EXPECT_ERROR_NAMES(b, "TENSOR");
  }
}

TEST(WireValidation, ShapeDoesNotMatchPayloadLength) {
  auto b = encode_frame(sample_tensor());
  put_u64(b, 40, 4);  // 4 x 5 floats claimed, 3 x 5 present
  reseal(b);
  EXPECT_ERROR_NAMES(b, "dims [4, 5] of f32 make 80 bytes, but payload_length is 60");
  // f16 dtype with an f32-sized payload.
  auto c = encode_frame(sample_tensor());
  put_u32(c, 28, 1);
  reseal(c);
  EXPECT_ERROR_NAMES(c, "dims [3, 5] of f16 make 30 bytes");
}

TEST(WireValidation, TooManyDims) {
  auto b = encode_frame(sample_tensor());
  put_u32(b, 32, 3);
  reseal(b);
  EXPECT_ERROR_NAMES(b, "n_dims 3 exceeds 2");
  DecodeLimits one;
  one.max_dims = 1;
  std::string e = decode_error(encode_frame(sample_tensor()), one);
  EXPECT_NE(e.find("n_dims 2 exceeds 1"), std::string::npos) << e;
}

TEST(WireValidation, DimsProductOverflow) {
  auto b = encode_frame(sample_tensor());
  put_u64(b, 40, uint64_t{1} << 33);
  put_u64(b, 48, uint64_t{1} << 33);
  reseal(b);
  EXPECT_ERROR_NAMES(b, "overflow");
  EXPECT_ERROR_NAMES(b, "dims");
  // The element count fits but the byte count does not.
  auto c = encode_frame(sample_tensor());
  put_u64(c, 40, uint64_t{1} << 31);
  put_u64(c, 48, uint64_t{1} << 31);
  reseal(c);
  EXPECT_ERROR_NAMES(c, "overflow");
}

TEST(WireValidation, ZeroAndUnusedDims) {
  auto b = encode_frame(sample_tensor());
  put_u64(b, 48, 0);
  reseal(b);
  EXPECT_ERROR_NAMES(b, "dims[1] is 0");
  auto t = encode_frame(bytes_frame(MessageType::kHello, 0, "{}"));
  put_u64(t, 48, 7);
  reseal(t);
  EXPECT_ERROR_NAMES(t, "dims[1] is 7 beyond n_dims 0");
}

TEST(WireValidation, UntypedFramesCarryNoShape) {
  auto b = encode_frame(bytes_frame(MessageType::kAssign, 0, "{}"));
  put_u32(b, 32, 1);
  put_u64(b, 40, 2);
  reseal(b);
  EXPECT_ERROR_NAMES(b, "n_dims 1 must be 0 for ASSIGN");
  auto c = encode_frame(bytes_frame(MessageType::kError, 0, "oops"));
  put_u32(c, 28, 1);
  reseal(c);
  EXPECT_ERROR_NAMES(c, "dtype f16 must be 0 for ERROR");
}

TEST(WireValidation, TokenFramesAreI32Vectors) {
  const int32_t ids[] = {5, 6};
  auto b = encode_frame(token_frame(0, 3, ids, 2));
  put_u32(b, 28, 0);
  reseal(b);
  EXPECT_ERROR_NAMES(b, "dtype f32 is not allowed for TOKEN");
}

TEST(WireValidation, HelpersRejectHandBuiltFrames) {
  Frame f = sample_tensor();
  f.payload.pop_back();
  auto r = tensor_payload_f32(f);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().find("payload has 59"), std::string::npos) << r.error();
  Frame g = sample_tensor();
  g.header.n_dims = 7;
  EXPECT_FALSE(tensor_payload_f32(g).has_value());
  EXPECT_FALSE(tensor_payload_f32(bytes_frame(MessageType::kHello, 0, "{}")).has_value());
  EXPECT_FALSE(token_payload(sample_tensor()).has_value());
}

TEST(Wire, EveryMessageTypeHasAName) {
  for (uint16_t t = 1; t <= kMaxMessageType; ++t)
    EXPECT_STRNE(message_type_name(static_cast<MessageType>(t)), "unknown") << "type " << t;
  EXPECT_STREQ(message_type_name(MessageType::kProbe), "PROBE");
  EXPECT_STREQ(message_type_name(MessageType::kLinkTest), "LINK_TEST");
  EXPECT_STREQ(message_type_name(MessageType::kBatch), "BATCH");
  EXPECT_STREQ(message_type_name(static_cast<MessageType>(kMaxMessageType + 1)), "unknown");
}

}  // namespace
}  // namespace lingua
