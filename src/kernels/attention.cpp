// One query head's attention over the keys it may see, written once over a kernel table so the
// scalar reference and the AVX2 family run the same masking and differ only in their dot, softmax
// and axpy: what the executor runs for every head of every attention op.
#include <algorithm>

#include "kernels/kernel_table.h"
#include "kernels/kernels.h"

namespace lingua::kernels {

void attend_head_with(const KernelTable& k, const AttendArgs& a) {
  for (int64_t j = 0; j < a.n_keys; ++j) a.scores[j] = k.dot_f32(a.q, a.keys[j] + a.column, a.head_dim) * a.scale;
  // ALiBi: key j lies n_keys - 1 - j positions before the query (the last key is its own).
  if (a.alibi_slope != 0.0f)
    for (int64_t j = 0; j < a.n_keys; ++j) a.scores[j] -= a.alibi_slope * static_cast<float>(a.n_keys - 1 - j);
  k.softmax(a.scores, a.n_keys);
  std::fill(a.out, a.out + a.head_dim, 0.0f);
  for (int64_t j = 0; j < a.n_keys; ++j) k.axpy_f32(a.scores[j], a.values[j] + a.column, a.out, a.head_dim);
}

void attend_head(const AttendArgs& args) { attend_head_with(active_kernels(), args); }

}  // namespace lingua::kernels
