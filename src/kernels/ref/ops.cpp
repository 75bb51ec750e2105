#include "kernels/ref/ops.h"

#include <algorithm>
#include <cmath>

#include "base/result.h"
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

namespace {

// The sum of 16 lanes in the order of _mm512_reduce_add_ps (GCC's and clang's agree): halves of
// 8, then 4, then 2, then 1, each step adding lane i + width to lane i.
float reduce_add_16(const float* lane) {
  float t[8];
  for (int i = 0; i < 8; ++i) t[i] = lane[i] + lane[i + 8];
  for (int i = 0; i < 4; ++i) t[i] = t[i] + t[i + 4];
  for (int i = 0; i < 2; ++i) t[i] = t[i] + t[i + 2];
  return t[0] + t[1];
}

}  // namespace

float ggml_expf(float x) {
  // x = n * ln2 + b: n = round(x / ln2) by the add-1.5*2^23 trick, then b in two FMA steps with
  // ln2 split into a high and a low part.
  const float shift = 0x1.8p23f;
  const float z = std::fma(x, 0x1.715476p+0f, shift);
  const float n = z - shift;
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  // exp(b) - as a polynomial in b and u = b^2, evaluated in ggml's order.
  const float u = b * b;
  const float j = std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                                    std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                           u, std::fma(0x1.ffffecp-1f, b, 1.0f));
  if (std::fabs(n) > 192.0f) return n <= 0.0f ? 0.0f : INFINITY;  // ggml's out-of-range blend
  if (std::isnan(n)) return n;
  // _mm512_scalef_ps(j, n) = j * 2^n, rounded once.
  return std::ldexp(j, static_cast<int>(n));
}

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  const int64_t n_simd = n - n % 16;  // ggml's AVX-512 loop covers whole groups of 16
  for (int64_t i = 0; i < n_simd; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + ggml_expf(0.0f - g)) * up[i];
  }
  for (int64_t i = n_simd; i < n; ++i) {  // ggml's scalar tail, with libm's expf
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void softmax(float* x, int64_t n) {
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) max = std::max(max, x[i]);
  double sum = 0.0;
  for (int64_t i0 = 0; i0 < n; i0 += 16) {
    float lane[16] = {};  // lanes past n are the -inf padding: exp gives exactly 0
    for (int64_t l = 0; l < 16 && i0 + l < n; ++l) {
      lane[l] = ggml_expf(x[i0 + l] - max);
      x[i0 + l] = lane[l];
    }
    sum += static_cast<double>(reduce_add_16(lane));
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

float dot_f16_tinyblas(const float* a, const uint16_t* b, int64_t b_stride, int64_t n,
                       int64_t n_data) {
  HEARTH_CHECK(n % 16 == 0 && n_data <= n, "dot_f16_tinyblas: n must be a multiple of 16");
  float lane[16] = {};
  for (int64_t i = 0; i < n_data; ++i)
    lane[i % 16] = std::fma(a[i], fp16_to_fp32(b[i * b_stride]), lane[i % 16]);
  return reduce_add_16(lane);
}

float dot_f16_ggml(const float* a, const uint16_t* b, int64_t b_stride, int64_t n, int64_t n_data) {
  HEARTH_CHECK(n_data <= n, "dot_f16_ggml: n_data > n");
  const int64_t n_simd = n - n % 64;  // whole groups of 64 go through the vector accumulators
  float acc[4][16] = {};
  for (int64_t i = 0; i < std::min(n_simd, n_data); ++i)
    acc[i % 64 / 16][i % 16] = std::fma(a[i], fp16_to_fp32(b[i * b_stride]), acc[i % 64 / 16][i % 16]);
  for (int64_t l = 0; l < 16; ++l) {
    acc[0][l] = acc[0][l] + acc[2][l];
    acc[1][l] = acc[1][l] + acc[3][l];
  }
  for (int64_t l = 0; l < 16; ++l) acc[0][l] = acc[0][l] + acc[1][l];
  double sum = reduce_add_16(acc[0]);
  for (int64_t i = n_simd; i < n_data; ++i)  // the rest one by one, in double
    sum += static_cast<double>(a[i] * fp16_to_fp32(b[i * b_stride]));
  return static_cast<float>(sum);
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
      angle = theta_interp * (1 - mix) + theta_extrap * mix;
      mscale *= 1.0f + 0.1f * std::log(1.0f / p.freq_scale);
    }
    cache[i0] = std::cos(angle) * mscale;
    cache[i0 + 1] = std::sin(angle) * mscale;
    theta *= theta_scale;
  }
}

void rope_apply(const RopeParams& p, const float* cache, float* x, int64_t n_heads,
                int64_t head_dim) {
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (int64_t i0 = 0; i0 < p.n_rot; i0 += 2) {
      const float c = cache[i0], s = cache[i0 + 1];
      // Normal: pairs (i0, i0+1). NeoX: pairs (i, i + n_rot/2) with i = i0/2.
      const int64_t a = p.neox ? i0 / 2 : i0;
      const int64_t b = p.neox ? i0 / 2 + p.n_rot / 2 : i0 + 1;
      const float x0 = v[a], x1 = v[b];
      v[a] = x0 * c - x1 * s;
      v[b] = x0 * s + x1 * c;
    }
  }
}

}  // namespace hearth::ref
