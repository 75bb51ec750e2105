// SwiGLU with ggml's polynomial expf over 16 (AVX-512) or 8 (AVX2) lanes, and the rope rotation
// compiled for FMA; the reference (kernels/ref/ops.cpp) where the CPU has neither.
#include "kernels/elementwise.h"

// GCC 12 warns about the undefined-vector idiom inside its own avx512fintrin.h.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/poly_exp.h"
#include "kernels/ref/ggml_lanes.h"
#include "kernels/ref/moe.h"

namespace hearth::kernels {
namespace {

#if defined(__x86_64__) || defined(__i386__)
// silu(g) * u = g / (1 + exp(0 - g)) * u, with ref's operations in ref's order.
__attribute__((target("avx512f,avx512dq,avx2,fma"))) void silu_mul_avx512(const float* gate, const float* up,
                                                                          float* out, int64_t vectorised) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < vectorised; i += 16) {
    const __m512 g = _mm512_loadu_ps(gate + i);
    const __m512 e = poly_expf16(_mm512_sub_ps(_mm512_setzero_ps(), g));
    _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)), _mm512_loadu_ps(up + i)));
  }
}

__attribute__((target("avx2,fma"))) void silu_mul_avx2(const float* gate, const float* up, float* out,
                                                       int64_t vectorised) {
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int64_t i = 0; i < vectorised; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = poly_expf8(_mm256_sub_ps(_mm256_setzero_ps(), g));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
  }
}

__attribute__((target("avx2"))) int64_t add_inplace_avx2(float* out, const float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(out + i), _mm256_loadu_ps(x + i)));
  return i;
}

// Eight rows' serial double sums over i, side by side (lanes 0-3 in lo, 4-7 in hi), of x[r][i]
// (kValues), x[r][i]^2 (kSquares) or (x[r][i] - mean[r])^2 (kDeviations), each term rounded to
// float first as ref rounds it.
enum class RowSum { kValues, kSquares, kDeviations };

template <RowSum kSum>
__attribute__((target("avx2,fma"))) inline void sum8_rows(const float* x, __m256i index, int64_t n, __m256 means,
                                                          double sums[8]) {
  __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
  for (int64_t i = 0; i < n; ++i) {
    __m256 v = _mm256_i32gather_ps(x + i, index, 4);
    if constexpr (kSum == RowSum::kDeviations) v = _mm256_sub_ps(v, means);
    if constexpr (kSum != RowSum::kValues) v = _mm256_mul_ps(v, v);
    lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
  }
  _mm256_storeu_pd(sums, lo);
  _mm256_storeu_pd(sums + 4, hi);
}

__attribute__((target("avx2,fma"))) void rms_norm8_avx2(const float* x, int64_t x_stride, const float* weight,
                                                        float* out, int64_t out_stride, int64_t n, float eps) {
  const __m256i index = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(int(x_stride)));
  double sums[8];
  sum8_rows<RowSum::kSquares>(x, index, n, _mm256_setzero_ps(), sums);
  for (int r = 0; r < 8; ++r) {
    const float mean = static_cast<float>(sums[r] / static_cast<double>(n));
    const __m256 scale = _mm256_set1_ps(1.0f / std::sqrt(mean + eps));
    const float* xr = x + r * x_stride;
    float* o = out + r * out_stride;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m256 y = _mm256_mul_ps(_mm256_loadu_ps(xr + i), scale);
      _mm256_storeu_ps(o + i, weight ? _mm256_mul_ps(y, _mm256_loadu_ps(weight + i)) : y);
    }
    for (; i < n; ++i) {
      const float y = xr[i] * _mm256_cvtss_f32(scale);
      o[i] = weight ? y * weight[i] : y;
    }
  }
}

__attribute__((target("avx2,fma"))) void layer_norm8_avx2(const float* x, int64_t x_stride, const float* weight,
                                                          const float* bias, float* out, int64_t out_stride,
                                                          int64_t n, float eps) {
  const __m256i index = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(int(x_stride)));
  double sums[8];
  sum8_rows<RowSum::kValues>(x, index, n, _mm256_setzero_ps(), sums);
  alignas(32) float mean[8];
  for (int r = 0; r < 8; ++r) mean[r] = static_cast<float>(sums[r]) / static_cast<float>(n);
  sum8_rows<RowSum::kDeviations>(x, index, n, _mm256_load_ps(mean), sums);
  for (int r = 0; r < 8; ++r) {
    const float variance = static_cast<float>(sums[r] / static_cast<double>(n));
    const float sc = 1.0f / std::sqrt(variance + eps);
    const __m256 scale = _mm256_set1_ps(sc), m = _mm256_set1_ps(mean[r]);
    const float* xr = x + r * x_stride;
    float* o = out + r * out_stride;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {  // (x - mean) * scale, then * weight, then + bias: ref's roundings
      __m256 y = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + i), m), scale);
      if (weight) y = _mm256_mul_ps(y, _mm256_loadu_ps(weight + i));
      if (bias) y = _mm256_add_ps(y, _mm256_loadu_ps(bias + i));
      _mm256_storeu_ps(o + i, y);
    }
    for (; i < n; ++i) {
      float y = (xr[i] - mean[r]) * sc;
      if (weight) y = y * weight[i];
      if (bias) y = y + bias[i];
      o[i] = y;
    }
  }
}

// gelu(g) (* u) for 8 elements at a time: g rounded to f16 by F16C (nearest even, as
// fp32_to_fp16), the table looked up per element, widened back by F16C; 0 at or below -10 and
// g itself at or above 10, as ref::gelu. A vector holding a NaN is left to the reference (whose
// conversion keeps its payload). Returns how many elements were done.
__attribute__((target("avx2,fma,f16c"))) int64_t gelu_f16c(const float* g, const float* up, float* out, int64_t n) {
  const std::array<uint16_t, 65536>& table = ref::gelu_f16_table();
  const __m256 lo = _mm256_set1_ps(-10.0f), hi = _mm256_set1_ps(10.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(g + i);
    if (_mm256_movemask_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q)) != 0) break;
    alignas(16) uint16_t h[8];
    _mm_store_si128(reinterpret_cast<__m128i*>(h), _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
    for (uint16_t& v : h) v = table[v];
    __m256 y = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(h)));
    y = _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, hi, _CMP_GE_OQ));
    if (up != nullptr) y = _mm256_mul_ps(y, _mm256_loadu_ps(up + i));
    y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, lo, _CMP_LE_OQ));  // +0, not 0 * up
    _mm256_storeu_ps(out + i, y);
  }
  return i;
}

// ref::rope_apply compiled with FMA enabled: std::fma becomes one instruction.
__attribute__((target("avx2,fma"))) void rope_apply_fma(const ref::RopeParams& p, const float* cache, float* x,
                                                        int64_t n_heads, int64_t head_dim) {
  for (int64_t h = 0; h < n_heads; ++h) ref::rope_rotate_head(p, cache, x + h * head_dim);
}

__attribute__((target("avx512f,avx512dq,avx2,fma"))) float dot_lanes16_avx512(const float* w, const float* x,
                                                                              int64_t k) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t i = 0; i < k; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), acc);
  alignas(64) float lane[16];
  _mm512_store_ps(lane, acc);
  return ref::reduce_lanes16(lane);
}

__attribute__((target("avx2,fma"))) float dot_lanes16_avx2(const float* w, const float* x, int64_t k) {
  __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();  // lanes 0-7 and 8-15
  for (int64_t i = 0; i < k; i += 16) {
    lo = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), lo);
    hi = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), hi);
  }
  alignas(32) float lane[16];
  _mm256_store_ps(lane, lo);
  _mm256_store_ps(lane + 8, hi);
  return ref::reduce_lanes16(lane);
}

// matmul_f32_lanes16 for many tokens: each (row, token) is dot_lanes16_avx512's chain and
// reduction, four tokens per weight load, and a block of rows (64: 384 KiB of a 1536-wide matrix,
// in L2) run over every token before the next, so the matrix streams from memory once per call
// instead of once per token (Gemma 4 E2B's per-layer projection, 8960 x 1536, is 55 MB).
__attribute__((target("avx512f,avx512dq,avx2,fma"))) void matmul_lanes16_avx512(const float* w, int64_t rows,
                                                                                 int64_t k, const float* x,
                                                                                 int64_t n_tokens, float* y,
                                                                                 int64_t ys) {
  constexpr int64_t kRowBlock = 64, kTokens = 4;
  alignas(64) float lane[kTokens][16];
  for (int64_t r0 = 0; r0 < rows; r0 += kRowBlock) {
    const int64_t r1 = std::min(rows, r0 + kRowBlock);
    int64_t t = 0;
    for (; t + kTokens <= n_tokens; t += kTokens)
      for (int64_t r = r0; r < r1; ++r) {
        const float* wr = w + r * k;
        const float* xt = x + t * k;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        for (int64_t i = 0; i < k; i += 16) {
          const __m512 wv = _mm512_loadu_ps(wr + i);
          a0 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xt + i), a0);
          a1 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xt + k + i), a1);
          a2 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xt + 2 * k + i), a2);
          a3 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xt + 3 * k + i), a3);
        }
        _mm512_store_ps(lane[0], a0);
        _mm512_store_ps(lane[1], a1);
        _mm512_store_ps(lane[2], a2);
        _mm512_store_ps(lane[3], a3);
        for (int64_t j = 0; j < kTokens; ++j) y[(t + j) * ys + r] = ref::reduce_lanes16(lane[j]);
      }
    for (; t < n_tokens; ++t)
      for (int64_t r = r0; r < r1; ++r) y[t * ys + r] = dot_lanes16_avx512(w + r * k, x + t * k, k);
  }
}

bool has_avx512() { return cpu::has_avx512_dq(); }
bool has_avx2() { return cpu::has_avx2_fma(); }
#endif

}  // namespace

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
#if defined(__x86_64__) || defined(__i386__)
  const int64_t vectorised = n - n % 16;  // ref's split: poly_expf below, std::exp in the tail
  if (has_avx512() || has_avx2()) {
    if (has_avx512())
      silu_mul_avx512(gate, up, out, vectorised);
    else
      silu_mul_avx2(gate, up, out, vectorised);
    ref::silu_mul(gate + vectorised, up + vectorised, out + vectorised, n - vectorised);  // < 16: libm's exp
    return;
  }
#endif
  ref::silu_mul(gate, up, out, n);
}

void add_inplace(float* out, const float* x, int64_t n) {
  int64_t i = 0;
#if defined(__x86_64__) || defined(__i386__)
  if (has_avx2()) i = add_inplace_avx2(out, x, n);
#endif
  ref::add_inplace(out + i, x + i, n - i);
}

namespace {
// Gathers index rows by 32-bit element offsets up to 7 x_stride.
bool gatherable(int64_t x_stride) { return x_stride >= 0 && x_stride <= INT32_MAX / 8; }
}  // namespace

void rms_norm_rows(const float* x, int64_t x_stride, const float* weight, float* out, int64_t out_stride,
                   int64_t rows, int64_t n, float eps) {
  int64_t r = 0;
#if defined(__x86_64__) || defined(__i386__)
  if (has_avx2() && gatherable(x_stride))
    for (; r + 8 <= rows; r += 8) rms_norm8_avx2(x + r * x_stride, x_stride, weight, out + r * out_stride, out_stride, n, eps);
#endif
  for (; r < rows; ++r) ref::rms_norm(x + r * x_stride, weight, out + r * out_stride, n, eps);
}

void layer_norm_rows(const float* x, int64_t x_stride, const float* weight, const float* bias, float* out,
                     int64_t out_stride, int64_t rows, int64_t n, float eps) {
  int64_t r = 0;
#if defined(__x86_64__) || defined(__i386__)
  if (has_avx2() && gatherable(x_stride))
    for (; r + 8 <= rows; r += 8)
      layer_norm8_avx2(x + r * x_stride, x_stride, weight, bias, out + r * out_stride, out_stride, n, eps);
#endif
  for (; r < rows; ++r) ref::layer_norm(x + r * x_stride, weight, bias, out + r * out_stride, n, eps);
}

void gelu(const float* x, float* out, int64_t n) {
  int64_t i = 0;
#if defined(__x86_64__) || defined(__i386__)
  if (has_avx2() && cpu::has_f16c()) i = gelu_f16c(x, nullptr, out, n);
#endif
  ref::gelu(x + i, out + i, n - i);
}

void geglu(const float* gate, const float* up, float* out, int64_t n) {
  int64_t i = 0;
#if defined(__x86_64__) || defined(__i386__)
  if (has_avx2() && cpu::has_f16c()) i = gelu_f16c(gate, up, out, n);
#endif
  ref::geglu(gate + i, up + i, out + i, n - i);
}

void rope_apply(const ref::RopeParams& p, const float* cache, float* x, int64_t n_heads, int64_t head_dim) {
#if defined(__x86_64__) || defined(__i386__)
  if (has_avx2()) return rope_apply_fma(p, cache, x, n_heads, head_dim);
#endif
  ref::rope_apply(p, cache, x, n_heads, head_dim);
}

void matmul_f32_lanes16(const float* w, int64_t rows, int64_t k, const float* x, int64_t n_tokens, float* y,
                        int64_t y_stride) {
  const int64_t ys = y_stride > 0 ? y_stride : rows;
  float (*dot)(const float*, const float*, int64_t) = ref::dot_f32_lanes16;
#if defined(__x86_64__) || defined(__i386__)
  if (k % 16 == 0) {  // whole vectors; other widths (no released router has them) take ref's path
    if (has_avx512() && n_tokens >= 4) return matmul_lanes16_avx512(w, rows, k, x, n_tokens, y, ys);
    if (has_avx512())
      dot = dot_lanes16_avx512;
    else if (has_avx2())
      dot = dot_lanes16_avx2;
  }
#endif
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t r = 0; r < rows; ++r) y[t * ys + r] = dot(w + r * k, x + t * k, k);
}

}  // namespace hearth::kernels
