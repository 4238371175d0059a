// The reader on real model files, and on hand-assembled bad ones: each defect gets an error that
// names the file and the problem, never a crash.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "model/gguf.h"
#include "test_paths.h"

namespace lingua::gguf {
namespace {

// Assembles GGUF bytes by hand, so tests can state exactly which claim is wrong.
class Raw {
 public:
  Raw& u8(uint8_t v) { return put(v); }
  Raw& u32(uint32_t v) { return put(v); }
  Raw& u64(uint64_t v) { return put(v); }
  Raw& str(const std::string& s) {
    u64(s.size());
    for (char c : s) b.push_back(static_cast<uint8_t>(c));
    return *this;
  }
  Raw& header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    for (char c : {'G', 'G', 'U', 'F'}) b.push_back(static_cast<uint8_t>(c));
    return u32(version).u64(n_tensors).u64(n_kv);
  }
  Raw& kv_u32(const std::string& key, uint32_t v) { return str(key).u32(4).u32(v); }
  Raw& kv_str(const std::string& key, const std::string& v) { return str(key).u32(8).str(v); }
  Raw& tensor(const std::string& name, const std::vector<uint64_t>& dims, uint32_t type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) u64(d);
    return u32(type).u64(offset);
  }
  Raw& pad_to(size_t alignment) {
    while (b.size() % alignment) b.push_back(0);
    return *this;
  }
  Raw& fill(size_t n, uint8_t v = 0x11) {
    for (size_t i = 0; i < n; ++i) b.push_back(v);
    return *this;
  }
  std::vector<uint8_t> b;

 private:
  template <class T>
  Raw& put(T v) {
    uint8_t raw[sizeof(T)];
    std::memcpy(raw, &v, sizeof(T));
    for (uint8_t byte : raw) b.push_back(byte);
    return *this;
  }
};

constexpr uint32_t kF32 = 0;

// A valid file: three keys (one an array), two tensors.
Raw good_file() {
  Raw r;
  r.header(3, 2, 3)
      .kv_str("general.architecture", "llama")
      .kv_u32("n", 7)
      .str("tokens").u32(9).u32(8).u64(2).str("a").str("bc")
      .tensor("w", {4, 2}, kF32, 0)
      .tensor("b", {4}, kF32, 32)
      .pad_to(32)
      .fill(48);
  return r;
}

Expected<File> parse(const std::vector<uint8_t>& bytes) { return File::parse(bytes.data(), bytes.size(), "bad.gguf"); }

// The error for `r`, checked to start with the file name; "(loaded)" when it parsed.
std::string error_of(const Raw& r) {
  auto f = parse(r.b);
  if (f) return "(loaded)";
  EXPECT_EQ(f.error().rfind("bad.gguf: ", 0), 0u) << f.error();
  return f.error();
}

#define EXPECT_ERROR_HAS(raw, text)                                       \
  do {                                                                    \
    const std::string msg_ = error_of(raw);                               \
    EXPECT_NE(msg_.find(text), std::string::npos) << "message: " << msg_; \
  } while (0)

TEST(GgufReader, KjvF32ModelLoads) {
  LINGUA_REQUIRE_SHARED();
  const std::string path = testing::shared_model("kjv-fortunes-3M-f32.gguf");
  auto f = File::open(path);
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->path(), path);
  EXPECT_EQ(f->tensors().size(), 57u);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(f->data_offset() % 32, 0u);
  EXPECT_EQ(*f->get_string("general.architecture"), "llama");
  EXPECT_EQ(*f->get_u64("llama.block_count"), 6u);
  EXPECT_EQ(*f->get_u64("llama.embedding_length"), 192u);
  EXPECT_FLOAT_EQ(static_cast<float>(*f->get_f64("llama.attention.layer_norm_rms_epsilon")), 1e-5f);
  EXPECT_EQ(f->find("tokenizer.ggml.tokens")->as_array()->items.size(), 2048u);

  const TensorInfo* emb = f->find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->type, DType::F32);
  EXPECT_EQ(emb->dims, (std::vector<uint64_t>{192, 2048}));
  EXPECT_EQ(emb->bytes, 192u * 2048 * 4);
  uint64_t data_bytes = 0;
  for (const TensorInfo& t : f->tensors()) {
    EXPECT_EQ(t.type, DType::F32) << t.name;
    EXPECT_GE(t.data, emb->data - emb->offset);
    data_bytes += t.bytes;
  }
  EXPECT_LE(f->data_offset() + data_bytes, f->file_size());
  float first = 0;
  std::memcpy(&first, emb->data, sizeof first);
  EXPECT_TRUE(std::isfinite(first));
  EXPECT_GT(std::abs(first), 0.0f);
}

TEST(GgufReader, Stories260KWithoutAlignmentKeyLoads) {
  LINGUA_REQUIRE_SHARED();
  auto f = File::open(testing::shared_model("stories260K.gguf"));
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(f->tensors().size(), 48u);
  EXPECT_EQ(f->find("general.alignment"), nullptr);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(*f->get_u64_or("general.alignment", 32), 32u);
  EXPECT_EQ(*f->get_u64("llama.embedding_length"), 64u);
  EXPECT_EQ(f->find_tensor("output_norm.weight")->dims, (std::vector<uint64_t>{64}));
}

TEST(GgufReader, VocabOnlyFileLoads) {
  LINGUA_REQUIRE_SHARED();
  auto f = File::open(testing::shared_model("vocab/ggml-vocab-llama-spm.gguf"));
  ASSERT_TRUE(f) << f.error();
  EXPECT_TRUE(f->tensors().empty());
  // Without tensors the file may end before the (padded) data section would start.
  EXPECT_GT(f->data_offset(), f->file_size());
  const Array* tokens = f->find("tokenizer.ggml.tokens")->as_array();
  ASSERT_NE(tokens, nullptr);
  EXPECT_EQ(tokens->items.size(), 32000u);
  EXPECT_EQ(*tokens->items[1].as_string(), "<s>");
  EXPECT_EQ(f->find("tokenizer.ggml.tokens")->to_display(3), "[32000 items: \"<unk>\", \"<s>\", \"</s>\", ...]");
}

TEST(GgufReader, TypedGettersNameFileAndKey) {
  auto f = parse(good_file().b);
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(*f->get_u64("n"), 7u);
  EXPECT_EQ(*f->get_f64("n"), 7.0);
  EXPECT_EQ(*f->get_u64_or("absent", 5), 5u);
  EXPECT_EQ(*f->get_string_or("absent", "x"), "x");
  EXPECT_TRUE(*f->get_bool_or("absent", true));
  EXPECT_EQ(*f->get_f64_or("absent", 0.5), 0.5);
  EXPECT_EQ(f->get_u64("absent").error(), "bad.gguf: key 'absent' is missing");
  const std::string wrong = f->get_u64("general.architecture").error();
  EXPECT_EQ(wrong.rfind("bad.gguf: key 'general.architecture': ", 0), 0u) << wrong;
  EXPECT_NE(wrong.find("string"), std::string::npos);
  EXPECT_FALSE(f->get_string_or("n", "x"));
  EXPECT_FALSE(f->get_bool("n"));
  EXPECT_EQ(f->tensors()[1].data, f->tensors()[0].data + 32);
  EXPECT_EQ(f->tensors()[0].elements(), 8u);
}

TEST(GgufReader, Version2Loads) {
  Raw r = good_file();
  r.b[4] = 2;
  auto f = parse(r.b);
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(f->version(), 2u);
}

TEST(GgufReader, MissingFileAndDirectory) {
  const std::string missing = "/nonexistent/dir/model.gguf";
  auto f = File::open(missing);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().rfind(missing + ": ", 0), 0u) << f.error();
  EXPECT_NE(f.error().find("No such file"), std::string::npos) << f.error();
  auto d = File::open(std::filesystem::temp_directory_path().string());
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().find("directory"), std::string::npos) << d.error();
}

// A device node or a FIFO is named once, as what it is: a FIFO used to block open() until a writer
// came (a hang), and /dev/null was named twice ("/dev/null: '/dev/null' is not a regular file").
TEST(GgufReader, DeviceNodesAndFifosAreRefusedAtOnceNamingThePathOnce) {
  auto null_device = File::open("/dev/null");
  ASSERT_FALSE(null_device);
  EXPECT_EQ(null_device.error(), "/dev/null: is a character device, not a GGUF file");
  const std::string fifo = (std::filesystem::temp_directory_path() / ("lingua-fifo-" + std::to_string(::getpid()))).string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto f = File::open(fifo);
  std::filesystem::remove(fifo);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error(), fifo + ": is a FIFO, not a GGUF file");
}

TEST(GgufReader, NotAGgufFile) {
  const std::string path = testing::source_dir() + "/CMakeLists.txt";
  auto f = File::open(path);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().rfind(path + ": not a GGUF file (magic is \"# Li\"", 0), 0u) << f.error();
  EXPECT_NE(File::parse(nullptr, 0, "e.gguf").error().find("empty"), std::string::npos);
}

TEST(GgufReader, WrongMagic) {
  Raw r = good_file();
  r.b[3] = 'G';
  EXPECT_ERROR_HAS(r, "not a GGUF file (magic is \"GGUG\", expected \"GGUF\")");
  r.b[0] = 0;
  EXPECT_ERROR_HAS(r, "magic is \"\\x00GUG\"");
}

TEST(GgufReader, UnsupportedVersions) {
  Raw v1 = good_file();
  v1.b[4] = 1;
  EXPECT_ERROR_HAS(v1, "GGUF version 1 is obsolete");
  Raw v99 = good_file();
  v99.b[4] = 99;
  EXPECT_ERROR_HAS(v99, "unsupported GGUF version 99 (versions 2 and 3 are supported)");
  Raw v0 = good_file();
  v0.b[4] = 0;
  EXPECT_ERROR_HAS(v0, "unsupported GGUF version 0");
  Raw big = good_file();
  big.b[4] = 0;
  big.b[7] = 3;
  EXPECT_ERROR_HAS(big, "big-endian");
}

TEST(GgufReader, TruncatedAnywhereSaysTruncated) {
  const std::vector<uint8_t> whole = good_file().b;
  auto full = parse(whole);
  ASSERT_TRUE(full) << full.error();
  for (size_t n = 1; n < whole.size(); ++n) {
    // An exactly-sized copy, so a read past the end is caught by the sanitizers.
    const std::vector<uint8_t> cut(whole.begin(), whole.begin() + static_cast<long>(n));
    auto f = parse(cut);
    ASSERT_FALSE(f) << "prefix of " << n << " bytes loaded";
    EXPECT_EQ(f.error().rfind("bad.gguf: ", 0), 0u) << f.error();
    EXPECT_NE(f.error().find("truncated"), std::string::npos) << n << ": " << f.error();
  }
}

TEST(GgufReader, AbsurdCountsAreRejectedBeforeAllocating) {
  Raw tensors;
  tensors.header(3, uint64_t{1} << 62, 0).fill(64);
  EXPECT_ERROR_HAS(tensors, "claims 4611686018427387904 tensors");
  Raw kvs;
  kvs.header(3, 0, UINT64_MAX).fill(64);
  EXPECT_ERROR_HAS(kvs, "cannot fit in the remaining 64 bytes");
  Raw key;
  key.header(3, 0, 1).u64(uint64_t{1} << 63).fill(40);
  EXPECT_ERROR_HAS(key, "string of 9223372036854775808 bytes");
  Raw value;
  value.header(3, 0, 1).str("k").u32(8).u64(1000).fill(40);
  EXPECT_ERROR_HAS(value, "metadata key 'k' is a string of 1000 bytes");
  Raw array;
  array.header(3, 0, 1).str("k").u32(9).u32(4).u64(uint64_t{1} << 60).fill(40);
  EXPECT_ERROR_HAS(array, "claims an array of 1152921504606846976 u32 items");
  Raw strings;
  strings.header(3, 0, 1).str("k").u32(9).u32(8).u64(6).fill(40);
  EXPECT_ERROR_HAS(strings, "array of 6 string items");
  Raw name;
  name.header(3, 1, 0).u64(UINT64_MAX).fill(40);
  EXPECT_ERROR_HAS(name, "the name of tensor #0 is a string of 18446744073709551615 bytes");
}

TEST(GgufReader, BadValueTypes) {
  Raw type;
  type.header(3, 0, 1).str("k").u32(13).u32(0).fill(16);
  EXPECT_ERROR_HAS(type, "metadata key 'k' has unknown value type id 13 (valid ids are 0 to 12)");
  Raw element;
  element.header(3, 0, 1).str("k").u32(9).u32(99).u64(0).fill(16);
  EXPECT_ERROR_HAS(element, "array of unknown element type id 99");
  Raw boolean;
  boolean.header(3, 0, 1).str("flag").u32(7).u8(2).fill(16);
  EXPECT_ERROR_HAS(boolean, "metadata key 'flag' holds a bool of value 2");

  Raw deep;
  deep.header(3, 0, 1).str("deep").u32(9);
  for (int i = 0; i < kMaxArrayDepth; ++i) deep.u32(9).u64(1);  // nine arrays in all
  deep.u32(4).u64(0).fill(16);
  EXPECT_ERROR_HAS(deep, "nests arrays more than 8 deep");
  Raw ok_depth;
  ok_depth.header(3, 0, 1).str("deep").u32(9);
  for (int i = 0; i < kMaxArrayDepth - 1; ++i) ok_depth.u32(9).u64(1);
  ok_depth.u32(4).u64(0);
  EXPECT_EQ(error_of(ok_depth), "(loaded)");
}

TEST(GgufReader, DuplicateKeysAndTensorNames) {
  Raw keys;
  keys.header(3, 0, 2).kv_u32("a", 1).kv_u32("a", 2);
  EXPECT_ERROR_HAS(keys, "duplicate metadata key 'a'");
  Raw tensors;
  tensors.header(3, 2, 0).tensor("w", {8}, kF32, 0).tensor("w", {8}, kF32, 32).pad_to(32).fill(64);
  EXPECT_ERROR_HAS(tensors, "duplicate tensor name 'w'");
  Raw empty;
  empty.header(3, 1, 0).tensor("", {8}, kF32, 0).pad_to(32).fill(32);
  EXPECT_ERROR_HAS(empty, "tensor #0 has an empty name");
}

TEST(GgufReader, BadShapes) {
  const auto one = [](const std::vector<uint64_t>& dims, uint32_t type) {
    Raw r;
    r.header(3, 1, 0).tensor("x", dims, type, 0).pad_to(32).fill(256);
    return r;
  };
  EXPECT_ERROR_HAS(one({}, kF32), "tensor 'x' has 0 dimensions (must be 1 to 4)");
  EXPECT_ERROR_HAS(one({1, 1, 1, 1, 1}, kF32), "tensor 'x' has 5 dimensions");
  EXPECT_ERROR_HAS(one({4, 0}, kF32), "shape [4, 0] with an empty dimension");
  EXPECT_ERROR_HAS(one({uint64_t{1} << 32, uint64_t{1} << 31}, kF32), "too many elements");
  EXPECT_ERROR_HAS(one({UINT64_MAX}, kF32), "too many elements");
  // 2^61 f32 elements fit in int64, but not their 2^63 bytes... which also lie outside the file.
  EXPECT_ERROR_HAS(one({uint64_t{1} << 61}, kF32), "tensor 'x'");
  EXPECT_ERROR_HAS(one({33}, 2), "rows of 33 elements, not a multiple of the q4_0 block size 32");
  EXPECT_EQ(error_of(one({32, 2}, 2)), "(loaded)");
}

TEST(GgufReader, UnknownTensorTypeIsNamed) {
  for (uint32_t id : {4u, 31u, 99u, 0xFFFFFFFFu}) {
    Raw r;
    r.header(3, 1, 0).tensor("w", {32}, id, 0).pad_to(32).fill(128);
    const std::string msg = error_of(r);
    EXPECT_NE(msg.find("tensor 'w' has unknown tensor type id " + std::to_string(id)), std::string::npos) << msg;
    EXPECT_NE(msg.find("f32, f16, q4_0"), std::string::npos) << msg;
    EXPECT_NE(msg.find("q6_k"), std::string::npos) << msg;
  }
}

TEST(GgufReader, KnownTypesWithoutKernelsStillLoad) {
  // `lingua info` must be able to show q4_k, iq2_xxs, ... files even though nothing computes them.
  Raw r;
  r.header(3, 2, 0).tensor("k", {256, 2}, 12, 0).tensor("iq", {256}, 16, 288).pad_to(32).fill(288 + 66);
  auto f = parse(r.b);
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(f->tensors()[0].type, DType::Q4_K);
  EXPECT_EQ(f->tensors()[0].bytes, 288u);
  EXPECT_EQ(f->tensors()[1].type, DType::IQ2_XXS);
  EXPECT_FALSE(dtype_info(DType::Q2_K).computable);
}

TEST(GgufReader, TensorDataOutsideTheFile) {
  Raw past;
  past.header(3, 1, 0).tensor("w", {8}, kF32, 64).pad_to(32).fill(32);
  EXPECT_ERROR_HAS(past, "tensor 'w' data lies outside the file (truncated?)");
  Raw far;
  far.header(3, 1, 0).tensor("w", {8}, kF32, UINT64_MAX - 31).pad_to(32).fill(32);
  EXPECT_ERROR_HAS(far, "tensor 'w' data lies outside the file");
  Raw huge;
  huge.header(3, 1, 0).tensor("w", {uint64_t{1} << 40}, kF32, 0).pad_to(32).fill(32);
  EXPECT_ERROR_HAS(huge, "tensor 'w' data lies outside the file");
  Raw no_data;  // the file ends right after the tensor infos
  no_data.header(3, 1, 0).tensor("w", {8}, kF32, 0);
  EXPECT_ERROR_HAS(no_data, "tensor 'w' data lies outside the file (truncated?)");
}

TEST(GgufReader, MisalignedAndOverlappingTensors) {
  Raw misaligned;
  misaligned.header(3, 1, 0).tensor("w", {4}, kF32, 16).pad_to(32).fill(64);
  EXPECT_ERROR_HAS(misaligned, "tensor 'w' has data offset 16, which is not a multiple of the alignment 32");
  Raw overlap;
  overlap.header(3, 2, 0).tensor("a", {16}, kF32, 0).tensor("b", {8}, kF32, 32).pad_to(32).fill(128);
  EXPECT_ERROR_HAS(overlap, "tensors 'a' and 'b' overlap");
  Raw reversed;  // order in the file need not follow the infos, as long as nothing overlaps
  reversed.header(3, 2, 0).tensor("a", {8}, kF32, 32).tensor("b", {8}, kF32, 0).pad_to(32).fill(64);
  EXPECT_EQ(error_of(reversed), "(loaded)");
}

TEST(GgufReader, AlignmentKeyIsChecked) {
  Raw wide;
  wide.header(3, 0, 1).str("general.alignment").u32(10).u64(64);
  EXPECT_ERROR_HAS(wide, "general.alignment must be a u32, but it is a u64");
  Raw odd;
  odd.header(3, 0, 1).kv_u32("general.alignment", 48);
  EXPECT_ERROR_HAS(odd, "general.alignment is 48, which is not a power of two");
  Raw zero;
  zero.header(3, 0, 1).kv_u32("general.alignment", 0);
  EXPECT_ERROR_HAS(zero, "general.alignment is 0");

  Raw big;
  big.header(3, 2, 1).kv_u32("general.alignment", 64).tensor("a", {4}, kF32, 0).tensor("b", {4}, kF32, 64);
  big.pad_to(64).fill(80);
  auto f = parse(big.b);
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(f->alignment(), 64u);
  EXPECT_EQ(f->data_offset() % 64, 0u);
  Raw half;  // aligned for the default 32, not for the file's 64
  half.header(3, 2, 1).kv_u32("general.alignment", 64).tensor("a", {4}, kF32, 0).tensor("b", {4}, kF32, 32);
  half.pad_to(64).fill(80);
  EXPECT_ERROR_HAS(half, "not a multiple of the alignment 64");
}

}  // namespace
}  // namespace lingua::gguf
