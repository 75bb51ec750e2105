// Decoding and dequantization of the low-bit types (quant_lowbit.h), bit-exact with ggml's
// dequantize_row_* (tests/kernels/vec_dot_test.cpp, VecDotGgml.LowBitTypes*, compares arbitrary
// blocks, every codebook point among them, with llama.cpp's own dequantizers). The float expressions are ggml's, operation for
// operation: a value is the sub-block's float scale times an integer, and the sign flips exactly.
#include "tensor/quant_lowbit.h"

#include <cstring>

#include "tensor/iq_grids.h"
#include "tensor/quant.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_rows.h"

namespace hearth::quant {
namespace {

// 8 values from an 8-coordinate codebook point, negated where `signs` has a bit set.
void put_point8(uint64_t point, uint8_t signs, int8_t* q) {
  for (int j = 0; j < 8; ++j) {
    const int v = grid_byte(point, j);
    q[j] = static_cast<int8_t>(signs & (1u << j) ? -v : v);
  }
}

// 8 values from two 4-coordinate points (IQ3): the first gives values 0..3, the second 4..7.
void put_points4(uint32_t first, uint32_t second, uint8_t signs, int8_t* q) {
  put_point8(uint64_t{first} | (uint64_t{second} << 32), signs, q);
}

void set_scale32(LowBitBlock* out, int ib32, int s) {
  out->scale[2 * ib32] = out->scale[2 * ib32 + 1] = static_cast<uint8_t>(s);
}

uint32_t load_u32(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

void decode_iq2_xxs(const BlockIQ2_XXS& x, LowBitBlock* out) {
  out->d = x.d;
  const auto* bytes = reinterpret_cast<const uint8_t*>(x.qs);
  for (int ib = 0; ib < 8; ++ib) {
    const uint8_t* grid_idx = bytes + 8 * ib;
    const uint32_t packed = load_u32(bytes + 8 * ib + 4);  // 4 x 7 sign bits, then the scale
    set_scale32(out, ib, static_cast<int>(packed >> 28));
    for (int l = 0; l < 4; ++l)
      put_point8(kIQ2XXSGrid[grid_idx[l]], iq_signs_from_7(packed >> (7 * l)), out->q + 32 * ib + 8 * l);
  }
}

void decode_iq2_xs(const BlockIQ2_XS& x, LowBitBlock* out) {
  out->d = x.d;
  for (int ib = 0; ib < 8; ++ib) {
    out->scale[2 * ib] = x.scales[ib] & 0xF;
    out->scale[2 * ib + 1] = x.scales[ib] >> 4;
    for (int l = 0; l < 4; ++l) {
      const uint16_t v = x.qs[4 * ib + l];
      put_point8(kIQ2XSGrid[v & 511], iq_signs_from_7(v >> 9), out->q + 32 * ib + 8 * l);
    }
  }
}

void decode_iq2_s(const BlockIQ2_S& x, LowBitBlock* out) {
  out->d = x.d;
  const uint8_t* signs = x.qs + 32;
  for (int ib = 0; ib < 8; ++ib) {
    out->scale[2 * ib] = x.scales[ib] & 0xF;
    out->scale[2 * ib + 1] = x.scales[ib] >> 4;
    for (int l = 0; l < 4; ++l) {
      const int index = x.qs[4 * ib + l] | ((x.qh[ib] << (8 - 2 * l)) & 0x300);
      put_point8(kIQ2SGrid[size_t(index)], signs[4 * ib + l], out->q + 32 * ib + 8 * l);
    }
  }
}

void decode_iq3_xxs(const BlockIQ3_XXS& x, LowBitBlock* out) {
  out->d = x.d;
  const uint8_t* scales_and_signs = x.qs + 64;
  for (int ib = 0; ib < 8; ++ib) {
    const uint32_t packed = load_u32(scales_and_signs + 4 * ib);
    set_scale32(out, ib, static_cast<int>(packed >> 28));
    for (int l = 0; l < 4; ++l)
      put_points4(kIQ3XXSGrid[x.qs[8 * ib + 2 * l]], kIQ3XXSGrid[x.qs[8 * ib + 2 * l + 1]],
                  iq_signs_from_7(packed >> (7 * l)), out->q + 32 * ib + 8 * l);
  }
}

void decode_iq3_s(const BlockIQ3_S& x, LowBitBlock* out) {
  out->d = x.d;
  for (int ib = 0; ib < 8; ++ib) {
    set_scale32(out, ib, (x.scales[ib / 2] >> (4 * (ib % 2))) & 0xF);
    const int high = x.qh[ib];  // bit 2l (first point) and 2l+1 (second) are the ninth bits
    for (int l = 0; l < 4; ++l) {
      const int first = x.qs[8 * ib + 2 * l] | ((high << (8 - 2 * l)) & 256);
      const int second = x.qs[8 * ib + 2 * l + 1] | ((high << (7 - 2 * l)) & 256);
      put_points4(kIQ3SGrid[size_t(first)], kIQ3SGrid[size_t(second)], x.signs[4 * ib + l],
                  out->q + 32 * ib + 8 * l);
    }
  }
}

// IQ1 codebook points are signed bytes -1, 0, 1.
void put_iq1_point(uint64_t point, int8_t* q) {
  for (int j = 0; j < 8; ++j) q[j] = static_cast<int8_t>(grid_byte(point, j));
}

void decode_iq1_s(const BlockIQ1_S& x, LowBitBlock* out) {
  out->d = x.d;
  for (int ib = 0; ib < 8; ++ib) {
    const int high = x.qh[ib];
    set_scale32(out, ib, (high >> 12) & 7);
    for (int l = 0; l < 4; ++l) {
      out->shift[4 * ib + l] = high & 0x8000 ? -1 : 1;
      put_iq1_point(kIQ1SGrid[size_t(x.qs[4 * ib + l] | (((high >> (3 * l)) & 7) << 8))], out->q + 32 * ib + 8 * l);
    }
  }
}

void decode_iq1_m(const BlockIQ1_M& x, LowBitBlock* out) {
  uint16_t sc[4];
  std::memcpy(sc, x.scales, sizeof(sc));
  out->d = static_cast<uint16_t>((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
  for (int ib = 0; ib < 8; ++ib) {
    out->scale[2 * ib] = static_cast<uint8_t>((sc[ib / 2] >> (6 * (ib % 2))) & 7);
    out->scale[2 * ib + 1] = static_cast<uint8_t>((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 7);
    for (int l = 0; l < 4; ++l) {
      const int high = x.qh[2 * ib + l / 2] >> (4 * (l % 2));  // 3 index bits, then the shift sign
      out->shift[4 * ib + l] = high & 0x08 ? -1 : 1;
      put_iq1_point(kIQ1SGrid[size_t(x.qs[4 * ib + l] | ((high & 7) << 8))], out->q + 32 * ib + 8 * l);
    }
  }
}

// Ternary digit n (0 = most significant of the byte's fixed-point base-3 fraction) of `byte`:
// multiplying by 3^n (mod 256) brings it to the top, and the top third of 0..255 reads it.
int ternary_digit(uint8_t byte, int n) {
  static constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};
  const auto shifted = static_cast<uint8_t>(byte * kPow3[n]);
  return ((shifted * 3) >> 8) - 1;
}

void decode_tq1_0(const BlockTQ1_0& x, LowBitBlock* out) {
  out->d = x.d;
  int8_t* q = out->q;
  for (int n = 0; n < 5; ++n)  // values 0..159: digit n of qs[0..31]
    for (int m = 0; m < 32; ++m) *q++ = static_cast<int8_t>(ternary_digit(x.qs[m], n));
  for (int n = 0; n < 5; ++n)  // values 160..239: digit n of qs[32..47]
    for (int m = 0; m < 16; ++m) *q++ = static_cast<int8_t>(ternary_digit(x.qs[32 + m], n));
  for (int n = 0; n < 4; ++n)  // values 240..255: digit n of qh[0..3]
    for (int m = 0; m < 4; ++m) *q++ = static_cast<int8_t>(ternary_digit(x.qh[m], n));
}

void decode_tq2_0(const BlockTQ2_0& x, LowBitBlock* out) {
  out->d = x.d;
  for (int half = 0; half < 2; ++half)
    for (int l = 0; l < 4; ++l)
      for (int m = 0; m < 32; ++m)
        out->q[128 * half + 32 * l + m] = static_cast<int8_t>(((x.qs[32 * half + m] >> (2 * l)) & 3) - 1);
}

template <DType kType, typename Dequant>
void dequantize_blocks(const uint8_t* src, float* dst, int64_t n_blocks, Dequant value) {
  LowBitBlock b;
  for (int64_t i = 0; i < n_blocks; ++i) {
    decode_lowbit(kType, src, i, &b);
    const float d = fp16_to_fp32(b.d);
    for (int e = 0; e < 256; ++e) dst[256 * i + e] = value(b, d, e);
  }
}

// ggml's expressions: (d * (0.5 + s)) * 0.25 * q for IQ2 (0.5 for IQ3_XXS); d * (1 + 2s) * q for
// IQ3_S; d * (1 + 2s) * (q +- 1/8) for IQ1; q * d for TQ. q * sign equals the sign applied last.
float iq2_value(const LowBitBlock& b, float d, int e) {
  return d * (0.5f + static_cast<float>(b.scale[e / 16])) * 0.25f * static_cast<float>(b.q[e]);
}
float iq3_xxs_value(const LowBitBlock& b, float d, int e) {
  return d * (0.5f + static_cast<float>(b.scale[e / 16])) * 0.5f * static_cast<float>(b.q[e]);
}
float iq3_s_value(const LowBitBlock& b, float d, int e) {
  return d * static_cast<float>(1 + 2 * b.scale[e / 16]) * static_cast<float>(b.q[e]);
}
float iq1_value(const LowBitBlock& b, float d, int e) {
  const float delta = b.shift[e / 8] < 0 ? -0.125f : 0.125f;
  return d * static_cast<float>(2 * b.scale[e / 16] + 1) * (static_cast<float>(b.q[e]) + delta);
}
float tq_value(const LowBitBlock& b, float d, int e) { return static_cast<float>(b.q[e]) * d; }

}  // namespace

bool is_lowbit(DType type) {
  switch (type) {
    case DType::IQ2_XXS:
    case DType::IQ2_XS:
    case DType::IQ2_S:
    case DType::IQ3_XXS:
    case DType::IQ3_S:
    case DType::IQ1_S:
    case DType::IQ1_M:
    case DType::TQ1_0:
    case DType::TQ2_0:
      return true;
    default:
      return false;
  }
}

void decode_lowbit(DType type, const uint8_t* row, int64_t index, LowBitBlock* out) {
  switch (type) {
    case DType::IQ2_XXS: return decode_iq2_xxs(load_block<BlockIQ2_XXS>(row, index), out);
    case DType::IQ2_XS: return decode_iq2_xs(load_block<BlockIQ2_XS>(row, index), out);
    case DType::IQ2_S: return decode_iq2_s(load_block<BlockIQ2_S>(row, index), out);
    case DType::IQ3_XXS: return decode_iq3_xxs(load_block<BlockIQ3_XXS>(row, index), out);
    case DType::IQ3_S: return decode_iq3_s(load_block<BlockIQ3_S>(row, index), out);
    case DType::IQ1_S: return decode_iq1_s(load_block<BlockIQ1_S>(row, index), out);
    case DType::IQ1_M: return decode_iq1_m(load_block<BlockIQ1_M>(row, index), out);
    case DType::TQ1_0: return decode_tq1_0(load_block<BlockTQ1_0>(row, index), out);
    case DType::TQ2_0: return decode_tq2_0(load_block<BlockTQ2_0>(row, index), out);
    default: HEARTH_CHECK(false, "not a low-bit type");
  }
}

void dequantize_iq2_xxs(const uint8_t* src, float* dst, int64_t n) {
  dequantize_blocks<DType::IQ2_XXS>(src, dst, n, iq2_value);
}
void dequantize_iq2_xs(const uint8_t* src, float* dst, int64_t n) {
  dequantize_blocks<DType::IQ2_XS>(src, dst, n, iq2_value);
}
void dequantize_iq2_s(const uint8_t* src, float* dst, int64_t n) {
  dequantize_blocks<DType::IQ2_S>(src, dst, n, iq2_value);
}
void dequantize_iq3_xxs(const uint8_t* src, float* dst, int64_t n) {
  dequantize_blocks<DType::IQ3_XXS>(src, dst, n, iq3_xxs_value);
}
void dequantize_iq3_s(const uint8_t* src, float* dst, int64_t n) {
  dequantize_blocks<DType::IQ3_S>(src, dst, n, iq3_s_value);
}
void dequantize_iq1_s(const uint8_t* src, float* dst, int64_t n) {
  dequantize_blocks<DType::IQ1_S>(src, dst, n, iq1_value);
}
void dequantize_iq1_m(const uint8_t* src, float* dst, int64_t n) {
  dequantize_blocks<DType::IQ1_M>(src, dst, n, iq1_value);
}
void dequantize_tq1_0(const uint8_t* src, float* dst, int64_t n) {
  dequantize_blocks<DType::TQ1_0>(src, dst, n, tq_value);
}
void dequantize_tq2_0(const uint8_t* src, float* dst, int64_t n) {
  dequantize_blocks<DType::TQ2_0>(src, dst, n, tq_value);
}

}  // namespace hearth::quant
