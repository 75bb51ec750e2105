// The codebooks of ggml's low-bit IQ formats (IQ1_S/IQ1_M, IQ2_XXS/XS/S, IQ3_XXS/S), expanded
// once at compile time from iq_grid_codes.inc, in the layout the formats index: point i of an
// 8-coordinate grid is the 8 bytes of entry i (coordinate j in byte j), of a 4-coordinate grid the
// 4 bytes of a uint32. Coordinates are magnitudes (IQ2, IQ3: signs are stored beside them) or,
// for IQ1, the signed values -1, 0, 1 as int8 bytes.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace hearth::quant {

extern const std::array<uint64_t, 256> kIQ2XXSGrid;
extern const std::array<uint64_t, 512> kIQ2XSGrid;
extern const std::array<uint64_t, 1024> kIQ2SGrid;
extern const std::array<uint32_t, 256> kIQ3XXSGrid;
extern const std::array<uint32_t, 512> kIQ3SGrid;
extern const std::array<uint64_t, 2048> kIQ1SGrid;

// The same tables as plain pointers, for the SIMD kernel files (kernels/cpu/x86_kernels.inc),
// which include no library header.
extern const uint64_t* const kIQ2XXSPoints;
extern const uint64_t* const kIQ2XSPoints;
extern const uint64_t* const kIQ2SPoints;
extern const uint32_t* const kIQ3XXSPoints;
extern const uint32_t* const kIQ3SPoints;
extern const uint64_t* const kIQ1SPoints;

// Coordinate j (< 8, or < 4 for the uint32 grids) of a grid point.
inline uint8_t grid_byte(uint64_t point, int j) { return static_cast<uint8_t>(point >> (8 * j)); }

// IQ2_XXS, IQ2_XS and IQ3_XXS store 7 sign bits per 8 values; the eighth makes the count of
// negative values even (ggml's ksigns_iq2xs). Bit j set means value j is negative.
inline uint8_t iq_signs_from_7(uint32_t seven) {
  seven &= 127u;
  return static_cast<uint8_t>(seven | ((std::popcount(seven) & 1u) << 7));
}

}  // namespace hearth::quant
