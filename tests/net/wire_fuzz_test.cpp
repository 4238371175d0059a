// Mutation test of the wire decoder: random bit flips, field overwrites, truncations and extensions
// of valid frames must decode to a valid frame or an error, never a crash or an out-of-bounds read.
// tools/test.sh runs it under ASan+UBSan. LINGUA_FUZZ_FRAMES sets the count (default 20000).
#include <gtest/gtest.h>

#include <xxhash.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "net/wire.h"

namespace lingua {
namespace {

uint64_t fuzz_count() {
  const char* env = std::getenv("LINGUA_FUZZ_FRAMES");
  if (env == nullptr || *env == '\0') return 20000;
  return std::strtoull(env, nullptr, 10);
}

void put_u64(std::vector<uint8_t>& b, size_t off, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}

// A valid frame of a random type and size.
Frame random_frame(std::mt19937_64& rng) {
  const auto type = static_cast<MessageType>(1 + rng() % kMaxMessageType);
  const uint64_t seq = rng() % 4;
  const int64_t pos = static_cast<int64_t>(rng() % 300) - 1;
  switch (type) {
    case MessageType::kTensor:
    case MessageType::kLogits: {
      const uint64_t rows = 1 + rng() % 4, cols = 1 + rng() % 40;
      std::vector<float> v(rows * cols);
      std::normal_distribution<float> nd(0.f, 3.f);
      for (float& x : v) x = nd(rng);
      Frame f = tensor_frame(seq, pos, static_cast<uint32_t>(rng() % 500), v.data(), rows, cols,
                             rng() % 2 ? DType::F16 : DType::F32);
      f.header.type = type;
      return f;
    }
    case MessageType::kToken: {
      std::vector<int32_t> ids(1 + rng() % 8);
      for (int32_t& id : ids) id = static_cast<int32_t>(rng() % 32000);
      return token_frame(seq, pos, ids.data(), ids.size());
    }
    default: {
      std::string bytes(rng() % 200, '\0');
      for (char& c : bytes) c = static_cast<char>(rng());
      return bytes_frame(type, seq, bytes);
    }
  }
}

void reseal_header(std::vector<uint8_t>& b) {
  if (b.size() >= kFrameHeaderBytes) put_u64(b, 72, header_checksum(b.data()));
}
void reseal_payload(std::vector<uint8_t>& b) {
  if (b.size() >= kFrameHeaderBytes)
    put_u64(b, 64, XXH64(b.data() + kFrameHeaderBytes, b.size() - kFrameHeaderBytes, 0));
}

// Interesting values for 1-, 2-, 4- and 8-byte fields.
uint64_t boundary_value(std::mt19937_64& rng) {
  static const uint64_t values[] = {0, 1, 2, 3, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff,
                                    uint64_t{1} << 32, uint64_t{1} << 33, uint64_t{1} << 62, ~uint64_t{0},
                                    ~uint64_t{0} >> 1, 256 << 20, (256 << 20) + 1};
  return values[rng() % (sizeof(values) / sizeof(values[0]))];
}

void mutate(std::vector<uint8_t>& b, std::mt19937_64& rng) {
  const int n_mutations = 1 + static_cast<int>(rng() % 3);
  for (int m = 0; m < n_mutations; ++m) {
    switch (rng() % 6) {
      case 0:  // flip bits anywhere
        if (!b.empty()) b[rng() % b.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
        break;
      case 1:  // random bytes anywhere
        for (int k = 0, n = 1 + static_cast<int>(rng() % 8); k < n && !b.empty(); ++k)
          b[rng() % b.size()] = static_cast<uint8_t>(rng());
        break;
      case 2: {  // overwrite a header field with a boundary value
        static const size_t offsets[] = {4, 6, 8, 16, 24, 28, 32, 36, 40, 48, 56, 64};
        static const size_t widths[] = {2, 2, 8, 8, 4, 4, 4, 4, 8, 8, 8, 8};
        const size_t k = rng() % 12;
        if (b.size() < offsets[k] + widths[k]) break;
        const uint64_t v = boundary_value(rng);
        for (size_t i = 0; i < widths[k]; ++i) b[offsets[k] + i] = static_cast<uint8_t>(v >> (8 * i));
        break;
      }
      case 3:  // truncate
        b.resize(rng() % (b.size() + 1));
        break;
      case 4: {  // extend
        const size_t n = 1 + rng() % 64;
        for (size_t i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(rng()));
        break;
      }
      default:  // shrink or grow the payload and make the length field agree
        b.resize(rng() % 2 ? b.size() / 2 + 1 : b.size() + rng() % 100);
        if (b.size() >= kFrameHeaderBytes) put_u64(b, 56, b.size() - kFrameHeaderBytes);
        break;
    }
  }
  // Most random changes stop at a checksum; re-seal often so the field checks behind them are hit.
  const uint64_t r = rng() % 4;  // 0: as mutated, 1: header re-sealed, 2-3: both re-sealed
  if (r >= 2) reseal_payload(b);
  if (r >= 1) reseal_header(b);
}

TEST(WireFuzz, MutatedFramesDecodeOrFailCleanly) {
  const uint64_t count = fuzz_count();
  std::mt19937_64 rng(0x4c4e4757);  // "LNGW": deterministic
  uint64_t accepted = 0, rejected = 0;
  std::map<std::string, uint64_t> reasons;  // first word after "wire frame: " (the field)
  const auto start = std::chrono::steady_clock::now();
  DecodeLimits limits;
  limits.max_payload_bytes = 1 << 16;
  for (uint64_t i = 0; i < count; ++i) {
    std::vector<uint8_t> bytes = encode_frame(random_frame(rng));
    mutate(bytes, rng);
    // Exactly sized heap copy so ASan flags any read past the end.
    std::unique_ptr<uint8_t[]> exact(new uint8_t[bytes.size() ? bytes.size() : 1]);
    if (!bytes.empty()) std::memcpy(exact.get(), bytes.data(), bytes.size());
    auto r = decode_frame(exact.get(), bytes.size(), limits);
    if (!r.has_value()) {
      ++rejected;
      ASSERT_FALSE(r.error().empty());
      ASSERT_EQ(r.error().find('\n'), std::string::npos) << r.error();
      const std::string rest = r.error().substr(r.error().find(": ") + 2);
      ++reasons[rest.substr(0, rest.find(' '))];
      continue;
    }
    ++accepted;
    // Accepted frames are fully consistent: they re-encode to the same bytes and their payload reads back.
    ASSERT_EQ(encode_frame(*r), bytes) << "frame " << i;
    const MessageType t = r->header.type;
    if (t == MessageType::kTensor || t == MessageType::kLogits) {
      auto v = tensor_payload_f32(*r);
      ASSERT_TRUE(v.has_value()) << v.error();
      ASSERT_EQ(v->size(), r->header.dims[0] * (r->header.n_dims == 2 ? r->header.dims[1] : 1));
    } else if (t == MessageType::kToken) {
      auto v = token_payload(*r);
      ASSERT_TRUE(v.has_value()) << v.error();
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("wire fuzz: %llu frames, %llu accepted, %llu rejected, %.2f s\n",
              static_cast<unsigned long long>(count), static_cast<unsigned long long>(accepted),
              static_cast<unsigned long long>(rejected), secs);
  for (const auto& [reason, n] : reasons)
    std::printf("  rejected by %s: %llu\n", reason.c_str(), static_cast<unsigned long long>(n));
  EXPECT_EQ(accepted + rejected, count);
  if (count >= 1000) {
    EXPECT_GT(rejected, count / 2);  // mutations mostly break frames...
    EXPECT_GT(accepted, 0u);         // ...but some survive (e.g. a flipped payload bit re-sealed)
  }
}

}  // namespace
}  // namespace lingua
