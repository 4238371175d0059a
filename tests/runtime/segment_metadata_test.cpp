// A segment's identity covers the model's settings, not only its tensors: a copy of the shipped
// model with another RoPE base must not match (it computes other tokens), one with another
// general.name must; find_matching_file names the files it passed over for their settings.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/gguf.h"
#include "runtime/segment_weights.h"
#include "test_paths.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The offset of the value of metadata key `key` of GGUF type `type` in the file's bytes (after
// the key's length-prefixed name and its u32 type), or npos.
size_t value_offset(const std::string& bytes, const std::string& key, uint32_t type) {
  const size_t at = bytes.find(key);
  if (at == std::string::npos) return at;
  uint32_t t = 0;
  std::memcpy(&t, bytes.data() + at + key.size(), 4);
  return t == type ? at + key.size() + 4 : std::string::npos;
}

class SegmentMetadata : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lingua-segment-metadata-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    original_ = read_all(testing::source_dir() + "/models/kjv-fortunes-3M-f32.gguf");
    ASSERT_FALSE(original_.empty());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path write(const std::string& name, const std::string& bytes) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
  }
  static std::vector<std::string> all_tensors(const gguf::File& f) {
    std::vector<std::string> names;
    for (const auto& t : f.tensors()) names.push_back(t.name);
    return names;
  }

  fs::path dir_;
  std::string original_;
};

TEST_F(SegmentMetadata, SettingsCountDescriptionsDoNot) {
  std::string rope = original_;
  const size_t base = value_offset(rope, "llama.rope.freq_base", 6 /* FLOAT32 */);
  ASSERT_NE(base, std::string::npos) << "the shipped model states its RoPE base";
  const float doubled = 20000.0f;
  std::memcpy(rope.data() + base, &doubled, 4);

  std::string renamed = original_;
  const size_t name = value_offset(renamed, "general.name", 8 /* STRING */);
  ASSERT_NE(name, std::string::npos);
  renamed[name + 8] = renamed[name + 8] == 'X' ? 'Y' : 'X';  // first byte after the u64 length

  auto a = gguf::File::open(write("original.gguf", original_).string());
  auto b = gguf::File::open(write("rope.gguf", rope).string());
  auto c = gguf::File::open(write("renamed.gguf", renamed).string());
  ASSERT_TRUE(a && b && c);
  const std::vector<std::string> names = all_tensors(*a);
  EXPECT_EQ(*hash_tensors(*a, names), *hash_tensors(*b, names)) << "the tensors are the same";
  EXPECT_NE(*hash_segment(*a, names), *hash_segment(*b, names)) << "another RoPE base must not match";
  EXPECT_EQ(*hash_segment(*a, names), *hash_segment(*c, names)) << "general.name only describes the file";
  EXPECT_FALSE(is_descriptive_metadata("general.architecture"));
  EXPECT_FALSE(is_descriptive_metadata("llama.attention.layer_norm_rms_epsilon"));
  EXPECT_TRUE(is_descriptive_metadata("general.name"));

  // The worker's search: the RoPE copy alone is passed over and named; with the renamed copy
  // beside it, that one is used.
  fs::remove(dir_ / "original.gguf");
  fs::remove(dir_ / "renamed.gguf");
  const uint64_t want = *hash_segment(*a, names), tensors = *hash_tensors(*a, names);
  FileMatch none = find_matching_file({}, {dir_.string()}, names, want, tensors);
  EXPECT_EQ(none.path, "");
  ASSERT_EQ(none.other_settings.size(), 1u);
  EXPECT_EQ(fs::path(none.other_settings[0]).filename(), "rope.gguf");
  write("renamed.gguf", renamed);
  FileMatch found = find_matching_file({}, {dir_.string()}, names, want, tensors);
  EXPECT_EQ(fs::path(found.path).filename(), "renamed.gguf");
}

// The digests a worker remembers give the same hashes as hashing afresh, and a file rewritten at
// the same path (other weights) is hashed again, never matched from what was remembered.
TEST_F(SegmentMetadata, RememberedDigestsMatchAndForgetARewrittenFile) {
  const fs::path path = write("model.gguf", original_);
  auto a = gguf::File::open(path.string());
  ASSERT_TRUE(a);
  const std::vector<std::string> names = all_tensors(*a);
  ASSERT_GE(names.size(), 4u);
  const std::vector<std::string> first(names.begin(), names.begin() + 2), more(names.begin(), names.begin() + 4);
  TensorDigests digests;
  EXPECT_EQ(*hash_segment(*a, first, &digests), *hash_segment(*a, first));
  EXPECT_EQ(*hash_segment(*a, more, &digests), *hash_segment(*a, more)) << "half remembered, half new";
  EXPECT_EQ(*hash_segment(*a, more, &digests), *hash_segment(*a, more)) << "all remembered";
  EXPECT_NE(*hash_segment(*a, first), *hash_segment(*a, more));

  const uint64_t want = *hash_segment(*a, more), tensors = *hash_tensors(*a, more);
  FileDigests remembered;
  EXPECT_EQ(fs::path(find_matching_file({path.string()}, {}, more, want, tensors, &remembered).path), path);
  // Another file at the same path: same size, one weight byte changed, a new inode.
  const gguf::TensorInfo* t = a->find_tensor(more[1]);
  ASSERT_TRUE(t && t->bytes > 0);
  std::string changed = original_;
  const size_t at = static_cast<size_t>(a->data_offset() + t->offset);
  changed[at] = static_cast<char>(changed[at] ^ 0x55);
  fs::remove(path);
  write("model.gguf", changed);
  FileMatch after = find_matching_file({path.string()}, {}, more, want, tensors, &remembered);
  EXPECT_EQ(after.path, "") << "a rewritten file must be hashed again";
  auto b = gguf::File::open(path.string());
  ASSERT_TRUE(b);
  EXPECT_EQ(fs::path(find_matching_file({path.string()}, {}, more, *hash_segment(*b, more), 0, &remembered).path), path);
}

}  // namespace
}  // namespace lingua
