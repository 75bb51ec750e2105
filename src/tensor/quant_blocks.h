// Private to src/tensor: the byte layout of one block of each quantized type, exactly as ggml
// stores it (ggml-common.h), plus the lookup tables the formats define. Blocks are copied in and
// out of the byte stream with memcpy, so callers may pass unaligned buffers (GGUF rows of 17- or
// 18-byte blocks are) and nothing is read through a type-punned pointer.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace hearth::quant {

static_assert(std::endian::native == std::endian::little,
              "block layouts are little-endian on disk and read by memcpy");

constexpr int kQK = 32;     // elements per block of the legacy types, IQ4_NL and MXFP4
constexpr int kQK_K = 256;  // elements per super-block of the K types and IQ4_XS

// Legacy types: one scale (and for the _1 types a min) per 32 elements. A 4-bit block keeps
// element j in the low nibble of qs[j] and element j+16 in the high nibble; the 5-bit types put
// the fifth bit of element j in bit j of qh (little-endian u32).
struct BlockQ4_0 {
  uint16_t d;      // f16 scale
  uint8_t qs[16];  // [32] 4-bit, value = (q - 8) * d
};
struct BlockQ4_1 {
  uint16_t d, m;   // f16 scale, f16 min
  uint8_t qs[16];  // [32] 4-bit, value = q * d + m
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];   // fifth bits
  uint8_t qs[16];  // value = (q - 16) * d
};
struct BlockQ5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[16];  // value = q * d + m
};
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[32];  // value = q * d
};

// Activation-side types: what a matrix product converts its F32 input row to before the integer
// dot product (see kernels/ref/vec_dot.h). Never stored in model files.
struct BlockQ8_1 {
  uint16_t d;     // f16 scale
  uint16_t s;     // f16 of d * sum(qs), so a _1 weight's min term needs no pass over qs
  int8_t qs[32];  // value = q * d
};
struct BlockQ8_K {
  float d;            // f32 scale (negative when the block's largest-magnitude element is > 0)
  int8_t qs[256];     // value = q * d
  int16_t bsums[16];  // sum of each 16 consecutive qs, for the K types' min/offset terms
};

// K types: a 256-element super-block with an f16 scale (and min) that scales 6- or 4-bit
// sub-block scales. The packing of quants and sub-scales is described at each codec.
struct BlockQ2_K {
  uint8_t scales[16];  // per 16 elements: low nibble scale, high nibble min
  uint8_t qs[64];      // [256] 2-bit
  uint16_t d, dmin;
};
struct BlockQ3_K {
  uint8_t hmask[32];   // third bits
  uint8_t qs[64];      // low 2 bits
  uint8_t scales[12];  // 16 6-bit scales, offset by 32
  uint16_t d;
};
struct BlockQ4_K {
  uint16_t d, dmin;
  uint8_t scales[12];  // 8 6-bit scales and 8 6-bit mins
  uint8_t qs[128];     // [256] 4-bit
};
// Sub-block j's 6-bit scale and min from Q4_K/Q5_K's 12 packed bytes: j < 4 has the low 6 bits
// of bytes j (scale) and j+4 (min); j >= 4 takes its low 4 bits from the nibbles of byte j+4 and
// its top 2 bits from the top bits of bytes j-4 (scale) and j (min).
inline void unpack_scale_min_k4(int j, const uint8_t* scales, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = scales[j] & 63;
    *m = scales[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((scales[j + 4] & 0xf) | ((scales[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[32];   // fifth bits
  uint8_t qs[128];  // low 4 bits
};
struct BlockQ6_K {
  uint8_t ql[128];    // low 4 bits
  uint8_t qh[64];     // high 2 bits
  int8_t scales[16];  // per 16 elements
  uint16_t d;
};

// Non-linear 4-bit types: the nibble indexes kIQ4NLValues.
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[16];
};
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;    // high 2 bits of the 8 sub-block scales
  uint8_t scales_l[4];  // low 4 bits of the 8 sub-block scales
  uint8_t qs[128];
};
// Sub-block s's signed scale (its 6 stored bits less 32) of the IQ4_XS block at `block`.
inline int iq4_xs_scale(const uint8_t* block, int s) {
  const int high = (block[2 + s / 4] >> (2 * (s % 4))) & 3;  // scales_h, little-endian
  return (((block[4 + s / 2] >> (4 * (s % 2))) & 0xF) | (high << 4)) - 32;
}
// OCP microscaling FP4: a shared power-of-two scale (E8M0) and 32 E2M1 values.
struct BlockMXFP4 {
  uint8_t e;
  uint8_t qs[16];
};

// Low-bit types: 256-element super-blocks whose 8 values at a time are one point of a fixed
// codebook (iq_grids.h) plus signs, or ternary digits (TQ). Decoded by quant_lowbit.h.
struct BlockIQ2_XXS {
  uint16_t d;
  uint16_t qs[32];  // per 32 values: 4 grid bytes, then 4 x 7 sign bits and a 4-bit scale
};
struct BlockIQ2_XS {
  uint16_t d;
  uint16_t qs[32];     // per 8 values: 9-bit grid index, 7 sign bits
  uint8_t scales[8];   // per 16 values: a 4-bit scale
};
struct BlockIQ2_S {
  uint16_t d;
  uint8_t qs[64];      // [32] low 8 bits of the grid indices, then [32] sign bytes
  uint8_t qh[8];       // per 32 values: the indices' top 2 bits
  uint8_t scales[8];   // per 16 values: a 4-bit scale
};
struct BlockIQ3_XXS {
  uint16_t d;
  uint8_t qs[96];  // [64] grid bytes (4 values each), then per 32 values 4 x 7 sign bits + scale
};
struct BlockIQ3_S {
  uint16_t d;
  uint8_t qs[64];      // low 8 bits of the grid indices (4 values each)
  uint8_t qh[8];       // their ninth bits
  uint8_t signs[32];   // one bit per value
  uint8_t scales[4];   // per 32 values: a 4-bit scale
};
struct BlockIQ1_S {
  uint16_t d;
  uint8_t qs[32];   // low 8 bits of the grid indices (8 values each)
  uint16_t qh[8];   // per 32 values: 4 x 3 index bits, a 3-bit scale, the shift's sign
};
struct BlockIQ1_M {
  uint8_t qs[32];      // low 8 bits of the grid indices
  uint8_t qh[16];      // per 16 values: 2 x (3 index bits, the shift's sign)
  uint8_t scales[8];   // 4 u16: 3-bit scales per 16 values; their top nibbles are the f16 d
};
struct BlockTQ1_0 {
  uint8_t qs[48];  // 5 ternary digits per byte
  uint8_t qh[4];   // 4 ternary digits per byte
  uint16_t d;
};
struct BlockTQ2_0 {
  uint8_t qs[64];  // 2 bits per value (value = q - 1)
  uint16_t d;
};
static_assert(sizeof(BlockIQ2_XXS) == 66 && sizeof(BlockIQ2_XS) == 74 && sizeof(BlockIQ2_S) == 82 &&
              sizeof(BlockIQ3_XXS) == 98 && sizeof(BlockIQ3_S) == 110 && sizeof(BlockIQ1_S) == 50 &&
              sizeof(BlockIQ1_M) == 56 && sizeof(BlockTQ1_0) == 54 && sizeof(BlockTQ2_0) == 66);
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
              sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36 && sizeof(BlockQ8_K) == 292);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 &&
              sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockIQ4_NL) == 18 && sizeof(BlockIQ4_XS) == 136 && sizeof(BlockMXFP4) == 17);

// The IQ4 grid: 16 levels denser near zero, where most weights are.
inline constexpr int8_t kIQ4NLValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};
// E2M1 (FP4) values doubled to integers; the block scale is halved to compensate.
inline constexpr int8_t kMXFP4Values[16] = {0, 1,  2,  3,  4,  6,  8,  12,
                                            0, -1, -2, -3, -4, -6, -8, -12};

// The MXFP4 block scale: E8M0 exponent e means 2^(e-127); ggml stores half of it because
// kMXFP4Values are doubled, so 2^(e-128). e = 0 and 1 give binary32 subnormals, built directly.
inline float e8m0_to_fp32_half(uint8_t e) {
  const uint32_t bits = e < 2 ? (0x00200000u << e) : (static_cast<uint32_t>(e - 1) << 23);
  return std::bit_cast<float>(bits);
}

template <typename Block>
Block load_block(const uint8_t* src, int64_t index) {
  static_assert(std::is_trivially_copyable_v<Block>);
  Block block;
  std::memcpy(&block, src + index * static_cast<int64_t>(sizeof(Block)), sizeof(Block));
  return block;
}

template <typename Block>
void store_block(uint8_t* dst, int64_t index, const Block& block) {
  static_assert(std::is_trivially_copyable_v<Block>);
  std::memcpy(dst + index * static_cast<int64_t>(sizeof(Block)), &block, sizeof(Block));
}

}  // namespace hearth::quant
