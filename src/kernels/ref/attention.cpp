#include "kernels/attention.h"

#include <algorithm>
#include <cmath>

#include "kernels/ref/ggml_lanes.h"
#include "kernels/ref/ops.h"
#include "tensor/quant.h"

namespace hearth::ref {

using kernels::AttentionArgs;
using kernels::AttentionScratch;

void attention(const AttentionArgs& a, AttentionScratch& s) {
  const int64_t hd = a.head_dim, vd = a.value_dim(), n = a.n_kv, bs = a.block_size;
  s.scores.resize(static_cast<size_t>(n));
  s.acc.resize(static_cast<size_t>(16 * vd));
  s.q16.resize(static_cast<size_t>(hd));
  const bool f32 = a.k_f32 != nullptr;
  const auto round = [f32](float x) { return f32 ? x : fp16_to_fp32(fp32_to_fp16(x)); };
  // Element i of position j's key or value row.
  const auto k_at = [&](int64_t j, int64_t i) {
    return f32 ? a.k_f32[j * a.row_stride + i] : fp16_to_fp32(a.k_blocks[j / bs][(j % bs) * a.row_stride + i]);
  };
  const auto v_at = [&](int64_t j, int64_t i) {
    return f32 ? a.v_f32[j * a.row_stride + i] : fp16_to_fp32(a.v_blocks[j / bs][(j % bs) * a.row_stride + i]);
  };
  for (int64_t g = 0; g < a.group; ++g) {
    const float* q = a.q + g * hd;
    for (int64_t i = 0; i < hd; ++i) s.q16[size_t(i)] = round(q[i]);
    for (int64_t j = 0; j < n; ++j) {
      float lane[16] = {};
      for (int64_t i = 0; i < hd; ++i) lane[i % 16] = std::fma(s.q16[size_t(i)], k_at(j, i), lane[i % 16]);
      s.scores[size_t(j)] = reduce_lanes16(lane) * a.scale;
    }
    kernels::softcap_scores(s.scores.data(), n, a.softcap);
    std::fill(s.scores.begin(), s.scores.begin() + a.n_masked, -INFINITY);
    std::fill(s.scores.begin() + (n - a.n_tail_masked), s.scores.begin() + n, -INFINITY);
    softmax(s.scores.data(), n, a.sinks ? a.sinks[g] : -INFINITY);
    // acc[l][i]: lane l of output i, summing the positions j with j % 16 == l.
    std::fill(s.acc.begin(), s.acc.end(), 0.0f);
    for (int64_t j = 0; j < n; ++j) {
      const float p = round(s.scores[size_t(j)]);
      float* acc = s.acc.data() + (j % 16) * vd;
      for (int64_t i = 0; i < vd; ++i) acc[i] = std::fma(p, v_at(j, i), acc[i]);
    }
    for (int64_t i = 0; i < vd; ++i) {
      float lane[16];
      for (int l = 0; l < 16; ++l) lane[l] = s.acc[size_t(l * vd + i)];
      a.out[g * vd + i] = reduce_lanes16(lane);
    }
  }
}

}  // namespace hearth::ref
