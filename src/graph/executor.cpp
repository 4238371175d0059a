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
  LINGUA_ASSIGN_OR_RETURN(ex.kv_, KVCache::create(KVCache::layers_of(graph, c.segment.first_op, c.segment.last_op), c.context));
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
  row_offset_.assign(static_cast<size_t>(n_ops), 0);
}

uint64_t Executor::activation_bytes() const {
  uint64_t total = 0;
  for (const auto& b : buffers_) total += b.capacity() * sizeof(float);
  for (const auto& s : scratch_)
    total += s.scores.capacity() * sizeof(float) + (s.keys.capacity() + s.values.capacity()) * sizeof(const float*);
  return total;
}

int64_t Executor::rows_of(int op, int64_t n, bool all_logits) const {
  return !all_logits && op >= first_tail_op_ ? 1 : n;
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

Status Executor::forward(const int32_t* tokens, int64_t n, int64_t pos0, ThreadPool& pool,
                         std::vector<float>& logits, bool all_logits) {
  if (n <= 0) return Status::error("no tokens to evaluate");
  if (n > config_.max_batch)
    return Status::error("batch of " + std::to_string(n) + " tokens exceeds the maximum of " +
                         std::to_string(config_.max_batch));
  if (pos0 < 0 || pos0 + n > config_.context)
    return Status::error("context is full: positions " + std::to_string(pos0) + ".." + std::to_string(pos0 + n - 1) +
                         " do not fit in a context of " + std::to_string(config_.context) + " tokens");
  if (embeds_) {
    if (!tokens) return Status::error("this segment embeds tokens but was given none");
    const int64_t vocab_rows = graph_->op(0).weight.rows;
    for (int64_t i = 0; i < n; ++i)
      if (tokens[i] < 0 || tokens[i] >= vocab_rows)
        return Status::error("token id " + std::to_string(tokens[i]) + " is outside the vocabulary of " +
                             std::to_string(vocab_rows));
  }
  for (size_t i = 0; i < imports_.size(); ++i) {
    const int op = imports_[i];
    if (!import_set_[i] || rows_[static_cast<size_t>(op)] != rows_of(op, n, all_logits))
      return Status::error("input '" + graph_->op(op).name + "' was not handed in for this batch");
    import_set_[i] = 0;
  }
  tokens_ = tokens;

  for (const Op& op : graph_->ops()) {
    rows_[static_cast<size_t>(op.id)] = rows_of(op.id, n, all_logits);
    row_offset_[static_cast<size_t>(op.id)] = n - rows_[static_cast<size_t>(op.id)];
  }
  for (int id = config_.segment.first_op; id <= config_.segment.last_op; ++id) {
    const Op& op = graph_->op(id);
    auto& buf = buffer(id);
    const size_t need = static_cast<size_t>(rows_[static_cast<size_t>(id)] * op.out_dim);
    if (buf.size() < need) buf.resize(need);
    run_op(op, n, pos0, pool);
    if (after_op_) after_op_();
  }
  if (!in_segment(graph_->output())) {
    logits.clear();
    return Status::ok();
  }
  const Op& out = graph_->op(graph_->output());
  const auto& result = buffer(out.id);
  const size_t count = static_cast<size_t>(rows_[static_cast<size_t>(out.id)] * out.out_dim);
  logits.assign(result.begin(), result.begin() + static_cast<std::ptrdiff_t>(count));
  if (!all_logits && count > static_cast<size_t>(out.out_dim))  // a graph without attention
    logits.erase(logits.begin(), logits.end() - out.out_dim);
  return Status::ok();
}

void Executor::run_op(const Op& op, int64_t n, int64_t pos0, ThreadPool& pool) {
  const auto id = static_cast<size_t>(op.id);
  const int64_t rows = rows_[id];
  const int64_t first = row_offset_[id];
  float* out = buffer(op.id).data();
  // Input i as seen by this op: the producer's rows start at its own first token.
  auto input = [&](size_t i) -> const float* {
    const auto p = static_cast<size_t>(op.inputs[i]);
    return buffer(op.inputs[i]).data() + (first - row_offset_[p]) * graph_->op(op.inputs[i]).out_dim;
  };
  const int64_t d = op.out_dim;
  switch (op.kind) {
    case OpKind::kEmbed:
      for (int64_t r = 0; r < rows; ++r) kernels::dequantize_row(op.weight, tokens_[first + r], out + r * d);
      break;
    case OpKind::kRmsNorm: {
      const float* x = input(0);
      const int64_t group = op.norm_group > 0 ? op.norm_group : d;
      for (int64_t g = 0; g < rows * d; g += group) kernels::rms_norm(x + g, op.norm, op.eps, group, out + g);
      break;
    }
    case OpKind::kLayerNorm: {
      const float* x = input(0);
      for (int64_t r = 0; r < rows; ++r) kernels::layer_norm(x + r * d, op.norm, op.bias, op.eps, d, out + r * d);
      break;
    }
    case OpKind::kGelu:
      kernels::gelu(input(0), rows * d, out);
      break;
    case OpKind::kSlice: {
      const float* x = input(0);
      const int64_t in_d = graph_->op(op.inputs[0]).out_dim;
      for (int64_t r = 0; r < rows; ++r)
        std::memcpy(out + r * d, x + r * in_d + op.slice_offset, static_cast<size_t>(d) * sizeof(float));
      break;
    }
    case OpKind::kMatMul:
      kernels::matmul(op.weight, input(0), rows, out, pool);
      if (op.bias)
        for (int64_t r = 0; r < rows; ++r) kernels::add(out + r * d, op.bias, d, out + r * d);
      break;
    case OpKind::kRope: {
      std::memcpy(out, input(0), static_cast<size_t>(rows * d) * sizeof(float));
      const RopeParams& p = op.rope;
      const bool long_context = p.factors_long && config_.context > p.long_context_above;
      const kernels::RopeFreqs freqs{p.freq_base, p.freq_scale, long_context ? p.factors_long : p.factors, p.attn_factor};
      for (int64_t r = 0; r < rows; ++r)
        kernels::rope(out + r * d, p.n_heads, p.head_dim, p.n_rot, pos0 + first + r, freqs, p.neox);
      break;
    }
    case OpKind::kAttention:
      run_attention(op, n, pos0, pool);
      break;
    case OpKind::kAdd:
      kernels::add(input(0), input(1), rows * d, out);
      break;
    case OpKind::kSwiGLU:
      kernels::swiglu(input(0), input(1), rows * d, out);
      break;
    case OpKind::kGeGLU:
      kernels::geglu(input(0), input(1), rows * d, out);
      break;
    case OpKind::kScale:
      kernels::scale(input(0), op.factor, rows * d, out);
      break;
    case OpKind::kSoftcap:
      kernels::softcap(input(0), op.factor, rows * d, out);
      break;
  }
}

void Executor::run_attention(const Op& op, int64_t n, int64_t pos0, ThreadPool& pool) {
  const AttentionParams& a = op.attn;
  const int slot = op.kv_slot - kv_base_;
  const int64_t kv_dim = a.n_kv_heads * a.head_dim;
  const int64_t q_dim = a.n_heads * a.head_dim;
  const float* q = buffer(op.inputs[0]).data();
  const float* k = buffer(op.inputs[1]).data();
  const float* v = buffer(op.inputs[2]).data();
  float* out = buffer(op.id).data();
  if (scratch_.size() < static_cast<size_t>(pool.size())) scratch_.resize(static_cast<size_t>(pool.size()));
  const int64_t group = a.n_heads / a.n_kv_heads;
  const std::vector<float> slopes = alibi_slopes(a.n_heads, a.alibi_max_bias);
  // Keys before the batch come from the cache, the batch's own from its K and V rows: a
  // sliding-window ring then never has to hold more than its window, whatever the batch size.
  const KVCache& cache = kv_;
  auto key_row = [&](int64_t j) { return j < pos0 ? cache.k(slot, j) : k + (j - pos0) * kv_dim; };
  auto value_row = [&](int64_t j) { return j < pos0 ? cache.v(slot, j) : v + (j - pos0) * kv_dim; };
  pool.parallel_for(n * a.n_heads, [&](int64_t begin, int64_t end, int thread) {
    AttentionScratch& s = scratch_[static_cast<size_t>(thread)];
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item / a.n_heads, h = item % a.n_heads;
      const int64_t last = pos0 + t;  // causal: the query's own position is its last key
      const int64_t first = kernels::first_visible_key(last, a.sliding_window);
      const int64_t n_keys = last - first + 1;
      // As long as the keys in use, not the context: that may be millions.
      if (s.scores.size() < static_cast<size_t>(n_keys)) {
        s.scores.resize(static_cast<size_t>(n_keys));
        s.keys.resize(static_cast<size_t>(n_keys));
        s.values.resize(static_cast<size_t>(n_keys));
      }
      for (int64_t j = first; j <= last; ++j) {
        s.keys[static_cast<size_t>(j - first)] = key_row(j);
        s.values[static_cast<size_t>(j - first)] = value_row(j);
      }
      kernels::AttendArgs args;
      args.q = q + t * q_dim + h * a.head_dim;
      args.keys = s.keys.data();
      args.values = s.values.data();
      args.n_keys = n_keys;
      args.column = (h / group) * a.head_dim;
      args.head_dim = a.head_dim;
      args.scale = a.scale;
      args.alibi_slope = slopes.empty() ? 0.0f : slopes[static_cast<size_t>(h)];
      args.scores = s.scores.data();
      args.out = out + t * q_dim + h * a.head_dim;
      kernels::attend_head(args);
    }
  });
  // A ring keeps the last rows of a batch longer than itself.
  for (int64_t t = std::max<int64_t>(0, n - kv_.rows(slot)); t < n; ++t) {
    std::memcpy(kv_.k(slot, pos0 + t), k + t * kv_dim, static_cast<size_t>(kv_dim) * sizeof(float));
    std::memcpy(kv_.v(slot, pos0 + t), v + t * kv_dim, static_cast<size_t>(kv_dim) * sizeof(float));
  }
}

}  // namespace lingua
