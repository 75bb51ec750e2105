#include "kernels/ref/moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "kernels/ref/ggml_lanes.h"

namespace hearth::ref {

float dot_f32_lanes16(const float* w, const float* x, int64_t k) {
  float lane[16] = {};
  for (int64_t i = 0; i < k; ++i) lane[i % 16] = std::fma(w[i], x[i], lane[i % 16]);
  return reduce_lanes16(lane);
}

void soft_max_row(float* x, int64_t n) {
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) max = std::max(max, x[i]);
  double sum = 0.0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    float lane[16];
    for (int l = 0; l < 16; ++l) lane[l] = x[i + l] = poly_expf(x[i + l] - max);
    sum += reduce_lanes16(lane);
  }
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - max);  // glibc's expf, as ggml's scalar tail
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < n; ++j) x[j] *= inv;
}

void select_experts(const float* probs, int64_t n_expert, int64_t k, bool normalize, int32_t* ids,
                    float* weights) {
  std::vector<int32_t> order(static_cast<size_t>(n_expert));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [probs](int32_t a, int32_t b) { return probs[a] > probs[b]; });
  double sum = 0.0;
  for (int64_t s = 0; s < k; ++s) {
    ids[s] = order[size_t(s)];
    weights[s] = probs[ids[s]];
    sum += weights[s];
  }
  if (!normalize) return;
  const float total = std::max(static_cast<float>(sum), 6.103515625e-5f);
  for (int64_t s = 0; s < k; ++s) weights[s] /= total;
}

}  // namespace hearth::ref
