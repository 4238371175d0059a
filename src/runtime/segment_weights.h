// Which file tensors a segment reads, the hash that identifies them (so a worker finds its own
// copy by content, not by file name), the byte ranges a worker without the file must be sent,
// and the sparse copy it builds from them (only its range on disk, never the rest).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/graph.h"
#include "graph/partition.h"
#include "model/gguf.h"

namespace lingua {

struct SegmentWeights {
  std::vector<std::string> tensors;  // names, sorted
  uint64_t hash = 0;                 // see hash_tensors
  uint64_t data_bytes = 0;           // their data
};

// XXH64 over each named tensor's name, type, dims and data, in the order given. Error when a
// tensor is missing from the file.
Expected<uint64_t> hash_tensors(const gguf::File& file, const std::vector<std::string>& names);
Expected<SegmentWeights> segment_weights(const gguf::File& file, const Graph& graph, const Segment& segment);

// [offset, offset + bytes) pieces of the file a worker needs to rebuild the segment: the header
// (metadata and tensor table) and each tensor's data, merged where they touch.
struct FileRange {
  uint64_t offset = 0, bytes = 0;
};
std::vector<FileRange> segment_file_ranges(const gguf::File& file, const std::vector<std::string>& names);

// The first file among `candidates` (paths; missing or unreadable ones are skipped) and the
// *.gguf files of `dir` whose tensors `names` hash to `hash`; "" when none does.
std::string find_matching_file(const std::vector<std::string>& candidates, const std::string& dir,
                               const std::vector<std::string>& names, uint64_t hash);

// Receives the ranges of a file into a sparse file of its full size in `dir`, then checks the
// hash and gives it its final name (segment-HASH.gguf).
class SparseFileReceiver {
 public:
  static Expected<SparseFileReceiver> create(const std::string& dir, uint64_t file_size, uint64_t hash);
  SparseFileReceiver(SparseFileReceiver&&) noexcept;
  SparseFileReceiver& operator=(SparseFileReceiver&&) noexcept;
  ~SparseFileReceiver();
  // One piece: WEIGHTS payload (8-byte little-endian offset, then bytes).
  Status write(const std::vector<uint8_t>& payload);
  uint64_t received() const { return received_; }
  // Closes, verifies the tensors' hash, renames; returns the final path.
  Expected<std::string> finish(const std::vector<std::string>& names);

 private:
  SparseFileReceiver() = default;
  int fd_ = -1;
  std::string partial_, final_;
  uint64_t size_ = 0, hash_ = 0, received_ = 0;
};

std::string hash_hex(uint64_t hash);
Expected<uint64_t> parse_hash_hex(const std::string& text);

}  // namespace lingua
