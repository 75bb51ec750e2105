// 4-bit types whose levels are not evenly spaced: IQ4_NL (32-element blocks, one f16 scale),
// IQ4_XS (256-element super-blocks: f16 scale times eight 6-bit sub-scales) both index the
// kIQ4NLValues grid; MXFP4 (OCP microscaling) indexes E2M1 values under a power-of-two scale.
// Quantization follows what llama-quantize runs without an importance matrix (for IQ4_* that
// is quantize_iq4_nl/xs with 7 scale refinements each way, weights x^2), in ggml's float order.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "tensor/quant.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_rows.h"

namespace hearth::quant {
namespace {

constexpr float kGroupMaxEps = 1e-15f;
constexpr int kIQ4ScaleTries = 7;  // candidate scales tried on each side of the first guess

// Index of the grid level nearest to x in the ascending `values[16]`; ties go to the upper level.
int nearest_level(const int8_t* values, float x) {
  if (x <= values[0]) return 0;
  if (x >= values[15]) return 15;
  int lo = 0, hi = 15;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (x < values[mid]) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return x - static_cast<float>(values[hi - 1]) < static_cast<float>(values[hi]) - x ? hi - 1 : hi;
}

// Fits one 32-element sub-block to d * kIQ4NLValues[L]: starts from the scale that maps the
// extreme value to the grid's end (-127), then tries 2*ntry+1 more and keeps the weighted
// least-squares scale of the best one. Returns d (0 for an all-zero group).
float fit_iq4_subblock(const float* x /* [32] */) {
  const int8_t* values = kIQ4NLValues;
  float weight[32];
  for (int j = 0; j < 32; ++j) weight[j] = x[j] * x[j];
  float amax = 0, max = 0;
  for (int j = 0; j < 32; ++j) {
    const float ax = std::fabs(x[j]);
    if (ax > amax) {
      amax = ax;
      max = x[j];
    }
  }
  if (amax < kGroupMaxEps) return 0;

  auto accumulate = [&](float id, float* sumqx, float* sumq2) {
    *sumqx = *sumq2 = 0;
    for (int j = 0; j < 32; ++j) {
      const float q = values[nearest_level(values, id * x[j])];
      *sumqx += weight[j] * q * x[j];
      *sumq2 += weight[j] * q * q;
    }
  };
  float d = -max / static_cast<float>(values[0]);
  float sumqx, sumq2;
  accumulate(1 / d, &sumqx, &sumq2);
  d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
  float best = d * sumqx;
  for (int itry = -kIQ4ScaleTries; itry <= kIQ4ScaleTries; ++itry) {
    accumulate(static_cast<float>(itry + values[0]) / max, &sumqx, &sumq2);
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      d = sumqx / sumq2;
      best = d * sumqx;
    }
  }
  return d;
}

// Low nibbles hold elements 0..15 of each 32, high nibbles 16..31.
void pack_nibbles32(const uint8_t* L /* [32] */, uint8_t* qs /* [16] */) {
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>(L[j] | (L[j + 16] << 4));
}

}  // namespace

void dequantize_iq4_nl(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, dst += kQK) {
    const auto block = load_block<BlockIQ4_NL>(src, i);
    const float d = fp16_to_fp32(block.d);
    for (int j = 0; j < 16; ++j) {
      dst[j] = d * static_cast<float>(kIQ4NLValues[block.qs[j] & 0xf]);
      dst[j + 16] = d * static_cast<float>(kIQ4NLValues[block.qs[j] >> 4]);
    }
  }
}

void dequantize_iq4_xs(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto block = load_block<BlockIQ4_XS>(src, i);
    const float d = fp16_to_fp32(block.d);
    for (int ib = 0; ib < 8; ++ib, dst += 32) {
      const float dl = d * static_cast<float>(iq4_xs_scale(src + i * sizeof(BlockIQ4_XS), ib));
      const uint8_t* qs = block.qs + 16 * ib;
      for (int j = 0; j < 16; ++j) {
        dst[j] = dl * static_cast<float>(kIQ4NLValues[qs[j] & 0xf]);
        dst[j + 16] = dl * static_cast<float>(kIQ4NLValues[qs[j] >> 4]);
      }
    }
  }
}

void dequantize_mxfp4(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, dst += kQK) {
    const auto block = load_block<BlockMXFP4>(src, i);
    const float d = e8m0_to_fp32_half(block.e);
    for (int j = 0; j < 16; ++j) {
      dst[j] = static_cast<float>(kMXFP4Values[block.qs[j] & 0xf]) * d;
      dst[j + 16] = static_cast<float>(kMXFP4Values[block.qs[j] >> 4]) * d;
    }
  }
}

void quantize_iq4_nl(const float* x, uint8_t* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, x += kQK) {
    const float d = fit_iq4_subblock(x);
    BlockIQ4_NL block{};
    block.d = fp32_to_fp16(d);
    // Levels from the f32 scale (not the stored f16), as ggml does. An all-zero block maps every
    // element to level 8 (+1), the grid point nearest zero from above.
    const float id = d != 0 ? 1 / d : 0;
    uint8_t L[32];
    for (int j = 0; j < 32; ++j)
      L[j] = static_cast<uint8_t>(nearest_level(kIQ4NLValues, id * x[j]));
    pack_nibbles32(L, block.qs);
    store_block(dst, i, block);
  }
}

void quantize_iq4_xs(const float* x, uint8_t* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, x += kQK_K) {
    float scales[8];
    float max_scale = 0, amax_scale = 0;  // the signed sub-scale of largest magnitude
    for (int ib = 0; ib < 8; ++ib) {
      scales[ib] = fit_iq4_subblock(x + 32 * ib);
      const float abs_d = std::fabs(scales[ib]);
      if (abs_d > amax_scale) {
        amax_scale = abs_d;
        max_scale = scales[ib];
      }
    }
    // Sub-scales are 6-bit signed (-32..31) against d; the largest maps to -32.
    const float d = -max_scale / 32;
    const float id = d != 0 ? 1 / d : 0.f;
    BlockIQ4_XS block{};
    block.d = fp32_to_fp16(d);
    for (int ib = 0; ib < 8; ++ib) {
      const int l = std::clamp(nearest_int(id * scales[ib]), -32, 31);
      const float dl = d * static_cast<float>(l);
      const float idl = dl != 0 ? 1 / dl : 0.f;
      uint8_t L[32];
      for (int j = 0; j < 32; ++j)
        L[j] = static_cast<uint8_t>(nearest_level(kIQ4NLValues, idl * x[32 * ib + j]));
      pack_nibbles32(L, block.qs + 16 * ib);
      const int stored = l + 32;
      block.scales_l[ib / 2] |= static_cast<uint8_t>((stored & 0xf) << (4 * (ib % 2)));
      block.scales_h |= static_cast<uint16_t>((stored >> 4) << (2 * ib));
    }
    store_block(dst, i, block);
  }
}

// The shared exponent puts the block's largest magnitude in E2M1's top binade (4..6, i.e. 8..12
// doubled); each element then takes the nearest of the 16 levels (first one on ties).
void quantize_mxfp4(const float* x, uint8_t* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, x += kQK) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    BlockMXFP4 block{};
    if (amax > 0.0f) {
      // std::log2 on a float is log2f, as in ggml; clamped where ggml's cast would be undefined.
      const float e = std::floor(std::log2(amax)) - 2 + 127;
      block.e = static_cast<uint8_t>(std::clamp(e, 0.0f, 255.0f));
    }
    const float d = e8m0_to_fp32_half(block.e);
    uint8_t L[kQK];
    for (int j = 0; j < kQK; ++j) {
      int best = 0;
      float best_err = std::fabs(static_cast<float>(kMXFP4Values[0]) * d - x[j]);
      for (int k = 1; k < 16; ++k) {
        const float err = std::fabs(static_cast<float>(kMXFP4Values[k]) * d - x[j]);
        if (err < best_err) {
          best = k;
          best_err = err;
        }
      }
      L[j] = static_cast<uint8_t>(best);
    }
    pack_nibbles32(L, block.qs);
    store_block(dst, i, block);
  }
}

}  // namespace hearth::quant
