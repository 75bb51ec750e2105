#include "kernels/ref/ops.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "kernels/ref/ggml_lanes.h"
#include "tensor/quant.h"

namespace hearth::ref {

void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  double sum = 0.0;  // ggml accumulates the squares in double
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (int64_t i = 0; i < n; ++i) {
    float y = x[i] * scale;
    out[i] = weight ? y * weight[i] : y;
  }
}

void layer_norm(const float* x, const float* weight, const float* bias, float* out, int64_t n, float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]);
  const float mean = static_cast<float>(sum) / static_cast<float>(n);
  double squares = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float d = x[i] - mean;
    out[i] = d;
    squares += static_cast<double>(d * d);
  }
  const float variance = static_cast<float>(squares / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(variance + eps);
  for (int64_t i = 0; i < n; ++i) {
    float y = out[i] * scale;
    if (weight) y = y * weight[i];
    if (bias) y = y + bias[i];
    out[i] = y;
  }
}

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  const int64_t vectorised = n - n % 16;
  for (int64_t i = 0; i < vectorised; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + poly_expf(0.0f - g)) * up[i];
  }
  for (int64_t i = vectorised; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void softmax(float* x, int64_t n, float sink) {
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) max = std::max(max, x[i]);
  max = std::max(max, sink);
  double sum = 0.0;
  for (int64_t i0 = 0; i0 < n; i0 += 16) {
    float lane[16] = {};
    for (int64_t l = 0; l < 16 && i0 + l < n; ++l) lane[l] = x[i0 + l] = poly_expf(x[i0 + l] - max);
    sum += reduce_lanes16(lane);
  }
  sum += static_cast<double>(std::exp(sink - max));
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void swiglu_oai(const float* gate, const float* up, float* out, int64_t n) {
  constexpr float kAlpha = 1.702f, kLimit = 7.0f;
  for (int64_t i = 0; i < n; ++i) {
    const float g = std::min(gate[i], kLimit);
    const float u = std::clamp(up[i], -kLimit, kLimit);
    const float glu = g / (1.0f + std::exp(kAlpha * (-g)));
    out[i] = glu * (u + 1.0f);
  }
}

const std::array<uint16_t, 65536>& gelu_f16_table() {
  static const std::array<uint16_t, 65536> table = [] {
    std::array<uint16_t, 65536> t{};
    constexpr float kCoefA = 0.044715f, kSqrt2OverPi = 0.79788456080286535587989211986876f;
    for (uint32_t i = 0; i < t.size(); ++i) {
      const float x = fp16_to_fp32(static_cast<uint16_t>(i));
      const float inner = std::fma(kCoefA * x, x, 1.0f);
      t[i] = fp32_to_fp16(0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * inner)));
    }
    return t;
  }();
  return table;
}


void gelu(const float* x, float* out, int64_t n) {
  const std::array<uint16_t, 65536>& table = gelu_f16_table();
  for (int64_t i = 0; i < n; ++i) {
    const float g = x[i];
    out[i] = g <= -10.0f ? 0.0f : g >= 10.0f ? g : fp16_to_fp32(table[fp32_to_fp16(g)]);
  }
}

void geglu(const float* gate, const float* up, float* out, int64_t n) {
  const std::array<uint16_t, 65536>& table = gelu_f16_table();
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    if (g <= -10.0f) {
      out[i] = 0.0f;
    } else if (g >= 10.0f) {
      out[i] = g * up[i];
    } else {
      out[i] = fp16_to_fp32(table[fp32_to_fp16(g)]) * up[i];
    }
  }
}

void scale(float* x, int64_t n, float s) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

void add_inplace(float* out, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] += x[i];
}

namespace {

// YaRN's ramp between the interpolated and extrapolated angle for dimension pair i0.
float yarn_ramp(float low, float high, int64_t i0) {
  float y = (static_cast<float>(i0) / 2 - low) / std::max(0.001f, high - low);
  return 1.0f - std::min(1.0f, std::max(0.0f, y));
}

// The dimension at which the rotation count over the original context equals n_rot.
float yarn_corr_dim(int64_t n_dims, int64_t n_ctx_orig, float n_rot, float base) {
  return static_cast<float>(n_dims) *
         std::log(static_cast<float>(n_ctx_orig) / (n_rot * 2.0f * 3.14159265358979323846f)) /
         (2.0f * std::log(base));
}

}  // namespace

void rope_cache(const RopeParams& p, float pos, float* cache) {
  const float theta_scale = std::pow(p.freq_base, -2.0f / static_cast<float>(p.n_rot));
  float corr_low = 0, corr_high = 0;
  if (p.ext_factor != 0.0f) {
    corr_low = std::max(0.0f, std::floor(yarn_corr_dim(p.n_rot, p.n_ctx_orig, p.beta_fast, p.freq_base)));
    corr_high = std::min(static_cast<float>(p.n_rot - 1),
                         std::ceil(yarn_corr_dim(p.n_rot, p.n_ctx_orig, p.beta_slow, p.freq_base)));
  }
  // The angle is advanced by repeated multiplication in float, as ggml does, so positions far
  // into the context round the same way.
  float theta = pos;
  for (int64_t i0 = 0; i0 < p.n_rot; i0 += 2) {
    const float ff = p.freq_factors ? p.freq_factors[i0 / 2] : 1.0f;
    const float theta_extrap = theta / ff;
    const float theta_interp = p.freq_scale * theta_extrap;
    float angle = theta_interp;
    float mscale = p.attn_factor;
    if (p.ext_factor != 0.0f) {
      float mix = yarn_ramp(corr_low, corr_high, i0) * p.ext_factor;
      // ggml's compiler fuses these into multiply-adds (as in the rotation below).
      angle = std::fma(theta_interp, 1 - mix, theta_extrap * mix);
      mscale *= std::fma(0.1f, std::log(1.0f / p.freq_scale), 1.0f);
    }
    cache[i0] = std::cos(angle) * mscale;
    cache[i0 + 1] = std::sin(angle) * mscale;
    theta *= theta_scale;
  }
}

void rope_apply(const RopeParams& p, const float* cache, float* x, int64_t n_heads,
                int64_t head_dim) {
  for (int64_t h = 0; h < n_heads; ++h) rope_rotate_head(p, cache, x + h * head_dim);
}

}  // namespace hearth::ref
