// The delta rule's token step (kernels/ref/delta_net.h) with AVX-512 or AVX2: one pass over each
// state row does what ref does in four over the whole state (decay, dot with k, rank-one update,
// dot with q), since each row's results depend on that row alone; every element sees ref's
// operations in ref's order and the dot products keep ggml_vec_dot_f32's four 16-lane
// accumulators, so the bits are ref's. Head widths that are not a multiple of 64 take ref.
#include "kernels/delta_net.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <cmath>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "kernels/cpu/cpu_features.h"
#include "kernels/ref/delta_net.h"
#include "kernels/ref/ggml_lanes.h"

namespace hearth::kernels {
namespace {

#if defined(__x86_64__) || defined(__i386__)
// The 16 lanes of accumulators 0..3 folded as ggml_vec_dot_f32 folds them (0+2, 1+3, 0+1), then
// reduced by ref's halving tree.
__attribute__((target("avx512f,avx2,fma"))) float fold512(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
  a0 = _mm512_add_ps(a0, a2);
  a1 = _mm512_add_ps(a1, a3);
  a0 = _mm512_add_ps(a0, a1);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, a0);
  return ref::reduce_lanes16(lanes);
}

__attribute__((target("avx512f,avx2,fma"))) void step_avx512(float* state, const float* q, const float* k,
                                                             const float* v, float g, float beta, int64_t d,
                                                             float* out) {
  const __m512 decay = _mm512_set1_ps(std::exp(g));
  const float s = 1.0f / std::sqrt(static_cast<float>(d));
  for (int64_t j = 0; j < d; ++j) {
    float* row = state + j * d;
    __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int64_t i = 0; i < d; i += 64)
      for (int c = 0; c < 4; ++c) {
        const __m512 r = _mm512_mul_ps(_mm512_loadu_ps(row + i + 16 * c), decay);
        _mm512_storeu_ps(row + i + 16 * c, r);
        a[c] = _mm512_fmadd_ps(r, _mm512_loadu_ps(k + i + 16 * c), a[c]);
      }
    const __m512 delta = _mm512_set1_ps((v[j] - fold512(a[0], a[1], a[2], a[3])) * beta);
    for (__m512& x : a) x = _mm512_setzero_ps();
    for (int64_t i = 0; i < d; i += 64)
      for (int c = 0; c < 4; ++c) {
        const __m512 r = _mm512_fmadd_ps(_mm512_loadu_ps(k + i + 16 * c), delta, _mm512_loadu_ps(row + i + 16 * c));
        _mm512_storeu_ps(row + i + 16 * c, r);
        a[c] = _mm512_fmadd_ps(r, _mm512_loadu_ps(q + i + 16 * c), a[c]);
      }
    out[j] = fold512(a[0], a[1], a[2], a[3]) * s;
  }
}

// AVX2: each 16-lane accumulator in two 8-lane halves (lanes 0-7 and 8-15).
__attribute__((target("avx2,fma"))) float fold256(const __m256* a) {
  alignas(32) float lanes[16];
  _mm256_store_ps(lanes, _mm256_add_ps(_mm256_add_ps(a[0], a[4]), _mm256_add_ps(a[2], a[6])));
  _mm256_store_ps(lanes + 8, _mm256_add_ps(_mm256_add_ps(a[1], a[5]), _mm256_add_ps(a[3], a[7])));
  return ref::reduce_lanes16(lanes);
}

__attribute__((target("avx2,fma"))) void step_avx2(float* state, const float* q, const float* k, const float* v,
                                                   float g, float beta, int64_t d, float* out) {
  const __m256 decay = _mm256_set1_ps(std::exp(g));
  const float s = 1.0f / std::sqrt(static_cast<float>(d));
  for (int64_t j = 0; j < d; ++j) {
    float* row = state + j * d;
    __m256 a[8];
    for (__m256& x : a) x = _mm256_setzero_ps();
    for (int64_t i = 0; i < d; i += 64)
      for (int c = 0; c < 8; ++c) {
        const __m256 r = _mm256_mul_ps(_mm256_loadu_ps(row + i + 8 * c), decay);
        _mm256_storeu_ps(row + i + 8 * c, r);
        a[c] = _mm256_fmadd_ps(r, _mm256_loadu_ps(k + i + 8 * c), a[c]);
      }
    const __m256 delta = _mm256_set1_ps((v[j] - fold256(a)) * beta);
    for (__m256& x : a) x = _mm256_setzero_ps();
    for (int64_t i = 0; i < d; i += 64)
      for (int c = 0; c < 8; ++c) {
        const __m256 r = _mm256_fmadd_ps(_mm256_loadu_ps(k + i + 8 * c), delta, _mm256_loadu_ps(row + i + 8 * c));
        _mm256_storeu_ps(row + i + 8 * c, r);
        a[c] = _mm256_fmadd_ps(r, _mm256_loadu_ps(q + i + 8 * c), a[c]);
      }
    out[j] = fold256(a) * s;
  }
}

// ref::conv_step's loop as it is, compiled with the FMA instruction (ref calls libm's fmaf).
__attribute__((target("avx2,fma"))) void conv_step_fma(float* window, const float* x, const float* w,
                                                       int64_t channels, int64_t width, float* out) {
  const int64_t keep = width - 1;
  for (int64_t c = 0; c < channels; ++c) {
    float* win = window + c * keep;
    const float* wc = w + c * width;
    float sum = 0.0f;
    for (int64_t i = 0; i < keep; ++i) sum = __builtin_fmaf(win[i], wc[i], sum);
    out[c] = __builtin_fmaf(x[c], wc[keep], sum);
    for (int64_t i = 0; i + 1 < keep; ++i) win[i] = win[i + 1];
    if (keep > 0) win[keep - 1] = x[c];
  }
}

bool has_avx512() { return cpu::has_avx512_dq(); }
bool has_avx2() { return cpu::has_avx2_fma(); }
#endif

}  // namespace

void delta_rule_step(float* state, const float* q, const float* k, const float* v, float g, float beta, int64_t d,
                     float* out, float* scratch) {
#if defined(__x86_64__) || defined(__i386__)
  if (d % 64 == 0 && has_avx512()) return step_avx512(state, q, k, v, g, beta, d, out);
  if (d % 64 == 0 && has_avx2()) return step_avx2(state, q, k, v, g, beta, d, out);
#endif
  ref::delta_rule_step(state, q, k, v, g, beta, d, out, scratch);
}

void conv_step(float* window, const float* x, const float* w, int64_t channels, int64_t width, float* out) {
#if defined(__x86_64__) || defined(__i386__)
  if (has_avx2()) return conv_step_fma(window, x, w, channels, width, out);
#endif
  ref::conv_step(window, x, w, channels, width, out);
}

}  // namespace hearth::kernels
