// The legacy ggml block types: 32 elements share one f16 scale (Q4_0, Q5_0, Q8_0: symmetric) or
// a scale and a min (Q4_1, Q5_1: affine). Quantization is ggml's reference algorithm (the one
// llama-quantize runs without an importance matrix): scale from the block's extreme value, then
// round each element. The float operations are written in ggml's order, because byte-identical
// output with llama.cpp depends on every intermediate rounding.
#include <algorithm>
#include <cfloat>
#include <cmath>

#include "tensor/quant.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_rows.h"

namespace hearth::quant {
namespace {

// The signed value of largest magnitude (the first one on ties): symmetric types map it to the
// most negative level, which has one more step than the positive side.
float signed_absmax(const float* x, int n) {
  float amax = 0.0f;
  float max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

void min_max(const float* x, int n, float* min, float* max) {
  *min = FLT_MAX;
  *max = -FLT_MAX;
  for (int j = 0; j < n; ++j) {
    if (x[j] < *min) *min = x[j];
    if (x[j] > *max) *max = x[j];
  }
}

// Level from an already offset value: truncation toward zero, clipped to [0, max_level], as
// ggml's (int8_t) casts and MIN() do for every finite input. NaN or inf (a corrupt source model)
// would make the plain cast undefined; here NaN gives 0 and inf the clip.
uint8_t truncate_level(float v, int max_level) {
  if (v >= static_cast<float>(max_level)) return static_cast<uint8_t>(max_level);
  return v > 0 ? static_cast<uint8_t>(static_cast<int>(v)) : uint8_t{0};
}

// Low nibbles hold elements 0..15, high nibbles 16..31.
void pack_nibbles(const uint8_t* levels /* [32] */, uint8_t* qs /* [16] */) {
  for (int j = 0; j < 16; ++j)
    qs[j] = static_cast<uint8_t>((levels[j] & 0x0f) | ((levels[j + 16] & 0x0f) << 4));
}

// Bit 4 of each 5-bit level goes to bit j of a little-endian u32.
void pack_fifth_bits(const uint8_t* levels /* [32] */, uint8_t* qh /* [4] */) {
  uint32_t bits = 0;
  for (int j = 0; j < 32; ++j) bits |= static_cast<uint32_t>((levels[j] >> 4) & 1u) << j;
  std::memcpy(qh, &bits, sizeof(bits));
}

uint32_t load_fifth_bits(const uint8_t* qh /* [4] */) {
  uint32_t bits;
  std::memcpy(&bits, qh, sizeof(bits));
  return bits;
}

// Level (0..31) of element j of a 5-bit block.
int level5(const uint8_t* qs, uint32_t high_bits, int j) {
  const int nibble = j < 16 ? (qs[j] & 0x0f) : (qs[j - 16] >> 4);
  return nibble | static_cast<int>(((high_bits >> j) & 1u) << 4);
}

}  // namespace

void dequantize_q4_0(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, dst += kQK) {
    const auto block = load_block<BlockQ4_0>(src, i);
    const float d = fp16_to_fp32(block.d);
    for (int j = 0; j < 16; ++j) {
      dst[j] = static_cast<float>((block.qs[j] & 0x0f) - 8) * d;
      dst[j + 16] = static_cast<float>((block.qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_q4_1(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, dst += kQK) {
    const auto block = load_block<BlockQ4_1>(src, i);
    const float d = fp16_to_fp32(block.d);
    const float m = fp16_to_fp32(block.m);
    for (int j = 0; j < 16; ++j) {
      dst[j] = static_cast<float>(block.qs[j] & 0x0f) * d + m;
      dst[j + 16] = static_cast<float>(block.qs[j] >> 4) * d + m;
    }
  }
}

void dequantize_q5_0(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, dst += kQK) {
    const auto block = load_block<BlockQ5_0>(src, i);
    const float d = fp16_to_fp32(block.d);
    const uint32_t high = load_fifth_bits(block.qh);
    for (int j = 0; j < kQK; ++j) dst[j] = static_cast<float>(level5(block.qs, high, j) - 16) * d;
  }
}

void dequantize_q5_1(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, dst += kQK) {
    const auto block = load_block<BlockQ5_1>(src, i);
    const float d = fp16_to_fp32(block.d);
    const float m = fp16_to_fp32(block.m);
    const uint32_t high = load_fifth_bits(block.qh);
    for (int j = 0; j < kQK; ++j) dst[j] = static_cast<float>(level5(block.qs, high, j)) * d + m;
  }
}

void dequantize_q8_0(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, dst += kQK) {
    const auto block = load_block<BlockQ8_0>(src, i);
    const float d = fp16_to_fp32(block.d);
    for (int j = 0; j < kQK; ++j) dst[j] = static_cast<float>(block.qs[j]) * d;
  }
}

// Symmetric 4-bit: the extreme value maps to level 0 (-8 * d); rounding is x/d + 8.5 truncated,
// which is round-half-up, and the far side clips at level 15 (+7 * d).
void quantize_q4_0(const float* src, uint8_t* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, src += kQK) {
    const float d = signed_absmax(src, kQK) / -8;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ4_0 block{};
    block.d = fp32_to_fp16(d);
    uint8_t levels[kQK];
    for (int j = 0; j < kQK; ++j) levels[j] = truncate_level(src[j] * id + 8.5f, 15);
    pack_nibbles(levels, block.qs);
    store_block(dst, i, block);
  }
}

// Affine 4-bit: min maps to level 0 and max to level 15.
void quantize_q4_1(const float* src, uint8_t* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, src += kQK) {
    float min, max;
    min_max(src, kQK, &min, &max);
    const float d = (max - min) / ((1 << 4) - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ4_1 block{};
    block.d = fp32_to_fp16(d);
    block.m = fp32_to_fp16(min);
    uint8_t levels[kQK];
    for (int j = 0; j < kQK; ++j) levels[j] = truncate_level((src[j] - min) * id + 0.5f, 15);
    pack_nibbles(levels, block.qs);
    store_block(dst, i, block);
  }
}

void quantize_q5_0(const float* src, uint8_t* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, src += kQK) {
    const float d = signed_absmax(src, kQK) / -16;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ5_0 block{};
    block.d = fp32_to_fp16(d);
    uint8_t levels[kQK];
    for (int j = 0; j < kQK; ++j) levels[j] = truncate_level(src[j] * id + 16.5f, 31);
    pack_nibbles(levels, block.qs);
    pack_fifth_bits(levels, block.qh);
    store_block(dst, i, block);
  }
}

void quantize_q5_1(const float* src, uint8_t* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, src += kQK) {
    float min, max;
    min_max(src, kQK, &min, &max);
    const float d = (max - min) / ((1 << 5) - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ5_1 block{};
    block.d = fp32_to_fp16(d);
    block.m = fp32_to_fp16(min);
    uint8_t levels[kQK];
    // (max - min) * id cannot reach 31.5, so the clip never binds (ggml has none).
    for (int j = 0; j < kQK; ++j) levels[j] = truncate_level((src[j] - min) * id + 0.5f, 31);
    pack_nibbles(levels, block.qs);
    pack_fifth_bits(levels, block.qh);
    store_block(dst, i, block);
  }
}

// Symmetric 8-bit over [-127, 127]; std::round ties away from zero, as ggml's roundf does.
// A NaN element (corrupt input) is stored as 0 rather than through an undefined cast.
void quantize_q8_0(const float* src, uint8_t* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, src += kQK) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(src[j]));
    const float d = amax / ((1 << 7) - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ8_0 block{};
    block.d = fp32_to_fp16(d);
    for (int j = 0; j < kQK; ++j) {
      const float level = std::round(src[j] * id);
      block.qs[j] = std::fabs(level) <= 127.0f ? static_cast<int8_t>(level) : int8_t{0};
    }
    store_block(dst, i, block);
  }
}

}  // namespace hearth::quant
