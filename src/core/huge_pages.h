// Memory in 2 MiB transparent huge pages: decode streams every weight once per token, and with
// 4 KiB pages the page walks (two levels of them in a VM) cost up to 2x once the TLB has gone cold.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/status.h"

namespace lingua {

constexpr uint64_t kHugePageBytes = 2ull << 20;

// `bytes` of inaccessible address space starting at a 2 MiB boundary (to be mapped over with
// MAP_FIXED), or nullptr.
uint8_t* reserve_huge_aligned(uint64_t bytes);

// Anonymous read-write memory at a 2 MiB boundary, advised to the kernel as huge pages (where it
// has them: otherwise ordinary pages, which work the same).
class HugePageBuffer {
 public:
  static Expected<HugePageBuffer> allocate(uint64_t bytes);
  HugePageBuffer() = default;
  HugePageBuffer(HugePageBuffer&& other) noexcept;
  HugePageBuffer& operator=(HugePageBuffer&& other) noexcept;
  HugePageBuffer(const HugePageBuffer&) = delete;
  HugePageBuffer& operator=(const HugePageBuffer&) = delete;
  ~HugePageBuffer();

  uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  // Gives up ownership (the caller unmaps it, or maps something else over it).
  uint8_t* release();

 private:
  uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace lingua
