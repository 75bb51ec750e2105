// Reference matrix products over weights in any stored type, computed the way llama.cpp's CPU
// backend computes them: each activation row is first converted to the weight type's
// vec_dot_type (Q8_0, Q8_K, F16, ...), then every output is one vec_dot of a weight row with
// it. Weights are used in place (no F32 copy of a quantized model).
#pragma once

#include <cstdint>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/ref/vec_dot.h"
#include "tensor/tensor_view.h"

namespace hearth::ref {

// Reusable buffers so the token loop allocates nothing once warmed up.
struct MatmulScratch {
  std::vector<uint8_t> converted;  // [n_tokens, row_bytes(vec_dot_type, ne0)]
};

// y [n_tokens, w.ne[1]] f32 = x [n_tokens, w.ne[0]] f32 · wᵀ, where w is [ne1 rows of ne0].
// `sums`: Q4_K's accumulation order (vec_dot.h).
void matmul(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            MatmulScratch& scratch, KSums sums = KSums::kPairs);

// out [w.ne[0]] f32 = row `row` of w (embedding lookup).
void get_row(const TensorView& w, int64_t row, float* out);

}  // namespace hearth::ref
