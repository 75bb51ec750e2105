// The dot product of one weight row with one activation row, computed the way llama.cpp's CPU
// backend computes it, so hearth's logits follow llama.cpp's closely.
//
// ggml does not multiply a quantized weight by F32 activations. It first converts the activation
// row to the weight type's "vec_dot_type" (Q8_0 for the 32-element types, Q8_1 for the types
// with a min, Q8_K for the 256-element types, F16/BF16/F32 for the float types), then takes
// integer dot products block by block and scales each by the product of the two block scales.
// The rounding of the activations to 8 bits is therefore part of the result, and these are
// reference (scalar, obviously correct) versions of both steps: quantize_activation is
// byte-identical to ggml's x86 from_float for every activation type, and vec_dot's per-block
// integer sums are exact. Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q5_K and Q6_K also sum their floats in
// ggml's x86 lane order, so their products are bit-identical to llama.cpp's vec_dot (see
// vec_dot.cpp: Lanes8; tests/kernels/vec_dot_test.cpp holds it); for the other types only the
// order of the float accumulation over blocks differs, by a few ulps of the result.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace hearth::ref {

// True for the weight types vec_dot covers: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
// Q2_K..Q6_K, IQ4_NL, IQ4_XS, MXFP4, and the low-bit IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S,
// IQ3_XXS, IQ3_S, TQ1_0, TQ2_0 (bit-identical to llama.cpp's batched products: vec_dot.cpp).
bool has_vec_dot(DType weight_type);

// The type an activation row is converted to before a product with a `weight_type` row
// (ggml's type_traits_cpu[weight_type].vec_dot_type). CHECKs has_vec_dot(weight_type).
DType vec_dot_type(DType weight_type);

// Converts `n` floats (a whole number of act_type blocks) into `out`, which holds
// row_bytes(act_type, n) bytes, byte-identical to ggml's CPU from_float in the AVX/AVX2/AVX-512
// builds (every libggml-cpu variant a machine with AVX loads; checked against the prebuilt zen4
// and haswell variants):
//   Q8_0, Q8_1: scale amax/127 stored as f16; quants round(x * (127/amax)), ties to even. ggml's
//               portable quantize_row_q8_0_ref (run only by the no-AVX "x64" variant) differs: it
//               multiplies by 1/d and rounds ties away from zero. Q8_1 adds s = f16(d * sum q).
//   Q8_K:       f32 scale -max/127 where max is the first element of largest magnitude, quants
//               rounded ties to even and capped at 127, and the 16-element sums `bsums`.
//   F16, BF16:  round to nearest even.  F32: a copy.
// act_type must be one of those six (CHECKed).
// [n] f32 -> [n] act_type
void quantize_activation(DType act_type, const float* x, void* out, int64_t n);

// How a Q4_K product's exact integer sums enter its two f32 accumulators (other types ignore it):
//  - kPairs: one fused multiply-add per pair of sub-blocks (64 elements), the order of llama.cpp's
//    repacked Q4_K GEMM, which it runs for a matmul of two or more tokens;
//  - kSuperBlocks: one per super-block (256 elements), the order of its repacked Q4_K GEMV, which
//    its MUL_MAT_ID runs for expert matrices at every batch size;
//  - kVecDot: ggml's own x86 vec_dot (8 f32 lanes per super-block, the mins in 4 lanes), which it
//    runs for matrices it does not repack (MLA's 3-D attn_v_b, multiplied head by head). F32
//    weights take it too: ggml_vec_dot_f32's AVX-512 order (4 x 16 lanes) instead of a double sum.
//  - kBlocks: the block order of the 32-element types Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 (#21 item 5):
//    each block's exact integer sum enters one f32 chain by one fused multiply-add, acc =
//    fma(float(isum), wd * ad, acc), and a _1 type's m * s (exact) enters the same chain right after
//    its block. That is the order of llama.cpp's AMX kernels (ggml-cpu/amx/mmq.cpp), which it runs
//    for Q8_0, Q4_0 and Q4_1 on CPUs with AMX (Sapphire Rapids and later), and of its repacked Q4_0
//    GEMM elsewhere; its other kernels keep 8 f32 lanes per block, 8 float operations where this
//    takes one. hearth's packed AVX-512 kernels run it (VNNI, and AMX tiles for batches); Q5_0 and
//    Q5_1 are hearth's own here (bench/RESULTS.md: KL against exact sums beside the lanes').
//    Other types read kBlocks as kPairs.
//  - kExact: those types' block products summed in double and rounded once, ref only (no kernel
//    runs it): the yardstick for the orders' rounding. Other types read it as kPairs.
enum class KSums : uint8_t { kPairs, kSuperBlocks, kVecDot, kBlocks, kExact };

// True for the types whose sums kBlocks and kExact change (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0).
bool has_blocks_order(DType weight_type);

// Dot product of `n` elements: a weight row of `weight_type` with an activation row already
// converted to vec_dot_type(weight_type). Both may be unaligned. n must be a whole number of
// blocks of both types (CHECKed).
// w_row: [n] weight_type, act_row: [n] vec_dot_type(weight_type)
float vec_dot(DType weight_type, const void* w_row, const void* act_row, int64_t n,
              KSums sums = KSums::kPairs);

}  // namespace hearth::ref
