// A read-only memory map of a whole file: model weights are used in place, or kept in huge pages
// (keep_in_huge_pages) at the same addresses.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace lingua {

class MappedFile {
 public:
  static Expected<MappedFile> open(const std::string& path);
  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Makes the whole 2 MiB blocks inside `ranges` ([begin, end) byte offsets; the last, partial
  // block too when a range reaches the end) exactly the ones held as an anonymous copy in
  // transparent huge pages, at the same addresses so pointers into the map stay valid: blocks
  // newly inside are copied, blocks no longer inside go back to file pages (their memory freed).
  // Decode streams every weight once per token; with 4 KiB pages of a file, the page walks (two
  // levels of them in a VM) after the weights went cold make that up to 2x slower. Returns the
  // bytes now held in huge pages; an error leaves every block readable with the same bytes. It
  // refuses to add more than 80% of the memory available (`memory_available`, measured before the
  // call; 0 = MemAvailable from /proc/meminfo): anonymous memory cannot be paged out. Blocks no
  // longer inside are given back first, and their bytes count as available.
  // `max_fraction`: of the memory available, what the copy may add (a caller under a hard limit
  // that already kept a margin passes 1).
  Expected<uint64_t> keep_in_huge_pages(const std::vector<std::pair<uint64_t, uint64_t>>& ranges,
                                        uint64_t memory_available = 0, double max_fraction = 0.8);

 private:
  void release();
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
  int fd_ = -1;                    // kept open to map blocks back from the file
  std::vector<bool> huge_blocks_;  // per 2 MiB block: held as a copy in huge pages
};

}  // namespace lingua
