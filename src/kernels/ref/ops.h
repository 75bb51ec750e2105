// Reference (scalar, obviously correct) element-wise and normalisation ops of the transformer,
// written to follow ggml's CPU arithmetic where it matters for matching llama.cpp's logits
// (double accumulators in norms and softmax sums, float rope angle recurrence).
#pragma once

#include <cstdint>
#include <span>

namespace hearth::ref {

// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i]   (weight may be null)   x, out: [n] f32
void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps);

// exp(x) computed as ggml's AVX-512 ggml_v_expf computes it (a range reduction to
// 2^n * exp(b) with |b| <= ln2/2 and a degree-5 polynomial, FMA for FMA), so results agree
// bit for bit with llama.cpp's softmax and SwiGLU on AVX-512 machines. Within 2 ulp of expf.
// Inputs below about -104 give 0, above about 88.4 give inf.
float ggml_expf(float x);

// out[i] = silu(gate[i]) * up[i]   (SwiGLU)   gate, up, out: [n] f32, one row
// Mirrors ggml_vec_swiglu_f32 on AVX-512: whole groups of 16 use ggml_expf, the last n % 16
// elements use expf. Call it per row: the grouping restarts at each row.
void silu_mul(const float* gate, const float* up, float* out, int64_t n);

// In place: x = softmax(x)   x: [n] f32
// Mirrors ggml's soft_max_f32 on AVX-512 for a row that llama.cpp pads with masked (-inf)
// entries to a multiple of 16 (its KV length is a multiple of 256): exponentials by ggml_expf,
// each group of 16 summed in float as _mm512_reduce_add_ps does, the group sums added in double,
// then every element multiplied by float(1 / sum). The padding contributes exact zeros, so it is
// not stored.
void softmax(float* x, int64_t n);

// Dot products of f16 data, with the summation order of llama.cpp's CPU kernels. f16 products
// are exact in f32, so only the order of the float additions matters, and it does: the attention
// scores and outputs feed f16 and 8-bit roundings where one ulp can flip a rounding tie.
// `a` holds values already representable in f16 (stored as f32), `b` is f16 read with a stride
// of `b_stride` elements: b[i * b_stride]. `n` is the length ggml sees; elements from `n_data`
// on are zero padding (llama.cpp's masked KV positions): they are not read and add nothing.
//
// As llamafile's tinyBLAS F16 kernel on AVX-512 (ggml's mul_mat when the batch has >= 2 tokens,
// k % 16 == 0 and m % 4 == 0): 16 lanes, lane l accumulates elements i = l (mod 16) in order by
// FMA, then the lanes are reduced as _mm512_reduce_add_ps does. n % 16 == 0 (CHECKed).
float dot_f16_tinyblas(const float* a, const uint16_t* b, int64_t b_stride, int64_t n,
                       int64_t n_data);
// As ggml_vec_dot_f16 on AVX-512 without AVX512-FP16 (the one-token batch): four 16-lane
// accumulators over groups of 64, reduced pairwise (0+2, 1+3, then 0+1) and across lanes, then
// the last n % 64 products added one by one in double.
float dot_f16_ggml(const float* a, const uint16_t* b, int64_t b_stride, int64_t n, int64_t n_data);

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

}  // namespace hearth::ref
