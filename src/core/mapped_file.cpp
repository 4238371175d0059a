// MappedFile over POSIX mmap; every failure becomes a message naming the file.
#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "core/file_kind.h"
#include "core/huge_pages.h"
#include "core/system_memory.h"

namespace lingua {

Expected<MappedFile> MappedFile::open(const std::string& path) {
  // O_NONBLOCK: opening a FIFO would otherwise wait for a writer (a hang instead of the error below).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return Status::error("cannot open '" + path + "': " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::error("cannot stat '" + path + "': " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::error("'" + path + "' is " + file_kind(st.st_mode) + ", not a regular file");
  }
  MappedFile file;
  file.path_ = path;
  file.size_ = static_cast<size_t>(st.st_size);
  if (file.size_ > 0) {
    // At a 2 MiB-aligned address, so that file offsets and addresses agree on huge-page blocks.
    uint8_t* at = reserve_huge_aligned(file.size_);
    void* p = at ? ::mmap(at, file.size_, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0) : MAP_FAILED;
    if (p == MAP_FAILED) {
      const int err = errno;
      if (at) ::munmap(at, file.size_);
      ::close(fd);
      return Status::error("cannot map '" + path + "': " + std::strerror(err));
    }
    file.data_ = static_cast<const uint8_t*>(p);
  }
  file.fd_ = fd;
  return file;
}

Expected<uint64_t> MappedFile::keep_in_huge_pages(const std::vector<std::pair<uint64_t, uint64_t>>& ranges,
                                                  uint64_t memory_available, double max_fraction) {
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t mapped = (size_ + page - 1) / page * page;  // the map's last page is whole
  const size_t blocks = static_cast<size_t>((mapped + kHugePageBytes - 1) / kHugePageBytes);
  std::vector<bool> wanted(blocks, false);
  for (const auto& [begin, end] : ranges) {
    if (begin > end || end > size_) return Status::error("a range past the end of '" + path_ + "'");
    // Whole blocks only: the bytes either side stay file pages, so nothing outside is copied.
    const uint64_t first = (begin + kHugePageBytes - 1) / kHugePageBytes;
    const uint64_t last = end == size_ ? blocks : end / kHugePageBytes;  // one past
    for (uint64_t b = first; b < last; ++b) wanted[static_cast<size_t>(b)] = true;
  }
  huge_blocks_.resize(blocks, false);
  // Blocks no longer wanted go back to the file first, so a boundary move never holds the old and
  // the new range at once (a device with a tight memory limit would be killed over the sum).
  uint64_t released = 0;
  for (size_t b = 0; b < blocks; ++b) {
    if (wanted[b] || !huge_blocks_[b]) continue;
    const uint64_t lo = b * kHugePageBytes, n = std::min<uint64_t>(kHugePageBytes, mapped - lo);
    if (::mmap(const_cast<uint8_t*>(data_) + lo, n, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd_, static_cast<off_t>(lo)) == MAP_FAILED)
      return Status::error("cannot map '" + path_ + "' again: " + std::strerror(errno));
    huge_blocks_[b] = false;
    released += n;
  }
  // The copy is anonymous memory, which cannot be paged out like the file's pages: a model that
  // only just fits (or does not fit) stays mapped from the file rather than risk the OOM killer.
  uint64_t adding = 0;
  for (size_t b = 0; b < blocks; ++b)
    if (wanted[b] && !huge_blocks_[b]) adding += std::min<uint64_t>(kHugePageBytes, mapped - b * kHugePageBytes);
  const uint64_t available = memory_available > 0 ? memory_available + released : available_memory_bytes();
  if (adding > 0 && available > 0 && static_cast<double>(adding) > static_cast<double>(available) * max_fraction)
    return Status::error("holding " + std::to_string(adding >> 20) + " MiB more in huge pages would leave too little of the " +
                         std::to_string(available >> 20) + " MiB of memory available");
  uint64_t held = 0;
  for (size_t b = 0; b < blocks; ++b) {
    const uint64_t lo = b * kHugePageBytes, n = std::min<uint64_t>(kHugePageBytes, mapped - lo);
    auto* at = const_cast<uint8_t*>(data_) + lo;
    if (wanted[b] && !huge_blocks_[b]) {
      LINGUA_ASSIGN_OR_RETURN(HugePageBuffer buffer, HugePageBuffer::allocate(n));
      std::memcpy(buffer.data(), at, n);
      uint8_t* copy = buffer.release();
      ::mprotect(copy, n, PROT_READ);
      // Atomically replaces the file's pages of the block by the copy's.
      if (::mremap(copy, n, n, MREMAP_MAYMOVE | MREMAP_FIXED, at) == MAP_FAILED) {
        const int err = errno;
        ::munmap(copy, n);
        return Status::error(std::string("cannot move a copy into place: ") + std::strerror(err));
      }
      huge_blocks_[b] = true;
      // The file's pages of the block are no longer mapped here: let the kernel drop them now, so a
      // device under a memory limit (a cgroup counts the page cache) does not hold the weights twice.
      ::posix_fadvise(fd_, static_cast<off_t>(lo), static_cast<off_t>(n), POSIX_FADV_DONTNEED);
    }
    if (huge_blocks_[b]) held += n;
  }
  return held;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)),
      path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)), huge_blocks_(std::move(other.huge_blocks_)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    huge_blocks_ = std::move(other.huge_blocks_);
  }
  return *this;
}

MappedFile::~MappedFile() { release(); }

void MappedFile::release() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
  if (fd_ >= 0) ::close(fd_);
  data_ = nullptr;
  size_ = 0;
  fd_ = -1;
  huge_blocks_.clear();
}

}  // namespace lingua
