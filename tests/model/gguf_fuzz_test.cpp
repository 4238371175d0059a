// Thousands of damaged GGUF files (bit flips, overwritten integers, splices, truncations; fixed
// seed): each must load or fail with a message. Under ASan/UBSan this shows the reader stays in
// bounds and free of UB whatever a file claims.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "model/gguf.h"
#include "model/vocab.h"
#include "test_paths.h"

namespace lingua::gguf {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr int kScale = 2;  // sanitized builds run ~4x slower per case: fewer, still varied, cases
#else
constexpr int kScale = 1;
#endif

constexpr const char* kName = "fuzz.gguf";

volatile size_t g_sink = 0;  // so the reads in check() are not optimized away

struct Tally {
  int loaded = 0;
  int failed = 0;
  int unnamed = 0;  // error messages not starting with the file name
  std::string first_unnamed;
};

// Parses and then touches everything a loaded file exposes, so that a bad pointer or value the
// reader let through shows up here (as a sanitizer report) rather than in a later user.
void check(const uint8_t* bytes, size_t size, Tally& tally) {
  auto f = File::parse(bytes, size, kName);
  if (!f) {
    ++tally.failed;
    if (f.error().rfind(std::string(kName) + ": ", 0) != 0 && tally.unnamed++ == 0) tally.first_unnamed = f.error();
    return;
  }
  ++tally.loaded;
  size_t sink = 0;
  for (const auto& [key, value] : f->metadata()) {
    sink += value.to_display().size() + key.size();
    sink += value.as_u64().has_value() + value.as_f64().has_value() + value.as_string().has_value();
  }
  for (const TensorInfo& t : f->tensors()) {
    ASSERT_GE(t.data, bytes);
    ASSERT_LE(t.bytes, size);
    ASSERT_LE(t.data + t.bytes, bytes + size) << t.name;
    sink += t.data[0] + t.data[t.bytes - 1];
  }
  auto vocab = Vocab::from_gguf(*f);
  if (vocab) sink += vocab->pieces.size();
  g_sink = g_sink + sink;
}

// A small file using every feature the reader knows: scalar and nested array values, a vocab,
// tensors of several types, a non-default alignment. Built with the writer, so it needs no data.
std::vector<uint8_t> small_seed() {
  Writer w;
  w.set("general.architecture", Value::str("llama"));
  w.set("u8", Value::u8(1));
  w.set("i16", Value::i16(-2));
  w.set("u64", Value::u64(3));
  w.set("f64", Value::f64(0.25));
  w.set("flag", Value::boolean(true));
  w.set("nested", Value::array(ValueType::ARRAY, {Value::array(ValueType::INT8, {Value::i8(1), Value::i8(2)}),
                                                  Value::array(ValueType::STRING, {Value::str("s")})}));
  std::vector<Value> tokens, scores, types;
  for (int i = 0; i < 24; ++i) {
    tokens.push_back(Value::str("tok" + std::to_string(i)));
    scores.push_back(Value::f32(-static_cast<float>(i)));
    types.push_back(Value::i32(i < 3 ? 3 : 1));
  }
  w.set("tokenizer.ggml.model", Value::str("llama"));
  w.set("tokenizer.ggml.tokens", Value::array(ValueType::STRING, tokens));
  w.set("tokenizer.ggml.scores", Value::array(ValueType::FLOAT32, scores));
  w.set("tokenizer.ggml.token_type", Value::array(ValueType::INT32, types));
  w.set("tokenizer.ggml.bos_token_id", Value::u32(1));
  w.set_alignment(64);
  EXPECT_TRUE(w.add_tensor("f32", DType::F32, {8, 2}).is_ok());
  EXPECT_TRUE(w.add_tensor("f16", DType::F16, {16}).is_ok());
  EXPECT_TRUE(w.add_tensor("q4_0", DType::Q4_0, {32, 2}).is_ok());
  EXPECT_TRUE(w.add_tensor("q8_0", DType::Q8_0, {64}).is_ok());
  EXPECT_TRUE(w.add_tensor("q4_k", DType::Q4_K, {256}).is_ok());
  EXPECT_TRUE(w.add_tensor("i32", DType::I32, {3, 1, 1, 2}).is_ok());

  const std::string path = (std::filesystem::temp_directory_path() /
                            ("lingua-gguf-fuzz-" + std::to_string(::getpid()) + ".gguf")).string();
  const Status st = w.write(path, [](size_t index, uint8_t* dst, uint64_t bytes) {
    std::memset(dst, static_cast<int>(index + 1), bytes);
    return Status::ok();
  });
  EXPECT_TRUE(st.is_ok()) << st.message();
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> bytes(std::istreambuf_iterator<char>(in), {});
  std::filesystem::remove(path);
  return bytes;
}

constexpr uint64_t kInteresting[] = {0, 1, 2, 3, 4, 5, 8, 9, 12, 13, 31, 32, 33, 63, 64, 255, 256, 4096,
                                     65535, 65536, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x100000000,
                                     0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF,
                                     0xFFFFFFFFFFFFFFFE, 0x0000000100000001};

// Applies one random in-place mutation to bytes[lo, hi) of `buf` (hi - lo >= 8).
void mutate(std::vector<uint8_t>& buf, size_t lo, size_t hi, std::mt19937_64& rng) {
  auto at = [&](size_t width) { return lo + rng() % (hi - lo - width + 1); };
  const uint64_t value = rng() % 3 == 0 ? rng() : kInteresting[rng() % std::size(kInteresting)];
  switch (rng() % 5) {
    case 0:
      for (int i = 0, n = 1 + static_cast<int>(rng() % 4); i < n; ++i) buf[at(1)] ^= static_cast<uint8_t>(1u << (rng() % 8));
      break;
    case 1:
      for (int i = 0, n = 1 + static_cast<int>(rng() % 4); i < n; ++i) buf[at(1)] = static_cast<uint8_t>(rng());
      break;
    case 2:
      std::memcpy(&buf[at(8)], &value, 8);
      break;
    case 3: {
      const uint32_t v32 = static_cast<uint32_t>(value);
      std::memcpy(&buf[at(4)], &v32, 4);
      break;
    }
    default: {  // copy a chunk over another place: plausible-looking structure in the wrong spot
      const size_t len = 1 + rng() % 16;
      if (hi - lo > 2 * len) std::memmove(&buf[at(len)], &buf[at(len)], len);
      break;
    }
  }
}

TEST(GgufFuzz, SmallWriterBuiltFileNeverCrashes) {
  const std::vector<uint8_t> seed = small_seed();
  ASSERT_GT(seed.size(), 512u);
  Tally tally;
  check(seed.data(), seed.size(), tally);
  ASSERT_EQ(tally.loaded, 1) << "the unmutated seed must load";

  std::mt19937_64 rng(20240601);
  const int rounds = 20000 / kScale;
  for (int i = 0; i < rounds; ++i) {
    std::vector<uint8_t> copy = seed;
    const int kind = static_cast<int>(rng() % 8);
    if (kind == 0) {  // cut or grow the file
      copy.resize(rng() % (seed.size() + 64), 0x5A);
    } else if (kind == 1) {  // delete a chunk: everything after it shifts
      const size_t at = rng() % seed.size();
      copy.erase(copy.begin() + static_cast<long>(at),
                 copy.begin() + static_cast<long>(std::min(seed.size(), at + 1 + rng() % 12)));
    } else {
      for (int m = 0, n = 1 + static_cast<int>(rng() % 3); m < n; ++m) mutate(copy, 0, copy.size(), rng);
    }
    copy.shrink_to_fit();  // exact size, so ASan sees any read past the end
    check(copy.data(), copy.size(), tally);
  }
  for (size_t n = 0; n < seed.size(); n += 7) {
    const std::vector<uint8_t> cut(seed.begin(), seed.begin() + static_cast<long>(n));
    check(cut.data(), cut.size(), tally);
  }
  EXPECT_EQ(tally.unnamed, 0) << tally.first_unnamed;
  EXPECT_GT(tally.loaded, 50) << "mutations should often leave a loadable file (e.g. flips in data)";
  EXPECT_GT(tally.failed, rounds / 4);
}

TEST(GgufFuzz, KjvHeaderMutationsNeverCrash) {
  LINGUA_REQUIRE_SHARED();
  std::ifstream in(testing::shared_model("kjv-fortunes-3M-f32.gguf"), std::ios::binary);
  std::vector<uint8_t> buf(std::istreambuf_iterator<char>(in), {});
  auto seed = File::parse(buf.data(), buf.size(), kName);
  ASSERT_TRUE(seed) << seed.error();
  // Mutate the header plus the start of the data; the rest of the 12 MB file stays as is and is
  // only restored, never copied, between rounds.
  const size_t region = std::min<size_t>(buf.size(), std::max<uint64_t>(64 * 1024, seed->data_offset() + 4096));
  const size_t infos = seed->data_offset() > 4096 ? seed->data_offset() - 4096 : 0;  // tensor infos live here
  Tally tally;
  std::mt19937_64 rng(1611);
  const std::vector<uint8_t> original(buf.begin(), buf.begin() + static_cast<long>(region));
  const int rounds = 4000 / kScale;
  for (int i = 0; i < rounds; ++i) {
    // Aim a third of the damage at the fixed header and a third at the tensor infos, where each
    // byte matters most; the rest lands anywhere (mostly in token strings).
    const int where = i % 3;
    const size_t lo = where == 1 ? 0 : where == 2 ? infos : 0;
    const size_t hi = where == 1 ? 1024 : region;
    for (int m = 0, n = 1 + static_cast<int>(rng() % 3); m < n; ++m) mutate(buf, lo, hi, rng);
    check(buf.data(), buf.size(), tally);
    std::memcpy(buf.data(), original.data(), region);
  }
  for (size_t n = 0; n < region; n += 97 * kScale) {
    const std::vector<uint8_t> cut(buf.begin(), buf.begin() + static_cast<long>(n));
    check(cut.data(), cut.size(), tally);
  }
  EXPECT_EQ(tally.unnamed, 0) << tally.first_unnamed;
  EXPECT_GT(tally.loaded, 0);
  EXPECT_GT(tally.failed, rounds / 10);
}

}  // namespace
}  // namespace lingua::gguf
