// Private to src/tensor: the per-type codecs behind dequantize_row/quantize_row. Each converts
// `n_blocks` whole blocks: src/dst hold n_blocks * sizeof(Block) bytes (layouts in
// quant_blocks.h) and n_blocks * block_elems floats. The dispatcher has already checked the type
// and the length, so these only CHECK nothing.
#pragma once

#include <bit>
#include <cstdint>

namespace hearth::quant {

// quant_legacy.cpp: 32-element blocks, one scale (and min) each.
void dequantize_q4_0(const uint8_t* src, float* dst, int64_t n_blocks);
void dequantize_q4_1(const uint8_t* src, float* dst, int64_t n_blocks);
void dequantize_q5_0(const uint8_t* src, float* dst, int64_t n_blocks);
void dequantize_q5_1(const uint8_t* src, float* dst, int64_t n_blocks);
void dequantize_q8_0(const uint8_t* src, float* dst, int64_t n_blocks);
void quantize_q4_0(const float* src, uint8_t* dst, int64_t n_blocks);
void quantize_q4_1(const float* src, uint8_t* dst, int64_t n_blocks);
void quantize_q5_0(const float* src, uint8_t* dst, int64_t n_blocks);
void quantize_q5_1(const float* src, uint8_t* dst, int64_t n_blocks);
void quantize_q8_0(const float* src, uint8_t* dst, int64_t n_blocks);

// quant_k.cpp: 256-element super-blocks with quantized sub-block scales.
void dequantize_q2_k(const uint8_t* src, float* dst, int64_t n_blocks);
void dequantize_q3_k(const uint8_t* src, float* dst, int64_t n_blocks);
void dequantize_q4_k(const uint8_t* src, float* dst, int64_t n_blocks);
void dequantize_q5_k(const uint8_t* src, float* dst, int64_t n_blocks);
void dequantize_q6_k(const uint8_t* src, float* dst, int64_t n_blocks);
void quantize_q2_k(const float* src, uint8_t* dst, int64_t n_blocks);
void quantize_q3_k(const float* src, uint8_t* dst, int64_t n_blocks);
void quantize_q4_k(const float* src, uint8_t* dst, int64_t n_blocks);
void quantize_q5_k(const float* src, uint8_t* dst, int64_t n_blocks);
void quantize_q6_k(const float* src, uint8_t* dst, int64_t n_blocks);

// quant_iq.cpp: non-linear 4-bit grids (IQ4_NL, IQ4_XS) and MXFP4.
void dequantize_iq4_nl(const uint8_t* src, float* dst, int64_t n_blocks);
void dequantize_iq4_xs(const uint8_t* src, float* dst, int64_t n_blocks);
void dequantize_mxfp4(const uint8_t* src, float* dst, int64_t n_blocks);
void quantize_iq4_nl(const float* src, uint8_t* dst, int64_t n_blocks);
void quantize_iq4_xs(const float* src, uint8_t* dst, int64_t n_blocks);
void quantize_mxfp4(const float* src, uint8_t* dst, int64_t n_blocks);

// quant_lowbit.cpp: codebook (IQ1_*, IQ2_*, IQ3_*) and ternary (TQ*) types; dequantization only.
void dequantize_iq2_xxs(const uint8_t* src, float* dst, int64_t n_blocks);
void dequantize_iq2_xs(const uint8_t* src, float* dst, int64_t n_blocks);
void dequantize_iq2_s(const uint8_t* src, float* dst, int64_t n_blocks);
void dequantize_iq3_xxs(const uint8_t* src, float* dst, int64_t n_blocks);
void dequantize_iq3_s(const uint8_t* src, float* dst, int64_t n_blocks);
void dequantize_iq1_s(const uint8_t* src, float* dst, int64_t n_blocks);
void dequantize_iq1_m(const uint8_t* src, float* dst, int64_t n_blocks);
void dequantize_tq1_0(const uint8_t* src, float* dst, int64_t n_blocks);
void dequantize_tq2_0(const uint8_t* src, float* dst, int64_t n_blocks);

// Round to nearest, ties to even, for |x| < 2^22: adding 1.5 * 2^23 pushes the fraction out of
// the mantissa (the FPU rounds it away) and leaves the integer in the low 22 bits. ggml's
// quantizers round this way (not std::round, which ties away from zero), and byte-identical
// output depends on it. Out-of-range inputs give garbage, as in ggml; callers clamp.
inline int nearest_int(float x) {
  const float shifted = x + 12582912.f;
  return static_cast<int>(std::bit_cast<uint32_t>(shifted) & 0x007fffffu) - 0x00400000;
}

}  // namespace hearth::quant
