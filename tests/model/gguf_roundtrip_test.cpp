// Writer -> reader round trips: every value type and tensor type survives, the layout is the one
// llama.cpp expects, and a failed write leaves nothing behind.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "model/gguf.h"
#include "test_paths.h"

namespace lingua::gguf {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test: ctest may run tests of this binary in parallel.
class GgufRoundTrip : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("lingua-gguf-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Deterministic per-tensor bytes, so a mix-up between tensors shows.
uint8_t pattern(size_t tensor, uint64_t i) { return static_cast<uint8_t>(tensor * 31 + i * 7 + (i >> 8)); }

Status fill_pattern(size_t index, uint8_t* dst, uint64_t bytes) {
  for (uint64_t i = 0; i < bytes; ++i) dst[i] = pattern(index, i);
  return Status::ok();
}

Value nested(int depth) {
  if (depth == 0) return Value::i32(42);
  Value inner = nested(depth - 1);
  const ValueType t = inner.type;
  return Value::array(t, {inner, inner});
}

TEST_F(GgufRoundTrip, EveryValueTypeSurvives) {
  Writer w;
  w.set("u8", Value::u8(255));
  w.set("i8", Value::i8(-128));
  w.set("u16", Value::u16(65535));
  w.set("i16", Value::i16(-32768));
  w.set("u32", Value::u32(UINT32_MAX));
  w.set("i32", Value::i32(INT32_MIN));
  w.set("u64", Value::u64(UINT64_MAX));
  w.set("i64", Value::i64(INT64_MIN));
  w.set("f32", Value::f32(-3.25f));
  w.set("f64", Value::f64(1e300));
  w.set("bool.t", Value::boolean(true));
  w.set("bool.f", Value::boolean(false));
  w.set("str", Value::str(std::string("nul\0inside \xE2\x96\x81 utf8", 18)));
  w.set("str.empty", Value::str(""));
  w.set("arr.u8", Value::array(ValueType::UINT8, {Value::u8(1), Value::u8(2), Value::u8(3)}));
  w.set("arr.f32", Value::array(ValueType::FLOAT32, {Value::f32(0.5f), Value::f32(-1.0f)}));
  w.set("arr.str", Value::array(ValueType::STRING, {Value::str("a"), Value::str(""), Value::str("ccc")}));
  w.set("arr.bool", Value::array(ValueType::BOOL, {Value::boolean(true), Value::boolean(false)}));
  w.set("arr.i64", Value::array(ValueType::INT64, {Value::i64(-1), Value::i64(INT64_MAX)}));
  w.set("arr.empty", Value::array(ValueType::UINT32, {}));
  w.set("arr.nested", Value::array(ValueType::ARRAY, {Value::array(ValueType::STRING, {Value::str("x")}),
                                                      Value::array(ValueType::UINT16, {})}));
  w.set("arr.deepest", nested(kMaxArrayDepth));
  ASSERT_TRUE(w.write(path("values.gguf"), nullptr).is_ok());

  auto f = File::open(path("values.gguf"));
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(f->version(), 3u);
  EXPECT_TRUE(f->tensors().empty());
  ASSERT_EQ(f->metadata().size(), 22u);
  // Insertion order is kept.
  EXPECT_EQ(f->metadata()[0].first, "u8");
  EXPECT_EQ(f->metadata()[12].first, "str");
  EXPECT_EQ(f->metadata()[21].first, "arr.deepest");

  const std::pair<const char*, ValueType> types[] = {
      {"u8", ValueType::UINT8},   {"i8", ValueType::INT8},       {"u16", ValueType::UINT16},
      {"i16", ValueType::INT16},  {"u32", ValueType::UINT32},    {"i32", ValueType::INT32},
      {"u64", ValueType::UINT64}, {"i64", ValueType::INT64},     {"f32", ValueType::FLOAT32},
      {"f64", ValueType::FLOAT64}, {"bool.t", ValueType::BOOL},  {"str", ValueType::STRING},
      {"arr.u8", ValueType::ARRAY}};
  for (const auto& [key, type] : types) {
    ASSERT_NE(f->find(key), nullptr) << key;
    EXPECT_EQ(f->find(key)->type, type) << key;
  }
  EXPECT_EQ(*f->get_u64("u8"), 255u);
  EXPECT_EQ(*f->find("i8")->as_i64(), -128);
  EXPECT_EQ(*f->get_u64("u16"), 65535u);
  EXPECT_EQ(*f->find("i16")->as_i64(), -32768);
  EXPECT_EQ(*f->get_u64("u32"), UINT32_MAX);
  EXPECT_EQ(*f->find("i32")->as_i64(), INT32_MIN);
  EXPECT_EQ(*f->get_u64("u64"), UINT64_MAX);
  EXPECT_EQ(*f->find("i64")->as_i64(), INT64_MIN);
  EXPECT_EQ(*f->get_f64("f32"), -3.25);
  EXPECT_EQ(*f->get_f64("f64"), 1e300);
  EXPECT_TRUE(*f->get_bool("bool.t"));
  EXPECT_FALSE(*f->get_bool("bool.f"));
  EXPECT_EQ(*f->get_string("str"), std::string("nul\0inside \xE2\x96\x81 utf8", 18));
  EXPECT_EQ(*f->get_string("str.empty"), "");

  const Array* u8s = f->find("arr.u8")->as_array();
  ASSERT_NE(u8s, nullptr);
  EXPECT_EQ(u8s->element_type, ValueType::UINT8);
  ASSERT_EQ(u8s->items.size(), 3u);
  EXPECT_EQ(*u8s->items[2].as_u64(), 3u);
  const Array* strs = f->find("arr.str")->as_array();
  ASSERT_EQ(strs->items.size(), 3u);
  EXPECT_EQ(*strs->items[2].as_string(), "ccc");
  EXPECT_EQ(*f->find("arr.f32")->as_array()->items[0].as_f64(), 0.5);
  EXPECT_FALSE(*f->find("arr.bool")->as_array()->items[1].as_bool());
  EXPECT_EQ(*f->find("arr.i64")->as_array()->items[1].as_i64(), INT64_MAX);
  EXPECT_EQ(f->find("arr.empty")->as_array()->element_type, ValueType::UINT32);
  EXPECT_TRUE(f->find("arr.empty")->as_array()->items.empty());

  const Array* outer = f->find("arr.nested")->as_array();
  ASSERT_EQ(outer->element_type, ValueType::ARRAY);
  ASSERT_EQ(outer->items.size(), 2u);
  EXPECT_EQ(*outer->items[0].as_array()->items[0].as_string(), "x");
  EXPECT_EQ(outer->items[1].as_array()->element_type, ValueType::UINT16);

  const Value* v = f->find("arr.deepest");
  for (int depth = 0; depth < kMaxArrayDepth; ++depth) {
    ASSERT_NE(v->as_array(), nullptr) << depth;
    ASSERT_EQ(v->as_array()->items.size(), 2u);
    v = &v->as_array()->items[1];
  }
  EXPECT_EQ(*v->as_i64(), 42);
}

TEST_F(GgufRoundTrip, EveryTensorTypeSurvivesWithLlamaCppLayout) {
  Writer w;
  w.set("general.architecture", Value::str("test"));
  std::vector<const DTypeInfo*> infos;
  for (uint32_t id = 0; id < 64; ++id)
    if (const DTypeInfo* info = dtype_info(id)) infos.push_back(info);
  ASSERT_GE(infos.size(), 30u);
  for (size_t i = 0; i < infos.size(); ++i) {
    // Odd row counts make most byte sizes not a multiple of 32, so padding is exercised.
    std::vector<uint64_t> dims = {uint64_t{infos[i]->block_size} * (1 + i % 3), 3};
    if (i % 4 == 1) dims.push_back(2);
    if (i % 4 == 2) dims = {dims[0], 1, 1, 5};
    ASSERT_TRUE(w.add_tensor(std::string("t.") + infos[i]->name, infos[i]->type, dims).is_ok());
  }
  const std::string out = path("tensors.gguf");
  ASSERT_TRUE(w.write(out, fill_pattern).is_ok());

  auto f = File::open(out);
  ASSERT_TRUE(f) << f.error();
  ASSERT_EQ(f->tensors().size(), infos.size());
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(f->find("general.alignment"), nullptr);
  EXPECT_EQ(f->data_offset() % 32, 0u);
  const std::vector<uint8_t> raw = read_all(out);
  uint64_t expected_offset = 0;
  for (size_t i = 0; i < infos.size(); ++i) {
    const TensorInfo& t = f->tensors()[i];
    EXPECT_EQ(t.name, std::string("t.") + infos[i]->name);
    EXPECT_EQ(t.type, infos[i]->type);
    EXPECT_EQ(t.dims[0], uint64_t{infos[i]->block_size} * (1 + i % 3));
    EXPECT_EQ(t.bytes, *dtype_bytes(t.type, t.elements()));
    // llama.cpp insists each tensor starts where the previous one's padded data ends.
    EXPECT_EQ(t.offset, expected_offset) << t.name;
    expected_offset += (t.bytes + 31) / 32 * 32;
    ASSERT_EQ(t.data, f->tensors()[0].data + t.offset);
    bool same = true;
    for (uint64_t b = 0; b < t.bytes; ++b) same = same && t.data[b] == pattern(i, b);
    EXPECT_TRUE(same) << t.name;
    for (uint64_t b = t.bytes; b < (t.bytes + 31) / 32 * 32; ++b)
      EXPECT_EQ(raw[f->data_offset() + t.offset + b], 0) << "padding after " << t.name;
  }
  EXPECT_EQ(f->file_size(), f->data_offset() + expected_offset);
  EXPECT_EQ(f->find_tensor("t.q4_0")->dims.size(), 4u);
  EXPECT_EQ(f->find_tensor("no.such"), nullptr);
}

TEST_F(GgufRoundTrip, HeaderBytesFollowTheSpec) {
  Writer w;
  w.set("k", Value::u32(7));
  ASSERT_TRUE(w.add_tensor("t", DType::F32, {2}).is_ok());
  ASSERT_TRUE(w.write(path("tiny.gguf"), [](size_t, uint8_t* dst, uint64_t n) {
                 std::memset(dst, 0xAB, n);
                 return Status::ok();
               }).is_ok());
  const std::vector<uint8_t> expected = {
      'G', 'G', 'U', 'F', 3, 0, 0, 0,             // magic, version 3
      1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,  // 1 tensor, 1 key
      1, 0, 0, 0, 0, 0, 0, 0, 'k', 4, 0, 0, 0, 7, 0, 0, 0,  // "k" u32 7
      1, 0, 0, 0, 0, 0, 0, 0, 't', 1, 0, 0, 0,        // "t", 1 dim
      2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,             // dims[0] = 2, type f32
      0, 0, 0, 0, 0, 0, 0, 0,                         // offset 0
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // pad 74 -> 96
      0xAB, 0xAB, 0xAB, 0xAB, 0xAB, 0xAB, 0xAB, 0xAB,  // the data
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};  // pad to 32
  EXPECT_EQ(read_all(path("tiny.gguf")), expected);
}

// Files made by llama.cpp's converters come back byte for byte: same layout, same encoding.
TEST_F(GgufRoundTrip, RealFilesRewriteByteIdentical) {
  LINGUA_REQUIRE_SHARED();
  for (const char* rel : {"kjv-fortunes-3M-f32.gguf", "stories260K.gguf", "vocab/ggml-vocab-llama-spm.gguf"}) {
    auto f = File::open(testing::shared_model(rel));
    ASSERT_TRUE(f) << f.error();
    Writer w;
    for (const auto& [key, value] : f->metadata()) w.set(key, value);
    for (const TensorInfo& t : f->tensors()) ASSERT_TRUE(w.add_tensor(t.name, t.type, t.dims).is_ok()) << t.name;
    const std::string out = path("copy.gguf");
    const Status st = w.write(out, [&](size_t index, uint8_t* dst, uint64_t bytes) {
      std::memcpy(dst, f->tensors()[index].data, bytes);
      return Status::ok();
    });
    ASSERT_TRUE(st.is_ok()) << st.message();
    EXPECT_TRUE(read_all(out) == read_all(testing::shared_model(rel))) << rel;
  }
}

TEST_F(GgufRoundTrip, CustomAlignmentIsWrittenAndObeyed) {
  Writer w;
  w.set("first", Value::u8(1));
  w.set_alignment(256);
  ASSERT_TRUE(w.add_tensor("a", DType::F16, {3}).is_ok());
  ASSERT_TRUE(w.add_tensor("b", DType::Q8_0, {64, 2}).is_ok());
  ASSERT_TRUE(w.write(path("a.gguf"), fill_pattern).is_ok());
  auto f = File::open(path("a.gguf"));
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(f->alignment(), 256u);
  ASSERT_NE(f->find("general.alignment"), nullptr);
  EXPECT_EQ(f->find("general.alignment")->type, ValueType::UINT32);
  EXPECT_EQ(f->data_offset() % 256, 0u);
  EXPECT_EQ(f->tensors()[1].offset, 256u);
  EXPECT_EQ(f->file_size(), f->data_offset() + 512);

  // Back to the default: the key goes away again.
  w.set_alignment(32);
  ASSERT_TRUE(w.write(path("b.gguf"), fill_pattern).is_ok());
  auto g = File::open(path("b.gguf"));
  ASSERT_TRUE(g) << g.error();
  EXPECT_EQ(g->find("general.alignment"), nullptr);
  EXPECT_EQ(g->tensors()[1].offset, 32u);

  // A general.alignment set directly is what readers obey, so the writer obeys it too.
  w.set("general.alignment", Value::u32(64));
  ASSERT_TRUE(w.write(path("c.gguf"), fill_pattern).is_ok());
  auto h = File::open(path("c.gguf"));
  ASSERT_TRUE(h) << h.error();
  EXPECT_EQ(h->alignment(), 64u);
  EXPECT_EQ(h->tensors()[1].offset, 64u);
}

TEST_F(GgufRoundTrip, SetReplacesInPlace) {
  Writer w;
  w.set("a", Value::u32(1));
  w.set("b", Value::u32(2));
  w.set("a", Value::str("again"));
  ASSERT_TRUE(w.write(path("r.gguf"), nullptr).is_ok());
  auto f = File::open(path("r.gguf"));
  ASSERT_TRUE(f) << f.error();
  ASSERT_EQ(f->metadata().size(), 2u);
  EXPECT_EQ(f->metadata()[0].first, "a");
  EXPECT_EQ(*f->get_string("a"), "again");
}

TEST_F(GgufRoundTrip, AddTensorRejectsBadShapes) {
  Writer w;
  ASSERT_TRUE(w.add_tensor("ok", DType::Q4_0, {64}).is_ok());
  EXPECT_NE(w.add_tensor("ok", DType::F32, {1}).message().find("already"), std::string::npos);
  EXPECT_FALSE(w.add_tensor("", DType::F32, {1}).is_ok());
  EXPECT_NE(w.add_tensor(std::string(64, 'n'), DType::F32, {1}).message().find("llama.cpp"), std::string::npos);
  EXPECT_NE(w.add_tensor("d0", DType::F32, {}).message().find("dimensions"), std::string::npos);
  EXPECT_NE(w.add_tensor("d5", DType::F32, {1, 1, 1, 1, 1}).message().find("dimensions"), std::string::npos);
  EXPECT_NE(w.add_tensor("zero", DType::F32, {4, 0}).message().find("empty dimension"), std::string::npos);
  EXPECT_NE(w.add_tensor("rows", DType::Q4_0, {33}).message().find("block size 32"), std::string::npos);
  EXPECT_NE(w.add_tensor("huge", DType::F32, {1ull << 32, 1ull << 32}).message().find("64 bits"),
            std::string::npos);
  EXPECT_FALSE(w.add_tensor("type", static_cast<DType>(99), {1}).is_ok());
}

TEST_F(GgufRoundTrip, WriterRejectsValuesItCannotEncode) {
  const std::string out = path("bad.gguf");
  {
    Writer w;
    w.set("small", Value{ValueType::UINT8, uint64_t{300}});
    const Status st = w.write(out, nullptr);
    ASSERT_FALSE(st.is_ok());
    EXPECT_NE(st.message().find("'small'"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("300"), std::string::npos) << st.message();
  }
  {
    Writer w;
    w.set("mixed", Value::array(ValueType::UINT32, {Value::u32(1), Value::str("two")}));
    const Status st = w.write(out, nullptr);
    ASSERT_FALSE(st.is_ok());
    EXPECT_NE(st.message().find("item 1"), std::string::npos) << st.message();
  }
  {
    Writer w;
    w.set("deep", nested(kMaxArrayDepth + 1));
    EXPECT_NE(w.write(out, nullptr).message().find("deep"), std::string::npos);
  }
  {
    Writer w;
    w.set("general.alignment", Value::u64(64));
    EXPECT_NE(w.write(out, nullptr).message().find("u32"), std::string::npos);
  }
  {
    Writer w;
    w.set_alignment(64);
    w.set_alignment(48);  // replaces the valid one: must not silently write 64
    EXPECT_NE(w.write(out, nullptr).message().find("alignment 48 is not a power of two"), std::string::npos);
  }
  {
    Writer w;
    ASSERT_TRUE(w.add_tensor("t", DType::F32, {4}).is_ok());
    EXPECT_NE(w.write(out, nullptr).message().find("callback"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".tmp"));
}

TEST_F(GgufRoundTrip, UnwritablePathIsAClearError) {
  Writer w;
  w.set("a", Value::u32(1));
  const std::string out = path("no/such/dir/x.gguf");
  const Status st = w.write(out, nullptr);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find(out), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("No such file or directory"), std::string::npos) << st.message();

  // The final path is a directory: the rename fails, and the temporary file is cleaned up.
  fs::create_directories(path("taken"));
  fs::create_directories(path("taken/inside"));
  const Status st2 = w.write(path("taken"), nullptr);
  ASSERT_FALSE(st2.is_ok());
  EXPECT_NE(st2.message().find(path("taken")), std::string::npos) << st2.message();
  EXPECT_FALSE(fs::exists(path("taken.tmp")));
}

TEST_F(GgufRoundTrip, FailedFillLeavesNoFileBehind) {
  const std::string out = path("model.gguf");
  Writer w;
  ASSERT_TRUE(w.add_tensor("a", DType::F32, {8}).is_ok());
  ASSERT_TRUE(w.add_tensor("b", DType::F32, {8}).is_ok());
  const Status st = w.write(out, [](size_t index, uint8_t* dst, uint64_t bytes) {
    if (index == 1) return Status::error("source tensor unreadable");
    std::memset(dst, 0, bytes);
    return Status::ok();
  });
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("tensor 'b'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("source tensor unreadable"), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".tmp"));

  // An existing file at the path survives a failed rewrite untouched.
  std::ofstream(out) << "previous";
  EXPECT_FALSE(w.write(out, [](size_t, uint8_t*, uint64_t) { return Status::error("no"); }).is_ok());
  EXPECT_EQ(read_all(out).size(), 8u);
  // And a successful write replaces it.
  ASSERT_TRUE(w.write(out, fill_pattern).is_ok());
  auto f = File::open(out);
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(f->tensors().size(), 2u);
}

TEST_F(GgufRoundTrip, ValueConversionsCheckRange) {
  EXPECT_EQ(*Value::i32(5).as_u64(), 5u);
  EXPECT_NE(Value::i32(-1).as_u64().error().find("negative"), std::string::npos);
  EXPECT_EQ(*Value::u8(7).as_i64(), 7);
  EXPECT_FALSE(Value::u64(UINT64_MAX).as_i64());
  EXPECT_EQ(*Value::f32(3.0f).as_u64(), 3u);
  EXPECT_FALSE(Value::f32(2.5f).as_i64());
  EXPECT_FALSE(Value::f64(1e30).as_i64());
  EXPECT_FALSE(Value::f64(std::nan("")).as_u64());
  EXPECT_EQ(*Value::u32(9).as_f64(), 9.0);
  EXPECT_EQ(*Value::i64(-9).as_f64(), -9.0);
  EXPECT_NE(Value::str("x").as_u64().error().find("string"), std::string::npos);
  EXPECT_FALSE(Value::u8(1).as_bool());
  EXPECT_FALSE(Value::boolean(true).as_string());
  EXPECT_EQ(Value::u32(1).as_array(), nullptr);
}

TEST_F(GgufRoundTrip, DisplayIsShortAndReadable) {
  EXPECT_EQ(Value::u32(4096).to_display(), "4096");
  EXPECT_EQ(Value::i8(-3).to_display(), "-3");
  EXPECT_EQ(Value::f32(1e-5f).to_display(), "1e-05");
  EXPECT_EQ(Value::f32(0.1f).to_display(), "0.1");
  EXPECT_EQ(Value::boolean(false).to_display(), "false");
  EXPECT_EQ(Value::str("a\"b\n").to_display(), "\"a\\\"b\\n\"");
  const std::string long_text(200, 'x');
  const std::string shown = Value::str(long_text).to_display();
  EXPECT_LT(shown.size(), 120u);
  EXPECT_NE(shown.find("(200 bytes)"), std::string::npos);
  std::vector<Value> items;
  for (int i = 0; i < 10; ++i) items.push_back(Value::i32(i));
  EXPECT_EQ(Value::array(ValueType::INT32, items).to_display(3), "[10 items: 0, 1, 2, ...]");
  EXPECT_EQ(Value::array(ValueType::STRING, {Value::str("a")}).to_display(), "[1 item: \"a\"]");
  EXPECT_EQ(Value::array(ValueType::STRING, {}).to_display(), "[0 items]");
  EXPECT_EQ(nested(2).to_display(), "[2 items: [2 items: 42, 42], [2 items: 42, 42]]");
  EXPECT_STREQ(value_type_name(ValueType::FLOAT64), "f64");
  // Valid UTF-8 is kept; control bytes and broken sequences are escaped.
  EXPECT_EQ(Value::str("\xE2\x96\x81x\x01\xFF\xC3").to_display(), "\"\xE2\x96\x81x\\x01\\xff\\xc3\"");
  EXPECT_EQ(printable("ab\xE2\x96\x81", 3), "ab... (5 bytes)");  // not cut inside a character
  EXPECT_EQ(printable(std::string("a\0b", 3)), "a\\x00b");
}

}  // namespace
}  // namespace lingua::gguf
