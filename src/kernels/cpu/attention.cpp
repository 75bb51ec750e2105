// The attention kernel: AVX-512F or AVX2 (+FMA, F16C) when the CPU has it, else the reference. Each cached K
// and V row is converted once (f16 -> f32 -> f64) and used by every query head of the group.
// The products q16*k and p16*v are exact in double, so fused multiply-adds and a different
// summation order change only the last bits of a double sum: the f32 results equal the
// reference's except on rare rounding ties (the tests allow one f32 ulp).
#include "kernels/attention.h"

// GCC 12 warns about the undefined-vector idiom inside its own avx512fintrin.h.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

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

// x rounded to f16 and back, in place / widened to double: as fp16_to_fp32(fp32_to_fp16(x)),
// with F16C (nearest even like fp32_to_fp16; NaN stays NaN).
__attribute__((target("avx2,fma,f16c"))) void round_to_f16(float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
  for (; i < n; ++i) x[i] = fp16_to_fp32(fp32_to_fp16(x[i]));
}

__attribute__((target("avx2,fma,f16c"))) void round_to_f16_as_double(const float* x, double* out, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    _mm256_storeu_pd(out + i, _mm256_cvtps_pd(_mm_cvtph_ps(_mm_cvtps_ph(_mm_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT))));
  for (; i < n; ++i) out[i] = fp16_to_fp32(fp32_to_fp16(x[i]));
}

// What both builds do around their two loops over the cache: size the scratch and round q to
// f16 (as doubles); turn each head's scores into f16-rounded probabilities; narrow the sums.
__attribute__((target("avx2,fma,f16c"))) void begin_attention(const AttentionArgs& a, AttentionScratch& s) {
  s.scores.resize(static_cast<size_t>(a.group * a.n_kv));
  s.qd.resize(static_cast<size_t>(a.group * a.head_dim));
  s.acc.assign(static_cast<size_t>(a.group * a.head_dim), 0.0);
  round_to_f16_as_double(a.q, s.qd.data(), a.group * a.head_dim);
}

__attribute__((target("avx2,fma,f16c"))) void scores_to_probabilities(const AttentionArgs& a, AttentionScratch& s) {
  for (int64_t g = 0; g < a.group; ++g) {
    float* p = s.scores.data() + g * a.n_kv;
    hearth::ref::softmax(p, a.n_kv);
    round_to_f16(p, a.n_kv);
  }
}

void end_attention(const AttentionArgs& a, const AttentionScratch& s) {
  for (int64_t i = 0; i < a.group * a.head_dim; ++i) a.out[i] = static_cast<float>(s.acc[size_t(i)]);
}

__attribute__((target("avx2,fma,f16c"))) void attention_avx2(const AttentionArgs& a, AttentionScratch& s) {
  const int64_t hd = a.head_dim, n = a.n_kv, bs = a.block_size, G = a.group;
  begin_attention(a, s);
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
  scores_to_probabilities(a, s);
  for (int64_t j = 0; j < n; ++j) {
    row_to_double(a.v_blocks[j / bs] + (j % bs) * a.row_stride, row, hd);
    for (int64_t g = 0; g < G; ++g) {
      const __m256d p = _mm256_set1_pd(s.scores[size_t(g * n + j)]);
      double* acc = s.acc.data() + g * hd;
      for (int64_t i = 0; i < hd; i += 4)
        _mm256_storeu_pd(acc + i, _mm256_fmadd_pd(p, _mm256_load_pd(row + i), _mm256_loadu_pd(acc + i)));
    }
  }
  end_attention(a, s);
}

// The same with 8 doubles per vector (AVX-512F): twice the products per instruction.
__attribute__((target("avx512f,avx512vl,avx2,fma,f16c"))) void row_to_double_x8(const uint16_t* h, double* out,
                                                                                 int64_t n) {
  for (int64_t i = 0; i < n; i += 8)
    _mm512_storeu_pd(out + i, _mm512_cvtps_pd(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i)))));
}

__attribute__((target("avx512f,avx512vl,avx2,fma,f16c"))) void attention_avx512(const AttentionArgs& a,
                                                                                AttentionScratch& s) {
  const int64_t hd = a.head_dim, n = a.n_kv, bs = a.block_size, G = a.group;
  begin_attention(a, s);
  alignas(64) double row[kMaxHeadDim];

  for (int64_t j = 0; j < n; ++j) {
    row_to_double_x8(a.k_blocks[j / bs] + (j % bs) * a.row_stride, row, hd);
    for (int64_t g = 0; g < G; ++g) {
      const double* q = s.qd.data() + g * hd;
      __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
      int64_t i = 0;
      for (; i + 16 <= hd; i += 16) {
        acc0 = _mm512_fmadd_pd(_mm512_loadu_pd(q + i), _mm512_load_pd(row + i), acc0);
        acc1 = _mm512_fmadd_pd(_mm512_loadu_pd(q + i + 8), _mm512_load_pd(row + i + 8), acc1);
      }
      if (i < hd) acc0 = _mm512_fmadd_pd(_mm512_loadu_pd(q + i), _mm512_load_pd(row + i), acc0);
      const double dot = _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1));
      s.scores[size_t(g * n + j)] = static_cast<float>(dot) * a.scale;
    }
  }
  scores_to_probabilities(a, s);
  for (int64_t j = 0; j < n; ++j) {
    row_to_double_x8(a.v_blocks[j / bs] + (j % bs) * a.row_stride, row, hd);
    for (int64_t g = 0; g < G; ++g) {
      const __m512d p = _mm512_set1_pd(s.scores[size_t(g * n + j)]);
      double* acc = s.acc.data() + g * hd;
      for (int64_t i = 0; i < hd; i += 8)
        _mm512_storeu_pd(acc + i, _mm512_fmadd_pd(p, _mm512_load_pd(row + i), _mm512_loadu_pd(acc + i)));
    }
  }
  end_attention(a, s);
}

bool has_avx512() {
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                         __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu::has_f16c();
  return ok;
}

// fp32_to_fp16 over whole vectors of 8 (F16C rounds to nearest even like it); a vector holding a
// NaN stops the loop so the scalar conversion keeps its payload rule. Returns the count done.
__attribute__((target("avx2,fma,f16c"))) int64_t store_f16_f16c(const float* x, uint16_t* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)) != 0) break;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
  }
  return i;
}

bool has_avx2() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu::has_f16c();
  return ok;
}
#endif

}  // namespace

bool attention_isa(AttentionIsa isa, const AttentionArgs& a, AttentionScratch& s) {
#if defined(__x86_64__) || defined(__i386__)
  if (a.head_dim % 8 != 0 || a.head_dim > kMaxHeadDim) return false;
  if (isa == AttentionIsa::kAvx512 && has_avx512()) {
    attention_avx512(a, s);
    return true;
  }
  if (isa == AttentionIsa::kAvx2 && has_avx2()) {
    attention_avx2(a, s);
    return true;
  }
#endif
  (void)isa, (void)a, (void)s;
  return false;
}

void attention(const AttentionArgs& a, AttentionScratch& s) {
  if (attention_isa(AttentionIsa::kAvx512, a, s) || attention_isa(AttentionIsa::kAvx2, a, s)) return;
  hearth::ref::attention(a, s);
}

void store_f16(const float* x, uint16_t* out, int64_t n) {
  int64_t i = 0;
#if defined(__x86_64__) || defined(__i386__)
  if (has_avx2()) i = store_f16_f16c(x, out, n);
#endif
  for (; i < n; ++i) out[i] = fp32_to_fp16(x[i]);
}

}  // namespace hearth::kernels
