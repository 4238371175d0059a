// A read-only view of a 2-D weight matrix stored row-major in any dtype (rows of `cols` elements),
// usually pointing into the mmapped model file. What kernels multiply with.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace lingua {

struct MatrixView {
  DType type = DType::F32;
  const void* data = nullptr;
  int64_t rows = 0;       // output features
  int64_t cols = 0;       // input features (a multiple of the type's block size)
  size_t row_bytes = 0;   // bytes per row (as the file stores them, also when packed)
  // Rows interleaved into the active kernel family's packed layout (kernels/packing.h) rather
  // than stored one after another: only the matmul kernels can read it, and row() is meaningless.
  bool packed = false;

  const uint8_t* row(int64_t r) const { return static_cast<const uint8_t*>(data) + r * row_bytes; }
};

}  // namespace lingua
