// IEEE binary16 and bfloat16 <-> binary32, in integer arithmetic so the result does not depend on
// the CPU (F16C or not) or on compiler flags. Both narrowings round to nearest, ties to even, as
// x86's VCVTPS2PH (imm 0) and ggml's portable fallback do; every f16/bf16 value widens exactly.
// Checked against libggml-base over all 2^32 inputs (fp32->fp16, fp32->bf16) and all 2^16 halves.
#include <bit>
#include <cstdint>

#include "tensor/quant.h"

namespace hearth {
namespace {

constexpr uint32_t kF32SignMask = 0x80000000u;
constexpr uint32_t kF32AbsMask = 0x7fffffffu;
constexpr uint32_t kF32Inf = 0x7f800000u;
constexpr uint32_t kF32QuietBit = 0x00400000u;

constexpr uint16_t kF16Inf = 0x7c00;
constexpr uint16_t kF16QuietBit = 0x0200;

// binary32 exponent bias 127, binary16 bias 15.
constexpr int kBiasDelta = 127 - 15;

// Adds one unit in the last place to `kept` when the `dropped` low bits (of width `shift`) are
// above half, or exactly half and `kept` is odd: round to nearest, ties to even.
constexpr uint32_t round_shifted(uint32_t kept, uint32_t dropped, int shift) {
  const uint32_t half = 1u << (shift - 1);
  if (dropped > half || (dropped == half && (kept & 1u))) ++kept;
  return kept;
}

}  // namespace

namespace {

// The binary32 bits of every binary16 value, computed at compile time. A table lookup because
// the conversion sits in hot loops of the forward pass (the attention reads the f16 KV cache
// through it): measured 25% of a 512-token prompt with the branchy version.
constexpr uint32_t fp16_bits_to_fp32_bits(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) {
    // Inf stays inf; a NaN keeps its payload and comes out quiet (as F16C's VCVTPH2PS does).
    uint32_t bits = sign | kF32Inf | (mantissa << 13);
    if (mantissa != 0) bits |= kF32QuietBit;
    return bits;
  }
  if (exponent == 0) {
    if (mantissa == 0) return sign;
    // Subnormal: mantissa * 2^-24, exact in binary32. Normalize until bit 10 is the leading 1:
    // the value is then 1.f * 2^(-14 - shift).
    uint32_t shift = 0;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      ++shift;
    }
    return sign | ((113u - shift) << 23) | ((mantissa & 0x3ffu) << 13);
  }
  return sign | ((exponent + kBiasDelta) << 23) | (mantissa << 13);
}

struct Fp16Table {
  uint32_t bits[65536];
  constexpr Fp16Table() : bits() {
    for (uint32_t h = 0; h < 65536; ++h) bits[h] = fp16_bits_to_fp32_bits(static_cast<uint16_t>(h));
  }
};
constexpr Fp16Table kFp16Table;

}  // namespace

float fp16_to_fp32(uint16_t h) { return std::bit_cast<float>(kFp16Table.bits[h]); }

uint16_t fp32_to_fp16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((bits & kF32SignMask) >> 16);
  const uint32_t abs = bits & kF32AbsMask;

  // NaN: the canonical quiet NaN with the sign kept, as ggml's portable conversion (the one in
  // the prebuilt libggml-base that llama-quantize uses) writes it. F16C would keep payload bits;
  // payloads carry nothing in model weights, and matching ggml keeps F16 output byte-identical.
  if (abs > kF32Inf) return sign | kF16Inf | kF16QuietBit;
  // 65520 = 65504 (largest f16) + half an ulp: from there on (inf included) the result is inf,
  // the tie going to inf because 65504's mantissa is odd.
  if (abs >= 0x477ff000u) return sign | kF16Inf;

  const int exponent = static_cast<int>(abs >> 23);  // biased binary32 exponent
  const uint32_t mantissa = abs & 0x7fffffu;
  if (exponent > kBiasDelta) {
    // Normal in f16. Rounding may carry into the exponent, which is still the right encoding
    // (the overflow to inf was excluded above).
    const uint32_t kept = (static_cast<uint32_t>(exponent - kBiasDelta) << 10) | (mantissa >> 13);
    return sign | static_cast<uint16_t>(round_shifted(kept, mantissa & 0x1fffu, 13));
  }
  // Subnormal (or zero) in f16: the value is m * 2^-24 with m = full_mantissa * 2^(exponent-126).
  // Below 2^-25 (shift > 24) everything rounds to zero; f32 subnormals (exponent 0) land there.
  const int shift = 126 - exponent;  // >= 14 here
  if (shift > 24) return sign;
  const uint32_t full = mantissa | 0x800000u;
  const uint32_t kept = full >> shift;
  const uint32_t dropped = full & ((1u << shift) - 1u);
  return sign | static_cast<uint16_t>(round_shifted(kept, dropped, shift));
}

float bf16_to_fp32(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

uint16_t fp32_to_bf16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  // NaN: truncate and force the quiet bit, so a payload only in the low half cannot become inf.
  if ((bits & kF32AbsMask) > kF32Inf) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  // Round to nearest even on the dropped 16 bits; subnormals are rounded, not flushed, as in
  // current ggml (older ggml flushed them to zero).
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

}  // namespace hearth
