// Model loading: GGUF -> vocabulary/tokenizer -> architecture graph builder.
#include "model/model.h"

#include <algorithm>

#include "graph/partition.h"
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

Expected<uint64_t> Model::keep_in_huge_pages(int first_op, int last_op, uint64_t memory_available, double max_fraction) {
  return file_.keep_in_huge_pages(segment_tensors(graph_, Segment{std::max(0, first_op), std::min(last_op, graph_.size() - 1)}),
                                  memory_available, max_fraction);
}

}  // namespace lingua
