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

void top_k(const float* scores, int64_t n, int64_t k, int32_t* ids) {
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [scores](int32_t a, int32_t b) { return scores[a] > scores[b]; });
  std::copy(order.begin(), order.begin() + k, ids);
}

void sigmoid_row(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

void mask_expert_groups(float* scores, int64_t n_expert, int64_t n_groups, int64_t n_groups_used) {
  const int64_t per_group = n_expert / n_groups;
  std::vector<float> group_scores(static_cast<size_t>(n_groups));
  int32_t best[2];
  for (int64_t g = 0; g < n_groups; ++g) {
    const float* s = scores + g * per_group;
    top_k(s, per_group, 2, best);
    group_scores[size_t(g)] = static_cast<float>(double(s[best[0]]) + double(s[best[1]]));  // ggml_sum_rows
  }
  std::vector<int32_t> chosen(static_cast<size_t>(n_groups_used));
  top_k(group_scores.data(), n_groups, n_groups_used, chosen.data());
  std::vector<uint8_t> keep(static_cast<size_t>(n_groups), 0);
  for (int32_t g : chosen) keep[size_t(g)] = 1;
  for (int64_t g = 0; g < n_groups; ++g)
    if (!keep[size_t(g)]) std::fill(scores + g * per_group, scores + (g + 1) * per_group, -INFINITY);
}

void select_experts(const float* probs, int64_t n_expert, int64_t k, bool normalize, int32_t* ids,
                    float* weights) {
  top_k(probs, n_expert, k, ids);
  double sum = 0.0;
  for (int64_t s = 0; s < k; ++s) {
    weights[s] = probs[ids[s]];
    sum += weights[s];
  }
  if (!normalize) return;
  const float total = std::max(static_cast<float>(sum), 6.103515625e-5f);
  for (int64_t s = 0; s < k; ++s) weights[s] /= total;
}

}  // namespace hearth::ref
