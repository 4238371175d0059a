// Model loading: GGUF -> vocabulary/tokenizer -> architecture graph builder.
#include "model/model.h"

#include <algorithm>
#include <set>

#include "core/system_memory.h"
#include "graph/partition.h"
#include "kernels/packing.h"
#include "model/arch_builder.h"

namespace lingua {

Expected<std::unique_ptr<Model>> Model::load(const std::string& path) {
  std::unique_ptr<Model> m(new Model());
  LINGUA_ASSIGN_OR_RETURN(m->file_, gguf::File::open(path));
  auto arch = m->file_.get_string("general.architecture");
  if (!arch) return arch.status().with_context(path);
  m->arch_ = *arch;
  auto def = find_architecture(m->arch_);
  if (!def) return def.status().with_context(path);
  auto vocab = Vocab::from_gguf(m->file_);
  if (!vocab) return vocab.status().with_context(path);
  auto tok = Tokenizer::create(std::move(*vocab));
  if (!tok) return tok.status().with_context(path);
  m->tokenizer_ = std::move(*tok);

  ArchBuilder builder(m->file_, m->arch_, m->owned_);
  (*def)->build(builder);
  auto graph = builder.finish();
  if (!graph) return graph.status().with_context(path);
  m->graph_ = std::move(*graph);
  if (m->graph_.vocab_size() != m->vocab().size())
    return Status::error(path + ": the output layer has " + std::to_string(m->graph_.vocab_size()) +
                         " rows but the vocabulary has " + std::to_string(m->vocab().size()) + " tokens");
  const std::string ctx_key = m->arch_ + ".context_length";
  auto ctx = m->file_.get_u64_or(ctx_key, 2048);
  if (!ctx) return ctx.status().with_context(path);
  if (*ctx == 0) return Status::error(path + ": metadata " + ctx_key + " is 0, but a model needs a context of at least 1 position");
  m->file_context_ = static_cast<int64_t>(std::min<uint64_t>(*ctx, INT64_MAX));
  m->train_context_ = std::min(m->file_context_, kMaxDefaultContext);
  return m;
}

Expected<std::unique_ptr<Tokenizer>> load_tokenizer(const std::string& path) {
  LINGUA_ASSIGN_OR_RETURN(gguf::File file, gguf::File::open(path));
  auto vocab = Vocab::from_gguf(file);
  if (!vocab) return vocab.status().with_context(path);
  auto tok = Tokenizer::create(std::move(*vocab));
  if (!tok) return tok.status().with_context(path);
  return std::move(*tok);
}

uint64_t Model::weight_bytes() const {
  uint64_t total = 0;
  for (const auto& t : file_.tensors()) total += t.bytes;
  return total;
}

uint64_t Model::packed_bytes() const {
  uint64_t total = 0;
  for (const auto& [id, p] : packed_) total += p.memory.size();
  return total;
}

Expected<uint64_t> Model::keep_in_huge_pages(int first_op, int last_op, uint64_t memory_available, double max_fraction) {
  const Segment seg{std::max(0, first_op), std::min(last_op, graph_.size() - 1)};
  // Ops that left the range read the file again; their packed copies go first, so a boundary
  // move never holds the old and the new copies at once.
  for (auto it = packed_.begin(); it != packed_.end();) {
    if (it->first >= seg.first_op && it->first <= seg.last_op) {
      ++it;
      continue;
    }
    graph_.set_weight(it->first, it->second.stored);
    it = packed_.erase(it);
  }
  // Packed copies are anonymous memory like the huge-page copy, under the same limit.
  const uint64_t available = memory_available > 0 ? memory_available : available_memory_bytes();
  double budget = available > 0 ? static_cast<double>(available) * max_fraction : 0.0;
  for (int id = seg.first_op; id <= seg.last_op; ++id) {
    const Op& op = graph_.op(id);
    if (op.kind != OpKind::kMatMul || packed_.count(id)) continue;
    const size_t bytes = kernels::packed_bytes(op.weight);
    if (bytes == 0 || (available > 0 && static_cast<double>(bytes) > budget)) continue;
    auto memory = HugePageBuffer::allocate(bytes);
    if (!memory) continue;  // the file's bytes work as well, only slower
    budget -= static_cast<double>(bytes);
    PackedMatrix p{op.weight, std::move(*memory)};
    graph_.set_weight(id, kernels::pack_weights(op.weight, p.memory.data()));
    packed_.emplace(id, std::move(p));
  }
  // The file's bytes of everything else the range reads: the matrix of a packed op is not among
  // them unless an unpacked op (a tied embedding) reads it too.
  std::set<std::string> wanted;
  for (int id = seg.first_op; id <= seg.last_op; ++id) {
    const auto packed = packed_.find(id);
    for (const WeightRef& w : graph_.op(id).weights) {
      const gguf::TensorInfo* t = packed == packed_.end() ? nullptr : file_.find_tensor(w.tensor);
      if (!t || t->data != packed->second.stored.data) wanted.insert(w.tensor);
    }
  }
  const uint64_t packed_total = packed_bytes();
  const uint64_t left = memory_available > packed_total ? memory_available - packed_total : (memory_available > 0 ? 1 : 0);
  LINGUA_ASSIGN_OR_RETURN(uint64_t held, file_.keep_in_huge_pages({wanted.begin(), wanted.end()}, left, max_fraction));
  return held + packed_total;
}

}  // namespace lingua
