// HugePageBuffer over anonymous mmap with MADV_HUGEPAGE.
#include "core/huge_pages.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace lingua {

uint8_t* reserve_huge_aligned(uint64_t bytes) {
  void* p = ::mmap(nullptr, bytes + kHugePageBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  auto* base = static_cast<uint8_t*>(p);
  auto* aligned =
      reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(base) + kHugePageBytes - 1) & ~(kHugePageBytes - 1));
  if (aligned > base) ::munmap(base, static_cast<size_t>(aligned - base));
  const auto tail = static_cast<size_t>(base + bytes + kHugePageBytes - (aligned + bytes));
  if (tail > 0) ::munmap(aligned + bytes, tail);
  return aligned;
}

Expected<HugePageBuffer> HugePageBuffer::allocate(uint64_t bytes) {
  HugePageBuffer b;
  if (bytes == 0) return b;
  uint8_t* at = reserve_huge_aligned(bytes);
  if (!at || ::mmap(at, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
    const int err = errno;
    if (at) ::munmap(at, bytes);
    return Status::error("cannot allocate " + std::to_string(bytes >> 20) + " MiB: " + std::strerror(err));
  }
  ::madvise(at, bytes, MADV_HUGEPAGE);  // a hint; refused where the kernel has no huge pages
  b.data_ = at;
  b.size_ = bytes;
  return b;
}

HugePageBuffer::HugePageBuffer(HugePageBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

HugePageBuffer& HugePageBuffer::operator=(HugePageBuffer&& other) noexcept {
  if (this != &other) {
    if (data_) ::munmap(data_, size_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

HugePageBuffer::~HugePageBuffer() {
  if (data_) ::munmap(data_, size_);
}

uint8_t* HugePageBuffer::release() {
  size_ = 0;
  return std::exchange(data_, nullptr);
}

}  // namespace lingua
