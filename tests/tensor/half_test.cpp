// binary16 and bfloat16 conversions: known encodings, the edges (subnormals, overflow, inf, NaN),
// round-to-nearest-even ties, and exhaustive round trips over every 16-bit pattern.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "tensor/quant.h"

namespace hearth {
namespace {

float from_bits(uint32_t bits) { return std::bit_cast<float>(bits); }
uint32_t bits_of(float f) { return std::bit_cast<uint32_t>(f); }

// Every half against the value it encodes, computed independently with ldexp (the conversion is
// a lookup table built at compile time).
TEST(Fp16, WidensEveryPatternExactly) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint32_t sign = h >> 15, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    const float got = fp16_to_fp32(static_cast<uint16_t>(h));
    if (exponent == 0x1f) {
      const uint32_t want = (sign << 31) | 0x7f800000u | (mantissa << 13) |
                            (mantissa != 0 ? 0x00400000u : 0u);
      ASSERT_EQ(bits_of(got), want) << std::hex << h;
      continue;
    }
    const float magnitude = exponent == 0
                                ? std::ldexp(static_cast<float>(mantissa), -24)
                                : std::ldexp(static_cast<float>(1024 + mantissa),
                                             static_cast<int>(exponent) - 25);
    ASSERT_EQ(bits_of(got), bits_of(sign ? -magnitude : magnitude)) << std::hex << h;
  }
}

TEST(Fp16, WidensKnownValues) {
  EXPECT_EQ(fp16_to_fp32(0x3c00), 1.0f);
  EXPECT_EQ(fp16_to_fp32(0xc000), -2.0f);
  EXPECT_EQ(fp16_to_fp32(0x3555), 0.333251953125f);
  EXPECT_EQ(fp16_to_fp32(0x7bff), 65504.0f);               // largest finite
  EXPECT_EQ(fp16_to_fp32(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(fp16_to_fp32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(fp16_to_fp32(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(bits_of(fp16_to_fp32(0x0000)), 0x00000000u);
  EXPECT_EQ(bits_of(fp16_to_fp32(0x8000)), 0x80000000u);  // -0 keeps its sign
  EXPECT_EQ(fp16_to_fp32(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(fp16_to_fp32(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7e00)));
  EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7c01)));  // signalling NaN stays NaN (made quiet)
  EXPECT_EQ(bits_of(fp16_to_fp32(0x7c01)) & 0x00400000u, 0x00400000u);
}

TEST(Fp16, NarrowsKnownValues) {
  EXPECT_EQ(fp32_to_fp16(1.0f), 0x3c00);
  EXPECT_EQ(fp32_to_fp16(-2.0f), 0xc000);
  EXPECT_EQ(fp32_to_fp16(0.0f), 0x0000);
  EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000);
  EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7bff);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -14)), 0x0400);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1023.0f, -24)), 0x03ff);
}

TEST(Fp16, OverflowGoesToInfinity) {
  EXPECT_EQ(fp32_to_fp16(65519.996f), 0x7bff);  // below half an ulp past the max
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7c00);    // exactly half: ties to even, which is inf
  EXPECT_EQ(fp32_to_fp16(1e10f), 0x7c00);
  EXPECT_EQ(fp32_to_fp16(-1e10f), 0xfc00);
  EXPECT_EQ(fp32_to_fp16(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(fp32_to_fp16(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(fp32_to_fp16(std::numeric_limits<float>::max()), 0x7c00);
}

TEST(Fp16, NanBecomesCanonicalQuietNanWithSign) {
  EXPECT_EQ(fp32_to_fp16(from_bits(0x7fc00000u)), 0x7e00);
  EXPECT_EQ(fp32_to_fp16(from_bits(0x7f800001u)), 0x7e00);  // payload only in low bits
  EXPECT_EQ(fp32_to_fp16(from_bits(0xffc12345u)), 0xfe00);
}

TEST(Fp16, TiesRoundToEven) {
  const float ulp = std::ldexp(1.0f, -10);                                  // f16 spacing in [1, 2)
  EXPECT_EQ(fp32_to_fp16(1.0f + ulp / 2), 0x3c00);                          // tie: 0x3c00 is even
  EXPECT_EQ(fp32_to_fp16(1.0f + 3 * ulp / 2), 0x3c02);                      // tie: 0x3c02 is even
  EXPECT_EQ(fp32_to_fp16(1.0f + ulp / 2 + std::ldexp(1.0f, -20)), 0x3c01);  // just above the tie
  EXPECT_EQ(fp32_to_fp16(1.0f + ulp / 2 - std::ldexp(1.0f, -20)), 0x3c00);
  EXPECT_EQ(fp32_to_fp16(2047.5f), 0x6800);  // tie rounding up carries into the exponent: 2048
  EXPECT_EQ(fp32_to_fp16(2046.5f), 0x67fe);  // tie, 2046 is even
}

TEST(Fp16, SubnormalRounding) {
  const float tiny = std::ldexp(1.0f, -24);             // f16's smallest subnormal
  EXPECT_EQ(fp32_to_fp16(tiny / 2), 0x0000);            // tie between 0 and 1: even is 0
  EXPECT_EQ(fp32_to_fp16(tiny / 2 * 1.0001f), 0x0001);  // just above the tie
  EXPECT_EQ(fp32_to_fp16(tiny * 1.5f), 0x0002);         // tie between 1 and 2: 2
  EXPECT_EQ(fp32_to_fp16(tiny * 2.5f), 0x0002);         // tie between 2 and 3: 2
  EXPECT_EQ(fp32_to_fp16(-tiny * 2.5f), 0x8002);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -30)), 0x0000);
  EXPECT_EQ(fp32_to_fp16(-std::ldexp(1.0f, -30)), 0x8000);
  EXPECT_EQ(fp32_to_fp16(from_bits(0x00000001u)), 0x0000);  // f32 subnormal
  // Rounding up from the largest subnormal reaches the smallest normal.
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1023.75f, -24)), 0x0400);
}

TEST(Fp16, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const auto half = static_cast<uint16_t>(h);
    const float f = fp16_to_fp32(half);
    if (std::isnan(f)) continue;
    ASSERT_EQ(fp32_to_fp16(f), half) << std::hex << h;
  }
}

// For random floats in range, the result is a nearest half (neither neighbour is closer), and an
// exact tie picks the even encoding.
TEST(Fp16, RandomFloatsRoundToNearest) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<uint32_t> bits(0, 0x477fe000u);  // [0, 65504]
  for (int i = 0; i < 200000; ++i) {
    const float f = from_bits(bits(rng));
    const uint16_t h = fp32_to_fp16(f);
    const double err = std::fabs(static_cast<double>(fp16_to_fp32(h)) - f);
    if (h > 0) {
      const double err_lo = std::fabs(static_cast<double>(fp16_to_fp32(h - 1)) - f);
      ASSERT_TRUE(err < err_lo || (err == err_lo && h % 2 == 0)) << f;
    }
    if (h < 0x7bff) {
      const double err_hi = std::fabs(static_cast<double>(fp16_to_fp32(h + 1)) - f);
      ASSERT_TRUE(err < err_hi || (err == err_hi && h % 2 == 0)) << f;
    }
  }
}

TEST(Bf16, KnownValuesAndTies) {
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_fp32(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_fp32(0xc040), -3.0f);
  EXPECT_EQ(fp32_to_bf16(from_bits(0x3f808000u)), 0x3f80);  // tie, 0x3f80 even
  EXPECT_EQ(fp32_to_bf16(from_bits(0x3f818000u)), 0x3f82);  // tie, 0x3f82 even
  EXPECT_EQ(fp32_to_bf16(from_bits(0x3f808001u)), 0x3f81);  // above the tie
  EXPECT_EQ(fp32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(fp32_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(fp32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds to inf
  EXPECT_EQ(fp32_to_bf16(from_bits(0x00018000u)), 0x0002);  // subnormals round, not flush
}

TEST(Bf16, NanStaysNan) {
  EXPECT_EQ(fp32_to_bf16(from_bits(0x7f800001u)), 0x7fc0);  // would truncate to inf
  EXPECT_EQ(fp32_to_bf16(from_bits(0xffc00000u)), 0xffc0);
  EXPECT_TRUE(std::isnan(bf16_to_fp32(0x7fc0)));
}

TEST(Bf16, EveryBf16RoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const auto b = static_cast<uint16_t>(h);
    const float f = bf16_to_fp32(b);
    if (std::isnan(f)) continue;
    ASSERT_EQ(fp32_to_bf16(f), b) << std::hex << h;
  }
}

}  // namespace
}  // namespace hearth
