// Two pieces of ggml's AVX-512 arithmetic that llama.cpp's results depend on, stated as scalar
// code so every hearth build (reference, AVX2, AVX-512, NEON) rounds exactly alike:
//  - poly_expf: the expf that ggml's vectorised softmax and SiLU use instead of libm's. It is the
//    polynomial of Arm's optimized-routines (range reduction by ln2 in two parts, a degree-5
//    polynomial, scaling by 2^n), within about 2 ulp of exp (tests/kernels/ggml_lanes_test.cpp).
//    hearth uses it in the same places, for speed too: it vectorises, std::exp does not.
//  - reduce_lanes16: the end of a float sum in 16 interleaved lanes (lane l takes terms l, l+16,
//    l+32, ... by fused multiply-add, starting from 0), reduced by halving (l + l+8, then + l+4,
//    + l+2, + l+1). That is how llama.cpp's tinyBLAS sums each f16 dot product of attention on
//    AVX-512, and how _mm512_reduce_add_ps adds a vector.
#pragma once

#include <cmath>
#include <cstdint>

namespace hearth::ref {

inline float poly_expf(float x) {
  const float shift = 0x1.8p23f;  // adding it rounds to an integer in the low mantissa bits
  const float z = std::fma(x, 0x1.715476p+0f, shift);
  const float n = z - shift;  // round(x / ln2)
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));  // x - n ln2
  const float u = b * b;
  const float j = std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                                    std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                           u, std::fma(0x1.ffffecp-1f, b, 1.0f));
  if (std::isnan(n)) return n;
  if (std::fabs(n) > 192.0f) return n <= 0.0f ? 0.0f : INFINITY;  // far outside float's range
  return std::ldexp(j, static_cast<int>(n));  // exact but for subnormal results, rounded like scalef
}

// The halving reduction of 16 lane sums.
inline float reduce_lanes16(const float* lane) {
  float s8[8], s4[4];
  for (int l = 0; l < 8; ++l) s8[l] = lane[l] + lane[l + 8];
  for (int l = 0; l < 4; ++l) s4[l] = s8[l] + s8[l + 4];
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

}  // namespace hearth::ref
