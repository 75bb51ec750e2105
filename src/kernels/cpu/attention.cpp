// The attention kernel: AVX-512F or AVX2 (+FMA, F16C) when the CPU has it, else the reference.
// Each cached K and V row is converted once (f16 -> f32) and used by every query head of the
// group. The arithmetic is the reference's to the bit (kernels/attention.h): the same lanes,
// fused multiply-adds and reduction tree, only vectorised.
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>

// GCC 12 warns about the undefined-vector idiom inside its own avx512fintrin.h.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "base/result.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/poly_exp.h"
#include "kernels/ref/ggml_lanes.h"
#include "kernels/ref/ops.h"
#include "tensor/quant.h"

namespace hearth::kernels {
namespace {

constexpr int64_t kMaxHeadDim = 1024;  // MLA's keys: 576 (DeepSeek V3's 512-wide latent + 64 roped)

// Query t's masked lead and tail under a symmetric window (positions farther than the window).
void window_mask(AttentionArgs& a, int64_t t) {
  if (a.symmetric_window <= 0) return;
  t += a.first_query;
  a.n_masked = std::max<int64_t>(0, t - a.symmetric_window);
  a.n_tail_masked = a.n_kv - std::min(a.n_kv, t + a.symmetric_window + 1);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma,f16c"))) void row_to_float(const uint16_t* h, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i += 8)
    _mm256_store_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i))));
}

// x rounded to f16 and back (as fp16_to_fp32(fp32_to_fp16(x)); F16C rounds to nearest even too).
__attribute__((target("avx2,fma,f16c"))) void round_to_f16(const float* x, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
  for (; i < n; ++i) out[i] = fp16_to_fp32(fp32_to_fp16(x[i]));
}

// The sum of 8 lanes, halving: (l + l+4), then (+ l+2), then (+ l+1).
__attribute__((target("avx2,fma,f16c"))) float reduce8(__m256 v) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

// ref::softmax with 8-lane poly_expf: each group of 16 is two vectors whose lanewise sum is the
// tree's first step.
__attribute__((target("avx2,fma,f16c"))) void softmax_avx2(float* x, int64_t n, float sink) {
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) max = std::max(max, x[i]);
  max = std::max(max, sink);
  const __m256 vmax = _mm256_set1_ps(max);
  double sum = 0.0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 lo = poly_expf8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
    const __m256 hi = poly_expf8(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vmax));
    _mm256_storeu_ps(x + i, lo);
    _mm256_storeu_ps(x + i + 8, hi);
    sum += reduce8(_mm256_add_ps(lo, hi));
  }
  if (i < n) {
    float lane[16] = {};
    for (int64_t l = 0; i + l < n; ++l) lane[l] = x[i + l] = ref::poly_expf(x[i + l] - max);
    sum += ref::reduce_lanes16(lane);
  }
  sum += static_cast<double>(std::exp(sink - max));
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < n; ++j) x[j] *= inv;
}

// What both builds do around their loops over the cache: size the scratch, round q to f16 (f32
// keys and values: q as it is).
// (The values pass that keeps its lane sums in registers starts them at zero itself: no zeroing.)
void begin_attention(const AttentionArgs& a, AttentionScratch& s, bool zero_acc = true) {
  s.scores.resize(static_cast<size_t>(a.group * a.n_kv));
  s.q16.resize(static_cast<size_t>(a.group * a.head_dim));
  if (zero_acc) s.acc.assign(static_cast<size_t>(a.group * 16 * a.value_dim()), 0.0f);
  if (a.k_f32 != nullptr)
    std::copy(a.q, a.q + a.group * a.head_dim, s.q16.begin());
  else
    round_to_f16(a.q, s.q16.data(), a.group * a.head_dim);
}

// Position j's key (or value) row as f32, into `row` (aligned for the kernels' loads).
__attribute__((target("avx2,fma,f16c"))) void key_row(const AttentionArgs& a, int64_t j, float* row) {
  if (a.k_f32 != nullptr)
    std::copy(a.k_f32 + j * a.row_stride, a.k_f32 + j * a.row_stride + a.head_dim, row);
  else
    row_to_float(a.k_blocks[j / a.block_size] + (j % a.block_size) * a.row_stride, row, a.head_dim);
}
__attribute__((target("avx2,fma,f16c"))) void value_row(const AttentionArgs& a, int64_t j, float* row) {
  if (a.v_f32 != nullptr)
    std::copy(a.v_f32 + j * a.row_stride, a.v_f32 + j * a.row_stride + a.value_dim(), row);
  else
    row_to_float(a.v_blocks[j / a.block_size] + (j % a.block_size) * a.row_stride, row, a.value_dim());
}

// Each head's scores become probabilities, rounded to f16 as llama.cpp converts them for the
// product with V. Softmax: this build's ref::softmax, after the window's mask.
void head_probabilities(const AttentionArgs& a, float* p, int64_t g, void (*softmax)(float*, int64_t, float)) {
  softcap_scores(p, a.n_kv, a.softcap);
  std::fill(p, p + a.n_masked, -INFINITY);
  std::fill(p + a.n_kv - a.n_tail_masked, p + a.n_kv, -INFINITY);
  softmax(p, a.n_kv, a.sinks ? a.sinks[g] : -INFINITY);
  if (a.k_f32 == nullptr) round_to_f16(p, p, a.n_kv);
}

void scores_to_probabilities(const AttentionArgs& a, AttentionScratch& s,
                             void (*softmax)(float*, int64_t, float)) {
  for (int64_t g = 0; g < a.group; ++g) head_probabilities(a, s.scores.data() + g * a.n_kv, g, softmax);
}

// Output i of head g: the halving tree over its 16 lane sums acc[g][l][i], 8 outputs at a time.
// Columns [i0, i1) only, where a caller splits the outputs (multiples of 8).
__attribute__((target("avx2,fma,f16c"))) void end_attention(const AttentionArgs& a, const AttentionScratch& s,
                                                             int64_t i0 = 0, int64_t i1 = -1) {
  const int64_t hd = a.value_dim();
  if (i1 < 0) i1 = hd;
  for (int64_t g = 0; g < a.group; ++g) {
    const float* acc = s.acc.data() + g * 16 * hd;
    for (int64_t i = i0; i < i1; i += 8) {
      __m256 s8[8];
      for (int l = 0; l < 8; ++l)
        s8[l] = _mm256_add_ps(_mm256_loadu_ps(acc + l * hd + i), _mm256_loadu_ps(acc + (l + 8) * hd + i));
      for (int l = 0; l < 4; ++l) s8[l] = _mm256_add_ps(s8[l], s8[l + 4]);
      const __m256 r = _mm256_add_ps(_mm256_add_ps(s8[0], s8[2]), _mm256_add_ps(s8[1], s8[3]));
      _mm256_storeu_ps(a.out + g * hd + i, r);
    }
  }
}

// Adds p * v (one position j, every head of the group) to lane j % 16 of the outputs.
__attribute__((target("avx2,fma,f16c"))) void accumulate_v_avx2(const AttentionArgs& a, AttentionScratch& s,
                                                                 const float* row, int64_t j) {
  const int64_t hd = a.value_dim();
  for (int64_t g = 0; g < a.group; ++g) {
    const __m256 p = _mm256_set1_ps(s.scores[size_t(g * a.n_kv + j)]);
    float* acc = s.acc.data() + (g * 16 + j % 16) * hd;
    for (int64_t i = 0; i < hd; i += 8)
      _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(p, _mm256_load_ps(row + i), _mm256_loadu_ps(acc + i)));
  }
}

__attribute__((target("avx2,fma,f16c"))) void attention_avx2(const AttentionArgs& a, AttentionScratch& s) {
  const int64_t hd = a.head_dim, n = a.n_kv, G = a.group;
  begin_attention(a, s);
  alignas(32) float row[kMaxHeadDim];

  for (int64_t j = 0; j < n; ++j) {
    key_row(a, j, row);
    for (int64_t g = 0; g < G; ++g) {
      // Lanes 0-7 and 8-15 of the 16-lane sum; a last half chunk only reaches lanes 0-7.
      const float* q = s.q16.data() + g * hd;
      __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
      int64_t i = 0;
      for (; i + 16 <= hd; i += 16) {
        lo = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_load_ps(row + i), lo);
        hi = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_load_ps(row + i + 8), hi);
      }
      if (i < hd) lo = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_load_ps(row + i), lo);
      s.scores[size_t(g * n + j)] = reduce8(_mm256_add_ps(lo, hi)) * a.scale;
    }
  }
  scores_to_probabilities(a, s, softmax_avx2);
  for (int64_t j = 0; j < n; ++j) {
    value_row(a, j, row);
    accumulate_v_avx2(a, s, row, j);
  }
  end_attention(a, s);
}

// The same with 16 floats per vector (AVX-512F): a K row's 16-lane sum is one register.
__attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma,f16c"))) void softmax_avx512(float* x, int64_t n, float sink) {
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) max = std::max(max, x[i]);
  max = std::max(max, sink);
  const __m512 vmax = _mm512_set1_ps(max);
  double sum = 0.0;
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
    // Lanes past the end are 0 in the sum, as ggml's masked (-inf) padding is.
    const __m512 e = _mm512_maskz_mov_ps(m, poly_expf16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmax)));
    _mm512_mask_storeu_ps(x + i, m, e);
    sum += _mm512_reduce_add_ps(e);
  }
  sum += static_cast<double>(std::exp(sink - max));
  const __m512 inv = _mm512_set1_ps(static_cast<float>(1.0 / sum));
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
  }
}

// Position j's score for heads g .. g + H - 1: each head's 16-lane sum is one chain of fused
// multiply-adds (lane l takes terms l, l + 16, ...), H independent chains interleaved so that the
// FMA latency is hidden (one chain alone waited on it at every step); each chain's order, and so
// its bits, is unchanged.
template <int H>
__attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma,f16c"))) inline void score_heads_avx512(
    const AttentionArgs& a, const AttentionScratch& s, const float* row, int64_t g, int64_t j, float* scores) {
  const int64_t hd = a.head_dim, n = a.n_kv;
  const float* q = s.q16.data() + g * hd;
  __m512 acc[H];
#pragma GCC unroll 8
  for (int h = 0; h < H; ++h) acc[h] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= hd; i += 16) {
    const __m512 k = _mm512_load_ps(row + i);
#pragma GCC unroll 8
    for (int h = 0; h < H; ++h) acc[h] = _mm512_fmadd_ps(_mm512_loadu_ps(q + h * hd + i), k, acc[h]);
  }
  if (i < hd) {  // a half chunk: lanes 0-7 (the upper lanes add 0 * 0)
    const __m512 k = _mm512_maskz_loadu_ps(0xFF, row + i);
#pragma GCC unroll 8
    for (int h = 0; h < H; ++h)
      acc[h] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(0xFF, q + h * hd + i), k, acc[h]);
  }
#pragma GCC unroll 8
  for (int h = 0; h < H; ++h) scores[(g + h) * n + j] = _mm512_reduce_add_ps(acc[h]) * a.scale;
}

// The values' pass with each lane sum in a register: for one head and 16 outputs, the 16 lanes
// (acc[l] sums the positions j with j % 16 == l, in order of j) run over a block of positions
// whose f16 rows stay in L2 across the heads, then go back to the scratch. The same fused
// multiply-adds in the same order as accumulate_v_avx2's, without its trip through memory per
// position (decode at long contexts spent most of its attention time there). Needs whole 16-wide
// chunks, f16 rows, and blocks of the cache holding whole groups of 16 positions.
__attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma,f16c"))) void accumulate_v_blocked_avx512(
    const AttentionArgs& a, AttentionScratch& s, const float* probs, int64_t i0, int64_t i1) {
  const int64_t vd = a.value_dim(), n = a.n_kv, G = a.group, bs = a.block_size;
  constexpr int64_t kBlock = 128;  // positions per pass over the heads (a multiple of 16)
  s.acc.resize(static_cast<size_t>(G * 16 * vd));
  for (int64_t j0 = 0; j0 < n; j0 += kBlock) {
    const int64_t j1 = std::min(n, j0 + kBlock);
    for (int64_t g = 0; g < G; ++g) {
      const float* p = probs + g * n;
      float* acc_g = s.acc.data() + g * 16 * vd;
      for (int64_t i = i0; i < i1; i += 16) {
        __m512 acc[16];
#pragma GCC unroll 16
        for (int l = 0; l < 16; ++l) acc[l] = j0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(acc_g + l * vd + i);
        for (int64_t j = j0; j < j1; j += 16) {
          const uint16_t* rows = a.v_blocks[j / bs] + (j % bs) * a.row_stride + i;  // positions j .. j + 15
          const int64_t m = std::min<int64_t>(16, j1 - j);
#pragma GCC unroll 16
          for (int l = 0; l < 16; ++l) {
            if (l >= m) break;
            const __m512 v = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows + l * a.row_stride)));
            acc[l] = _mm512_fmadd_ps(_mm512_set1_ps(p[j + l]), v, acc[l]);
          }
        }
#pragma GCC unroll 16
        for (int l = 0; l < 16; ++l) _mm512_storeu_ps(acc_g + l * vd + i, acc[l]);
      }
    }
  }
}

// Scores of positions [j0, j1) for every head of the group into scores [group, n_kv], from q as
// begin_attention rounded it into s.q16.
__attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma,f16c"))) void scores_avx512(
    const AttentionArgs& a, const AttentionScratch& s, int64_t j0, int64_t j1, float* scores) {
  alignas(64) float row[kMaxHeadDim];
  const int64_t G = a.group;
  for (int64_t j = j0; j < j1; ++j) {
    key_row(a, j, row);
    int64_t g = 0;
    for (; g + 8 <= G; g += 8) score_heads_avx512<8>(a, s, row, g, j, scores);
    for (; g + 4 <= G; g += 4) score_heads_avx512<4>(a, s, row, g, j, scores);
    for (; g < G; ++g) score_heads_avx512<1>(a, s, row, g, j, scores);
  }
}

bool blocked_values(const AttentionArgs& a) {
  return a.value_dim() % 16 == 0 && a.v_f32 == nullptr && a.block_size % 16 == 0;
}

__attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma,f16c"))) void attention_avx512(const AttentionArgs& a,
                                                                                         AttentionScratch& s) {
  const int64_t vd = a.value_dim(), n = a.n_kv, G = a.group;
  begin_attention(a, s, /*zero_acc=*/!blocked_values(a));
  alignas(64) float row[kMaxHeadDim];

  scores_avx512(a, s, 0, n, s.scores.data());
  scores_to_probabilities(a, s, softmax_avx512);
  if (blocked_values(a)) {
    accumulate_v_blocked_avx512(a, s, s.scores.data(), 0, vd);
    end_attention(a, s);
    return;
  }
  for (int64_t j = 0; j < n; ++j) {
    value_row(a, j, row);
    if (vd % 16 != 0) {
      accumulate_v_avx2(a, s, row, j);
      continue;
    }
    for (int64_t g = 0; g < G; ++g) {
      const __m512 p = _mm512_set1_ps(s.scores[size_t(g * n + j)]);
      float* acc = s.acc.data() + (g * 16 + j % 16) * vd;
      for (int64_t i = 0; i < vd; i += 16)
        _mm512_storeu_ps(acc + i, _mm512_fmadd_ps(p, _mm512_load_ps(row + i), _mm512_loadu_ps(acc + i)));
    }
  }
  end_attention(a, s);
}

// Scores of one query head against 16 positions at a time from the transposed keys kt
// ([head_dim, np]): lane l of position j's sum takes terms i = l, l+16, ... by fused multiply-add
// from 0, then the halving tree (l + l+8, + l+4, + l+2, + l+1), as attention_avx512 sums one
// position horizontally (ref::reduce_lanes16).
__attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma,f16c"))) void score_block16(
    const float* q, const float* kt, int64_t hd, int64_t np, int64_t jb, float scale, float* out, int64_t n_out) {
  // Every index into lane[] a constant after unrolling, so the sixteen sums live in registers (a
  // runtime lane[i % 16] kept them in memory: a load and a store around every FMA).
  __m512 lane[16];
#pragma GCC unroll 16
  for (int l = 0; l < 16; ++l) lane[l] = _mm512_setzero_ps();
  for (int64_t i0 = 0; i0 < hd; i0 += 16) {
#pragma GCC unroll 16
    for (int l = 0; l < 16; ++l)
      if (i0 + l < hd)
        lane[l] = _mm512_fmadd_ps(_mm512_set1_ps(q[i0 + l]), _mm512_loadu_ps(kt + (i0 + l) * np + jb), lane[l]);
  }
#pragma GCC unroll 8
  for (int l = 0; l < 8; ++l) lane[l] = _mm512_add_ps(lane[l], lane[l + 8]);
#pragma GCC unroll 4
  for (int l = 0; l < 4; ++l) lane[l] = _mm512_add_ps(lane[l], lane[l + 4]);
  const __m512 r = _mm512_add_ps(_mm512_add_ps(lane[0], lane[2]), _mm512_add_ps(lane[1], lane[3]));
  const __mmask16 m = n_out >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n_out) - 1);
  _mm512_mask_storeu_ps(out, m, _mm512_mul_ps(r, _mm512_set1_ps(scale)));
}

// n_queries queries over the same keys and values, converted once for all of them (the keys
// transposed to [head_dim, n_kv rounded up to 16]; a cache's f16 values widened to f32), each
// query's scores computed 16 positions at a time (score_block16) and its values summed with the
// 16 lane sums in registers: attention()'s operations in attention()'s order, so its bits.
// causal: query t sees the first a.n_kv - (n_queries - 1 - t) positions (a prompt's run over the
// cache); else all a.n_kv under the symmetric window (an encoder's own rows).
__attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma,f16c"))) void attention_queries_avx512(
    const AttentionArgs& a0, int64_t n_queries, int64_t q_stride, int64_t out_stride, AttentionScratch& s,
    bool causal) {
  // np, the transposed keys' row length: n rounded up to 16, plus 16 so that rows are not a power
  // of two apart (at n = 512 the head_dim rows a block of 16 positions reads fell into two L1
  // sets and came from L2 every time).
  const int64_t hd = a0.head_dim, vd = a0.value_dim(), n = a0.n_kv, G = a0.group, np = (n + 15) / 16 * 16 + 16;
  alignas(64) float row[kMaxHeadDim];
  s.kt.assign(static_cast<size_t>(hd * np), 0.0f);
  for (int64_t j = 0; j < n; ++j) {
    key_row(a0, j, row);
    for (int64_t i = 0; i < hd; ++i) s.kt[size_t(i * np + j)] = row[i];
  }
  const float* v = a0.v_f32;
  int64_t v_stride = a0.row_stride;
  if (v == nullptr) {  // the cache's values, widened once (exactly) instead of once per query and head
    s.vf.resize(static_cast<size_t>(n * vd));
    for (int64_t j = 0; j < n; ++j) {
      value_row(a0, j, row);
      std::copy(row, row + vd, s.vf.data() + j * vd);
    }
    v = s.vf.data();
    v_stride = vd;
  }
  for (int64_t t = 0; t < n_queries; ++t) {
    AttentionArgs a = a0;
    a.q = a0.q + t * q_stride;
    a.out = a0.out + t * out_stride;
    if (causal)
      a.n_kv = n - (n_queries - 1 - t);
    else
      window_mask(a, t);
    const int64_t nk = a.n_kv;
    begin_attention(a, s, /*zero_acc=*/false);  // q rounded to f16 for a cache's keys, as attention()
    s.acc.resize(static_cast<size_t>(G * 16 * vd));
    // Heads inside positions: one block of 16 transposed keys (head_dim lines) stays in L1 while
    // the group's heads read it (head by head over all positions read each from L2: a third
    // slower in all).
    for (int64_t jb = 0; jb < nk; jb += 16)
      for (int64_t g = 0; g < G; ++g)
        score_block16(s.q16.data() + g * hd, s.kt.data(), hd, np, jb, a.scale, s.scores.data() + g * nk + jb, nk - jb);
    scores_to_probabilities(a, s, softmax_avx512);
    // Lane l sums the positions j = l, l + 16, ... in order, as before, but for one 16-wide chunk
    // of the head at a time, so the 16 lane sums stay in registers through a block of positions
    // instead of a load and a store per position (that store was a third of an encoder's
    // attention time: perf annotate, bge-small); the block's value rows stay in L1 across the
    // heads.
    constexpr int64_t kBlock = 128;  // positions per pass over the heads (a multiple of 16)
    for (int64_t b0 = 0; b0 < nk; b0 += kBlock) {
      const int64_t b1 = std::min(nk, b0 + kBlock);
      for (int64_t g = 0; g < G; ++g) {
        const float* p = s.scores.data() + g * nk;
        float* acc_g = s.acc.data() + g * 16 * vd;
        for (int64_t i = 0; i < vd; i += 16) {
          const __mmask16 m = vd - i >= 16 ? __mmask16(0xFFFF) : __mmask16(0xFF);  // or a half chunk of 8
          __m512 acc[16];
#pragma GCC unroll 16
          for (int l = 0; l < 16; ++l) acc[l] = b0 == 0 ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m, acc_g + l * vd + i);
          for (int64_t j0 = b0; j0 < b1; j0 += 16) {
#pragma GCC unroll 16
            for (int l = 0; l < 16; ++l)
              if (j0 + l < b1)
                acc[l] = _mm512_fmadd_ps(_mm512_set1_ps(p[j0 + l]),
                                         _mm512_maskz_loadu_ps(m, v + (j0 + l) * v_stride + i), acc[l]);
          }
#pragma GCC unroll 16
          for (int l = 0; l < 16; ++l) _mm512_mask_storeu_ps(acc_g + l * vd + i, m, acc[l]);
        }
      }
    }
    end_attention(a, s);
  }
}

bool has_avx512() {
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                         __builtin_cpu_supports("avx512dq") &&
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

bool attention_split_supported(const AttentionArgs& a) {
#if defined(__x86_64__) || defined(__i386__)
  return has_avx512() && a.k_f32 == nullptr && a.head_dim % 8 == 0 && a.head_dim <= kMaxHeadDim &&
         a.value_dim() <= a.head_dim && blocked_values(a) && a.n_kv > 0;
#else
  (void)a;
  return false;
#endif
}

#if defined(__x86_64__) || defined(__i386__)
void attention_split_scores(const AttentionArgs& a, int64_t j0, int64_t j1, float* scores, AttentionScratch& s) {
  s.q16.resize(static_cast<size_t>(a.group * a.head_dim));
  round_to_f16(a.q, s.q16.data(), a.group * a.head_dim);
  scores_avx512(a, s, j0, j1, scores);
}

void attention_split_probabilities(const AttentionArgs& a, int64_t g0, int64_t g1, float* scores) {
  for (int64_t g = g0; g < g1; ++g) head_probabilities(a, scores + g * a.n_kv, g, softmax_avx512);
}

void attention_split_values(const AttentionArgs& a, const float* probs, int64_t i0, int64_t i1, AttentionScratch& s) {
  accumulate_v_blocked_avx512(a, s, probs, i0, i1);
  end_attention(a, s, i0, i1);
}
#else
void attention_split_scores(const AttentionArgs&, int64_t, int64_t, float*, AttentionScratch&) {}
void attention_split_probabilities(const AttentionArgs&, int64_t, int64_t, float*) {}
void attention_split_values(const AttentionArgs&, const float*, int64_t, int64_t, AttentionScratch&) {}
#endif

bool attention_isa(AttentionIsa isa, const AttentionArgs& a, AttentionScratch& s) {
#if defined(__x86_64__) || defined(__i386__)
  if (a.head_dim % 8 != 0 || a.head_dim > kMaxHeadDim || a.value_dim() % 8 != 0 || a.value_dim() > a.head_dim)
    return false;
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

namespace {
// Where attention_queries_avx512 runs: its shapes are attention_isa's.
bool queries_avx512(const AttentionArgs& a) {
#if defined(__x86_64__) || defined(__i386__)
  return a.head_dim % 8 == 0 && a.head_dim <= kMaxHeadDim && a.value_dim() % 8 == 0 && a.value_dim() <= a.head_dim &&
         has_avx512();
#else
  (void)a;
  return false;
#endif
}

// attention_queries_avx512 where it runs, else attention() per query: causal, query t sees the
// first a.n_kv - (n_queries - 1 - t) positions; else all, under the symmetric window.
void attention_queries(const AttentionArgs& a, int64_t n_queries, int64_t q_stride, int64_t out_stride,
                       AttentionScratch& s, bool causal) {
#if defined(__x86_64__) || defined(__i386__)
  if (queries_avx512(a)) {
    attention_queries_avx512(a, n_queries, q_stride, out_stride, s, causal);
    return;
  }
#endif
  for (int64_t t = 0; t < n_queries; ++t) {
    AttentionArgs one = a;
    one.q = a.q + t * q_stride;
    one.out = a.out + t * out_stride;
    if (causal)
      one.n_kv = a.n_kv - (n_queries - 1 - t);
    else
      window_mask(one, t);
    attention(one, s);
  }
}
}  // namespace

void attention_queries_cached(const AttentionArgs& a, int64_t n_queries, int64_t q_stride, int64_t out_stride,
                              AttentionScratch& s) {
  HEARTH_CHECK(a.k_f32 == nullptr && a.n_masked == 0 && a.n_tail_masked == 0 && n_queries <= a.n_kv,
               "attention_queries_cached: a causal run over the whole cache only");
  attention_queries(a, n_queries, q_stride, out_stride, s, /*causal=*/true);
}

void attention_queries_f32(const AttentionArgs& a, int64_t n_queries, int64_t q_stride, int64_t out_stride,
                           AttentionScratch& s) {
  HEARTH_CHECK(a.k_f32 != nullptr && a.v_f32 != nullptr, "attention_queries_f32: f32 keys and values only");
  attention_queries(a, n_queries, q_stride, out_stride, s, /*causal=*/false);
}

void softcap_scores(float* x, int64_t n, float c) {
  if (!(c > 0.0f)) return;
  const float inv = 1.0f / c;
  for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i] * inv) * c;
}

void store_f16(const float* x, uint16_t* out, int64_t n) {
  int64_t i = 0;
#if defined(__x86_64__) || defined(__i386__)
  if (has_avx2()) i = store_f16_f16c(x, out, n);
#endif
  for (; i < n; ++i) out[i] = fp32_to_fp16(x[i]);
}

}  // namespace hearth::kernels
