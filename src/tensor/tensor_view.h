// A non-owning, trivially copyable view of one tensor's bytes (usually inside a MappedFile).
// Shapes use ggml's order: ne[0] is the innermost (contiguous) dimension, i.e. the row length.
#pragma once

#include <array>
#include <cstdint>

#include "tensor/dtype.h"

namespace hearth {

constexpr int kMaxDims = 4;

struct TensorView {
  DType type = DType::F32;
  int n_dims = 0;
  std::array<int64_t, kMaxDims> ne = {1, 1, 1, 1};  // ne[0] = elements per row
  const void* data = nullptr;
  uint64_t n_bytes = 0;

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
};

}  // namespace hearth
