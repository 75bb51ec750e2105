#include "kernels/ref/matmul.h"

#include "base/result.h"
#include "kernels/ref/vec_dot.h"
#include "tensor/quant.h"

namespace hearth::ref {

void matmul(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            MatmulScratch& scratch, KSums sums) {
  const int64_t ne0 = w.ne[0];
  const int64_t n_out = w.ne[1];
  const DType act_type = vec_dot_type(w.type);
  const uint64_t act_row_bytes = *row_bytes(act_type, static_cast<uint64_t>(ne0));
  const uint64_t w_row_bytes = *row_bytes(w.type, static_cast<uint64_t>(ne0));
  scratch.converted.resize(act_row_bytes * static_cast<uint64_t>(n_tokens));
  uint8_t* converted = scratch.converted.data();
  pool.parallel_for(n_tokens, [&](int64_t begin, int64_t end, int) {
    for (int64_t t = begin; t < end; ++t)
      quantize_activation(act_type, x + t * ne0, converted + t * act_row_bytes, ne0);
  });
  const auto* wbytes = static_cast<const uint8_t*>(w.data);
  pool.parallel_for(n_out, [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      const uint8_t* wrow = wbytes + static_cast<uint64_t>(r) * w_row_bytes;
      for (int64_t t = 0; t < n_tokens; ++t)
        y[t * n_out + r] = vec_dot(w.type, wrow, converted + t * act_row_bytes, ne0, sums);
    }
  });
}

void get_row(const TensorView& w, int64_t row, float* out) {
  const uint64_t bytes = *row_bytes(w.type, static_cast<uint64_t>(w.ne[0]));
  dequantize_row(w.type, static_cast<const uint8_t*>(w.data) + static_cast<uint64_t>(row) * bytes,
                 out, w.ne[0]);
}

}  // namespace hearth::ref
