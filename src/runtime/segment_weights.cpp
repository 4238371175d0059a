// Segment weights: content hashes with XXH64, ranges from the GGUF tensor table, and a sparse
// receiving file written with pwrite (holes where the segment needs nothing).
#include "runtime/segment_weights.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <type_traits>

namespace lingua {

namespace fs = std::filesystem;

std::string hash_hex(uint64_t hash) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(hash));
  return buf;
}

Expected<uint64_t> parse_hash_hex(const std::string& text) {
  if (text.size() != 16 || text.find_first_not_of("0123456789abcdef") != std::string::npos)
    return Status::error("not a 16-digit hexadecimal hash: '" + text + "'");
  return static_cast<uint64_t>(std::stoull(text, nullptr, 16));
}

namespace {

using HashState = std::unique_ptr<XXH64_state_t, decltype(&XXH64_freeState)>;

HashState new_hash_state() {
  HashState st(XXH64_createState(), XXH64_freeState);
  if (st) XXH64_reset(st.get(), 0);
  return st;
}

template <class T>
void hash_pod(XXH64_state_t* st, const T& v) {
  XXH64_update(st, &v, sizeof v);
}

// A value with its type tag and, for strings and arrays, its length first: no two different
// values hash the same bytes.
void hash_value(XXH64_state_t* st, const gguf::Value& v) {
  hash_pod(st, static_cast<uint32_t>(v.type));
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          hash_pod(st, static_cast<uint64_t>(x.size()));
          XXH64_update(st, x.data(), x.size());
        } else if constexpr (std::is_same_v<T, std::shared_ptr<gguf::Array>>) {
          if (!x) return hash_pod(st, uint64_t{0});
          hash_pod(st, static_cast<uint32_t>(x->element_type));
          hash_pod(st, static_cast<uint64_t>(x->items.size()));
          for (const gguf::Value& item : x->items) hash_value(st, item);
        } else {
          hash_pod(st, x);
        }
      },
      v.data);
}

// The file's metadata hash, remembered in `digests` when given.
uint64_t metadata_hash(const gguf::File& file, TensorDigests* digests) {
  return digests ? digests->metadata(file) : hash_metadata(file);
}

uint64_t combine(uint64_t metadata, uint64_t tensors) {
  const uint64_t both[2] = {metadata, tensors};
  return static_cast<uint64_t>(XXH64(both, sizeof both, 0));
}

}  // namespace

uint64_t TensorDigests::data(const std::string& name, const gguf::TensorInfo& tensor) {
  auto it = data_.find(name);
  if (it != data_.end()) return it->second;
  const auto digest = static_cast<uint64_t>(XXH64(tensor.data, tensor.bytes, 0));
  data_.emplace(name, digest);
  return digest;
}

uint64_t TensorDigests::metadata(const gguf::File& file) {
  if (!metadata_) metadata_ = hash_metadata(file);
  return *metadata_;
}

TensorDigests& FileDigests::of(const std::string& path) {
  struct stat st {};
  Entry now;
  if (::stat(path.c_str(), &st) == 0) {
    now.device = static_cast<uint64_t>(st.st_dev);
    now.inode = static_cast<uint64_t>(st.st_ino);
    now.size = static_cast<uint64_t>(st.st_size);
    now.modified_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  }
  Entry& e = files_[path];
  if (e.device != now.device || e.inode != now.inode || e.size != now.size || e.modified_ns != now.modified_ns) e = std::move(now);
  return e.digests;
}

bool is_descriptive_metadata(const std::string& key) {
  return key.rfind("general.", 0) == 0 && key != "general.architecture";
}

uint64_t hash_metadata(const gguf::File& file) {
  std::vector<const std::pair<std::string, gguf::Value>*> kept;
  for (const auto& kv : file.metadata())
    if (!is_descriptive_metadata(kv.first)) kept.push_back(&kv);
  std::sort(kept.begin(), kept.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  HashState st = new_hash_state();
  if (!st) return 0;
  for (const auto* kv : kept) {
    XXH64_update(st.get(), kv->first.data(), kv->first.size() + 1);
    hash_value(st.get(), kv->second);
  }
  return static_cast<uint64_t>(XXH64_digest(st.get()));
}

Expected<uint64_t> hash_tensors(const gguf::File& file, const std::vector<std::string>& names, TensorDigests* digests) {
  HashState st = new_hash_state();
  if (!st) return Status::error("out of memory");
  for (const std::string& name : names) {
    const gguf::TensorInfo* t = file.find_tensor(name);
    if (!t) return Status::error("the file has no tensor " + name);
    XXH64_update(st.get(), name.data(), name.size() + 1);
    const uint32_t type = static_cast<uint32_t>(t->type);
    XXH64_update(st.get(), &type, sizeof type);
    for (uint64_t d : t->dims) XXH64_update(st.get(), &d, sizeof d);
    const uint64_t data = digests ? digests->data(name, *t) : static_cast<uint64_t>(XXH64(t->data, t->bytes, 0));
    XXH64_update(st.get(), &data, sizeof data);
  }
  return static_cast<uint64_t>(XXH64_digest(st.get()));
}

Expected<uint64_t> hash_segment(const gguf::File& file, const std::vector<std::string>& names, TensorDigests* digests) {
  LINGUA_ASSIGN_OR_RETURN(uint64_t tensors, hash_tensors(file, names, digests));
  return combine(metadata_hash(file, digests), tensors);
}

Expected<SegmentWeights> segment_weights(const gguf::File& file, const Graph& graph, const Segment& segment, TensorDigests* digests) {
  SegmentWeights r;
  r.tensors = segment_tensors(graph, segment);
  for (const std::string& n : r.tensors)
    if (const gguf::TensorInfo* t = file.find_tensor(n)) r.data_bytes += t->bytes;
  LINGUA_ASSIGN_OR_RETURN(r.tensors_hash, hash_tensors(file, r.tensors, digests));
  r.hash = combine(metadata_hash(file, digests), r.tensors_hash);
  return r;
}

std::vector<FileRange> segment_file_ranges(const gguf::File& file, const std::vector<std::string>& names) {
  std::vector<FileRange> ranges = {{0, file.data_offset()}};
  for (const std::string& n : names)
    if (const gguf::TensorInfo* t = file.find_tensor(n)) ranges.push_back({file.data_offset() + t->offset, t->bytes});
  std::sort(ranges.begin(), ranges.end(), [](const FileRange& a, const FileRange& b) { return a.offset < b.offset; });
  std::vector<FileRange> merged;
  for (const FileRange& r : ranges) {
    if (!merged.empty() && merged.back().offset + merged.back().bytes >= r.offset) {
      const uint64_t end = std::max(merged.back().offset + merged.back().bytes, r.offset + r.bytes);
      merged.back().bytes = end - merged.back().offset;
    } else if (r.bytes > 0) {
      merged.push_back(r);
    }
  }
  return merged;
}

FileMatch find_matching_file(const std::vector<std::string>& candidates, const std::vector<std::string>& dirs,
                             const std::vector<std::string>& names, uint64_t hash, uint64_t tensors_hash,
                             FileDigests* digests) {
  FileMatch match;
  std::vector<std::string> paths = candidates;
  std::error_code ec;
  for (const std::string& dir : dirs)
    if (!dir.empty() && fs::is_directory(dir, ec))
      for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.path().extension() == ".gguf") paths.push_back(e.path().string());
  for (const std::string& p : paths) {
    if (p.empty() || !fs::is_regular_file(p, ec)) continue;
    auto file = gguf::File::open(p);
    if (!file) continue;
    TensorDigests* known = digests ? &digests->of(p) : nullptr;
    auto t = hash_tensors(*file, names, known);
    if (!t) continue;
    if (combine(metadata_hash(*file, known), *t) == hash) {
      match.path = p;
      return match;
    }
    if (tensors_hash != 0 && *t == tensors_hash) match.other_settings.push_back(p);
  }
  return match;
}

SparseFileReceiver::SparseFileReceiver(SparseFileReceiver&& o) noexcept { *this = std::move(o); }
SparseFileReceiver& SparseFileReceiver::operator=(SparseFileReceiver&& o) noexcept {
  std::swap(fd_, o.fd_);
  std::swap(partial_, o.partial_);
  std::swap(final_, o.final_);
  std::swap(size_, o.size_);
  std::swap(hash_, o.hash_);
  std::swap(received_, o.received_);
  return *this;
}

SparseFileReceiver::~SparseFileReceiver() {
  if (fd_ >= 0) {
    ::close(fd_);
    std::error_code ec;
    fs::remove(partial_, ec);  // an unfinished copy is never left looking like a model
  }
}

Expected<SparseFileReceiver> SparseFileReceiver::create(const std::string& dir, uint64_t file_size, uint64_t hash) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::error("cannot create the models directory " + dir + ": " + ec.message());
  SparseFileReceiver r;
  r.size_ = file_size;
  r.hash_ = hash;
  r.final_ = (fs::path(dir) / ("segment-" + hash_hex(hash) + ".gguf")).string();
  r.partial_ = r.final_ + ".partial";
  r.fd_ = ::open(r.partial_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (r.fd_ < 0) return Status::error("cannot write " + r.partial_);
  if (::ftruncate(r.fd_, static_cast<off_t>(file_size)) != 0) return Status::error("cannot size " + r.partial_);
  return r;
}

Status SparseFileReceiver::write(const std::vector<uint8_t>& payload) {
  if (payload.size() < 8) return Status::error("a WEIGHTS piece without its offset");
  uint64_t offset = 0;
  for (int i = 7; i >= 0; --i) offset = (offset << 8) | payload[static_cast<size_t>(i)];
  const uint64_t n = payload.size() - 8;
  if (offset > size_ || n > size_ - offset) return Status::error("a WEIGHTS piece beyond the end of the file");
  uint64_t done = 0;
  while (done < n) {
    const ssize_t w = ::pwrite(fd_, payload.data() + 8 + done, n - done, static_cast<off_t>(offset + done));
    if (w <= 0) return Status::error("cannot write " + partial_ + " (disk full?)");
    done += static_cast<uint64_t>(w);
  }
  received_ += n;
  return Status::ok();
}

Expected<std::string> SparseFileReceiver::finish(const std::vector<std::string>& names) {
  ::close(fd_);
  fd_ = -1;
  auto file = gguf::File::open(partial_);
  std::error_code ec;
  if (!file) {
    fs::remove(partial_, ec);
    return Status::error("the received model file is not valid: " + file.error());
  }
  auto h = hash_segment(*file, names);
  if (!h || *h != hash_) {
    fs::remove(partial_, ec);
    return Status::error("the received weights do not match their hash");
  }
  fs::rename(partial_, final_, ec);
  if (ec) return Status::error("cannot rename " + partial_ + ": " + ec.message());
  return final_;
}

}  // namespace lingua
