// Reference arithmetic of a Mixture-of-Experts router, as llama.cpp's CPU graph computes it for
// a batch of two or more tokens (build_moe_ffn: mul_mat -> soft_max -> argsort_top_k -> get_rows
// -> sum_rows -> clamp -> div), so that hearth routes every token to the same experts with the
// same weights, to the bit.
#pragma once

#include <cstdint>

namespace hearth::ref {

// y[t, r] = Σ_i w[r, i] · x[t, i] for an f32 matrix w [rows, k]: each sum in 16 interleaved f32
// lanes by fused multiply-add, then reduce_lanes16 — the order of tinyBLAS's f32 GEMM on AVX-512
// (what llama.cpp runs the f32 router weights through). Scalar reference.
float dot_f32_lanes16(const float* w, const float* x, int64_t k);

// In place: ggml's soft_max of one row with no mask and no padding: poly_expf(x - max) over whole
// groups of 16 (each group summed by the halving tree, the group sums in double), libm's expf
// and a double running sum for the n % 16 tail, then x * float(1 / sum).
void soft_max_row(float* x, int64_t n);

// The k experts with the largest probabilities, as ggml's descending argsort (std::sort over the
// indices, so ties fall as they do there), and their weights: the probabilities themselves, or,
// with `normalize`, divided by their sum (summed in double, rounded to float, and clamped below
// at 2^-14 as llama.cpp does). ids, weights: [k].
void select_experts(const float* probs, int64_t n_expert, int64_t k, bool normalize, int32_t* ids,
                    float* weights);

// In place: ggml's sigmoid, 1 / (1 + expf(-x)), of each of n values (DeepSeek V3's gating).
void sigmoid_row(float* x, int64_t n);

// The indices of the k largest of `scores` in descending order, as ggml's argsort top-k sorts them
// (std::sort over the indices, so ties fall as they do there).
void top_k(const float* scores, int64_t n, int64_t k, int32_t* ids);

// Group-limited choice (DeepSeek V3), in place: the n_expert scores in n_groups equal groups, each
// group scored by the sum of its two best scores, and every score outside the n_groups_used best
// groups set to -inf, as llama.cpp's build_moe_ffn masks them.
void mask_expert_groups(float* scores, int64_t n_expert, int64_t n_groups, int64_t n_groups_used);

}  // namespace hearth::ref
