// Reference (scalar, obviously correct) element-wise and normalisation ops of the transformer,
// written to follow ggml's CPU arithmetic where it matters for matching llama.cpp's logits
// (double accumulators in norms and softmax sums, float rope angle recurrence, the fused
// multiply-adds its compiler makes of rope's rotation, and the polynomial expf and 16-lane sums
// of its AVX-512 build in softmax and SwiGLU; kernels/ref/ggml_lanes.h).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <span>

namespace hearth::ref {

// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i]   (weight may be null)   x, out: [n] f32
void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps);

// out[i] = (x[i] - mean) / sqrt(var + eps) * weight[i] + bias[i]   (either may be null), as
// ggml_norm then ggml_mul and ggml_add compute it: the mean's sum and the variance's sum of
// squares in double, the scale 1/sqrtf(var + eps) in float.
void layer_norm(const float* x, const float* weight, const float* bias, float* out, int64_t n, float eps);

// ggml_table_gelu_f16: GELU's f16 result for every f16 input (see geglu), built once.
const std::array<uint16_t, 65536>& gelu_f16_table();

// out[i] = gelu(x[i]) as ggml_gelu on the CPU: the f16 table of geglu below (0 at or below -10,
// x itself at or above 10). out may be x.
void gelu(const float* x, float* out, int64_t n);

// out[i] = silu(gate[i]) * up[i]   (SwiGLU) over one row [n] f32: silu through poly_expf for the
// first n - n % 16 elements and std::exp for the rest, as ggml_vec_swiglu_f32 (AVX-512) does.
void silu_mul(const float* gate, const float* up, float* out, int64_t n);

// In place: x = softmax(x)   [n] f32, as ggml's soft_max over a row padded to a multiple of 16
// with masked (-inf) entries: poly_expf(x - max), each aligned group of 16 summed in f32 by the
// halving tree and the group sums in double, then x * float(1 / sum). A sink logit (gpt-oss)
// joins the max and adds libm's expf(sink - max) to the double sum, as ggml's soft_max with sinks
// does; -INFINITY, the default, is no sink (it adds an exact 0).
void softmax(float* x, int64_t n, float sink = -INFINITY);

// gpt-oss's clamped SwiGLU, as ggml's swiglu_oai computes it element by element (libm expf):
// g = min(gate, 7), u = clamp(up, -7, 7), out = g / (1 + expf(1.702 * -g)) * (u + 1).
void swiglu_oai(const float* gate, const float* up, float* out, int64_t n);

// Gemma's GeGLU as ggml computes it on the CPU (GGML_GELU_FP16): out = gelu(g) * u, where gelu(g)
// is looked up in a table of f16 results indexed by g rounded to f16 (0 for g <= -10, g itself
// for g >= 10). The table holds 0.5 g (1 + tanh(sqrt(2/pi) g (1 + 0.044715 g^2))) in f32 with
// libm's tanhf, the inner 1 + (0.044715 g) g fused into one FMA as GCC compiles ggml (of the 37376
// f16 inputs in range, one rounds differently unfused), rounded to f16.
void geglu(const float* gate, const float* up, float* out, int64_t n);

// x *= s   [n] f32 (ggml_scale)
void scale(float* x, int64_t n, float s);

// out[i] += x[i]
void add_inplace(float* out, const float* x, int64_t n);

// Rotary position embedding parameters (ggml_rope_ext semantics).
struct RopeParams {
  int64_t n_rot = 0;               // rotated dimensions per head (<= head_dim)
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;         // 1 / linear scaling factor
  float ext_factor = 0.0f;         // YaRN extrapolation mix (0: none)
  float attn_factor = 1.0f;        // YaRN magnitude scale
  float beta_fast = 32.0f;
  float beta_slow = 1.0f;
  int64_t n_ctx_orig = 0;          // YaRN original context
  bool neox = false;               // rotate halves (NeoX / HF) instead of adjacent pairs
  const float* freq_factors = nullptr;  // [n_rot/2] divisors (llama-3 rope_freqs) or null
};

// cos/sin table for one position: cache [n_rot] as (cos, sin) pairs.
void rope_cache(const RopeParams& p, float pos, float* cache);

// Rotates each of `n_heads` heads of `x` ([n_heads, head_dim] f32) in place with `cache`.
void rope_apply(const RopeParams& p, const float* cache, float* x, int64_t n_heads,
                int64_t head_dim);

// One head of rope_apply. Inline so kernels/cpu can compile it with FMA enabled, where std::fma
// is one instruction instead of a call.
__attribute__((always_inline)) inline void rope_rotate_head(const RopeParams& p, const float* cache, float* v) {
  for (int64_t i0 = 0; i0 < p.n_rot; i0 += 2) {
    const float c = cache[i0], s = cache[i0 + 1];
    // Normal: pairs (i0, i0+1). NeoX: pairs (i, i + n_rot/2) with i = i0/2.
    const int64_t a = p.neox ? i0 / 2 : i0;
    const int64_t b = p.neox ? i0 / 2 + p.n_rot / 2 : i0 + 1;
    const float x0 = v[a], x1 = v[b];
    // x0 c - x1 s and x0 s + x1 c with the x0 product fused, as GCC compiles ggml's rope
    // (checked against llama.cpp's rotated Q for both layouts).
    v[a] = std::fma(x0, c, -(x1 * s));
    v[b] = std::fma(x0, s, x1 * c);
  }
}

}  // namespace hearth::ref
