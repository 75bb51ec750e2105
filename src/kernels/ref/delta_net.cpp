#include "kernels/ref/delta_net.h"

#include <cmath>

#include "kernels/ref/ops.h"
#include "kernels/ref/vec_dot.h"

namespace hearth::ref {
namespace {

float dot(const float* a, const float* b, int64_t n) {
  return vec_dot(DType::F32, a, b, n, KSums::kVecDot);
}

}  // namespace

void delta_rule_step(float* state, const float* q, const float* k, const float* v, float g, float beta, int64_t d,
                     float* out, float* scratch) {
  scale(state, d * d, std::exp(g));
  for (int64_t j = 0; j < d; ++j) scratch[j] = (v[j] - dot(state + j * d, k, d)) * beta;
  for (int64_t j = 0; j < d; ++j) {  // ggml_vec_mad_f32: fused multiply-adds
    float* row = state + j * d;
    for (int64_t i = 0; i < d; ++i) row[i] = std::fma(k[i], scratch[j], row[i]);
  }
  const float s = 1.0f / std::sqrt(static_cast<float>(d));
  for (int64_t j = 0; j < d; ++j) out[j] = dot(state + j * d, q, d) * s;
}

void conv_step(float* window, const float* x, const float* w, int64_t channels, int64_t width, float* out) {
  const int64_t keep = width - 1;
  for (int64_t c = 0; c < channels; ++c) {
    float* win = window + c * keep;
    const float* wc = w + c * width;
    float sum = 0.0f;
    for (int64_t i = 0; i < keep; ++i) sum = std::fma(win[i], wc[i], sum);
    sum = std::fma(x[c], wc[keep], sum);
    out[c] = sum;
    for (int64_t i = 0; i + 1 < keep; ++i) win[i] = win[i + 1];
    if (keep > 0) win[keep - 1] = x[c];
  }
}

float delta_gate(float alpha, float dt_bias, float a) {
  const float x = alpha + dt_bias;
  const float softplus = x > 20.0f ? x : std::log(1.0f + std::exp(x));
  return softplus * a;
}

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

void l2_norm(float* x, int64_t n, float eps) {
  const float fn = static_cast<float>(n);
  rms_norm(x, nullptr, x, n, eps / fn);
  scale(x, n, 1.0f / std::sqrt(fn));
}

}  // namespace hearth::ref
