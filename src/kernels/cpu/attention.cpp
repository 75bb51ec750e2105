// The attention kernel: AVX2 (+FMA, F16C) when the CPU has it, else the reference. Each cached K
// and V row is converted once (f16 -> f32 -> f64) and used by every query head of the group.
// The products q16*k and p16*v are exact in double, so fused multiply-adds and a different
// summation order change only the last bits of a double sum: the f32 results equal the
// reference's except on rare rounding ties (the tests allow one f32 ulp).
#include "kernels/attention.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "kernels/cpu/cpu_features.h"
#include "kernels/ref/ops.h"
#include "tensor/quant.h"

namespace hearth::kernels {
namespace {

constexpr int64_t kMaxHeadDim = 512;

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma,f16c"))) void row_to_double(const uint16_t* h, double* out, int64_t n) {
  for (int64_t i = 0; i < n; i += 8) {
    const __m256 f = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i)));
    _mm256_storeu_pd(out + i, _mm256_cvtps_pd(_mm256_castps256_ps128(f)));
    _mm256_storeu_pd(out + i + 4, _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1)));
  }
}

__attribute__((target("avx2,fma,f16c"))) void attention_avx2(const AttentionArgs& a, AttentionScratch& s) {
  const int64_t hd = a.head_dim, n = a.n_kv, bs = a.block_size, G = a.group;
  s.scores.resize(static_cast<size_t>(G * n));
  s.qd.resize(static_cast<size_t>(G * hd));
  s.acc.assign(static_cast<size_t>(G * hd), 0.0);
  for (int64_t i = 0; i < G * hd; ++i) s.qd[size_t(i)] = fp16_to_fp32(fp32_to_fp16(a.q[i]));
  alignas(32) double row[kMaxHeadDim];

  for (int64_t j = 0; j < n; ++j) {
    row_to_double(a.k_blocks[j / bs] + (j % bs) * a.row_stride, row, hd);
    for (int64_t g = 0; g < G; ++g) {
      const double* q = s.qd.data() + g * hd;
      __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
      for (int64_t i = 0; i < hd; i += 8) {
        acc0 = _mm256_fmadd_pd(_mm256_loadu_pd(q + i), _mm256_load_pd(row + i), acc0);
        acc1 = _mm256_fmadd_pd(_mm256_loadu_pd(q + i + 4), _mm256_load_pd(row + i + 4), acc1);
      }
      const __m256d sum = _mm256_add_pd(acc0, acc1);
      const __m128d half = _mm_add_pd(_mm256_castpd256_pd128(sum), _mm256_extractf128_pd(sum, 1));
      const double dot = _mm_cvtsd_f64(_mm_add_sd(half, _mm_unpackhi_pd(half, half)));
      s.scores[size_t(g * n + j)] = static_cast<float>(dot) * a.scale;
    }
  }
  for (int64_t g = 0; g < G; ++g) {
    float* p = s.scores.data() + g * n;
    hearth::ref::softmax(p, n);
    for (int64_t j = 0; j < n; ++j) p[j] = fp16_to_fp32(fp32_to_fp16(p[j]));
  }
  for (int64_t j = 0; j < n; ++j) {
    row_to_double(a.v_blocks[j / bs] + (j % bs) * a.row_stride, row, hd);
    for (int64_t g = 0; g < G; ++g) {
      const __m256d p = _mm256_set1_pd(s.scores[size_t(g * n + j)]);
      double* acc = s.acc.data() + g * hd;
      for (int64_t i = 0; i < hd; i += 4)
        _mm256_storeu_pd(acc + i, _mm256_fmadd_pd(p, _mm256_load_pd(row + i), _mm256_loadu_pd(acc + i)));
    }
  }
  for (int64_t i = 0; i < G * hd; ++i) a.out[i] = static_cast<float>(s.acc[size_t(i)]);
}

bool has_avx2() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu::has_f16c();
  return ok;
}
#endif

}  // namespace

void attention(const AttentionArgs& a, AttentionScratch& s) {
#if defined(__x86_64__) || defined(__i386__)
  if (has_avx2() && a.head_dim % 8 == 0 && a.head_dim <= kMaxHeadDim) return attention_avx2(a, s);
#endif
  hearth::ref::attention(a, s);
}

}  // namespace hearth::kernels
