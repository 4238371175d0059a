// A loaded model: the mmapped GGUF file, its tokenizer, and the op graph its architecture
// builds over the file's weights (which stay in the mapping, never copied).
#pragma once
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/huge_pages.h"
#include "core/status.h"
#include "graph/graph.h"
#include "model/gguf.h"
#include "model/tokenizer.h"

namespace lingua {

class Model {
 public:
  // Errors name the file and the problem (not GGUF, truncated, unknown architecture, ...).
  static Expected<std::unique_ptr<Model>> load(const std::string& path);

  const gguf::File& file() const { return file_; }
  const std::string& architecture() const { return arch_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const Vocab& vocab() const { return tokenizer_->vocab(); }
  const Graph& graph() const { return graph_; }
  // The context the file says the model was trained with (<arch>.context_length, at least 1).
  int64_t file_context() const { return file_context_; }
  // The default context of a run: file_context(), but no more than kMaxDefaultContext. A file may
  // claim anything (2^32-1 in a broken one), and KV caches are priced and reserved for the
  // whole context; -c asks for more.
  int64_t train_context() const { return train_context_; }
  static constexpr int64_t kMaxDefaultContext = int64_t{1} << 17;  // Llama 3's 128K
  uint64_t weight_bytes() const;                             // tensor data in the file
  // Holds exactly the weights ops [first_op, last_op] read in huge pages: the matrices the active
  // kernels multiply faster repacked (kernels/packing.h) as packed copies, the rest as the file's
  // bytes at the same addresses (gguf::File::keep_in_huge_pages). Decode streams them without the
  // page walks of a 4 KiB file map; weights of ops no longer in the range go back to the file
  // (packed copies are freed). Returns the bytes held. `memory_available`: see
  // MappedFile::keep_in_huge_pages (0 = MemAvailable); packed copies count against it first, and
  // matrices that would not fit stay as stored. Only between forward passes.
  Expected<uint64_t> keep_in_huge_pages(int first_op, int last_op, uint64_t memory_available = 0, double max_fraction = 0.8);
  uint64_t packed_bytes() const;  // held by packed copies now

 private:
  Model() = default;
  gguf::File file_;
  std::string arch_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::deque<std::vector<float>> owned_;  // f32 copies of small vectors (norms, biases)
  Graph graph_;
  struct PackedMatrix {
    MatrixView stored;      // the op's view of the file's bytes, restored when it leaves
    HugePageBuffer memory;  // the packed copy the op reads meanwhile
  };
  std::map<int, PackedMatrix> packed_;  // by op id
  int64_t file_context_ = 0, train_context_ = 0;
};

// Only the tokenizer of a GGUF file (vocabulary-only files have no weights).
Expected<std::unique_ptr<Tokenizer>> load_tokenizer(const std::string& path);

}  // namespace lingua
