// Private to kernels/cpu: what each instruction-set build (x86_avx2.cpp, x86_avx512.cpp)
// exports to the dispatcher (each defined only where its architecture compiles it: x86_* on x86-64, arm_neon.cpp on AArch64). Only matmul.cpp calls these, and only after checking that the CPU
// supports the build's level.
#pragma once

#include <cstdint>

#include "kernels/ref/vec_dot.h"
#include "tensor/dtype.h"

namespace hearth::cpu {

// One product: weight rows of w_row_bytes each, activation rows (already converted to the
// weight type's vec_dot_type) of act_row_bytes each, k elements per row.
struct GemmArgs {
  const uint8_t* w;        // [n_rows, k] weight type
  uint64_t w_row_bytes;
  const uint8_t* act;      // [n_tokens, k] vec_dot_type
  uint64_t act_row_bytes;
  int64_t k;
  int64_t n_tokens;
  float* y;                // [n_tokens, ldy] f32
  int64_t ldy;
};

// Writes y[t * ldy + r] for rows r in [r0, r1) and every token t.
using GemmFn = void (*)(const GemmArgs& args, int64_t r0, int64_t r1);

// [n] f32 -> [n] act_type, byte-identical to ref::quantize_activation.
using QuantizeFn = void (*)(const float* x, void* out, int64_t n);

// IQ4_NL's and MXFP4's levels (quant::kIQ4NLValues, quant::kMXFP4Values) plus an offset that
// makes them unsigned (127, 12), as vpdpbusd multiplies them; the activation side subtracts
// offset * (sum of its quants). Data only, so the SIMD builds may share it (no inline code).
alignas(16) inline constexpr uint8_t kIQ4NLUnsigned[16] = {0,   23,  44,  62,  78,  92,  105, 117,
                                                           128, 140, 152, 165, 180, 196, 216, 240};
alignas(16) inline constexpr uint8_t kMXFP4Unsigned[16] = {12, 13, 14, 15, 16, 18, 20, 24,
                                                           12, 11, 10, 9,  8,  6,  4,  0};
constexpr int kIQ4NLOffset = 127, kMXFP4Offset = 12;

// Packed weights (kernels/cpu/packed.h): groups of kPackRows interleaved rows, group_bytes each.
constexpr int64_t kPackRows = 16;
// Where block i of a packed 32-element group lies (packed.h): blocks go in chunks of as many
// as one 64-byte line of scales covers, each chunk its scales, then its quants, then its fifth
// bits, so a group is read front to back. `static`: each instruction-set build compiles its own
// copy (no inline function shared between builds).
struct Block32Place {
  int64_t scales, quants, masks;  // byte offsets from the group's start
};
static constexpr Block32Place block32_place(int64_t nb, int64_t i, int64_t scale_bytes, int64_t quant_bytes,
                                            int64_t mask_bytes) {
  const int64_t per_chunk = 64 / (kPackRows * scale_bytes);
  const int64_t chunk = i / per_chunk, j = i % per_chunk;
  const int64_t n = nb - chunk * per_chunk < per_chunk ? nb - chunk * per_chunk : per_chunk;
  const int64_t scale_row = kPackRows * scale_bytes;
  const int64_t base = chunk * per_chunk * (scale_row + quant_bytes + mask_bytes);
  return {base + j * scale_row, base + n * scale_row + j * quant_bytes,
          base + n * (scale_row + quant_bytes) + j * mask_bytes};
}
// Tokens per activation tile of the packed F16/BF16 kernel.
constexpr int kHalfTileTokens = 12;
struct PackedGemmArgs {
  const uint8_t* w;         // [n_groups][group_bytes], 64-byte aligned
  uint64_t group_bytes;
  int64_t rows;             // real rows (the last group may be padded)
  int64_t k;
  // [n_tokens][act_row_bytes], the packed kernel's activation layout; for F16/BF16, tiles of
  // kHalfTileTokens tokens, [n_tiles][k][kHalfTileTokens] f32, act_row_bytes apart.
  const uint8_t* act;
  uint64_t act_row_bytes;
  int64_t n_tokens;
  float* y;                 // [n_tokens, ldy] f32
  int64_t ldy;
};
// Writes y[t * ldy + r] for the real rows of groups [g0, g1) and every token.
using PackedGemmFn = void (*)(const PackedGemmArgs& args, int64_t g0, int64_t g1);

// nullptr where the build has no kernel for the type.
// `sums` picks Q4_K's accumulation order (kernels/ref/vec_dot.h).
GemmFn avx2_gemm(DType weight_type, ref::KSums sums);
QuantizeFn avx2_quantize(DType act_type);
GemmFn avx512_gemm(DType weight_type, ref::KSums sums);
QuantizeFn avx512_quantize(DType act_type);
// kBlocks: the 32-element types in that order (ref/vec_dot.h), with AMX tile products for
// batches of 16 tokens and more where `amx` (the CPU has AMX-INT8 and the OS granted its state).
PackedGemmFn avx512_packed_gemm(DType weight_type, ref::KSums sums, bool amx);
GemmFn neon_gemm(DType weight_type, ref::KSums sums);
QuantizeFn neon_quantize(DType act_type);

}  // namespace hearth::cpu
