// Which file tensors a segment reads, the hash that identifies them with the model's settings (so
// a worker finds its own copy by content, not by file name), the byte ranges a worker without the
// file must be sent, and the sparse copy it builds from them (only its range on disk, never the rest).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "graph/graph.h"
#include "graph/partition.h"
#include "model/gguf.h"

namespace lingua {

struct SegmentWeights {
  std::vector<std::string> tensors;  // names, sorted
  uint64_t hash = 0;                 // hash_segment: what a worker's file must match
  uint64_t tensors_hash = 0;         // hash_tensors alone: tells "other settings" from "other weights"
  uint64_t data_bytes = 0;           // their data
};

// Each tensor's data digest (XXH64 of its bytes) and the metadata hash of one file, each worked
// out once: a boundary move hashes only the tensors new to a segment, not the whole segment again
// (on a device under a quarter-core quota that was most of a move). One per file, by tensor name.
class TensorDigests {
 public:
  uint64_t data(const std::string& name, const gguf::TensorInfo& tensor);
  uint64_t metadata(const gguf::File& file);

 private:
  std::unordered_map<std::string, uint64_t> data_;
  std::optional<uint64_t> metadata_;
};

// TensorDigests per file path, started afresh when the file at the path is another (its device,
// inode, size or modification time changed).
class FileDigests {
 public:
  TensorDigests& of(const std::string& path);

 private:
  struct Entry {
    uint64_t device = 0, inode = 0, size = 0;
    int64_t modified_ns = 0;
    TensorDigests digests;
  };
  std::map<std::string, Entry> files_;
};

// True for the metadata keys that only describe a file: GGUF's general.* namespace (name, author,
// license, source, file_type, alignment...) except general.architecture, which picks the graph
// builder. Every other key may change what the graph computes (hyper-parameters, RoPE and norm
// settings, the vocabulary), now or in a later builder, so all of them count.
bool is_descriptive_metadata(const std::string& key);
// XXH64 over the file's metadata keys that are not descriptive, in key order, with their types
// and values.
uint64_t hash_metadata(const gguf::File& file);
// XXH64 over each named tensor's name, type, dims and data digest, in the order given. Error when
// a tensor is missing from the file. `digests` (the file's, or none) remembers the data digests.
Expected<uint64_t> hash_tensors(const gguf::File& file, const std::vector<std::string>& names, TensorDigests* digests = nullptr);
// The identity of a segment's weights: hash_metadata and hash_tensors together. Two files with
// equal tensors but another RoPE base, say, compute other tokens, so they must not match.
Expected<uint64_t> hash_segment(const gguf::File& file, const std::vector<std::string>& names, TensorDigests* digests = nullptr);
Expected<SegmentWeights> segment_weights(const gguf::File& file, const Graph& graph, const Segment& segment,
                                         TensorDigests* digests = nullptr);

// [offset, offset + bytes) pieces of the file a worker needs to rebuild the segment: the header
// (metadata and tensor table) and each tensor's data, merged where they touch.
struct FileRange {
  uint64_t offset = 0, bytes = 0;
};
std::vector<FileRange> segment_file_ranges(const gguf::File& file, const std::vector<std::string>& names);

// The first file among `candidates` (paths; missing or unreadable ones are skipped) and the
// *.gguf files of each of `dirs` ("" and missing ones skipped), in that order, whose segment
// `names` hash (hash_segment) to `hash`; path "" when none does. `other_settings`: files passed
// over because they hold those very tensors (tensors_hash, when not 0) but other metadata, so
// the worker can say why it does not use them. `digests` remembers what was hashed, per file.
struct FileMatch {
  std::string path;
  std::vector<std::string> other_settings;
};
FileMatch find_matching_file(const std::vector<std::string>& candidates, const std::vector<std::string>& dirs,
                             const std::vector<std::string>& names, uint64_t hash, uint64_t tensors_hash = 0,
                             FileDigests* digests = nullptr);

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
