// Expands the compact codebooks of iq_grid_codes.inc (a level number per coordinate) into the
// byte layout the formats index, at compile time.
#include "tensor/iq_grids.h"

#include <cstddef>

namespace hearth::quant {
namespace {

#include "tensor/iq_grid_codes.inc"

// The levels each grid's codes number, in code order.
constexpr uint8_t kIQ2Levels[3] = {0x08, 0x19, 0x2b};
constexpr uint8_t kIQ3XXSLevels[8] = {4, 12, 20, 28, 36, 44, 52, 62};
constexpr uint8_t kIQ3SLevels[8] = {1, 3, 5, 7, 9, 11, 13, 15};
constexpr uint8_t kIQ1Levels[3] = {0xff, 0x00, 0x01};  // int8 -1, 0, 1

template <typename Point, size_t N, int kCoords, int kBits>
constexpr std::array<Point, N> expand(const uint16_t (&codes)[N], const uint8_t* levels) {
  std::array<Point, N> grid{};
  for (size_t i = 0; i < N; ++i) {
    Point point = 0;
    for (int j = 0; j < kCoords; ++j) {
      const int level = (codes[i] >> (kBits * j)) & ((1 << kBits) - 1);
      point |= static_cast<Point>(levels[level]) << (8 * j);
    }
    grid[i] = point;
  }
  return grid;
}

}  // namespace

constinit const std::array<uint64_t, 256> kIQ2XXSGrid = expand<uint64_t, 256, 8, 2>(kIQ2XXSCodes, kIQ2Levels);
constinit const std::array<uint64_t, 512> kIQ2XSGrid = expand<uint64_t, 512, 8, 2>(kIQ2XSCodes, kIQ2Levels);
constinit const std::array<uint64_t, 1024> kIQ2SGrid = expand<uint64_t, 1024, 8, 2>(kIQ2SCodes, kIQ2Levels);
constinit const std::array<uint32_t, 256> kIQ3XXSGrid =
    expand<uint32_t, 256, 4, 3>(kIQ3XXSCodes, kIQ3XXSLevels);
constinit const std::array<uint32_t, 512> kIQ3SGrid = expand<uint32_t, 512, 4, 3>(kIQ3SCodes, kIQ3SLevels);
constinit const std::array<uint64_t, 2048> kIQ1SGrid = expand<uint64_t, 2048, 8, 2>(kIQ1SCodes, kIQ1Levels);

const uint64_t* const kIQ2XXSPoints = kIQ2XXSGrid.data();
const uint64_t* const kIQ2XSPoints = kIQ2XSGrid.data();
const uint64_t* const kIQ2SPoints = kIQ2SGrid.data();
const uint32_t* const kIQ3XXSPoints = kIQ3XXSGrid.data();
const uint32_t* const kIQ3SPoints = kIQ3SGrid.data();
const uint64_t* const kIQ1SPoints = kIQ1SGrid.data();

}  // namespace hearth::quant
