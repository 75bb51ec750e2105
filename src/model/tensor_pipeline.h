// Writes a GGUF model whose tensors are produced row by row as F32 and stored in a target type:
// the shared back end of `hearth quantize` (rows dequantized from the input) and
// `hearth mkmodel` (rows drawn from a seeded RNG). Rows are converted on several threads and
// streamed to disk tensor by tensor, so a multi-GB model never sits in memory whole.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "gguf/gguf.h"
#include "tensor/tensor_view.h"

namespace hearth {

// Fills `out` [ne0] f32 with row `row` (0 .. n_rows-1) of a tensor. Must be thread-safe.
using RowSource = std::function<void(int64_t row, float* out)>;

struct OutputTensor {
  std::string name;
  TensorView shape;     // n_dims and ne; `type` is the stored type
  RowSource rows;       // null: copy `passthrough` bytes unchanged (same type in and out)
  const void* passthrough = nullptr;
};

struct PipelineStats {
  uint64_t n_params = 0;
  uint64_t n_bytes = 0;  // tensor data bytes written
};

Result<PipelineStats> write_tensor_pipeline(gguf::Writer& writer,
                                            const std::vector<OutputTensor>& tensors,
                                            const std::string& path, int n_threads,
                                            const std::string& progress_label);

}  // namespace hearth
