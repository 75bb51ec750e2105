// The K quants (Q2_K..Q6_K): 256-element super-blocks split into sub-blocks of 16 or 32, each
// with its own scale (and min), and those sub-block scales quantized again against one f16
// super-scale. Quantization is ggml's reference path (quantize_row_qX_K_ref, what llama-quantize
// runs without an importance matrix): fit each sub-block with a small search over candidate
// scales, quantize the sub-scales, then re-round every element against the scales as stored.
// Float operations follow ggml's order exactly; byte-identical output depends on it.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor/quant.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_rows.h"

namespace hearth::quant {
namespace {

// Below this a group is treated as all zeros (ggml's GROUP_MAX_EPS).
constexpr float kGroupMaxEps = 1e-15f;

// ---- sub-block fitting -------------------------------------------------------------------------

// Symmetric fit of x[0..n) to integer levels in [-nmax, nmax), weighted by w (x^2 when null).
// Starts from the scale that maps the extreme value to -nmax and tries 18 nearby ones, keeping
// the least-squares-optimal scale for the best level assignment. Returns the scale; L receives
// the levels offset by nmax (0 for an all-zero group).
float fit_symmetric(int n, int nmax, const float* x, int8_t* L, const float* w_or_null) {
  float max = 0;
  float amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, int8_t{0});
    return 0.f;
  }
  auto weight = [&](int i) { return w_or_null ? w_or_null[i] : x[i] * x[i]; };
  auto level = [&](float iscale, int i) {
    return std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
  };

  float iscale = static_cast<float>(-nmax) / max;
  float sumlx = 0;
  float suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = level(iscale, i);
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = weight(i);
    sumlx += w * x[i] * static_cast<float>(l);
    suml2 += w * static_cast<float>(l) * static_cast<float>(l);
  }
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(is)) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = level(iscale, i);
      const float w = weight(i);
      sumlx += w * x[i] * static_cast<float>(l);
      suml2 += w * static_cast<float>(l) * static_cast<float>(l);
    }
    // Compares sumlx^2/suml2 (the error reduction) without dividing.
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(level(iscale, i) + nmax);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Q3_K's symmetric fit: start from the extreme value, then up to 5 rounds of coordinate descent
// that move single levels while the x^2-weighted error falls. L receives levels offset by nmax.
float fit_symmetric_q3(int n, int nmax, const float* x, int8_t* L) {
  float max = 0;
  float amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, int8_t{0});
    return 0.f;
  }
  const float iscale = static_cast<float>(-nmax) / max;
  float sumlx = 0;
  float suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * static_cast<float>(l);
    suml2 += w * static_cast<float>(l) * static_cast<float>(l);
  }
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * static_cast<float>(L[i]);
      if (slx > 0) {
        float sl2 = suml2 - w * static_cast<float>(L[i]) * static_cast<float>(L[i]);
        const int new_l = std::clamp(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
        if (new_l != L[i]) {
          slx += w * x[i] * static_cast<float>(new_l);
          sl2 += w * static_cast<float>(new_l) * static_cast<float>(new_l);
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<int8_t>(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (n_changed == 0) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Affine fit x ~ scale * L + min with L in [0, nmax] and min <= 0, minimizing the weighted squared
// (or absolute, use_mad) error. Tries nstep+1 candidate scales around nmax/(max - min) and solves
// the 2x2 least-squares system for each level assignment. Returns the scale; *neg_min = -min.
float fit_affine(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* neg_min,
                 uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad) {
  float min = x[0];
  float max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(L, L + n, uint8_t{0});
    *neg_min = -min;
    return 0.f;
  }
  auto error_of = [&](float diff) { return use_mad ? std::fabs(diff) : diff * diff; };

  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(std::clamp(l, 0, nmax));
    best_error += weights[i] * error_of(scale * static_cast<float>(L[i]) + min - x[i]);
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      const float fl = static_cast<float>(l);
      sum_l += w * fl;
      sum_l2 += w * fl * fl;
      sum_xl += w * fl * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i)
        cur_error +=
            weights[i] * error_of(this_scale * static_cast<float>(Laux[i]) + this_min - x[i]);
      if (cur_error < best_error) {
        std::copy(Laux, Laux + n, L);
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *neg_min = -min;
  return scale;
}

// ---- bit packing shared by several types -------------------------------------------------------

// 2-bit levels of 128 elements into 32 bytes: byte l holds elements l, l+32, l+64, l+96 from the
// low bits up. Q2_K and Q3_K store their low bits this way, per 128-element half.
void pack_2bit(const uint8_t* levels /* [256] */, uint8_t* qs /* [64] */) {
  for (int half = 0; half < kQK_K; half += 128) {
    for (int l = 0; l < 32; ++l) {
      qs[half / 4 + l] =
          static_cast<uint8_t>(levels[half + l] | (levels[half + l + 32] << 2) |
                               (levels[half + l + 64] << 4) | (levels[half + l + 96] << 6));
    }
  }
}

int unpack_2bit(const uint8_t* qs, int j) {  // level of element j (0..255)
  const int half = j / 128;
  const int r = j % 128;
  return (qs[half * 32 + r % 32] >> (2 * (r / 32))) & 3;
}

// Q4_K/Q5_K: eight 6-bit scales and eight 6-bit mins in 12 bytes. Sub-blocks 0-3 use the low 6
// bits of bytes 0-3 (scale) and 4-7 (min); sub-blocks 4-7 put their low nibbles in bytes 8-11 and
// their top two bits in the spare top bits of bytes 0-7.
void pack_scale_min_k4(const uint8_t* ls /* [8] */, const uint8_t* lm /* [8] */,
                       uint8_t* scales /* [12] */) {
  std::memset(scales, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      scales[j] = ls[j];
      scales[j + 4] = lm[j];
    } else {
      scales[j + 4] = static_cast<uint8_t>((ls[j] & 0xf) | ((lm[j] & 0xf) << 4));
      scales[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
      scales[j] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
    }
  }
}

// Q3_K: sixteen 6-bit scales (stored +32) in 12 bytes: low nibbles of scales 0-7 in the low
// nibbles of bytes 0-7, of scales 8-15 in the high nibbles; the top two bits of scale j in bits
// 2*(j/4) of byte 8 + j%4.
int unpack_scale_q3(const uint8_t* scales, int j) {  // -32..31
  const int low = j < 8 ? (scales[j] & 0xf) : (scales[j - 8] >> 4);
  const int high = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (low | (high << 4)) - 32;
}

// Max over sub-blocks of the fitted scale (and min): the super-block scale maps it to the top
// sub-scale level.
float max_of(const float* v, int n) {
  float m = 0;
  for (int j = 0; j < n; ++j)
    if (v[j] > m) m = v[j];
  return m;
}

}  // namespace

// ---- Q2_K: value = d * scale_j * q - dmin * min_j, q in 0..3, 16 sub-blocks of 16 ------------

void dequantize_q2_k(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, dst += kQK_K) {
    const auto block = load_block<BlockQ2_K>(src, i);
    const float d = fp16_to_fp32(block.d);
    const float dmin = fp16_to_fp32(block.dmin);
    for (int j = 0; j < kQK_K; ++j) {
      const uint8_t sc = block.scales[j / 16];
      const float dl = d * static_cast<float>(sc & 0xf);
      const float ml = dmin * static_cast<float>(sc >> 4);
      dst[j] = dl * static_cast<float>(unpack_2bit(block.qs, j)) - ml;
    }
  }
}

void quantize_q2_k(const float* x, uint8_t* dst, int64_t n_blocks) {
  constexpr float kSubScaleMax = 15.f;  // 4-bit sub-scales and sub-mins
  for (int64_t i = 0; i < n_blocks; ++i, x += kQK_K) {
    uint8_t L[kQK_K];
    uint8_t Laux[16];
    float weights[16];
    float scales[16];
    float mins[16];
    for (int j = 0; j < 16; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
      scales[j] = fit_affine(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f,
                             15, /*use_mad=*/true);
    }
    const float max_scale = max_of(scales, 16);
    const float max_min = max_of(mins, 16);

    BlockQ2_K block{};
    if (max_scale > 0) {
      const float iscale = kSubScaleMax / max_scale;
      for (int j = 0; j < 16; ++j)
        block.scales[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
      block.d = fp32_to_fp16(max_scale / kSubScaleMax);
    } else {
      block.d = fp32_to_fp16(0.f);
    }
    if (max_min > 0) {
      const float iscale = kSubScaleMax / max_min;
      for (int j = 0; j < 16; ++j)
        block.scales[j] |= static_cast<uint8_t>(nearest_int(iscale * mins[j]) << 4);
      block.dmin = fp32_to_fp16(max_min / kSubScaleMax);
    } else {
      block.dmin = fp32_to_fp16(0.f);
    }
    // Re-round against the scales as stored (f16 super-scales, 4-bit sub-scales).
    for (int j = 0; j < 16; ++j) {
      const float d = fp16_to_fp32(block.d) * static_cast<float>(block.scales[j] & 0xf);
      if (d == 0) continue;
      const float dm = fp16_to_fp32(block.dmin) * static_cast<float>(block.scales[j] >> 4);
      for (int l = 0; l < 16; ++l)
        L[16 * j + l] =
            static_cast<uint8_t>(std::clamp(nearest_int((x[16 * j + l] + dm) / d), 0, 3));
    }
    pack_2bit(L, block.qs);
    store_block(dst, i, block);
  }
}

// ---- Q3_K: value = d * scale_j * (q - 4), q in 0..7 (2 low bits + hmask bit), 16 sub-blocks --

void dequantize_q3_k(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, dst += kQK_K) {
    const auto block = load_block<BlockQ3_K>(src, i);
    const float d_all = fp16_to_fp32(block.d);
    for (int j = 0; j < kQK_K; ++j) {
      const float dl = d_all * static_cast<float>(unpack_scale_q3(block.scales, j / 16));
      // The third bit of element j is bit j/32 of hmask[j%32]; a clear bit means "minus 4".
      const int high = (block.hmask[j % 32] >> (j / 32)) & 1;
      dst[j] = dl * static_cast<float>(unpack_2bit(block.qs, j) - (high ? 0 : 4));
    }
  }
}

void quantize_q3_k(const float* x, uint8_t* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, x += kQK_K) {
    int8_t L[kQK_K];
    float scales[16];
    float max_scale = 0;  // the signed sub-scale of largest magnitude
    float amax = 0;
    for (int j = 0; j < 16; ++j) {
      scales[j] = fit_symmetric_q3(16, 4, x + 16 * j, L + 16 * j);
      const float scale = std::fabs(scales[j]);
      if (scale > amax) {
        amax = scale;
        max_scale = scales[j];
      }
    }

    BlockQ3_K block{};
    if (max_scale != 0) {
      const float iscale = -32.f / max_scale;
      for (int j = 0; j < 16; ++j) {
        const int l =
            std::clamp(static_cast<int>(static_cast<int8_t>(nearest_int(iscale * scales[j]))), -32,
                       31) +
            32;
        if (j < 8) {
          block.scales[j] = static_cast<uint8_t>(l & 0xf);
        } else {
          block.scales[j - 8] |= static_cast<uint8_t>((l & 0xf) << 4);
        }
        block.scales[j % 4 + 8] |= static_cast<uint8_t>((l >> 4) << (2 * (j / 4)));
      }
      block.d = fp32_to_fp16(1 / iscale);
    } else {
      block.d = fp32_to_fp16(0.f);
    }

    for (int j = 0; j < 16; ++j) {
      const float d = fp16_to_fp32(block.d) * static_cast<float>(unpack_scale_q3(block.scales, j));
      if (d == 0) continue;
      for (int l = 0; l < 16; ++l)
        L[16 * j + l] = static_cast<int8_t>(std::clamp(nearest_int(x[16 * j + l] / d), -4, 3) + 4);
    }

    uint8_t low[kQK_K];
    for (int j = 0; j < kQK_K; ++j) {
      if (L[j] > 3) block.hmask[j % 32] |= static_cast<uint8_t>(1u << (j / 32));
      low[j] = static_cast<uint8_t>(L[j] > 3 ? L[j] - 4 : L[j]);
    }
    pack_2bit(low, block.qs);
    store_block(dst, i, block);
  }
}

// ---- Q4_K / Q5_K: value = d * scale_j * q - dmin * min_j, 8 sub-blocks of 32 -----------------

namespace {

// The shared part of Q4_K and Q5_K quantization: fits the 8 sub-blocks (weights favour large
// values: rms of the sub-block plus |x|), quantizes sub-scales and mins to 6 bits, and re-rounds
// the levels (0..nmax) against the stored scales.
void quantize_k_affine(const float* x /* [256] */, int nmax, float rmin, float rdelta, int nstep,
                       uint16_t* d_out, uint16_t* dmin_out, uint8_t* scales_out /* [12] */,
                       uint8_t* L /* [256] */) {
  uint8_t Laux[32];
  float weights[32];
  float scales[8];
  float mins[8];
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    scales[j] = fit_affine(32, nmax, xs, weights, L + 32 * j, &mins[j], Laux, rmin, rdelta, nstep,
                           /*use_mad=*/false);
  }
  const float max_scale = max_of(scales, 8);
  const float max_min = max_of(mins, 8);

  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  uint8_t ls[8], lm[8];
  for (int j = 0; j < 8; ++j) {
    // Wraps like ggml's uint8_t assignment before the clamp (only matters for a negative scale).
    ls[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
    lm[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
  }
  pack_scale_min_k4(ls, lm, scales_out);
  *d_out = fp32_to_fp16(max_scale / 63.f);
  *dmin_out = fp32_to_fp16(max_min / 63.f);

  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    unpack_scale_min_k4(j, scales_out, &sc, &m);
    const float d = fp16_to_fp32(*d_out) * static_cast<float>(sc);
    if (d == 0) continue;
    const float dm = fp16_to_fp32(*dmin_out) * static_cast<float>(m);
    for (int l = 0; l < 32; ++l)
      L[32 * j + l] =
          static_cast<uint8_t>(std::clamp(nearest_int((x[32 * j + l] + dm) / d), 0, nmax));
  }
}

}  // namespace

void dequantize_q4_k(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, dst += kQK_K) {
    const auto block = load_block<BlockQ4_K>(src, i);
    const float d = fp16_to_fp32(block.d);
    const float dmin = fp16_to_fp32(block.dmin);
    // Each 64 elements share 32 bytes: the first 32 in the low nibbles, the next 32 in the high.
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      unpack_scale_min_k4(j, block.scales, &sc, &m);
      const float dl = d * static_cast<float>(sc);
      const float ml = dmin * static_cast<float>(m);
      const uint8_t* q = block.qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      for (int l = 0; l < 32; ++l)
        dst[32 * j + l] = dl * static_cast<float>((q[l] >> shift) & 0xf) - ml;
    }
  }
}

void quantize_q4_k(const float* x, uint8_t* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, x += kQK_K) {
    BlockQ4_K block{};
    uint8_t L[kQK_K];
    quantize_k_affine(x, 15, -1.f, 0.1f, 20, &block.d, &block.dmin, block.scales, L);
    for (int j = 0; j < kQK_K; j += 64)
      for (int l = 0; l < 32; ++l)
        block.qs[j / 2 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
    store_block(dst, i, block);
  }
}

void dequantize_q5_k(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, dst += kQK_K) {
    const auto block = load_block<BlockQ5_K>(src, i);
    const float d = fp16_to_fp32(block.d);
    const float dmin = fp16_to_fp32(block.dmin);
    // Low 4 bits as in Q4_K; the fifth bit of element 32*j + l is bit j of qh[l].
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      unpack_scale_min_k4(j, block.scales, &sc, &m);
      const float dl = d * static_cast<float>(sc);
      const float ml = dmin * static_cast<float>(m);
      const uint8_t* q = block.qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      for (int l = 0; l < 32; ++l) {
        const int level = ((q[l] >> shift) & 0xf) + (((block.qh[l] >> j) & 1) ? 16 : 0);
        dst[32 * j + l] = dl * static_cast<float>(level) - ml;
      }
    }
  }
}

void quantize_q5_k(const float* x, uint8_t* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, x += kQK_K) {
    BlockQ5_K block{};
    uint8_t L[kQK_K];
    quantize_k_affine(x, 31, -0.5f, 0.1f, 15, &block.d, &block.dmin, block.scales, L);
    for (int j = 0; j < kQK_K; ++j) {
      if (L[j] > 15) block.qh[j % 32] |= static_cast<uint8_t>(1u << (j / 32));
    }
    for (int j = 0; j < kQK_K; j += 64)
      for (int l = 0; l < 32; ++l)
        block.qs[j / 2 + l] = static_cast<uint8_t>((L[j + l] & 0xf) | ((L[j + l + 32] & 0xf) << 4));
    store_block(dst, i, block);
  }
}

// ---- Q6_K: value = d * scale_j * (q - 32), q in 0..63, 16 sub-blocks of 16, int8 sub-scales --

namespace {

// Element j's 6-bit level. Per 128-element half: ql byte l holds elements l (low nibble) and
// l+64 (high), ql byte l+32 holds l+32 and l+96; qh byte l holds the top two bits of l, l+32,
// l+64, l+96 from the low bits up.
int unpack_q6(const BlockQ6_K& block, int j) {
  const int half = j / 128;
  const int r = j % 128;
  const int quarter = r / 32;  // 0..3
  const int l = r % 32;
  const uint8_t* ql = block.ql + 64 * half;
  const uint8_t* qh = block.qh + 32 * half;
  const int low = (ql[l + 32 * (quarter % 2)] >> (4 * (quarter / 2))) & 0xf;
  const int high = (qh[l] >> (2 * quarter)) & 3;
  return low | (high << 4);
}

}  // namespace

void dequantize_q6_k(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, dst += kQK_K) {
    const auto block = load_block<BlockQ6_K>(src, i);
    const float d = fp16_to_fp32(block.d);
    for (int j = 0; j < kQK_K; ++j) {
      const float dl = d * static_cast<float>(block.scales[j / 16]);
      dst[j] = dl * static_cast<float>(unpack_q6(block, j) - 32);
    }
  }
}

void quantize_q6_k(const float* x, uint8_t* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, x += kQK_K) {
    int8_t L[kQK_K];
    float scales[16];
    float max_scale = 0;
    float max_abs_scale = 0;
    for (int j = 0; j < 16; ++j) {
      scales[j] = fit_symmetric(16, 32, x + 16 * j, L + 16 * j, nullptr);
      const float abs_scale = std::fabs(scales[j]);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scales[j];
      }
    }

    BlockQ6_K block{};
    if (max_abs_scale < kGroupMaxEps) {  // all zero: an all-zero block
      store_block(dst, i, block);
      continue;
    }
    const float iscale = -128.f / max_scale;
    block.d = fp32_to_fp16(1 / iscale);
    for (int j = 0; j < 16; ++j)
      block.scales[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[j])));

    for (int j = 0; j < 16; ++j) {
      const float d = fp16_to_fp32(block.d) * static_cast<float>(block.scales[j]);
      if (d == 0) continue;
      for (int l = 0; l < 16; ++l)
        L[16 * j + l] =
            static_cast<int8_t>(std::clamp(nearest_int(x[16 * j + l] / d), -32, 31) + 32);
    }

    for (int half = 0; half < 2; ++half) {
      const int8_t* Lh = L + 128 * half;
      uint8_t* ql = block.ql + 64 * half;
      uint8_t* qh = block.qh + 32 * half;
      for (int l = 0; l < 32; ++l) {
        ql[l] = static_cast<uint8_t>((Lh[l] & 0xf) | ((Lh[l + 64] & 0xf) << 4));
        ql[l + 32] = static_cast<uint8_t>((Lh[l + 32] & 0xf) | ((Lh[l + 96] & 0xf) << 4));
        qh[l] = static_cast<uint8_t>((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) |
                                     ((Lh[l + 64] >> 4) << 4) | ((Lh[l + 96] >> 4) << 6));
      }
    }
    store_block(dst, i, block);
  }
}

}  // namespace hearth::quant
