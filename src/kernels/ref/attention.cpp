#include "kernels/attention.h"

#include "kernels/ref/ops.h"
#include "tensor/quant.h"

namespace hearth::ref {

using kernels::AttentionArgs;
using kernels::AttentionScratch;

void attention(const AttentionArgs& a, AttentionScratch& s) {
  const int64_t hd = a.head_dim, n = a.n_kv, bs = a.block_size;
  s.scores.resize(static_cast<size_t>(n));
  s.acc.resize(static_cast<size_t>(hd));
  s.qd.resize(static_cast<size_t>(hd));
  for (int64_t g = 0; g < a.group; ++g) {
    const float* q = a.q + g * hd;
    for (int64_t i = 0; i < hd; ++i) s.qd[size_t(i)] = fp16_to_fp32(fp32_to_fp16(q[i]));
    for (int64_t j = 0; j < n; ++j) {
      const uint16_t* k = a.k_blocks[j / bs] + (j % bs) * a.row_stride;
      double dot = 0;
      for (int64_t i = 0; i < hd; ++i) dot += s.qd[size_t(i)] * double(fp16_to_fp32(k[i]));
      s.scores[size_t(j)] = static_cast<float>(dot) * a.scale;
    }
    softmax(s.scores.data(), n);
    std::fill(s.acc.begin(), s.acc.end(), 0.0);
    for (int64_t j = 0; j < n; ++j) {
      const double p = fp16_to_fp32(fp32_to_fp16(s.scores[size_t(j)]));
      const uint16_t* v = a.v_blocks[j / bs] + (j % bs) * a.row_stride;
      for (int64_t i = 0; i < hd; ++i) s.acc[size_t(i)] += p * double(fp16_to_fp32(v[i]));
    }
    for (int64_t i = 0; i < hd; ++i) a.out[g * hd + i] = static_cast<float>(s.acc[size_t(i)]);
  }
}

}  // namespace hearth::ref
