// Huge-page memory and MappedFile::keep_in_huge_pages: the bytes and addresses stay, the pages
// under them change from the file's to an anonymous copy and back.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/huge_pages.h"
#include "core/mapped_file.h"

namespace lingua {
namespace {

// The path /proc/self/maps names for the mapping holding `p` ("" for anonymous memory).
std::string mapping_of(const void* p) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const auto at = reinterpret_cast<uintptr_t>(p);
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string range, perms, offset, dev, inode, path;
    in >> range >> perms >> offset >> dev >> inode >> path;
    const uintptr_t lo = std::stoull(range.substr(0, range.find('-')), nullptr, 16);
    const uintptr_t hi = std::stoull(range.substr(range.find('-') + 1), nullptr, 16);
    if (at >= lo && at < hi) return path;
  }
  return "<unmapped>";
}

TEST(HugePageBuffer, IsAlignedWritableAndMovable) {
  auto b = HugePageBuffer::allocate(3 << 20);
  ASSERT_TRUE(b) << b.error();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b->data()) % kHugePageBytes, 0u);
  EXPECT_EQ(b->size(), 3u << 20);
  b->data()[0] = 1;
  b->data()[(3 << 20) - 1] = 2;
  HugePageBuffer moved = std::move(*b);
  EXPECT_EQ(moved.data()[(3 << 20) - 1], 2);
  EXPECT_EQ(b->data(), nullptr);
  auto empty = HugePageBuffer::allocate(0);
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->data(), nullptr);
}

TEST(MappedFile, KeepsExactlyTheWholeBlocksOfItsRangesInHugePagesWithTheSameBytes) {
  const auto path = std::filesystem::temp_directory_path() / "lingua-huge-pages-test.bin";
  const size_t size = (7u << 20) + 123;
  std::vector<uint8_t> bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(size));
  auto file = MappedFile::open(path.string());
  ASSERT_TRUE(file) << file.error();
  const uint8_t* data = file->data();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(data) % kHugePageBytes, 0u);
  auto same_bytes = [&] { return std::equal(bytes.begin(), bytes.end(), file->data()); };

  // [1 MiB, 5 MiB + 7) holds the blocks [2, 4) MiB whole: only that one is copied.
  auto held = file->keep_in_huge_pages({{1u << 20, (5u << 20) + 7}});
  ASSERT_TRUE(held) << held.error();
  EXPECT_EQ(*held, 2u << 20);
  EXPECT_EQ(file->data(), data);
  EXPECT_TRUE(same_bytes());
  EXPECT_EQ(mapping_of(data + (3u << 20)), "");  // anonymous now
  EXPECT_EQ(mapping_of(data + (1u << 20)), path.string());
  EXPECT_EQ(mapping_of(data + (5u << 20)), path.string());

  // The whole file, its partial last block included.
  held = file->keep_in_huge_pages({{0, size}});
  ASSERT_TRUE(held) << held.error();
  EXPECT_GE(*held, size);
  EXPECT_TRUE(same_bytes());
  EXPECT_EQ(mapping_of(data + size - 1), "");

  // Another range: what is outside it goes back to the file.
  held = file->keep_in_huge_pages({{6u << 20, size}});
  ASSERT_TRUE(held) << held.error();
  EXPECT_LT(*held, 2u << 20);
  EXPECT_TRUE(same_bytes());
  EXPECT_EQ(mapping_of(data + (3u << 20)), path.string());
  EXPECT_EQ(mapping_of(data + (6u << 20)), "");

  held = file->keep_in_huge_pages({});
  ASSERT_TRUE(held) << held.error();
  EXPECT_EQ(*held, 0u);
  EXPECT_TRUE(same_bytes());
  EXPECT_EQ(mapping_of(data + size - 1), path.string());

  // More than 80% of the memory available: refused, and the map stays the file's.
  auto too_much = file->keep_in_huge_pages({{0, size}}, 8u << 20);
  ASSERT_FALSE(too_much);
  EXPECT_NE(too_much.error().find("memory available"), std::string::npos) << too_much.error();
  EXPECT_TRUE(same_bytes());
  EXPECT_EQ(mapping_of(data + (3u << 20)), path.string());
  held = file->keep_in_huge_pages({{0, size}}, 10u << 20);  // its 7 MiB fit in 80% of 10 MiB
  ASSERT_TRUE(held) << held.error();
  EXPECT_TRUE(same_bytes());
  held = file->keep_in_huge_pages({});
  ASSERT_TRUE(held);

  auto past = file->keep_in_huge_pages({{0, size + 1}});
  ASSERT_FALSE(past);
  EXPECT_NE(past.error().find("past the end"), std::string::npos);
  file = MappedFile();
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace lingua
