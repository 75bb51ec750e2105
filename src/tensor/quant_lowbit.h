// The low-bit types llama.cpp users fit large models with: IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S,
// IQ3_XXS, IQ3_S (codebook points plus signs under sub-block scales) and the ternary TQ1_0,
// TQ2_0. Each 256-element super-block decodes to small integers and integer sub-block scales;
// dequantization (quant_lowbit.cpp) and the reference dot products (kernels/ref) both start
// from this one decoding. The SIMD kernels (kernels/cpu/x86_kernels.inc, which include no
// library header) decode the same layouts with vector operations and are held to the reference
// bit for bit (tests/kernels/matmul_test.cpp).
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace hearth::quant {

// One super-block decoded. What the numbers mean per type:
//   IQ2_*:   value = d * (0.5 + scale) / 4 * q     (q a signed codebook coordinate, 8..43)
//   IQ3_XXS: value = d * (0.5 + scale) / 2 * q     (q 4..62)
//   IQ3_S:   value = d * (1 + 2 scale) * q         (q 1..15)
//   IQ1_*:   value = d * (1 + 2 scale) * (q + shift / 8)   (q -1, 0, 1; shift +1 or -1)
//   TQ*:     value = d * q                         (q -1, 0, 1)
struct LowBitBlock {
  uint16_t d = 0;         // f16 super-block scale (IQ1_M: assembled from its scale bytes)
  int8_t q[256] = {};     // every element's signed integer value
  uint8_t scale[16] = {}; // each 16 elements' sub-block scale code (types with one per 32 repeat it)
  int8_t shift[32] = {};  // IQ1 only: each 8 elements' shift sign, +1 or -1
};

// True for the nine types above.
bool is_lowbit(DType type);

// Decodes super-block `index` of a row of `type` (is_lowbit) starting at `row`.
void decode_lowbit(DType type, const uint8_t* row, int64_t index, LowBitBlock* out);

}  // namespace hearth::quant
