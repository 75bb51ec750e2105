// The AArch64 build of the SIMD kernels: NEON with the dot-product extension (ARMv8.2-A
// `sdot`, compiled with -march=armv8.2-a+dotprod, see src/CMakeLists.txt; entered only after
// cpu_supports(kNeon) read HWCAP_ASIMDDP). Same contract as the x86 builds (kernels/matmul.h):
// every (row, token) result is one fixed sequence, and for the quantized types it is
// ref::vec_dot's, so the bits equal the reference's:
//   - Q8_0/Q4_0/Q5_0/Q4_1/Q5_1: ggml's 8 f32 lanes (the _1 types' mins in one chain beside). One `sdot` of 16 weights by 16 activations yields the
//     exact integer sums of lanes 0-3 (elements 4l..4l+3), the next one lanes 4-7; one fused
//     multiply-add per lane and block, hsum_float_8's tree at the end.
//   - IQ4_NL, MXFP4, Q2_K, Q3_K, IQ4_XS and Q4_K: exact integer sums per block or super-block,
//     then ref's f32 expression (Q5_K, Q6_K: ggml's lanes, as ref).
//   - F16/BF16: 16 f32 lanes (lane i sums the elements i mod 16), a fixed tree, then the tail
//     in order: within f32 rounding of ref's double sum.
// Activations are converted by the reference itself (ref::quantize_activation): O(k) per token
// against the product's O(k * rows), and byte-identical by construction.
//
// Tiles: NR weight rows x NT tokens; each row's blocks are decoded once per NT tokens.
#if defined(__aarch64__)
#include <arm_neon.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/isa.h"
#include "kernels/ref/vec_dot.h"
#include "tensor/quant.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_lowbit.h"

namespace hearth::cpu {
namespace {

#define HEARTH_INLINE inline __attribute__((always_inline))

constexpr int64_t kQ8_0Bytes = 34, kQ4_0Bytes = 18, kQ5_0Bytes = 22;
constexpr int64_t kQ4_KBytes = 144, kQ5_KBytes = 176, kQ6_KBytes = 210, kQ8_KBytes = 292;

HEARTH_INLINE float load_f16(const uint8_t* p) {
  __fp16 h;
  std::memcpy(&h, p, 2);
  return static_cast<float>(h);  // exact, as fp16_to_fp32
}

HEARTH_INLINE float load_f32(const uint8_t* p) {
  float f;
  std::memcpy(&f, p, 4);
  return f;
}

HEARTH_INLINE int8x16_t load_s8(const uint8_t* p) { return vld1q_s8(reinterpret_cast<const int8_t*>(p)); }

// ---- 32-element types against Q8_0 activations -------------------------------------------------

// A block's 32 signed quants as two vectors (elements 0-15, 16-31) and its f16 scale.
struct Q8_0Block {
  static constexpr int64_t kBytes = kQ8_0Bytes;
  HEARTH_INLINE static float scale(const uint8_t* b) { return load_f16(b); }
  HEARTH_INLINE static void load(const uint8_t* b, int8x16_t q[2]) {
    q[0] = load_s8(b + 2);
    q[1] = load_s8(b + 18);
  }
};
// Element j < 16 is the low nibble of qs[j], element j + 16 the high nibble; minus 8.
struct Q4_0Block {
  static constexpr int64_t kBytes = kQ4_0Bytes;
  HEARTH_INLINE static float scale(const uint8_t* b) { return load_f16(b); }
  HEARTH_INLINE static void load(const uint8_t* b, int8x16_t q[2]) {
    const uint8x16_t qs = vld1q_u8(b + 2);
    const int8x16_t eight = vdupq_n_s8(8);
    q[0] = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(qs, vdupq_n_u8(0xF))), eight);
    q[1] = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(qs, 4)), eight);
  }
};
// Q4_0's nibbles with bit j of qh as the fifth bit of element j; minus 16.
struct Q5_0Block {
  static constexpr int64_t kBytes = kQ5_0Bytes;
  HEARTH_INLINE static float scale(const uint8_t* b) { return load_f16(b); }
  // Bit j of 16 bits -> 0x10 in byte j.
  HEARTH_INLINE static uint8x16_t fifth_bits(uint32_t bits16) {
    static const uint8_t kBit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t bytes = vcombine_u8(vdup_n_u8(static_cast<uint8_t>(bits16)),
                                         vdup_n_u8(static_cast<uint8_t>(bits16 >> 8)));
    return vandq_u8(vtstq_u8(bytes, vld1q_u8(kBit)), vdupq_n_u8(0x10));
  }
  HEARTH_INLINE static void load(const uint8_t* b, int8x16_t q[2]) {
    uint32_t qh;
    std::memcpy(&qh, b + 2, 4);
    const uint8x16_t qs = vld1q_u8(b + 6);
    const int8x16_t sixteen = vdupq_n_s8(16);
    q[0] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(qs, vdupq_n_u8(0xF)), fifth_bits(qh & 0xFFFF))),
                    sixteen);
    q[1] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(qs, 4), fifth_bits(qh >> 16))), sixteen);
  }
};

// Q4_1 and Q5_1: Q4_0's and Q5_0's quants without the offset (0..15, 0..31) after f16 d and f16 m.
struct Q4_1Block {
  static constexpr int64_t kBytes = 20;
  HEARTH_INLINE static float scale(const uint8_t* b) { return load_f16(b); }
  HEARTH_INLINE static float min(const uint8_t* b) { return load_f16(b + 2); }
  HEARTH_INLINE static void load(const uint8_t* b, int8x16_t q[2]) {
    const uint8x16_t qs = vld1q_u8(b + 4);
    q[0] = vreinterpretq_s8_u8(vandq_u8(qs, vdupq_n_u8(0xF)));
    q[1] = vreinterpretq_s8_u8(vshrq_n_u8(qs, 4));
  }
};
struct Q5_1Block {
  static constexpr int64_t kBytes = 24;
  HEARTH_INLINE static float scale(const uint8_t* b) { return load_f16(b); }
  HEARTH_INLINE static float min(const uint8_t* b) { return load_f16(b + 2); }
  HEARTH_INLINE static void load(const uint8_t* b, int8x16_t q[2]) {
    uint32_t qh;
    std::memcpy(&qh, b + 4, 4);
    const uint8x16_t qs = vld1q_u8(b + 8);
    q[0] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(qs, vdupq_n_u8(0xF)), Q5_0Block::fifth_bits(qh & 0xFFFF)));
    q[1] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(qs, 4), Q5_0Block::fifth_bits(qh >> 16)));
  }
};

// IQ4_NL and MXFP4: element j < 16 is the low nibble of qs[j], j + 16 the high one, each an
// index into a table of 16 signed levels; the scale is an f16, or MXFP4's E8M0 exponent.
HEARTH_INLINE void load_levels(const uint8_t* qs, const int8_t* levels, int8x16_t q[2]) {
  const uint8x16_t n = vld1q_u8(qs);
  const int8x16_t table = vld1q_s8(levels);
  q[0] = vqtbl1q_s8(table, vandq_u8(n, vdupq_n_u8(0xF)));
  q[1] = vqtbl1q_s8(table, vshrq_n_u8(n, 4));
}
struct IQ4_NLBlock {
  static constexpr int64_t kBytes = 18;
  HEARTH_INLINE static float scale(const uint8_t* b) { return load_f16(b); }
  HEARTH_INLINE static void load(const uint8_t* b, int8x16_t q[2]) { load_levels(b + 2, quant::kIQ4NLValues, q); }
};
struct MXFP4Block {
  static constexpr int64_t kBytes = 17;
  HEARTH_INLINE static float scale(const uint8_t* b) { return quant::e8m0_to_fp32_half(b[0]); }
  HEARTH_INLINE static void load(const uint8_t* b, int8x16_t q[2]) { load_levels(b + 1, quant::kMXFP4Values, q); }
};

// Walks blocks i = 0, 1, ... of NR weight rows against NT Q8_0 activation rows, decoding each
// weight block once per NT tokens: f(r, t, d, q, y) with d = wd * ad, q the row's two quant
// vectors, y the token's.
template <typename B, int NR, int NT, typename F>
HEARTH_INLINE void for_each_block32(const uint8_t* const* w, const uint8_t* const* a, int64_t k, F&& f) {
  for (int64_t i = 0; i < k / 32; ++i) {
    int8x16_t q[NR][2];
    float wd[NR];
    for (int r = 0; r < NR; ++r) {
      const uint8_t* b = w[r] + i * B::kBytes;
      B::load(b, q[r]);
      wd[r] = B::scale(b);
    }
    for (int t = 0; t < NT; ++t) {
      const uint8_t* y = a[t] + i * kQ8_0Bytes;
      const int8x16_t yq[2] = {load_s8(y + 2), load_s8(y + 18)};
      const float ad = load_f16(y);
      for (int r = 0; r < NR; ++r) f(r, t, wd[r] * ad, q[r], yq);
    }
  }
}

// ggml's lane order (ref's Lanes8): lo holds lanes 0-3, hi lanes 4-7. One `sdot` gives the exact
// sums of 4 lanes; then one fused multiply-add per lane and block, fma(d, isum, lane).
HEARTH_INLINE void add_lanes(float32x4_t& lo, float32x4_t& hi, float d, const int8x16_t* q, const int8x16_t* y) {
  const float32x4_t dv = vdupq_n_f32(d);
  lo = vfmaq_f32(lo, dv, vcvtq_f32_s32(vdotq_s32(vdupq_n_s32(0), q[0], y[0])));
  hi = vfmaq_f32(hi, dv, vcvtq_f32_s32(vdotq_s32(vdupq_n_s32(0), q[1], y[1])));
}
// hsum_float_8's tree: lane l + 4 onto lane l, then pairs.
HEARTH_INLINE float lanes_sum(float32x4_t lo, float32x4_t hi) {
  float s[4];
  vst1q_f32(s, vaddq_f32(hi, lo));
  return (s[0] + s[2]) + (s[1] + s[3]);
}

template <typename B, int NR, int NT>
struct TileLanes8 {
  static void run(const uint8_t* const* w, const uint8_t* const* a, int64_t k, float* out) {
    float32x4_t lo[NR][NT], hi[NR][NT];
    for (int r = 0; r < NR; ++r)
      for (int t = 0; t < NT; ++t) lo[r][t] = hi[r][t] = vdupq_n_f32(0.0f);
    for_each_block32<B, NR, NT>(w, a, k, [&](int r, int t, float d, const int8x16_t* q, const int8x16_t* y) {
      add_lanes(lo[r][t], hi[r][t], d, q, y);
    });
    for (int r = 0; r < NR; ++r)
      for (int t = 0; t < NT; ++t) out[r * NT + t] = lanes_sum(lo[r][t], hi[r][t]);
  }
};

// Q4_1/Q5_1 against Q8_1 activations (f16 d, f16 s = d * the quants' sum, 32 i8), as ref's
// dot_q4_1/dot_q5_1: d * dy * sum(q * qy) in the lanes, and the mins in one chain, summs += m * s,
// added after the lanes' tree.
template <typename B, int NR, int NT>
struct TileLanes8Min {
  static void run(const uint8_t* const* w, const uint8_t* const* a, int64_t k, float* out) {
    constexpr int64_t kQ8_1Bytes = 36;
    float32x4_t lo[NR][NT], hi[NR][NT];
    float mins[NR][NT] = {};
    for (int r = 0; r < NR; ++r)
      for (int t = 0; t < NT; ++t) lo[r][t] = hi[r][t] = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < k / 32; ++i) {
      int8x16_t q[NR][2];
      float wd[NR], wm[NR];
      for (int r = 0; r < NR; ++r) {
        const uint8_t* b = w[r] + i * B::kBytes;
        B::load(b, q[r]);
        wd[r] = B::scale(b);
        wm[r] = B::min(b);
      }
      for (int t = 0; t < NT; ++t) {
        const uint8_t* y = a[t] + i * kQ8_1Bytes;
        const int8x16_t yq[2] = {load_s8(y + 4), load_s8(y + 20)};
        const float ad = load_f16(y), as = load_f16(y + 2);
        for (int r = 0; r < NR; ++r) {
          mins[r][t] += wm[r] * as;  // a product of two f16s is exact: fused or not, the same bits
          add_lanes(lo[r][t], hi[r][t], wd[r] * ad, q[r], yq);
        }
      }
    }
    for (int r = 0; r < NR; ++r)
      for (int t = 0; t < NT; ++t) out[r * NT + t] = lanes_sum(lo[r][t], hi[r][t]) + mins[r][t];
  }
};

// IQ4_NL, MXFP4 as ref: block after block, sum + (wd * ad) * float(exact block sum).
template <typename B, int NR, int NT>
struct TileChain {
  static void run(const uint8_t* const* w, const uint8_t* const* a, int64_t k, float* out) {
    float sum[NR][NT] = {};
    for_each_block32<B, NR, NT>(w, a, k, [&](int r, int t, float d, const int8x16_t* q, const int8x16_t* y) {
      const int32_t isum = vaddvq_s32(vdotq_s32(vdotq_s32(vdupq_n_s32(0), q[0], y[0]), q[1], y[1]));
      sum[r][t] += d * static_cast<float>(isum);
    });
    for (int r = 0; r < NR; ++r)
      for (int t = 0; t < NT; ++t) out[r * NT + t] = sum[r][t];
  }
};

// ---- K types against Q8_K activations (d f32, 256 i8 quants, 16 i16 sums of 16) ----------------

// One weight super-block decoded: 256 signed quants in element order, one integer scale per 16
// elements, and for Q4_K/Q5_K the 8 mins (Q2_K: 16).
struct DecodedK {
  int8_t q[256];
  int32_t scale[16];
  int32_t min[16];
  float d, dmin;
};

// Q2_K: element 128h + 32k + l is bits 2k..2k+1 of qs[32h + l] (0..3); group g of 16 has scale
// scales[g] & 15 and min scales[g] >> 4. Q3_K: the same two bits from its qs, minus 4 unless
// bit 4h + k of hmask[l] is set; 6-bit scales offset by 32 (ref's q3_k_scale).
template <bool kThree>
HEARTH_INLINE void decode_q23_k(const uint8_t* b, DecodedK& out) {
  const uint8_t* qs = b + (kThree ? 32 : 16);
  if constexpr (kThree) {
    const uint8_t* sc = b + 96;
    out.d = load_f16(b + 108);
    for (int g = 0; g < 16; ++g) {
      const int low = g < 8 ? (sc[g] & 0xF) : (sc[g - 8] >> 4);
      const int high = (sc[8 + g % 4] >> (2 * (g / 4))) & 3;
      out.scale[g] = (low | (high << 4)) - 32;
    }
  } else {
    out.d = load_f16(b + 80);
    out.dmin = load_f16(b + 82);
    for (int g = 0; g < 16; ++g) {
      out.scale[g] = b[g] & 0xF;
      out.min[g] = b[g] >> 4;
    }
  }
  for (int h = 0; h < 2; ++h)
    for (int k = 0; k < 4; ++k)
      for (int half = 0; half < 2; ++half) {
        const uint8x16_t bytes = vld1q_u8(qs + 32 * h + 16 * half);
        uint8x16_t v = vandq_u8(vshlq_u8(bytes, vdupq_n_s8(static_cast<int8_t>(-2 * k))), vdupq_n_u8(3));
        if constexpr (kThree) {  // 4 off where the high bit is clear
          const uint8x16_t set = vtstq_u8(vld1q_u8(b + 16 * half), vdupq_n_u8(static_cast<uint8_t>(1u << (4 * h + k))));
          v = vsubq_u8(v, vbicq_u8(vdupq_n_u8(4), set));
        }
        vst1q_s8(out.q + 128 * h + 32 * k + 16 * half, vreinterpretq_s8_u8(v));
      }
}

// IQ4_XS: sub-block s's element j < 16 is the low nibble of qs[16s + j], j + 16 the high one,
// each an index into IQ4_NL's levels; its scale (quant::iq4_xs_scale) serves both groups of 16.
HEARTH_INLINE void decode_iq4_xs(const uint8_t* b, DecodedK& out) {
  out.d = load_f16(b);
  const int8x16_t table = vld1q_s8(quant::kIQ4NLValues);
  for (int s = 0; s < 8; ++s) {
    out.scale[2 * s] = out.scale[2 * s + 1] = quant::iq4_xs_scale(b, s);
    const uint8x16_t n = vld1q_u8(b + 8 + 16 * s);
    vst1q_s8(out.q + 32 * s, vqtbl1q_s8(table, vandq_u8(n, vdupq_n_u8(0xF))));
    vst1q_s8(out.q + 32 * s + 16, vqtbl1q_s8(table, vshrq_n_u8(n, 4)));
  }
}

// Q4_K/Q5_K: element 64p + l (l < 32) is the low nibble of qs[32p + l], element 64p + 32 + l
// the high nibble; for Q5_K bit s of qh[l] adds 16 to element 32s + l.
template <bool kFive>
HEARTH_INLINE void decode_q45_k(const uint8_t* b, DecodedK& out) {
  out.d = load_f16(b);
  out.dmin = load_f16(b + 2);
  const uint8_t* qs = b + (kFive ? 48 : 16);
  uint8x16_t qh[2];
  if constexpr (kFive) {
    qh[0] = vld1q_u8(b + 16);
    qh[1] = vld1q_u8(b + 32);
  }
  for (int s = 0; s < 8; ++s) {
    uint8_t sc, m;
    quant::unpack_scale_min_k4(s, b + 4, &sc, &m);
    out.scale[2 * s] = out.scale[2 * s + 1] = sc;
    out.min[s] = m;
    for (int h = 0; h < 2; ++h) {
      const uint8x16_t bytes = vld1q_u8(qs + 32 * (s / 2) + 16 * h);
      uint8x16_t v = s % 2 == 0 ? vandq_u8(bytes, vdupq_n_u8(0xF)) : vshrq_n_u8(bytes, 4);
      if constexpr (kFive)
        v = vorrq_u8(v, vandq_u8(vtstq_u8(qh[h], vdupq_n_u8(static_cast<uint8_t>(1u << s))), vdupq_n_u8(0x10)));
      vst1q_s8(out.q + 32 * s + 16 * h, vreinterpretq_s8_u8(v));
    }
  }
}

// Q6_K: element 128h + 32k + l takes its low 4 bits from ql[64h + 32(k%2) + l] (low nibble for
// k < 2, high for k >= 2) and its high 2 bits from bits 2k of qh[32h + l]; kept unsigned (0..63),
// the 32 comes off through the activation sums as ggml takes it (TileQ6_K).
HEARTH_INLINE void decode_q6_k(const uint8_t* b, DecodedK& out) {
  out.d = load_f16(b + 208);
  for (int g = 0; g < 16; ++g) out.scale[g] = static_cast<int8_t>(b[192 + g]);
  for (int h = 0; h < 2; ++h)
    for (int k = 0; k < 4; ++k)
      for (int half = 0; half < 2; ++half) {
        const uint8x16_t ql = vld1q_u8(b + 64 * h + 32 * (k % 2) + 16 * half);
        const uint8x16_t qh = vld1q_u8(b + 128 + 32 * h + 16 * half);
        const uint8x16_t low = k < 2 ? vandq_u8(ql, vdupq_n_u8(0xF)) : vshrq_n_u8(ql, 4);
        const uint8x16_t high = vandq_u8(vshlq_u8(qh, vdupq_n_s8(static_cast<int8_t>(-2 * k))), vdupq_n_u8(3));
        const int8x16_t q = vreinterpretq_s8_u8(vorrq_u8(low, vshlq_n_u8(high, 4)));
        vst1q_s8(out.q + 128 * h + 32 * k + 16 * half, q);
      }
}

// sum over 16-element groups g in [g0, g1) of scale[g] * (exact group sum): exact in i32.
HEARTH_INLINE int32_t scaled_isum(const DecodedK& w, const int8_t* y, int g0, int g1) {
  int32x4_t acc = vdupq_n_s32(0);
  for (int g = g0; g < g1; ++g)
    acc = vmlaq_n_s32(acc, vdotq_s32(vdupq_n_s32(0), vld1q_s8(w.q + 16 * g), vld1q_s8(y + 16 * g)), w.scale[g]);
  return vaddvq_s32(acc);
}

constexpr bool is_ternary(DType t) { return t == DType::TQ1_0 || t == DType::TQ2_0; }

// Super-block i of a row of a 256-element type but Q4_K, decoded. The low-bit IQ and ternary types go
// through the reference decoder (quant::decode_lowbit: their codebook lookups stay scalar), their
// values and scales as ref's dot_lowbit multiplies them: IQ1's shift folded in (8q + shift), the
// ternary digits q + 1 (scale 1), the IQ scales 2s + 1.
template <DType kType>
HEARTH_INLINE void decode_super(const uint8_t* row, int64_t i, DecodedK& out) {
  if constexpr (kType == DType::Q2_K || kType == DType::Q3_K) {
    decode_q23_k<kType == DType::Q3_K>(row + i * (kType == DType::Q2_K ? 84 : 110), out);
  } else if constexpr (kType == DType::Q5_K) {
    decode_q45_k<true>(row + i * kQ5_KBytes, out);
  } else if constexpr (kType == DType::Q6_K) {
    decode_q6_k(row + i * kQ6_KBytes, out);
  } else if constexpr (kType == DType::IQ4_XS) {
    decode_iq4_xs(row + i * 136, out);
  } else {
    constexpr bool kIQ1 = kType == DType::IQ1_S || kType == DType::IQ1_M;
    quant::LowBitBlock x;
    quant::decode_lowbit(kType, row, i, &x);
    out.d = load_f16(reinterpret_cast<const uint8_t*>(&x.d));
    for (int e = 0; e < 256; ++e)
      out.q[e] = static_cast<int8_t>(is_ternary(kType) ? x.q[e] + 1 : kIQ1 ? 8 * x.q[e] + x.shift[e / 8] : x.q[e]);
    for (int g = 0; g < 16; ++g) out.scale[g] = is_ternary(kType) ? 1 : 2 * x.scale[g] + 1;
  }
}

// Q2_K, Q3_K, IQ4_XS and the low-bit IQ and ternary types as ref (dot_q2_k, dot_q3_k,
// dot_iq4_xs, dot_lowbit): each row's super-block decoded once per tile, then per (row, token)
// the exact sum of scale * q * y by sdot and ref's f32 expression: Q2_K sum += d * isum - dmin *
// (the mins against the sums of 16); Q3_K sum += d * isum; IQ4_XS and the IQ types sum = fma(isum,
// d * factor * yd, sum) (factor 1, 1/8 for IQ2 and IQ1, 1/4 for IQ3_XXS); the ternary types
// ggml's 8 lanes, lane l the sum over the elements (e % 32) / 4 == l of (q + 1) * y less the
// activation sum of elements 32l .. 32l + 31, one FMA per lane and super-block, hsum_float_8's tree.
template <DType kType, int NR, int NT>
struct TileLowK {
  static void run(const uint8_t* const* w, const uint8_t* const* a, int64_t k, float* out) {
    constexpr float kFactor = kType == DType::IQ3_XXS                          ? 0.25f
                              : kType == DType::IQ3_S || kType == DType::IQ4_XS ? 1.0f
                                                                                : 0.125f;
    float sum[NR][NT] = {};
    float32x4_t lo[NR][NT], hi[NR][NT];
    for (int r = 0; r < NR; ++r)
      for (int t = 0; t < NT; ++t) lo[r][t] = hi[r][t] = vdupq_n_f32(0.0f);
    DecodedK dec[NR];
    for (int64_t i = 0; i < k / 256; ++i) {
      for (int r = 0; r < NR; ++r) decode_super<kType>(w[r], i, dec[r]);
      for (int t = 0; t < NT; ++t) {
        const uint8_t* y = a[t] + i * kQ8_KBytes;
        const float yd = load_f32(y);
        const auto* yq = reinterpret_cast<const int8_t*>(y + 4);
        int16_t bsums[16];
        std::memcpy(bsums, y + 260, sizeof(bsums));
        for (int r = 0; r < NR; ++r) {
          const DecodedK& x = dec[r];
          if constexpr (is_ternary(kType)) {
            int32x4_t ilo = vdupq_n_s32(0), ihi = vdupq_n_s32(0);
            for (int c = 0; c < 8; ++c) {
              ilo = vdotq_s32(ilo, vld1q_s8(x.q + 32 * c), vld1q_s8(yq + 32 * c));
              ihi = vdotq_s32(ihi, vld1q_s8(x.q + 32 * c + 16), vld1q_s8(yq + 32 * c + 16));
            }
            int32_t offset[8];
            for (int l = 0; l < 8; ++l) offset[l] = bsums[2 * l] + bsums[2 * l + 1];
            ilo = vsubq_s32(ilo, vld1q_s32(offset));
            ihi = vsubq_s32(ihi, vld1q_s32(offset + 4));
            const float d = yd * x.d;
            lo[r][t] = vfmaq_n_f32(lo[r][t], vcvtq_f32_s32(ilo), d);
            hi[r][t] = vfmaq_n_f32(hi[r][t], vcvtq_f32_s32(ihi), d);
            continue;
          }
          const int32_t isum = scaled_isum(x, yq, 0, 16);
          if constexpr (kType == DType::Q2_K) {
            int32_t min_sum = 0;
            for (int g = 0; g < 16; ++g) min_sum += bsums[g] * x.min[g];
            const float d = yd * x.d, dmin = yd * x.dmin;
            sum[r][t] += d * static_cast<float>(isum) - dmin * static_cast<float>(min_sum);
          } else if constexpr (kType == DType::Q3_K) {
            sum[r][t] += x.d * yd * static_cast<float>(isum);
          } else {
            sum[r][t] = std::fma(static_cast<float>(isum), x.d * kFactor * yd, sum[r][t]);
          }
        }
      }
    }
    for (int r = 0; r < NR; ++r)
      for (int t = 0; t < NT; ++t) out[r * NT + t] = is_ternary(kType) ? lanes_sum(lo[r][t], hi[r][t]) : sum[r][t];
  }
};

// Q5_K and Q6_K in ggml's x86 order (ref: dot_q5_k, dot_q6_k): per (row, token) 8 lanes, lane l
// the exact sum over the eight 32-element chunks of scale * q * y for the chunk's elements
// 4l .. 4l+3 (vdotq_s32's lanes over its two 16-byte halves: lanes 0-3, then 4-7); Q6_K's lanes
// (q unsigned) then lose 32 * their two groups' scaled activation sums. One FMA per lane and
// super-block with d = yd * x.d; at the end hsum_float_8's tree (lane l + lane l+4, then pairs),
// plus, for Q5_K, the mins' sum, entered per super-block by one FMA with -yd * x.dmin.
template <bool kSix, int NR, int NT>
struct TileLanesK {
  static void run(const uint8_t* const* w, const uint8_t* const* a, int64_t k, float* out) {
    float32x4_t lo[NR][NT], hi[NR][NT];
    float min_acc[NR][NT] = {};
    for (int r = 0; r < NR; ++r)
      for (int t = 0; t < NT; ++t) lo[r][t] = hi[r][t] = vdupq_n_f32(0.0f);
    DecodedK dec[NR];
    for (int64_t i = 0; i < k / 256; ++i) {
      for (int r = 0; r < NR; ++r) decode_super<kSix ? DType::Q6_K : DType::Q5_K>(w[r], i, dec[r]);
      for (int t = 0; t < NT; ++t) {
        const uint8_t* y = a[t] + i * kQ8_KBytes;
        const float yd = load_f32(y);
        const auto* yq = reinterpret_cast<const int8_t*>(y + 4);
        int16_t bsums[16];
        std::memcpy(bsums, y + 260, sizeof(bsums));
        for (int r = 0; r < NR; ++r) {
          const DecodedK& x = dec[r];
          int32x4_t ilo = vdupq_n_s32(0), ihi = vdupq_n_s32(0);
          for (int c = 0; c < 8; ++c) {  // chunk c: scale groups 2c (lanes 0-3) and 2c+1 (lanes 4-7)
            ilo = vmlaq_n_s32(ilo, vdotq_s32(vdupq_n_s32(0), vld1q_s8(x.q + 32 * c), vld1q_s8(yq + 32 * c)),
                              x.scale[2 * c]);
            ihi = vmlaq_n_s32(ihi, vdotq_s32(vdupq_n_s32(0), vld1q_s8(x.q + 32 * c + 16), vld1q_s8(yq + 32 * c + 16)),
                              x.scale[2 * c + 1]);
          }
          if constexpr (kSix) {
            int32_t offset[8];
            for (int l = 0; l < 8; ++l)
              offset[l] = 32 * (x.scale[2 * l] * bsums[2 * l] + x.scale[2 * l + 1] * bsums[2 * l + 1]);
            ilo = vsubq_s32(ilo, vld1q_s32(offset));
            ihi = vsubq_s32(ihi, vld1q_s32(offset + 4));
          } else {
            int32_t min_sum = 0;
            for (int s = 0; s < 8; ++s) min_sum += x.min[s] * (bsums[2 * s] + bsums[2 * s + 1]);
            min_acc[r][t] = std::fma(-yd * x.dmin, static_cast<float>(min_sum), min_acc[r][t]);
          }
          const float d = yd * x.d;
          lo[r][t] = vfmaq_n_f32(lo[r][t], vcvtq_f32_s32(ilo), d);
          hi[r][t] = vfmaq_n_f32(hi[r][t], vcvtq_f32_s32(ihi), d);
        }
      }
    }
    for (int r = 0; r < NR; ++r)
      for (int t = 0; t < NT; ++t) {
        const float32x4_t h = vaddq_f32(hi[r][t], lo[r][t]);  // lane l: lane l+4 + lane l
        const float sum = (vgetq_lane_f32(h, 0) + vgetq_lane_f32(h, 2)) + (vgetq_lane_f32(h, 1) + vgetq_lane_f32(h, 3));
        out[r * NT + t] = kSix ? sum : sum + min_acc[r][t];  // (+0.0f would turn a -0 into +0)
      }
  }
};
template <int NR, int NT> using TileQ5_K = TileLanesK<false, NR, NT>;
template <int NR, int NT> using TileQ6_K = TileLanesK<true, NR, NT>;

// Q4_K; kSuper: its pairs enter the f32 accumulators once per super-block
// (ref::KSums::kSuperBlocks).
template <int NR, int NT, bool kSuper = false>
struct TileQ4K {
  static void run(const uint8_t* const* w, const uint8_t* const* a, int64_t k, float* out) {
    float sum[NR][NT] = {}, min_acc[NR][NT] = {};
    DecodedK dec[NR];
    for (int64_t i = 0; i < k / 256; ++i) {
      for (int r = 0; r < NR; ++r) decode_q45_k<false>(w[r] + i * kQ4_KBytes, dec[r]);
      for (int t = 0; t < NT; ++t) {
        const uint8_t* y = a[t] + i * kQ8_KBytes;
        const float yd = load_f32(y);
        const auto* yq = reinterpret_cast<const int8_t*>(y + 4);
        int32_t pair_sums[8] = {};
        int16_t bsums[16];
        std::memcpy(bsums, y + 260, sizeof(bsums));
        for (int s = 0; s < 8; ++s) pair_sums[s] = bsums[2 * s] + bsums[2 * s + 1];
        for (int r = 0; r < NR; ++r) {
          const DecodedK& x = dec[r];
          int32_t isum = 0, min_sum = 0;
          for (int p = 0; p < 4; ++p) {  // per pair of sub-blocks (or super-block), as ref
            if (!kSuper) isum = min_sum = 0;
            isum += scaled_isum(x, yq, 4 * p, 4 * p + 4);
            min_sum += x.min[2 * p] * pair_sums[2 * p] + x.min[2 * p + 1] * pair_sums[2 * p + 1];
            if (kSuper && p < 3) continue;
            sum[r][t] = std::fma(static_cast<float>(isum), x.d * yd, sum[r][t]);
            min_acc[r][t] = std::fma(static_cast<float>(min_sum), x.dmin * yd, min_acc[r][t]);
          }
        }
      }
    }
    for (int r = 0; r < NR; ++r)
      for (int t = 0; t < NT; ++t) out[r * NT + t] = sum[r][t] - min_acc[r][t];
  }
};

// ---- F16/BF16 against their rounded activations, stored as f32 ---------------------------------

struct F16Widen {
  static constexpr bool kBf16 = false;
  HEARTH_INLINE static float32x4_t widen(const uint8_t* p) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(reinterpret_cast<const uint16_t*>(p))));
  }
  HEARTH_INLINE static float widen1(const uint8_t* p) { return load_f16(p); }
};
struct BF16Widen {
  static constexpr bool kBf16 = true;
  HEARTH_INLINE static float32x4_t widen(const uint8_t* p) {
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(reinterpret_cast<const uint16_t*>(p)), 16));
  }
  HEARTH_INLINE static float widen1(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return bf16_to_fp32(h);
  }
};

template <typename W, int NR, int NT>
struct TileHalf {
  static void run(const uint8_t* const* w, const uint8_t* const* a, int64_t k, float* out) {
    for (int r = 0; r < NR; ++r) {  // one row at a time: 4 x NT accumulators, 4 widened vectors
      float32x4_t acc[NT][4];
      for (int t = 0; t < NT; ++t)
        for (int l = 0; l < 4; ++l) acc[t][l] = vdupq_n_f32(0.0f);
      const int64_t k16 = k - k % 16;
      for (int64_t j = 0; j < k16; j += 16) {
        float32x4_t wv[4];
        for (int l = 0; l < 4; ++l) wv[l] = W::widen(w[r] + 2 * (j + 4 * l));
        for (int t = 0; t < NT; ++t) {
          const float* y = reinterpret_cast<const float*>(a[t]) + j;
          for (int l = 0; l < 4; ++l) acc[t][l] = vfmaq_f32(acc[t][l], wv[l], vld1q_f32(y + 4 * l));
        }
      }
      for (int t = 0; t < NT; ++t) {
        float s = vaddvq_f32(vaddq_f32(vaddq_f32(acc[t][0], acc[t][1]), vaddq_f32(acc[t][2], acc[t][3])));
        const float* y = reinterpret_cast<const float*>(a[t]);
        for (int64_t j = k16; j < k; ++j) s += W::widen1(w[r] + 2 * j) * y[j];
        out[r * NT + t] = s;
      }
    }
  }
};

// ---- the row x token loop (as x86_kernels.inc's) -------------------------------------------

constexpr int kRows = 2;  // divides the 4-row groups matmul.cpp hands each thread
constexpr int kTokens = 4;
constexpr int64_t kTokenChunk = 64;

template <template <int, int> class Tile, int NR>
void run_tile(int nt, const uint8_t* const* w, const uint8_t* const* a, int64_t k, float* out) {
  switch (nt) {
    case 1: return Tile<NR, 1>::run(w, a, k, out);
    case 2: return Tile<NR, 2>::run(w, a, k, out);
    case 3: return Tile<NR, 3>::run(w, a, k, out);
    default: return Tile<NR, 4>::run(w, a, k, out);
  }
}

template <template <int, int> class Tile>
void gemm(const GemmArgs& g, int64_t r0, int64_t r1) {
  float out[kRows * kTokens];
  for (int64_t c0 = 0; c0 < g.n_tokens; c0 += kTokenChunk) {
    const int64_t c1 = c0 + kTokenChunk < g.n_tokens ? c0 + kTokenChunk : g.n_tokens;
    for (int64_t r = r0; r < r1; r += kRows) {
      const int nr = r1 - r < kRows ? static_cast<int>(r1 - r) : kRows;
      const uint8_t* w[kRows];
      for (int i = 0; i < nr; ++i) w[i] = g.w + static_cast<uint64_t>(r + i) * g.w_row_bytes;
      for (int64_t t = c0; t < c1; t += kTokens) {
        const int nt = c1 - t < kTokens ? static_cast<int>(c1 - t) : kTokens;
        const uint8_t* a[kTokens];
        for (int j = 0; j < nt; ++j) a[j] = g.act + static_cast<uint64_t>(t + j) * g.act_row_bytes;
        if (nr == kRows)
          run_tile<Tile, kRows>(nt, w, a, g.k, out);
        else
          run_tile<Tile, 1>(nt, w, a, g.k, out);
        for (int i = 0; i < nr; ++i)
          for (int j = 0; j < nt; ++j) g.y[(t + j) * g.ldy + r + i] = out[i * nt + j];
      }
    }
  }
}

template <int NR, int NT> using TileQ8_0 = TileLanes8<Q8_0Block, NR, NT>;
template <int NR, int NT> using TileQ4_0 = TileLanes8<Q4_0Block, NR, NT>;
template <int NR, int NT> using TileQ5_0 = TileLanes8<Q5_0Block, NR, NT>;
template <int NR, int NT> using TileQ4_1 = TileLanes8Min<Q4_1Block, NR, NT>;
template <int NR, int NT> using TileQ5_1 = TileLanes8Min<Q5_1Block, NR, NT>;
template <int NR, int NT> using TileIQ4_NL = TileChain<IQ4_NLBlock, NR, NT>;
template <int NR, int NT> using TileQ2_K = TileLowK<DType::Q2_K, NR, NT>;
template <int NR, int NT> using TileQ3_K = TileLowK<DType::Q3_K, NR, NT>;
template <int NR, int NT> using TileIQ4_XS = TileLowK<DType::IQ4_XS, NR, NT>;
template <int NR, int NT> using TileIQ2_XXS = TileLowK<DType::IQ2_XXS, NR, NT>;
template <int NR, int NT> using TileIQ2_XS = TileLowK<DType::IQ2_XS, NR, NT>;
template <int NR, int NT> using TileIQ2_S = TileLowK<DType::IQ2_S, NR, NT>;
template <int NR, int NT> using TileIQ3_XXS = TileLowK<DType::IQ3_XXS, NR, NT>;
template <int NR, int NT> using TileIQ3_S = TileLowK<DType::IQ3_S, NR, NT>;
template <int NR, int NT> using TileIQ1_S = TileLowK<DType::IQ1_S, NR, NT>;
template <int NR, int NT> using TileIQ1_M = TileLowK<DType::IQ1_M, NR, NT>;
template <int NR, int NT> using TileTQ1_0 = TileLowK<DType::TQ1_0, NR, NT>;
template <int NR, int NT> using TileTQ2_0 = TileLowK<DType::TQ2_0, NR, NT>;
template <int NR, int NT> using TileMXFP4 = TileChain<MXFP4Block, NR, NT>;
template <int NR, int NT> using TileQ4_K = TileQ4K<NR, NT>;
template <int NR, int NT> using TileQ4_KSuper = TileQ4K<NR, NT, true>;
template <int NR, int NT> using TileF16 = TileHalf<F16Widen, NR, NT>;
template <int NR, int NT> using TileBF16 = TileHalf<BF16Widen, NR, NT>;

// ---- activation conversion: the reference's, rounded values widened for F16/BF16 -----------

void quantize_q8_0(const float* x, void* out, int64_t n) { ref::quantize_activation(DType::Q8_0, x, out, n); }
void quantize_q8_1(const float* x, void* out, int64_t n) { ref::quantize_activation(DType::Q8_1, x, out, n); }
void quantize_q8_k(const float* x, void* out, int64_t n) { ref::quantize_activation(DType::Q8_K, x, out, n); }
void quantize_f16_as_f32(const float* x, void* out, int64_t n) {
  auto* dst = static_cast<float*>(out);
  for (int64_t j = 0; j < n; ++j) dst[j] = fp16_to_fp32(fp32_to_fp16(x[j]));
}
void quantize_bf16_as_f32(const float* x, void* out, int64_t n) {
  auto* dst = static_cast<float*>(out);
  for (int64_t j = 0; j < n; ++j) dst[j] = bf16_to_fp32(fp32_to_bf16(x[j]));
}

#undef HEARTH_INLINE

}  // namespace

GemmFn neon_gemm(DType weight_type, ref::KSums sums) {
  switch (weight_type) {
    case DType::Q8_0: return gemm<TileQ8_0>;
    case DType::Q4_0: return gemm<TileQ4_0>;
    case DType::Q5_0: return gemm<TileQ5_0>;
    case DType::Q4_1: return gemm<TileQ4_1>;
    case DType::Q5_1: return gemm<TileQ5_1>;
    case DType::Q4_K:  // ggml's x86 vec_dot order (kVecDot) has no NEON build: the reference computes it
      if (sums == ref::KSums::kVecDot) return nullptr;
      return sums == ref::KSums::kPairs ? gemm<TileQ4_K> : gemm<TileQ4_KSuper>;
    case DType::Q5_K: return gemm<TileQ5_K>;
    case DType::Q6_K: return gemm<TileQ6_K>;
    case DType::Q2_K: return gemm<TileQ2_K>;
    case DType::Q3_K: return gemm<TileQ3_K>;
    case DType::IQ4_XS: return gemm<TileIQ4_XS>;
    case DType::IQ2_XXS: return gemm<TileIQ2_XXS>;
    case DType::IQ2_XS: return gemm<TileIQ2_XS>;
    case DType::IQ2_S: return gemm<TileIQ2_S>;
    case DType::IQ3_XXS: return gemm<TileIQ3_XXS>;
    case DType::IQ3_S: return gemm<TileIQ3_S>;
    case DType::IQ1_S: return gemm<TileIQ1_S>;
    case DType::IQ1_M: return gemm<TileIQ1_M>;
    case DType::TQ1_0: return gemm<TileTQ1_0>;
    case DType::TQ2_0: return gemm<TileTQ2_0>;
    case DType::IQ4_NL: return gemm<TileIQ4_NL>;
    case DType::MXFP4: return gemm<TileMXFP4>;
    case DType::F16: return gemm<TileF16>;
    case DType::BF16: return gemm<TileBF16>;
    default: return nullptr;
  }
}

QuantizeFn neon_quantize(DType act_type) {
  switch (act_type) {
    case DType::Q8_0: return quantize_q8_0;
    case DType::Q8_1: return quantize_q8_1;
    case DType::Q8_K: return quantize_q8_k;
    case DType::F16: return quantize_f16_as_f32;
    case DType::BF16: return quantize_bf16_as_f32;
    default: return nullptr;
  }
}

}  // namespace hearth::cpu
#endif
