// Executor: buffer planning by liveness, per-op dispatch to kernels, attention over the KV cache.
#include "graph/executor.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/kernels.h"

namespace lingua {

std::vector<float> alibi_slopes(int64_t n_heads, float max_bias) {
  if (max_bias <= 0.0f) return {};
  // The largest power of two <= n_heads gets slopes m0^1..m0^n; the remaining heads interleave
  // between them with odd powers of m1 (as in the ALiBi paper and ggml's soft_max_ext).
  int64_t pow2 = 1;
  while (pow2 * 2 <= n_heads) pow2 *= 2;
  const float m0 = std::pow(2.0f, -max_bias / static_cast<float>(pow2));
  const float m1 = std::pow(2.0f, -(max_bias / 2.0f) / static_cast<float>(pow2));
  std::vector<float> slopes(static_cast<size_t>(n_heads));
  for (int64_t h = 0; h < n_heads; ++h)
    slopes[static_cast<size_t>(h)] = h < pow2 ? std::pow(m0, static_cast<float>(h + 1))
                                              : std::pow(m1, static_cast<float>(2 * (h - pow2) + 1));
  return slopes;
}

Executor::Executor(const Graph& graph, const ExecutorConfig& config) : graph_(&graph), config_(config) {}

Expected<Executor> Executor::create(const Graph& graph, const ExecutorConfig& config) {
  LINGUA_TRY(graph.validate());
  if (config.context <= 0) return Status::error("context size must be positive");
  if (config.max_batch <= 0) return Status::error("batch size must be positive");
  ExecutorConfig c = config;
  if (c.segment.last_op < 0) c.segment.last_op = graph.size() - 1;
  if (c.segment.first_op < 0 || c.segment.first_op > c.segment.last_op || c.segment.last_op >= graph.size())
    return Status::error("segment ops " + std::to_string(c.segment.first_op) + ".." + std::to_string(c.segment.last_op) +
                         " are not a range of the graph's " + std::to_string(graph.size()) + " ops");
  Executor ex(graph, c);
  bool first_attention = true;
  std::vector<char> imported(static_cast<size_t>(graph.size()), 0), exported(static_cast<size_t>(graph.size()), 0);
  for (const Op& op : graph.ops()) {
    if (op.kind == OpKind::kAttention) ex.first_tail_op_ = op.id + 1;
    const bool inside = ex.in_segment(op.id);
    if (inside && op.kind == OpKind::kAttention) {
      if (first_attention) ex.kv_base_ = op.kv_slot;
      first_attention = false;
    }
    if (inside && op.kind == OpKind::kEmbed) ex.embeds_ = true;
    for (int in : op.inputs) {
      if (inside && !ex.in_segment(in)) imported[static_cast<size_t>(in)] = 1;
      if (!inside && ex.in_segment(in)) exported[static_cast<size_t>(in)] = 1;
    }
  }
  exported[static_cast<size_t>(graph.output())] = ex.in_segment(graph.output());
  for (int id = 0; id < graph.size(); ++id) {
    if (imported[static_cast<size_t>(id)]) ex.imports_.push_back(id);
    if (exported[static_cast<size_t>(id)]) ex.exports_.push_back(id);
  }
  ex.import_set_.assign(ex.imports_.size(), 0);
  if (c.max_sequences <= 0) return Status::error("the number of sequences must be positive");
  ex.kv_layers_ = KVCache::layers_of(graph, c.segment.first_op, c.segment.last_op);
  LINGUA_TRY(KVCache::check_fits(ex.kv_layers_, c.context));
  ex.plan_buffers();
  return ex;
}

void Executor::plan_buffers() {
  const int n_ops = graph_->size();
  const int end = config_.segment.last_op + 1;
  std::vector<int> last_use(static_cast<size_t>(n_ops), -1);
  for (int id = config_.segment.first_op; id < end; ++id)
    for (int in : graph_->op(id).inputs) last_use[static_cast<size_t>(in)] = std::max(last_use[static_cast<size_t>(in)], id);
  for (int id : exports_) last_use[static_cast<size_t>(id)] = n_ops;  // read after the segment ran

  buffer_of_.assign(static_cast<size_t>(n_ops), -1);
  int n_buffers = 0;
  for (int id : imports_) buffer_of_[static_cast<size_t>(id)] = n_buffers++;  // filled by set_input, never reused
  std::vector<int> free_list;
  for (int id = config_.segment.first_op; id < end; ++id) {
    const Op& op = graph_->op(id);
    int b;
    if (!free_list.empty()) {
      b = free_list.back();
      free_list.pop_back();
    } else {
      b = n_buffers++;
    }
    buffer_of_[static_cast<size_t>(id)] = b;
    // Release the buffers whose last reader is this op, and this op's own if nobody reads it.
    for (int in : op.inputs)
      if (in_segment(in) && last_use[static_cast<size_t>(in)] == id &&
          std::find(free_list.begin(), free_list.end(), buffer_of_[static_cast<size_t>(in)]) == free_list.end())
        free_list.push_back(buffer_of_[static_cast<size_t>(in)]);
    if (last_use[static_cast<size_t>(id)] < 0) free_list.push_back(b);
  }
  buffers_.resize(static_cast<size_t>(n_buffers));
  rows_.assign(static_cast<size_t>(n_ops), 0);
  compact_.assign(static_cast<size_t>(n_ops), 0);
}

int64_t Executor::rows_of(int op, int64_t rows, int64_t groups, bool all_logits) const {
  return !all_logits && op >= first_tail_op_ ? groups : rows;
}

KVCache* Executor::kv_cache(uint64_t sequence) {
  const auto it = caches_.find(sequence);
  return it == caches_.end() ? nullptr : &it->second;
}

const KVCache* Executor::kv_cache(uint64_t sequence) const {
  const auto it = caches_.find(sequence);
  return it == caches_.end() ? nullptr : &it->second;
}

Expected<KVCache*> Executor::open_sequence(uint64_t sequence) {
  if (KVCache* kv = kv_cache(sequence)) return kv;
  if (sequences() >= config_.max_sequences)
    return Status::error("sequence " + std::to_string(sequence) + " would exceed the limit of " +
                         std::to_string(config_.max_sequences) + " sequences holding a KV cache (end one first)");
  LINGUA_ASSIGN_OR_RETURN(KVCache kv, KVCache::create(kv_layers_, config_.context));
  return &caches_.emplace(sequence, std::move(kv)).first->second;
}

void Executor::end_sequence(uint64_t sequence) { caches_.erase(sequence); }

uint64_t Executor::kv_bytes() const {
  uint64_t total = 0;
  for (const auto& [sequence, kv] : caches_) total += kv.bytes();
  return total;
}

uint64_t Executor::activation_bytes() const {
  uint64_t total = 0;
  for (const auto& b : buffers_) total += b.capacity() * sizeof(float);
  for (const auto& g : gathered_) total += g.capacity() * sizeof(float);
  for (const auto& s : scratch_)
    total += s.scores.capacity() * sizeof(float) + (s.keys.capacity() + s.values.capacity()) * sizeof(const float*);
  return total;
}

Status Executor::set_input(int op, const float* data, int64_t rows) {
  const auto it = std::find(imports_.begin(), imports_.end(), op);
  if (it == imports_.end())
    return Status::error("op " + std::to_string(op) + " is not an input of segment " +
                         std::to_string(config_.segment.first_op) + ".." + std::to_string(config_.segment.last_op));
  if (rows <= 0 || rows > config_.max_batch)
    return Status::error("input '" + graph_->op(op).name + "' has " + std::to_string(rows) + " rows");
  auto& buf = buffer(op);
  const size_t count = static_cast<size_t>(rows * graph_->op(op).out_dim);
  if (buf.size() < count) buf.resize(count);
  std::copy(data, data + count, buf.begin());
  rows_[static_cast<size_t>(op)] = rows;
  import_set_[static_cast<size_t>(it - imports_.begin())] = 1;
  return Status::ok();
}

const float* Executor::output(int op) const {
  if (std::find(exports_.begin(), exports_.end(), op) == exports_.end()) return nullptr;
  return buffer(op).data();
}

Status Executor::check_batch(const std::vector<BatchGroup>& groups, bool all_logits) const {
  if (groups.empty()) return Status::error("no tokens to evaluate");
  // In a batch of several sequences an error names the one it is about, so a caller can drop it.
  const bool several = groups.size() > 1;
  auto group_error = [&](const BatchGroup& b, const std::string& what) {
    return Status::error(several ? "sequence " + std::to_string(b.sequence) + ": " + what : what);
  };
  int64_t total = 0;
  int new_sequences = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    const BatchGroup& b = groups[g];
    if (b.n <= 0) return group_error(b, "no tokens to evaluate");
    total += b.n;
    if (b.pos0 < 0 || b.pos0 + b.n > config_.context)
      return group_error(b, "context is full: positions " + std::to_string(b.pos0) + ".." + std::to_string(b.pos0 + b.n - 1) +
                                " do not fit in a context of " + std::to_string(config_.context) + " tokens");
    for (size_t h = 0; h < g; ++h)
      if (groups[h].sequence == b.sequence)
        return Status::error("sequence " + std::to_string(b.sequence) + " appears twice in one batch");
    if (!kv_cache(b.sequence)) ++new_sequences;
    if (embeds_) {
      if (!b.tokens) return group_error(b, "this segment embeds tokens but was given none");
      const int64_t vocab_rows = graph_->op(0).weight.rows;
      for (int64_t i = 0; i < b.n; ++i)
        if (b.tokens[i] < 0 || b.tokens[i] >= vocab_rows)
          return group_error(b, "token id " + std::to_string(b.tokens[i]) + " is outside the vocabulary of " +
                                    std::to_string(vocab_rows));
    }
  }
  if (total > config_.max_batch)
    return Status::error("batch of " + std::to_string(total) + " tokens" +
                         (groups.size() > 1 ? " (" + std::to_string(groups.size()) + " sequences)" : std::string()) +
                         " exceeds the maximum of " + std::to_string(config_.max_batch) + " (max_batch)");
  if (sequences() + new_sequences > config_.max_sequences)
    return Status::error("a batch with " + std::to_string(new_sequences) + " new sequences would exceed the limit of " +
                         std::to_string(config_.max_sequences) + " sequences holding a KV cache (end one first)");
  const auto n_groups = static_cast<int64_t>(groups.size());
  for (size_t i = 0; i < imports_.size(); ++i) {
    const int op = imports_[i];
    if (!import_set_[i] || rows_[static_cast<size_t>(op)] != rows_of(op, total, n_groups, all_logits))
      return Status::error("input '" + graph_->op(op).name + "' was not handed in for this batch");
  }
  return Status::ok();
}

void Executor::lay_out_rows(const std::vector<BatchGroup>& groups, bool all_logits) {
  group_start_.clear();
  row_group_.clear();
  row_position_.clear();
  row_token_.clear();
  last_rows_.clear();
  for (size_t g = 0; g < groups.size(); ++g) {
    const BatchGroup& b = groups[g];
    group_start_.push_back(static_cast<int64_t>(row_group_.size()));
    for (int64_t i = 0; i < b.n; ++i) {
      row_group_.push_back(static_cast<int64_t>(g));
      row_position_.push_back(b.pos0 + i);
      if (embeds_) row_token_.push_back(b.tokens[i]);
    }
    last_rows_.push_back(static_cast<int64_t>(row_group_.size()) - 1);
  }
  const auto total = static_cast<int64_t>(row_group_.size());
  const auto n_groups = static_cast<int64_t>(groups.size());
  for (const Op& op : graph_->ops()) {
    const auto id = static_cast<size_t>(op.id);
    rows_[id] = rows_of(op.id, total, n_groups, all_logits);
    compact_[id] = !all_logits && op.id >= first_tail_op_;
  }
}

Status Executor::forward_batch(const std::vector<BatchGroup>& groups, ThreadPool& pool, std::vector<float>& logits,
                               bool all_logits) {
  LINGUA_TRY(check_batch(groups, all_logits));
  std::fill(import_set_.begin(), import_set_.end(), 0);  // inputs serve one call, even a failed one
  group_caches_.clear();
  for (const BatchGroup& b : groups) {
    LINGUA_ASSIGN_OR_RETURN(KVCache* kv, open_sequence(b.sequence));
    group_caches_.push_back(kv);
  }
  lay_out_rows(groups, all_logits);

  for (int id = config_.segment.first_op; id <= config_.segment.last_op; ++id) {
    const Op& op = graph_->op(id);
    auto& buf = buffer(id);
    const size_t need = static_cast<size_t>(rows_[static_cast<size_t>(id)] * op.out_dim);
    if (buf.size() < need) buf.resize(need);
    run_op(op, pool);
    if (after_op_) after_op_();
  }
  if (!in_segment(graph_->output())) {
    logits.clear();
    return Status::ok();
  }
  // Each group's last row, or every row; an output computed on every row (a graph whose last op
  // is attention) gives up its last rows here.
  const Op& out = graph_->op(graph_->output());
  const float* result = buffer(out.id).data();
  const auto width = static_cast<size_t>(out.out_dim);
  if (all_logits || compact_[static_cast<size_t>(out.id)]) {
    logits.assign(result, result + static_cast<size_t>(rows_[static_cast<size_t>(out.id)]) * width);
  } else {
    logits.resize(last_rows_.size() * width);
    for (size_t g = 0; g < last_rows_.size(); ++g)
      std::copy_n(result + static_cast<size_t>(last_rows_[g]) * width, width, logits.begin() + static_cast<std::ptrdiff_t>(g * width));
  }
  return Status::ok();
}

const float* Executor::input(const Op& op, size_t i) {
  const int producer = op.inputs[i];
  const float* data = buffer(producer).data();
  if (compact_[static_cast<size_t>(op.id)] == compact_[static_cast<size_t>(producer)]) return data;
  // A compact op reads each group's last row of a full-row producer (a producer is never compact
  // when its reader is not: compact ops follow every full one).
  const int64_t d = graph_->op(producer).out_dim;
  if (last_rows_.size() == 1) return data + last_rows_[0] * d;
  std::vector<float>& picked = gathered_[i];
  picked.resize(last_rows_.size() * static_cast<size_t>(d));
  for (size_t g = 0; g < last_rows_.size(); ++g)
    std::copy_n(data + last_rows_[g] * d, d, picked.begin() + static_cast<std::ptrdiff_t>(g * static_cast<size_t>(d)));
  return picked.data();
}

void Executor::run_op(const Op& op, ThreadPool& pool) {
  const int64_t rows = rows_[static_cast<size_t>(op.id)];
  float* out = buffer(op.id).data();
  const int64_t d = op.out_dim;
  switch (op.kind) {
    case OpKind::kEmbed:
      for (int64_t r = 0; r < rows; ++r)
        kernels::dequantize_row(op.weight, row_token_[static_cast<size_t>(batch_row(op.id, r))], out + r * d);
      break;
    case OpKind::kRmsNorm: {
      const float* x = input(op, 0);
      const int64_t group = op.norm_group > 0 ? op.norm_group : d;
      for (int64_t g = 0; g < rows * d; g += group) kernels::rms_norm(x + g, op.norm, op.eps, group, out + g);
      break;
    }
    case OpKind::kLayerNorm: {
      const float* x = input(op, 0);
      for (int64_t r = 0; r < rows; ++r) kernels::layer_norm(x + r * d, op.norm, op.bias, op.eps, d, out + r * d);
      break;
    }
    case OpKind::kGelu:
      kernels::gelu(input(op, 0), rows * d, out);
      break;
    case OpKind::kSlice: {
      const float* x = input(op, 0);
      const int64_t in_d = graph_->op(op.inputs[0]).out_dim;
      for (int64_t r = 0; r < rows; ++r)
        std::memcpy(out + r * d, x + r * in_d + op.slice_offset, static_cast<size_t>(d) * sizeof(float));
      break;
    }
    case OpKind::kMatMul:
      kernels::matmul(op.weight, input(op, 0), rows, out, pool);
      if (op.bias)
        for (int64_t r = 0; r < rows; ++r) kernels::add(out + r * d, op.bias, d, out + r * d);
      break;
    case OpKind::kRope: {
      std::memcpy(out, input(op, 0), static_cast<size_t>(rows * d) * sizeof(float));
      const RopeParams& p = op.rope;
      const bool long_context = p.factors_long && config_.context > p.long_context_above;
      const kernels::RopeFreqs freqs{p.freq_base, p.freq_scale, long_context ? p.factors_long : p.factors, p.attn_factor};
      for (int64_t r = 0; r < rows; ++r)
        kernels::rope(out + r * d, p.n_heads, p.head_dim, p.n_rot, row_position_[static_cast<size_t>(batch_row(op.id, r))],
                      freqs, p.neox);
      break;
    }
    case OpKind::kAttention:
      run_attention(op, pool);
      break;
    case OpKind::kAdd:
      kernels::add(input(op, 0), input(op, 1), rows * d, out);
      break;
    case OpKind::kSwiGLU:
      kernels::swiglu(input(op, 0), input(op, 1), rows * d, out);
      break;
    case OpKind::kGeGLU:
      kernels::geglu(input(op, 0), input(op, 1), rows * d, out);
      break;
    case OpKind::kScale:
      kernels::scale(input(op, 0), op.factor, rows * d, out);
      break;
    case OpKind::kSoftcap:
      kernels::softcap(input(op, 0), op.factor, rows * d, out);
      break;
  }
}

// Attention is the one op that runs per sequence: each row's query sees its own sequence's
// earlier positions (its KV cache) and the batch rows of that sequence up to its own.
void Executor::run_attention(const Op& op, ThreadPool& pool) {
  const AttentionParams& a = op.attn;
  const int slot = op.kv_slot - kv_base_;
  const int64_t kv_dim = a.n_kv_heads * a.head_dim;
  const int64_t q_dim = a.n_heads * a.head_dim;
  const float* q = input(op, 0);
  const float* k = input(op, 1);
  const float* v = input(op, 2);
  float* out = buffer(op.id).data();
  const int64_t rows = rows_[static_cast<size_t>(op.id)];
  if (scratch_.size() < static_cast<size_t>(pool.size())) scratch_.resize(static_cast<size_t>(pool.size()));
  const int64_t group = a.n_heads / a.n_kv_heads;
  const std::vector<float> slopes = alibi_slopes(a.n_heads, a.alibi_max_bias);
  pool.parallel_for(rows * a.n_heads, [&](int64_t begin, int64_t end, int thread) {
    AttentionScratch& s = scratch_[static_cast<size_t>(thread)];
    for (int64_t item = begin; item < end; ++item) {
      const int64_t r = item / a.n_heads, h = item % a.n_heads;
      const auto g = static_cast<size_t>(row_group_[static_cast<size_t>(r)]);
      // Keys before the batch come from the cache, the batch's own from its K and V rows: a
      // sliding-window ring then never has to hold more than its window, whatever the batch size.
      const KVCache& cache = *group_caches_[g];
      const int64_t pos0 = row_position_[static_cast<size_t>(group_start_[g])];
      const int64_t batch_row0 = group_start_[g] - pos0;  // batch row of position p: batch_row0 + p
      const int64_t last = row_position_[static_cast<size_t>(r)];  // causal: its own position is its last key
      const int64_t first = kernels::first_visible_key(last, a.sliding_window);
      const int64_t n_keys = last - first + 1;
      // As long as the keys in use, not the context: that may be millions.
      if (s.scores.size() < static_cast<size_t>(n_keys)) {
        s.scores.resize(static_cast<size_t>(n_keys));
        s.keys.resize(static_cast<size_t>(n_keys));
        s.values.resize(static_cast<size_t>(n_keys));
      }
      for (int64_t j = first; j <= last; ++j) {
        const auto at = static_cast<size_t>(j - first);
        s.keys[at] = j < pos0 ? cache.k(slot, j) : k + (batch_row0 + j) * kv_dim;
        s.values[at] = j < pos0 ? cache.v(slot, j) : v + (batch_row0 + j) * kv_dim;
      }
      kernels::AttendArgs args;
      args.q = q + r * q_dim + h * a.head_dim;
      args.keys = s.keys.data();
      args.values = s.values.data();
      args.n_keys = n_keys;
      args.column = (h / group) * a.head_dim;
      args.head_dim = a.head_dim;
      args.scale = a.scale;
      args.alibi_slope = slopes.empty() ? 0.0f : slopes[static_cast<size_t>(h)];
      args.scores = s.scores.data();
      args.out = out + r * q_dim + h * a.head_dim;
      kernels::attend_head(args);
    }
  });
  // A ring keeps the last rows of a batch longer than itself.
  for (size_t g = 0; g < group_caches_.size(); ++g) {
    KVCache& cache = *group_caches_[g];
    const int64_t begin = group_start_[g];
    const int64_t end = g + 1 < group_start_.size() ? group_start_[g + 1] : rows;
    for (int64_t r = std::max(begin, end - cache.rows(slot)); r < end; ++r) {
      const int64_t pos = row_position_[static_cast<size_t>(r)];
      std::memcpy(cache.k(slot, pos), k + r * kv_dim, static_cast<size_t>(kv_dim) * sizeof(float));
      std::memcpy(cache.v(slot, pos), v + r * kv_dim, static_cast<size_t>(kv_dim) * sizeof(float));
    }
  }
}

}  // namespace lingua
