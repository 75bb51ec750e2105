// Self-contained checks of every codec (no test data): quantize/dequantize round trips with a
// per-type error bound, exact reconstruction where the format can represent the input, writes
// and reads that stay inside row_bytes, and the dispatcher agreeing with dtype.cpp's flags.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tensor/quant.h"

namespace hearth {
namespace {

// Every type hearth can convert in at least one direction.
std::vector<DTypeInfo> convertible_types() {
  std::vector<DTypeInfo> out;
  for (uint32_t id = 0; id < 64; ++id) {
    const auto info = dtype_info(id);
    if (info && (info->can_dequantize || info->can_quantize)) out.push_back(*info);
  }
  return out;
}

// Relative RMSE (error rms / signal rms) for unit gaussians: llama.cpp's quantizers measure
// about 0.3 (Q2_K), 0.15 (Q3_K), 0.11 (MXFP4), 0.08 (4-bit), 0.04 (5-bit), 0.018 (Q6_K),
// 0.005 (Q8_0); the bounds leave ~25% headroom so only a real regression trips them.
double max_relative_rmse(DType type) {
  switch (type) {
    case DType::F32:
      return 0;
    case DType::F16:
      return 3e-4;
    case DType::BF16:
      return 2.5e-3;
    case DType::Q8_0:
      return 0.007;
    case DType::Q6_K:
      return 0.023;
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::Q5_K:
      return 0.053;
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q4_K:
      return 0.107;
    case DType::IQ4_NL:
    case DType::IQ4_XS:
      return 0.095;
    case DType::MXFP4:
      return 0.143;
    case DType::Q3_K:
      return 0.19;
    case DType::Q2_K:
      return 0.37;
    default:
      return 0;
  }
}

std::vector<float> gaussian(int64_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = dist(rng);
  return x;
}

// Quantizes into an exactly sized buffer followed by a guard, checks the guard, dequantizes from a
// buffer of exactly row_bytes (so ASan catches any over-read) into floats followed by a guard.
std::vector<float> round_trip(DType type, const std::vector<float>& x) {
  const auto n = static_cast<int64_t>(x.size());
  const uint64_t n_bytes = *row_bytes(type, static_cast<uint64_t>(n));
  constexpr size_t kGuard = 64;
  std::vector<uint8_t> padded(n_bytes + kGuard, 0xab);
  quantize_row(type, x.data(), padded.data(), n);
  for (size_t i = n_bytes; i < padded.size(); ++i) EXPECT_EQ(padded[i], 0xab) << "wrote past row";
  const std::vector<uint8_t> exact(padded.begin(), padded.begin() + static_cast<int64_t>(n_bytes));
  std::vector<float> y(x.size() + kGuard, -7.0f);
  dequantize_row(type, exact.data(), y.data(), n);
  for (size_t i = x.size(); i < y.size(); ++i) EXPECT_EQ(y[i], -7.0f) << "wrote past output";
  y.resize(x.size());
  return y;
}

double relative_rmse(const std::vector<float>& x, const std::vector<float>& y) {
  double err = 0, sig = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
    sig += static_cast<double>(x[i]) * x[i];
  }
  return std::sqrt(err / sig);
}

TEST(QuantRoundTrip, ErrorWithinBoundForEveryQuantizableType) {
  for (const DTypeInfo& info : convertible_types()) {
    if (!info.can_quantize) continue;
    // Odd block counts, down to a single block, so no codec relies on pairs of blocks.
    for (int64_t n_blocks : {1, 3, 37}) {
      const int64_t n = n_blocks * info.block_elems;
      const std::vector<float> x = gaussian(n, static_cast<uint32_t>(n_blocks) * 7 + 1);
      const std::vector<float> y = round_trip(info.type, x);
      // A single block is a small sample: allow it more slack than the long rows.
      const double bound = max_relative_rmse(info.type) * (n < 1024 ? 1.5 : 1.0);
      EXPECT_LE(relative_rmse(x, y), bound) << info.name << " n=" << n;
    }
  }
}

TEST(QuantRoundTrip, ScaleInvariantAcrossMagnitudes) {
  // Weights of 1e-3 and 1e3 quantize as well as unit ones (no absolute epsilon sneaking in).
  for (const DTypeInfo& info : convertible_types()) {
    if (!info.can_quantize || info.type == DType::F32) continue;
    for (float sigma : {1e-3f, 1e3f}) {
      const std::vector<float> x = gaussian(info.block_elems * 8, 99, sigma);
      EXPECT_LE(relative_rmse(x, round_trip(info.type, x)), max_relative_rmse(info.type) * 1.5)
          << info.name << " sigma=" << sigma;
    }
  }
}

TEST(QuantRoundTrip, ZerosStayZeros) {
  for (const DTypeInfo& info : convertible_types()) {
    if (!info.can_quantize) continue;
    const std::vector<float> x(static_cast<size_t>(info.block_elems) * 3, 0.0f);
    for (float v : round_trip(info.type, x)) ASSERT_EQ(v, 0.0f) << info.name;
  }
}

TEST(QuantRoundTrip, ConstantRowIsClose) {
  for (const DTypeInfo& info : convertible_types()) {
    if (!info.can_quantize) continue;
    const std::vector<float> x(static_cast<size_t>(info.block_elems) * 2, 0.75f);
    for (float v : round_trip(info.type, x))
      ASSERT_NEAR(v, 0.75f, 0.75f * 0.07f) << info.name;  // MXFP4's coarsest step near 0.75
  }
}

// Inputs already on a type's grid (with a scale exact in f16) come back bit for bit.
TEST(QuantRoundTrip, ValuesOnTheGridAreExact) {
  std::vector<float> x(32);
  // Q8_0: d = 127 * 2^-7 / 127 = 2^-7; every integer level times d.
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>((j * 37) % 255 - 127) / 128.0f;
  x[5] = 127.0f / 128.0f;
  EXPECT_EQ(round_trip(DType::Q8_0, x), x);
  // Q4_0: the extreme value is -8 * d, so d = 0.25.
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j % 16 - 8) * 0.25f;
  EXPECT_EQ(round_trip(DType::Q4_0, x), x);
  // Q5_0: levels -16..15, d = 1/16.
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16) / 16.0f;
  EXPECT_EQ(round_trip(DType::Q5_0, x), x);
  // Q4_1 / Q5_1: min 0.5, max 0.5 + 15 (31) * 0.125.
  for (int j = 0; j < 32; ++j) x[j] = 0.5f + static_cast<float>(j % 16) * 0.125f;
  EXPECT_EQ(round_trip(DType::Q4_1, x), x);
  for (int j = 0; j < 32; ++j) x[j] = 0.5f + static_cast<float>(j % 32) * 0.125f;
  EXPECT_EQ(round_trip(DType::Q5_1, x), x);
  // MXFP4: E2M1 values times a power of two, with the block max in the top binade.
  const float e2m1[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
  for (int j = 0; j < 32; ++j) x[j] = (j % 2 ? -1.0f : 1.0f) * e2m1[j % 8] * 0.25f;
  EXPECT_EQ(round_trip(DType::MXFP4, x), x);
  // F16 / BF16: values exactly representable.
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16) * 0.0625f;
  EXPECT_EQ(round_trip(DType::F16, x), x);
  EXPECT_EQ(round_trip(DType::BF16, x), x);
}

// A corrupt source model may hold NaN or inf: quantizing must stay defined behaviour (the UBSan
// job checks the float-to-int conversions) and finite blocks elsewhere in the row are unharmed.
TEST(QuantRoundTrip, NonFiniteInputIsDefined) {
  for (const DTypeInfo& info : convertible_types()) {
    if (!info.can_quantize) continue;
    // Two halves of whole blocks (at least 32 elements each); the bad values are in the first.
    const int64_t half = std::max<int64_t>(info.block_elems, 32);
    std::vector<float> x = gaussian(2 * half, 3);
    x[1] = std::numeric_limits<float>::quiet_NaN();
    x[2] = std::numeric_limits<float>::infinity();
    x[3] = -std::numeric_limits<float>::infinity();
    const std::vector<float> y = round_trip(info.type, x);
    const std::vector<float> second_x(x.begin() + half, x.end());
    const std::vector<float> second_y(y.begin() + half, y.end());
    EXPECT_LE(relative_rmse(second_x, second_y), max_relative_rmse(info.type) * 1.5) << info.name;
  }
}

TEST(QuantDispatch, FlagsMatchTheCodecs) {
  // Every type flagged as convertible has a codec: a zeroed block decodes to zeros (every
  // format encodes 0 as all-zero bytes), and zeros encode without aborting.
  for (const DTypeInfo& info : convertible_types()) {
    const uint64_t n_bytes = *row_bytes(info.type, info.block_elems);
    std::vector<uint8_t> bytes(n_bytes, 0);
    std::vector<float> x(info.block_elems, 0.0f);
    if (info.can_dequantize) {
      std::vector<float> y(info.block_elems, 1.0f);
      dequantize_row(info.type, bytes.data(), y.data(), info.block_elems);
      EXPECT_EQ(y, x) << info.name;
    }
    if (info.can_quantize) {
      EXPECT_TRUE(info.can_dequantize) << info.name;  // what we write, we can read
      quantize_row(info.type, x.data(), bytes.data(), info.block_elems);
    }
  }
}

TEST(QuantDispatch, EmptyRowIsANoOp) {
  for (const DTypeInfo& info : convertible_types()) {
    if (info.can_dequantize) dequantize_row(info.type, nullptr, nullptr, 0);
    if (info.can_quantize) quantize_row(info.type, nullptr, nullptr, 0);
  }
}

TEST(QuantDispatchDeathTest, RejectsUnsupportedTypeAndPartialBlocks) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  std::vector<uint8_t> bytes(1024);
  std::vector<float> floats(1024);
  EXPECT_DEATH(dequantize_row(DType::Q8_K, bytes.data(), floats.data(), 256), "no dequantizer");
  EXPECT_DEATH(quantize_row(DType::Q8_1, floats.data(), bytes.data(), 32), "no quantizer");
  EXPECT_DEATH(dequantize_row(DType::Q4_K, bytes.data(), floats.data(), 255), "whole blocks");
  EXPECT_DEATH(quantize_row(DType::Q4_0, floats.data(), bytes.data(), 33), "whole blocks");
}

// Arbitrary bytes (a hostile or corrupt file) decode without crashing for every type; sizes are
// exact so ASan builds catch any out-of-bounds read.
TEST(QuantDispatch, DecodesArbitraryBytes) {
  std::mt19937 rng(5);
  for (const DTypeInfo& info : convertible_types()) {
    if (!info.can_dequantize) continue;
    const int64_t n = info.block_elems * 5;
    std::vector<uint8_t> bytes(*row_bytes(info.type, static_cast<uint64_t>(n)));
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
    std::vector<float> y(static_cast<size_t>(n));
    dequantize_row(info.type, bytes.data(), y.data(), n);
  }
}

}  // namespace
}  // namespace hearth
