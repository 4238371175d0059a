// Picks the kernel family once per process (CPU features, LINGUA_SIMD=scalar|avx2|avx512 to
// choose a lesser one) and routes the public kernels.h entry points through it.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kernels/avx2_impl.h"
#include "kernels/avx512_impl.h"
#include "kernels/kernels.h"
#include "kernels/packing.h"
#include "kernels/scalar_impl.h"

namespace lingua::kernels {
namespace {

template <class T>
T* as(void* p) { return static_cast<T*>(p); }
template <class T>
const T* as(const void* p) { return static_cast<const T*>(p); }

}  // namespace

#define LINGUA_KERNEL_TABLE(ns)                                                                  \
  KernelTable {                                                                                  \
    #ns, ns::f32_to_f16, ns::f32_to_bf16, ns::quantize_act_q8, ns::matmul_f32, ns::matmul_f16,    \
        ns::matmul_bf16, ns::matmul_q8_0, ns::matmul_q4_0, ns::f16_to_f32, ns::bf16_to_f32,       \
        ns::dequantize_q8_0, ns::dequantize_q4_0, ns::quantize_q8_0, ns::quantize_q4_0,           \
        ns::rms_norm, ns::rope, ns::softmax, ns::swiglu, ns::add, ns::dot_f32, ns::axpy_f32,      \
        ns::quantize_act_q8k, ns::matmul_q5_0, ns::matmul_q4_k, ns::matmul_q5_k, ns::matmul_q6_k,   \
        ns::dequantize_q5_0, ns::dequantize_q4_k, ns::dequantize_q5_k, ns::dequantize_q6_k,         \
        ns::quantize_q5_0, ns::quantize_q4_k, ns::quantize_q5_k, ns::quantize_q6_k                  \
  }

const KernelTable& scalar_kernels() {
  static const KernelTable table = LINGUA_KERNEL_TABLE(scalar);
  return table;
}

const KernelTable& avx2_kernels() {
  static const KernelTable table = LINGUA_KERNEL_TABLE(avx2);
  return table;
}

bool cpu_has_avx2() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          __builtin_cpu_supports("f16c");
  return has;
#else
  return false;
#endif
}

// AVX2's kernels with the AVX-512 ones where there are any: today the packed Q4_0/Q8_0 matmuls.
const KernelTable& avx512_kernels() {
  static const KernelTable table = [] {
    KernelTable t = LINGUA_KERNEL_TABLE(avx2);
    t.name = "avx512";
    t.packed_bytes = avx512::packed_bytes;
    t.pack = avx512::pack;
    t.matmul_q4_0_packed = avx512::matmul_q4_0_packed;
    t.matmul_q8_0_packed = avx512::matmul_q8_0_packed;
    return t;
  }();
  return table;
}

bool cpu_has_avx512() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512vnni");
  return has;
#else
  return false;
#endif
}

std::vector<const KernelTable*> runnable_kernel_tables() {
  std::vector<const KernelTable*> t{&scalar_kernels()};
  if (cpu_has_avx2()) t.push_back(&avx2_kernels());
  if (cpu_has_avx512()) t.push_back(&avx512_kernels());
  return t;
}

const KernelTable& active_kernels() {
  static const KernelTable* const active = [] {
    const KernelTable* best = runnable_kernel_tables().back();
    const char* env = std::getenv("LINGUA_SIMD");
    if (!env || !*env) return best;
    for (const KernelTable* t : runnable_kernel_tables())
      if (std::strcmp(env, t->name) == 0) return t;
    // Asking for more than the CPU has (or a typo) must not reach an illegal instruction.
    std::fprintf(stderr, "lingua: LINGUA_SIMD=%s is not a kernel family this CPU runs (it runs:", env);
    for (const KernelTable* t : runnable_kernel_tables()) std::fprintf(stderr, " %s", t->name);
    std::fprintf(stderr, "); using %s\n", best->name);
    return best;
  }();
  return *active;
}

const char* active_isa() { return active_kernels().name; }

size_t packed_bytes(const MatrixView& W) {
  const KernelTable& k = active_kernels();
  if (W.packed || !k.packed_bytes) return 0;
  return k.packed_bytes(W.type, W.rows, W.cols);
}

MatrixView pack_weights(const MatrixView& W, uint8_t* dst) {
  active_kernels().pack(W, dst);
  MatrixView packed = W;
  packed.data = dst;
  packed.packed = true;
  return packed;
}

void matmul(const MatrixView& W, const float* X, int64_t n_tokens, float* Y, ThreadPool& pool) {
  matmul_with(active_kernels(), W, X, n_tokens, Y, pool);
}

void dequantize_row(const MatrixView& W, int64_t r, float* out) {
  const KernelTable& k = active_kernels();
  if (W.packed) {  // only matmul weights are packed (Model::keep_in_huge_pages); reaching here is a bug
    std::fprintf(stderr, "lingua: dequantize_row of a packed %s matrix\n", dtype_name(W.type));
    std::abort();
  }
  const void* row = W.row(r);
  switch (W.type) {
    case DType::F32: std::memcpy(out, row, static_cast<size_t>(W.cols) * sizeof(float)); return;
    case DType::F16: k.f16_to_f32(as<uint16_t>(row), out, W.cols); return;
    case DType::BF16: k.bf16_to_f32(as<uint16_t>(row), out, W.cols); return;
    case DType::Q8_0: k.dequantize_q8_0(as<BlockQ8_0>(row), out, W.cols); return;
    case DType::Q4_0: k.dequantize_q4_0(as<BlockQ4_0>(row), out, W.cols); return;
    case DType::Q5_0: k.dequantize_q5_0(as<BlockQ5_0>(row), out, W.cols); return;
    case DType::Q4_K: k.dequantize_q4_k(as<BlockQ4_K>(row), out, W.cols); return;
    case DType::Q5_K: k.dequantize_q5_k(as<BlockQ5_K>(row), out, W.cols); return;
    case DType::Q6_K: k.dequantize_q6_k(as<BlockQ6_K>(row), out, W.cols); return;
    default: break;
  }
  std::fprintf(stderr, "lingua: dequantize_row of %s is not implemented\n", dtype_name(W.type));
  std::abort();
}

void quantize_row(DType type, const float* src, void* dst, int64_t n) {
  const KernelTable& k = active_kernels();
  switch (type) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); return;
    case DType::F16: k.f32_to_f16(src, as<uint16_t>(dst), n); return;
    case DType::BF16: k.f32_to_bf16(src, as<uint16_t>(dst), n); return;
    case DType::Q8_0: k.quantize_q8_0(src, as<BlockQ8_0>(dst), n); return;
    case DType::Q4_0: k.quantize_q4_0(src, as<BlockQ4_0>(dst), n); return;
    case DType::Q5_0: k.quantize_q5_0(src, as<BlockQ5_0>(dst), n); return;
    case DType::Q4_K: k.quantize_q4_k(src, as<BlockQ4_K>(dst), n); return;
    case DType::Q5_K: k.quantize_q5_k(src, as<BlockQ5_K>(dst), n); return;
    case DType::Q6_K: k.quantize_q6_k(src, as<BlockQ6_K>(dst), n); return;
    default: break;
  }
  std::fprintf(stderr, "lingua: quantize_row to %s is not implemented\n", dtype_name(type));
  std::abort();
}

void rms_norm(const float* x, const float* w, float eps, int64_t n, float* out) {
  active_kernels().rms_norm(x, w, eps, n, out);
}

void layer_norm(const float* x, const float* w, const float* b, float eps, int64_t n, float* out) {
  scalar::layer_norm(x, w, b, eps, n, out);
}

void gelu(const float* x, int64_t n, float* out) { scalar::gelu(x, n, out); }

void geglu(const float* gate, const float* up, int64_t n, float* out) { scalar::geglu(gate, up, n, out); }

void scale(const float* x, float factor, int64_t n, float* out) { scalar::scale(x, factor, n, out); }

void softcap(const float* x, float cap, int64_t n, float* out) { scalar::softcap(x, cap, n, out); }

void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, int64_t pos, const RopeFreqs& freqs,
          bool neox) {
  active_kernels().rope(x, n_heads, head_dim, n_rot, pos, freqs, neox);
}

void softmax(float* x, int64_t n) { active_kernels().softmax(x, n); }

void swiglu(const float* gate, const float* up, int64_t n, float* out) {
  active_kernels().swiglu(gate, up, n, out);
}

void add(const float* a, const float* b, int64_t n, float* out) { active_kernels().add(a, b, n, out); }

float dot_f32(const float* a, const float* b, int64_t n) { return active_kernels().dot_f32(a, b, n); }

void axpy_f32(float alpha, const float* x, float* y, int64_t n) { active_kernels().axpy_f32(alpha, x, y, n); }

}  // namespace lingua::kernels
