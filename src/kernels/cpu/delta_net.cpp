// The delta rule's token step (kernels/ref/delta_net.h) with AVX-512 or AVX2: two passes over
// each state row (decay and dot with k; rank-one update and dot with q) do what ref does in four
// over the whole state, since each row's results depend on that row alone; every element sees ref's
// operations in ref's order and the dot products keep ggml_vec_dot_f32's four 16-lane
// accumulators, so the bits are ref's. Head widths that are not a multiple of 64 take ref.
#include "kernels/delta_net.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <algorithm>
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
// Sixteen rows' dot products finished at once. Row r's four 16-lane accumulators are folded as
// ggml_vec_dot_f32 folds them ((0+2) + (1+3)) into p[r]; lane r of the result is then
// ref::reduce_lanes16(p[r]). Every step adds the same two
// lanes that the scalar halving adds (lane l to lane l+8, then l+4, l+2, l+1), only side by side
// for several rows: permutes gather the halves, one add per pair of inputs.
__attribute__((target("avx512f,avx2,fma"))) __m512 reduce16_rows(__m512* p) {
  // Step s keeps the low half of each row's remaining lanes in one operand and the high half in
  // the other; rows stay in order, so after four steps lane r holds row r.
  alignas(64) static constexpr int32_t lo1[16] = {0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23};
  alignas(64) static constexpr int32_t hi1[16] = {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31};
  alignas(64) static constexpr int32_t lo2[16] = {0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27};
  alignas(64) static constexpr int32_t hi2[16] = {4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31};
  alignas(64) static constexpr int32_t lo3[16] = {0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29};
  alignas(64) static constexpr int32_t hi3[16] = {2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31};
  alignas(64) static constexpr int32_t lo4[16] = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
  alignas(64) static constexpr int32_t hi4[16] = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
  const int32_t* const lo[4] = {lo1, lo2, lo3, lo4};
  const int32_t* const hi[4] = {hi1, hi2, hi3, hi4};
  for (int step = 0, n = 16; step < 4; ++step, n /= 2) {
    const __m512i il = _mm512_load_si512(lo[step]), ih = _mm512_load_si512(hi[step]);
    for (int i = 0; i < n / 2; ++i)
      p[i] = _mm512_add_ps(_mm512_permutex2var_ps(p[2 * i], il, p[2 * i + 1]),
                           _mm512_permutex2var_ps(p[2 * i], ih, p[2 * i + 1]));
  }
  return p[0];
}

// A state row's four 16-lane dot-product accumulators (ggml_vec_dot_f32's), in registers.
struct Acc64 {
  __m512 a0, a1, a2, a3;
};

// Stores x0..x3 (the 64 state values at p, updated) and adds their products with y to acc.
__attribute__((target("avx512f,avx2,fma"))) inline void store_and_dot(float* p, const float* y, __m512 x0, __m512 x1,
                                                                     __m512 x2, __m512 x3, Acc64& acc) {
  _mm512_storeu_ps(p, x0);
  _mm512_storeu_ps(p + 16, x1);
  _mm512_storeu_ps(p + 32, x2);
  _mm512_storeu_ps(p + 48, x3);
  acc.a0 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(y), acc.a0);
  acc.a1 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(y + 16), acc.a1);
  acc.a2 = _mm512_fmadd_ps(x2, _mm512_loadu_ps(y + 32), acc.a2);
  acc.a3 = _mm512_fmadd_ps(x3, _mm512_loadu_ps(y + 48), acc.a3);
}

// ggml_vec_dot_f32's fold of the four accumulators: (0 + 2) + (1 + 3).
__attribute__((target("avx512f,avx2,fma"))) inline __m512 fold4(const Acc64& acc) {
  return _mm512_add_ps(_mm512_add_ps(acc.a0, acc.a2), _mm512_add_ps(acc.a1, acc.a3));
}

// Rows go sixteen at a time so that their folds run side by side (reduce16_rows) instead of as
// one serial chain of scalar adds per row. The accumulators are named registers: held in an
// array, GCC at -O2 kept them in memory, a load and a store around every FMA, and that chain,
// not the arithmetic, bounded the step (1.6x slower in prefill on Zen 4).
__attribute__((target("avx512f,avx2,fma"))) void step_avx512(float* state, const float* q, const float* k,
                                                             const float* v, float g, float beta, int64_t d,
                                                             float* out) {
  const __m512 decay = _mm512_set1_ps(std::exp(g));
  const float s = 1.0f / std::sqrt(static_cast<float>(d));
  const Acc64 zero{_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  alignas(64) float delta[16];
  for (int64_t j0 = 0; j0 < d; j0 += 16) {
    __m512 p[16];
    for (int r = 0; r < 16; ++r) {  // decay, and the dot product with k
      float* row = state + (j0 + r) * d;
      Acc64 acc = zero;
      for (int64_t i = 0; i < d; i += 64)
        store_and_dot(row + i, k + i, _mm512_mul_ps(_mm512_loadu_ps(row + i), decay),
                      _mm512_mul_ps(_mm512_loadu_ps(row + i + 16), decay),
                      _mm512_mul_ps(_mm512_loadu_ps(row + i + 32), decay),
                      _mm512_mul_ps(_mm512_loadu_ps(row + i + 48), decay), acc);
      p[r] = fold4(acc);
    }
    _mm512_store_ps(delta, _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(v + j0), reduce16_rows(p)),
                                         _mm512_set1_ps(beta)));
    for (int r = 0; r < 16; ++r) {  // the rank-one update, and the dot product with q
      float* row = state + (j0 + r) * d;
      const __m512 dr = _mm512_set1_ps(delta[r]);
      Acc64 acc = zero;
      for (int64_t i = 0; i < d; i += 64)
        store_and_dot(row + i, q + i, _mm512_fmadd_ps(_mm512_loadu_ps(k + i), dr, _mm512_loadu_ps(row + i)),
                      _mm512_fmadd_ps(_mm512_loadu_ps(k + i + 16), dr, _mm512_loadu_ps(row + i + 16)),
                      _mm512_fmadd_ps(_mm512_loadu_ps(k + i + 32), dr, _mm512_loadu_ps(row + i + 32)),
                      _mm512_fmadd_ps(_mm512_loadu_ps(k + i + 48), dr, _mm512_loadu_ps(row + i + 48)), acc);
      p[r] = fold4(acc);
    }
    _mm512_storeu_ps(out + j0, _mm512_mul_ps(reduce16_rows(p), _mm512_set1_ps(s)));
  }
}

// AVX2: each 16-lane accumulator in two 8-lane halves (lanes 0-7 in lo, 8-15 in hi), folded as
// the AVX-512 path folds a row: (0+2) + (1+3), then lane l + lane l+8, l+4, l+2, l+1, in registers.
struct Acc16 {
  __m256 lo, hi;
};

__attribute__((target("avx2,fma"))) float fold256(Acc16 a0, Acc16 a1, Acc16 a2, Acc16 a3) {
  const __m256 lo = _mm256_add_ps(_mm256_add_ps(a0.lo, a2.lo), _mm256_add_ps(a1.lo, a3.lo));
  const __m256 hi = _mm256_add_ps(_mm256_add_ps(a0.hi, a2.hi), _mm256_add_ps(a1.hi, a3.hi));
  const __m256 s8 = _mm256_add_ps(lo, hi);
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));  // s4[0] + s4[2], s4[1] + s4[3]
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

// Ref's decay of sixteen state values at p, stored, and their products with k summed into acc.
__attribute__((target("avx2,fma"))) inline void decay16(Acc16& acc, float* p, const float* k, __m256 decay) {
  const __m256 lo = _mm256_mul_ps(_mm256_loadu_ps(p), decay), hi = _mm256_mul_ps(_mm256_loadu_ps(p + 8), decay);
  _mm256_storeu_ps(p, lo);
  _mm256_storeu_ps(p + 8, hi);
  acc.lo = _mm256_fmadd_ps(lo, _mm256_loadu_ps(k), acc.lo);
  acc.hi = _mm256_fmadd_ps(hi, _mm256_loadu_ps(k + 8), acc.hi);
}

// Ref's rank-one update of sixteen state values at p, stored, and their products with q summed
// into acc.
__attribute__((target("avx2,fma"))) inline void update16(Acc16& acc, float* p, const float* k, const float* q,
                                                         __m256 delta) {
  const __m256 lo = _mm256_fmadd_ps(_mm256_loadu_ps(k), delta, _mm256_loadu_ps(p));
  const __m256 hi = _mm256_fmadd_ps(_mm256_loadu_ps(k + 8), delta, _mm256_loadu_ps(p + 8));
  _mm256_storeu_ps(p, lo);
  _mm256_storeu_ps(p + 8, hi);
  acc.lo = _mm256_fmadd_ps(lo, _mm256_loadu_ps(q), acc.lo);
  acc.hi = _mm256_fmadd_ps(hi, _mm256_loadu_ps(q + 8), acc.hi);
}

__attribute__((target("avx2,fma"))) void step_avx2(float* state, const float* q, const float* k, const float* v,
                                                   float g, float beta, int64_t d, float* out) {
  const __m256 decay = _mm256_set1_ps(std::exp(g));
  const float s = 1.0f / std::sqrt(static_cast<float>(d));
  const Acc16 zero{_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t j = 0; j < d; ++j) {
    float* row = state + j * d;
    Acc16 a0 = zero, a1 = zero, a2 = zero, a3 = zero;
    for (int64_t i = 0; i < d; i += 64) {
      decay16(a0, row + i, k + i, decay);
      decay16(a1, row + i + 16, k + i + 16, decay);
      decay16(a2, row + i + 32, k + i + 32, decay);
      decay16(a3, row + i + 48, k + i + 48, decay);
    }
    const __m256 delta = _mm256_set1_ps((v[j] - fold256(a0, a1, a2, a3)) * beta);
    a0 = a1 = a2 = a3 = zero;
    for (int64_t i = 0; i < d; i += 64) {
      update16(a0, row + i, k + i, q + i, delta);
      update16(a1, row + i + 16, k + i + 16, q + i + 16, delta);
      update16(a2, row + i + 32, k + i + 32, q + i + 32, delta);
      update16(a3, row + i + 48, k + i + 48, q + i + 48, delta);
    }
    out[j] = fold256(a0, a1, a2, a3) * s;
  }
}

// Sixteen channels per instruction; the channels past the last sixteen under a mask. Each lane
// runs ref's fused multiply-adds in ref's order (the first one's addend 0, as ref's sum starts).
__attribute__((target("avx512f,avx2,fma"))) void conv_step_avx512(float* window, int64_t window_stride,
                                                                  const float* x, const float* taps,
                                                                  int64_t taps_stride, int64_t channels,
                                                                  int64_t width, float* out) {
  const int64_t keep = width - 1;
  for (int64_t c = 0; c < channels; c += 16) {
    const __mmask16 m = channels - c >= 16 ? __mmask16(0xffff) : __mmask16((1u << (channels - c)) - 1);
    __m512 sum = _mm512_setzero_ps();
    for (int64_t i = 0; i < keep; ++i)
      sum = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, window + i * window_stride + c),
                            _mm512_maskz_loadu_ps(m, taps + i * taps_stride + c), sum);
    const __m512 xc = _mm512_maskz_loadu_ps(m, x + c);
    _mm512_mask_storeu_ps(out + c, m, _mm512_fmadd_ps(xc, _mm512_maskz_loadu_ps(m, taps + keep * taps_stride + c), sum));
    for (int64_t i = 0; i + 1 < keep; ++i)
      _mm512_mask_storeu_ps(window + i * window_stride + c, m,
                            _mm512_maskz_loadu_ps(m, window + (i + 1) * window_stride + c));
    if (keep > 0) _mm512_mask_storeu_ps(window + (keep - 1) * window_stride + c, m, xc);
  }
}

// AVX2: eight channels per instruction, the tail under a mask.
__attribute__((target("avx2,fma"))) void conv_step_avx2(float* window, int64_t window_stride, const float* x,
                                                        const float* taps, int64_t taps_stride, int64_t channels,
                                                        int64_t width, float* out) {
  const int64_t keep = width - 1;
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int64_t c = 0; c < channels; c += 8) {
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(std::min<int64_t>(channels - c, 8))), lane);
    __m256 sum = _mm256_setzero_ps();
    for (int64_t i = 0; i < keep; ++i)
      sum = _mm256_fmadd_ps(_mm256_maskload_ps(window + i * window_stride + c, m),
                            _mm256_maskload_ps(taps + i * taps_stride + c, m), sum);
    const __m256 xc = _mm256_maskload_ps(x + c, m);
    _mm256_maskstore_ps(out + c, m, _mm256_fmadd_ps(xc, _mm256_maskload_ps(taps + keep * taps_stride + c, m), sum));
    for (int64_t i = 0; i + 1 < keep; ++i)
      _mm256_maskstore_ps(window + i * window_stride + c, m, _mm256_maskload_ps(window + (i + 1) * window_stride + c, m));
    if (keep > 0) _mm256_maskstore_ps(window + (keep - 1) * window_stride + c, m, xc);
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

void conv_step(float* window, int64_t window_stride, const float* x, const float* taps, int64_t taps_stride,
               int64_t channels, int64_t width, float* out) {
#if defined(__x86_64__) || defined(__i386__)
  if (has_avx512()) return conv_step_avx512(window, window_stride, x, taps, taps_stride, channels, width, out);
  if (has_avx2()) return conv_step_avx2(window, window_stride, x, taps, taps_stride, channels, width, out);
#endif
  const int64_t keep = width - 1;
  for (int64_t c = 0; c < channels; ++c) {
    float sum = 0.0f;
    for (int64_t i = 0; i < keep; ++i) sum = std::fma(window[i * window_stride + c], taps[i * taps_stride + c], sum);
    out[c] = std::fma(x[c], taps[keep * taps_stride + c], sum);
    for (int64_t i = 0; i + 1 < keep; ++i) window[i * window_stride + c] = window[(i + 1) * window_stride + c];
    if (keep > 0) window[(keep - 1) * window_stride + c] = x[c];
  }
}

}  // namespace hearth::kernels
