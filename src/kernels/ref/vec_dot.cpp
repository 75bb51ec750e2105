// Reference activation conversion and weight·activation dot products (see vec_dot.h). Every
// quantized product is an exact integer sum per block (or sub-block), scaled in f32 by
// weight scale * activation scale and accumulated in f32, block after block; the float types
// accumulate f32 products in double, as ggml's vec_dot_f32/f16/bf16 do.
#include "kernels/ref/vec_dot.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "base/result.h"
#include "kernels/ref/ggml_lanes.h"
#include "tensor/quant.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_lowbit.h"
#include "tensor/quant_rows.h"

namespace hearth::ref {
namespace {

using quant::kQK;
using quant::kQK_K;
using quant::load_block;
using quant::store_block;

float h2f(uint16_t h) { return fp16_to_fp32(h); }

// ---- activation conversion ------------------------------------------------------------------

// x86's round-to-nearest-even then CVTPS2DQ: in-range values round ties to even; anything the
// instruction cannot represent (NaN, +-inf: reachable when amax is a tiny subnormal and 127/amax
// overflows) becomes the "integer indefinite" INT32_MIN.
int32_t round_cvt_int32(float v) {
  const float r = std::nearbyint(v);  // default rounding mode: ties to even
  if (!(std::fabs(r) < 2147483648.f)) return INT32_MIN;
  return static_cast<int32_t>(r);
}

// ...then the saturating packs 32 -> 16 -> 8 bits (so INT32_MIN lands on -128).
int8_t saturate_int8(int32_t v) { return static_cast<int8_t>(std::clamp(v, -128, 127)); }

// Q8_0 and Q8_1 share the scaling: d = amax / 127, quants scaled by 127 / amax (not 1 / d; the
// two differ in the last bit for some amax, which flips a rounding now and then). Returns d
// (unrounded; Q8_1's s uses it), fills qs, and returns in *sum32 the sum of the 32-bit values
// before saturation, wrapping as x86's 32-bit adds do: ggml's Q8_1 s is computed from those
// (they differ from the int8 quants only in the degenerate indefinite case above).
float quantize_block_q8(const float* x, int8_t* qs, int32_t* sum32) {
  float amax = 0.0f;
  for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.f;
  const float id = amax != 0.0f ? 127.f / amax : 0.0f;
  uint32_t sum = 0;
  for (int j = 0; j < kQK; ++j) {
    const int32_t v = round_cvt_int32(x[j] * id);
    sum += static_cast<uint32_t>(v);
    qs[j] = saturate_int8(v);
  }
  *sum32 = static_cast<int32_t>(sum);
  return d;
}

void quantize_q8_0(const float* x, uint8_t* out, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    quant::BlockQ8_0 block;
    int32_t sum;
    block.d = fp32_to_fp16(quantize_block_q8(x + i * kQK, block.qs, &sum));
    store_block(out, i, block);
  }
}

void quantize_q8_1(const float* x, uint8_t* out, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    quant::BlockQ8_1 block;
    int32_t sum;
    const float d = quantize_block_q8(x + i * kQK, block.qs, &sum);
    block.d = fp32_to_fp16(d);
    block.s = fp32_to_fp16(d * static_cast<float>(sum));
    store_block(out, i, block);
  }
}

void quantize_q8_k(const float* x, uint8_t* out, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    const float* xb = x + i * kQK_K;
    quant::BlockQ8_K block{};
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK_K; ++j) {
      const float ax = std::fabs(xb[j]);
      if (ax > amax) {
        amax = ax;
        max = xb[j];
      }
    }
    if (amax != 0.0f) {
      const float iscale = -127.f / max;
      for (int j = 0; j < kQK_K; ++j)
        block.qs[j] = static_cast<int8_t>(std::min(127, quant::nearest_int(iscale * xb[j])));
      for (int g = 0; g < kQK_K / 16; ++g) {
        int sum = 0;
        for (int j = 0; j < 16; ++j) sum += block.qs[g * 16 + j];
        block.bsums[g] = static_cast<int16_t>(sum);
      }
      block.d = 1.0f / iscale;
    }
    store_block(out, i, block);
  }
}

// ---- dot products ---------------------------------------------------------------------------
// Each takes n_blocks weight blocks `w` and the matching activation blocks `a`.

// Legacy 4- and 5-bit quants: element j of a block is the low nibble of qs[j] and element j+16
// the high nibble; the 5-bit types take bit j of qh as the fifth bit of element j.
int low_nibble(const uint8_t* qs, int j) { return qs[j] & 0xF; }
int high_nibble(const uint8_t* qs, int j) { return qs[j] >> 4; }
int fifth_bit(const uint8_t* qh_bytes, int j) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, sizeof(qh));
  return static_cast<int>((qh >> j) & 1u) << 4;
}

// ggml's x86 kernels for the 32-element types accumulate each block as 8 float lanes, lane l
// holding the integer sum of elements 4l..4l+3, with one FMA per lane and block, then add the
// lanes in a fixed tree. Summing in that order makes hearth's products bit-identical to
// llama.cpp's (measured), which matters more than it seems: a last-bit difference that lands on
// a rounding tie of the next 8-bit activation quantization moves a logit by up to ~0.3.
struct Lanes8 {
  float lane[8] = {};
  // `prod` holds the 32 integer products of one block, in element order.
  void add_block(float d, const int* prod) {
    for (int l = 0; l < 8; ++l) {
      const int isum = prod[4 * l] + prod[4 * l + 1] + prod[4 * l + 2] + prod[4 * l + 3];
      lane[l] = std::fma(d, static_cast<float>(isum), lane[l]);
    }
  }
  // hsum_float_8: upper half onto lower half, then pairs, then the last two.
  float sum() const {
    float r[4];
    for (int l = 0; l < 4; ++l) r[l] = lane[l + 4] + lane[l];
    return (r[0] + r[2]) + (r[1] + r[3]);
  }
};

// KSums::kBlocks (vec_dot.h): each block's exact integer sum enters one f32 chain by one fused
// multiply-add, acc = fma(float(isum), d, acc), block after block, and a _1 type's m * s (exact:
// two f16s) right after its block's: the order of the packed AVX-512 kernels (VNNI and AMX) and
// of llama.cpp's AMX kernels for Q8_0, Q4_0 and Q4_1 (ggml-cpu/amx/mmq.cpp's acc_C), with an eighth
// of the lanes' float operations.
struct FusedBlocks {
  float acc = 0.0f;
  void add_block(float d, const int* prod) {
    int isum = 0;
    for (int j = 0; j < kQK; ++j) isum += prod[j];
    acc = std::fma(static_cast<float>(isum), d, acc);
  }
  void add_min(float ms) { acc += ms; }
  float sum() const { return acc; }
};

// KSums::kExact: the same block products summed in double (exact: each product of an integer sum
// under 2^20 and two f16 scales has under 53 bits), rounded once at the end. The yardstick the
// orders' rounding is measured against (bench/RESULTS.md), not an order any kernel runs.
struct ExactBlocks {
  double acc = 0.0;
  void add_block(float d, const int* prod) {
    int isum = 0;
    for (int j = 0; j < kQK; ++j) isum += prod[j];
    acc += static_cast<double>(isum) * static_cast<double>(d);
  }
  void add_min(float ms) { acc += ms; }
  float sum() const { return static_cast<float>(acc); }
};

template <typename Acc>
float dot_q4_0(const uint8_t* w, const uint8_t* a, int64_t n_blocks) {
  Acc acc;
  int prod[kQK];
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto x = load_block<quant::BlockQ4_0>(w, i);
    const auto y = load_block<quant::BlockQ8_0>(a, i);
    for (int j = 0; j < kQK / 2; ++j) {
      prod[j] = (low_nibble(x.qs, j) - 8) * y.qs[j];
      prod[j + kQK / 2] = (high_nibble(x.qs, j) - 8) * y.qs[j + kQK / 2];
    }
    acc.add_block(h2f(x.d) * h2f(y.d), prod);
  }
  return acc.sum();
}

// The _1 types: value = q*d + m, so the dot is d*dy*sum(q*qy) + m*(dy*sum(qy)), the last factor
// being the activation block's precomputed s. ggml's x86 kernels sum the first term in its 8
// lanes (Lanes8) and the second in one scalar chain, summs += m * s, added after the lanes'
// tree: the same bits as llama.cpp. (m and s are f16, so m * s is exact in f32: fused or not,
// the chain rounds the same.)
struct LanesWithMins {
  Lanes8 lanes;
  float mins = 0.0f;
  void add_block(float d, const int* prod) { lanes.add_block(d, prod); }
  void add_min(float ms) { mins += ms; }
  float sum() const { return lanes.sum() + mins; }
};

template <typename Acc>
float dot_q4_1(const uint8_t* w, const uint8_t* a, int64_t n_blocks) {
  Acc acc;
  int prod[kQK];
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto x = load_block<quant::BlockQ4_1>(w, i);
    const auto y = load_block<quant::BlockQ8_1>(a, i);
    for (int j = 0; j < kQK / 2; ++j) {
      prod[j] = low_nibble(x.qs, j) * y.qs[j];
      prod[j + kQK / 2] = high_nibble(x.qs, j) * y.qs[j + kQK / 2];
    }
    acc.add_block(h2f(x.d) * h2f(y.d), prod);
    acc.add_min(h2f(x.m) * h2f(y.s));
  }
  return acc.sum();
}

// Q5_0 in ggml's lanes like Q4_0 (its x86 vec_dot and tinyBLAS both sum it so).
template <typename Acc>
float dot_q5_0(const uint8_t* w, const uint8_t* a, int64_t n_blocks) {
  Acc acc;
  int prod[kQK];
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto x = load_block<quant::BlockQ5_0>(w, i);
    const auto y = load_block<quant::BlockQ8_0>(a, i);
    for (int j = 0; j < kQK / 2; ++j) {
      prod[j] = ((low_nibble(x.qs, j) | fifth_bit(x.qh, j)) - 16) * y.qs[j];
      prod[j + kQK / 2] = ((high_nibble(x.qs, j) | fifth_bit(x.qh, j + 16)) - 16) * y.qs[j + kQK / 2];
    }
    acc.add_block(h2f(x.d) * h2f(y.d), prod);
  }
  return acc.sum();
}

template <typename Acc>
float dot_q5_1(const uint8_t* w, const uint8_t* a, int64_t n_blocks) {
  Acc acc;
  int prod[kQK];
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto x = load_block<quant::BlockQ5_1>(w, i);
    const auto y = load_block<quant::BlockQ8_1>(a, i);
    for (int j = 0; j < kQK / 2; ++j) {
      prod[j] = (low_nibble(x.qs, j) | fifth_bit(x.qh, j)) * y.qs[j];
      prod[j + kQK / 2] = (high_nibble(x.qs, j) | fifth_bit(x.qh, j + 16)) * y.qs[j + kQK / 2];
    }
    acc.add_block(h2f(x.d) * h2f(y.d), prod);
    acc.add_min(h2f(x.m) * h2f(y.s));
  }
  return acc.sum();
}

template <typename Acc>
float dot_q8_0(const uint8_t* w, const uint8_t* a, int64_t n_blocks) {
  Acc acc;
  int prod[kQK];
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto x = load_block<quant::BlockQ8_0>(w, i);
    const auto y = load_block<quant::BlockQ8_0>(a, i);
    for (int j = 0; j < kQK; ++j) prod[j] = x.qs[j] * y.qs[j];
    acc.add_block(h2f(x.d) * h2f(y.d), prod);
  }
  return acc.sum();
}

// A 32-element block whose nibbles index a table of signed integer levels (IQ4_NL, MXFP4).
int dot_nibble_levels(const uint8_t* qs, const int8_t* levels, const int8_t* qy) {
  int isum = 0;
  for (int j = 0; j < kQK / 2; ++j) {
    isum += levels[low_nibble(qs, j)] * qy[j];
    isum += levels[high_nibble(qs, j)] * qy[j + kQK / 2];
  }
  return isum;
}

float dot_iq4_nl(const uint8_t* w, const uint8_t* a, int64_t n_blocks) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto x = load_block<quant::BlockIQ4_NL>(w, i);
    const auto y = load_block<quant::BlockQ8_0>(a, i);
    const int isum = dot_nibble_levels(x.qs, quant::kIQ4NLValues, y.qs);
    sum += h2f(x.d) * h2f(y.d) * static_cast<float>(isum);
  }
  return sum;
}

float dot_mxfp4(const uint8_t* w, const uint8_t* a, int64_t n_blocks) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto x = load_block<quant::BlockMXFP4>(w, i);
    const auto y = load_block<quant::BlockQ8_0>(a, i);
    const int isum = dot_nibble_levels(x.qs, quant::kMXFP4Values, y.qs);
    sum += quant::e8m0_to_fp32_half(x.e) * h2f(y.d) * static_cast<float>(isum);
  }
  return sum;
}

// Q2_K: element 128h + 32k + l (h < 2, k < 4, l < 32) is bits 2k..2k+1 of qs[32h + l]; each 16
// elements g have scale byte g: low nibble the scale, high nibble the min (value = d*sc*q -
// dmin*m). The min term needs only the activation's 16-element sums.
float dot_q2_k(const uint8_t* w, const uint8_t* a, int64_t n_blocks) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto x = load_block<quant::BlockQ2_K>(w, i);
    const auto y = load_block<quant::BlockQ8_K>(a, i);
    int min_sum = 0;
    for (int g = 0; g < 16; ++g) min_sum += y.bsums[g] * (x.scales[g] >> 4);
    int isum = 0;
    for (int e = 0; e < kQK_K; e += 16) {  // one 16-element group (one scale) at a time
      const int h = e / 128, k = (e % 128) / 32, l0 = e % 32;
      int group = 0;
      for (int l = l0; l < l0 + 16; ++l)
        group += ((x.qs[32 * h + l] >> (2 * k)) & 3) * y.qs[e + l - l0];
      isum += (x.scales[e / 16] & 0xF) * group;
    }
    const float d = y.d * h2f(x.d), dmin = y.d * h2f(x.dmin);
    sum += d * static_cast<float>(isum) - dmin * static_cast<float>(min_sum);
  }
  return sum;
}

// Q3_K: element 128h + 32k + l is bits 2k..2k+1 of qs[32h + l], minus 4 unless bit 4h+k of
// hmask[l] is set. Group g of 16 elements has a 6-bit scale (offset 32): low 4 bits are nibble
// g%8 of scales[0..7] (low nibbles first), high 2 bits are bits 2*(g/4) of scales[8 + g%4].
int q3_k_scale(const uint8_t* scales, int g) {
  const int low = g < 8 ? (scales[g] & 0xF) : (scales[g - 8] >> 4);
  const int high = (scales[8 + g % 4] >> (2 * (g / 4))) & 3;
  return (low | (high << 4)) - 32;
}

float dot_q3_k(const uint8_t* w, const uint8_t* a, int64_t n_blocks) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto x = load_block<quant::BlockQ3_K>(w, i);
    const auto y = load_block<quant::BlockQ8_K>(a, i);
    int isum = 0;
    for (int e = 0; e < kQK_K; e += 16) {
      const int h = e / 128, k = (e % 128) / 32, l0 = e % 32;
      int group = 0;
      for (int l = l0; l < l0 + 16; ++l) {
        int q = (x.qs[32 * h + l] >> (2 * k)) & 3;
        if (!(x.hmask[l] & (1 << (4 * h + k)))) q -= 4;
        group += q * y.qs[e + l - l0];
      }
      isum += q3_k_scale(x.scales, e / 16) * group;
    }
    sum += h2f(x.d) * y.d * static_cast<float>(isum);
  }
  return sum;
}

// Element 64p + l (l < 32) is the low nibble of qs[32p + l], element 64p + 32 + l the high
// nibble; for Q5_K, bit 2p (resp. 2p+1) of qh[l] adds 16.
// The float part is that of llama.cpp's repacked Q4_K GEMM (q4_K_8x8, used for every batch of
// two or more tokens): per pair of sub-blocks (64 elements), the exact scaled sum and the exact
// min correction each enter their own accumulator by one fused multiply-add; the two are
// subtracted at the end. (Q5_K has its own order: dot_q5_k.)
// With KSums::kSuperBlocks the four pairs' integer sums are added first and enter the
// accumulators once per super-block.
float dot_q4_k(const uint8_t* w, const uint8_t* a, int64_t n_blocks, KSums sums) {
  float sum = 0.0f, min_acc = 0.0f;
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto x = load_block<quant::BlockQ4_K>(w, i);
    const auto y = load_block<quant::BlockQ8_K>(a, i);
    const float d = h2f(x.d) * y.d, dmin = h2f(x.dmin) * y.d;
    int isum = 0, min_sum = 0;
    for (int p = 0; p < 4; ++p) {
      if (sums == KSums::kPairs) isum = min_sum = 0;
      for (int s = 2 * p; s < 2 * p + 2; ++s) {
        uint8_t scale, min;
        quant::unpack_scale_min_k4(s, x.scales, &scale, &min);
        min_sum += min * (y.bsums[2 * s] + y.bsums[2 * s + 1]);
        const int shift = 4 * (s % 2);
        int sub = 0;
        for (int l = 0; l < 32; ++l) {
          int q = (x.qs[32 * p + l] >> shift) & 0xF;
          sub += q * y.qs[32 * s + l];
        }
        isum += scale * sub;
      }
      if (sums == KSums::kPairs || p == 3) {
        sum = std::fma(static_cast<float>(isum), d, sum);
        min_acc = std::fma(static_cast<float>(min_sum), dmin, min_acc);
      }
    }
  }
  return sum - min_acc;
}

// Q4_K in the order of ggml's x86 vec_dot (KSums::kVecDot): lane l of 8 holds the exact integer
// sum over the 8 sub-blocks s of scale_s times the products of elements 32s + 4l .. 32s + 4l + 3,
// entering its f32 lane by one FMA with d = y.d * x.d per super-block; lane k of 4 holds the
// mins of sub-blocks 2k and 2k+1 times their activation sums, entering its f32 lane by one FMA
// with -y.d * x.dmin; the result is hsum_float_8 of the 8 plus ((m0 + m2) + (m1 + m3)).
float dot_q4_k_vec_dot(const uint8_t* w, const uint8_t* a, int64_t n_blocks) {
  Lanes8 acc;
  float min_acc[4] = {};
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto x = load_block<quant::BlockQ4_K>(w, i);
    const auto y = load_block<quant::BlockQ8_K>(a, i);
    const float d = y.d * h2f(x.d), dmin = -y.d * h2f(x.dmin);
    int lane[8] = {}, min_pair[4] = {};
    for (int s = 0; s < 8; ++s) {
      uint8_t scale, min;
      quant::unpack_scale_min_k4(s, x.scales, &scale, &min);
      min_pair[s / 2] += min * (y.bsums[2 * s] + y.bsums[2 * s + 1]);
      for (int l = 0; l < 32; ++l) {
        const int q = (x.qs[32 * (s / 2) + l] >> (4 * (s % 2))) & 0xF;
        lane[l / 4] += scale * q * y.qs[32 * s + l];
      }
    }
    for (int k = 0; k < 4; ++k) min_acc[k] = std::fma(dmin, static_cast<float>(min_pair[k]), min_acc[k]);
    for (int l = 0; l < 8; ++l) acc.lane[l] = std::fma(d, static_cast<float>(lane[l]), acc.lane[l]);
  }
  return acc.sum() + ((min_acc[0] + min_acc[2]) + (min_acc[1] + min_acc[3]));
}

// Q5_K in the order of ggml's x86 vec_dot, which llama.cpp runs for every Q5_K product on x86,
// dense or expert, at every batch size (it neither repacks Q5_K nor gives it to tinyBLAS): per
// super-block, lane l of 8 holds the exact integer sum over the 8 sub-blocks s of scale_s times
// the products of elements 32s + 4l .. 32s + 4l + 3, and enters its f32 lane by one FMA with
// d = y.d * x.d; the mins' exact sum enters one f32 by one FMA with -y.d * x.dmin; the result is
// hsum_float_8 of the lanes (Lanes8::sum) plus that. (Elements as dot_q4_k lays them out.)
float dot_q5_k(const uint8_t* w, const uint8_t* a, int64_t n_blocks) {
  Lanes8 acc;
  float min_acc = 0.0f;
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto x = load_block<quant::BlockQ5_K>(w, i);
    const auto y = load_block<quant::BlockQ8_K>(a, i);
    const float d = y.d * h2f(x.d), dmin = -y.d * h2f(x.dmin);
    int lane[8] = {}, min_sum = 0;
    for (int s = 0; s < 8; ++s) {
      uint8_t scale, min;
      quant::unpack_scale_min_k4(s, x.scales, &scale, &min);
      min_sum += min * (y.bsums[2 * s] + y.bsums[2 * s + 1]);
      for (int l = 0; l < 32; ++l) {
        const int q = ((x.qs[32 * (s / 2) + l] >> (4 * (s % 2))) & 0xF) | (((x.qh[l] >> s) & 1) << 4);
        lane[l / 4] += scale * q * y.qs[32 * s + l];
      }
    }
    min_acc = std::fma(dmin, static_cast<float>(min_sum), min_acc);
    for (int l = 0; l < 8; ++l) acc.lane[l] = std::fma(d, static_cast<float>(lane[l]), acc.lane[l]);
  }
  return acc.sum() + min_acc;
}

// Q6_K: in half h, element 128h + 32k + l takes its low 4 bits from ql[64h + 32(k%2) + l]
// (low nibble for k < 2, high for k >= 2) and its high 2 bits from bits 2k of qh[32h + l];
// value (q - 32) * scale[group of 16].
// The order is ggml's x86 vec_dot, which llama.cpp runs for every Q6_K product on x86 (it does
// not repack Q6_K): per super-block, lane l of 8 holds the exact integer sum over the eight
// 32-element chunks of scale * q * y for the chunk's elements 4l .. 4l + 3 (q unsigned, 0..63),
// minus 32 * (scale_2l * bsum_2l + scale_2l+1 * bsum_2l+1) (the offset, through the activation's
// sums of 16); each lane enters its f32 lane by one FMA with d = y.d * x.d, and the lanes are
// added by hsum_float_8's tree (Lanes8::sum).
float dot_q6_k(const uint8_t* w, const uint8_t* a, int64_t n_blocks) {
  Lanes8 acc;
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto x = load_block<quant::BlockQ6_K>(w, i);
    const auto y = load_block<quant::BlockQ8_K>(a, i);
    int lane[8] = {};
    for (int e = 0; e < kQK_K; ++e) {
      const int h = e / 128, k = (e % 128) / 32, l = e % 32;
      const int low = (x.ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 0xF;
      const int high = (x.qh[32 * h + l] >> (2 * k)) & 3;
      lane[l / 4] += x.scales[e / 16] * ((low | (high << 4)) * y.qs[e]);
    }
    const float d = y.d * h2f(x.d);
    for (int l = 0; l < 8; ++l) {
      lane[l] -= 32 * (x.scales[2 * l] * y.bsums[2 * l] + x.scales[2 * l + 1] * y.bsums[2 * l + 1]);
      acc.lane[l] = std::fma(d, static_cast<float>(lane[l]), acc.lane[l]);
    }
  }
  return acc.sum();
}

// IQ4_XS: 8 sub-blocks of 32 IQ4_NL-style nibbles, each with a 6-bit scale (offset 32): low 4
// bits nibble s%2 of scales_l[s/2], high 2 bits bits 2s of scales_h. Summed as llama.cpp's IQ
// panel GEMM sums it in a matmul of 8 or more tokens (see dot_lowbit below): the super-block's
// exact integer sum of (ls - 32) * isum, added by one FMA with d * y.d. (Its vec_dot, for fewer
// tokens, applies each sub-block's scale in f32: forward_logits measured mean KL 1.2e-5 against
// llama.cpp's prefill in that order.)
float dot_iq4_xs(const uint8_t* w, const uint8_t* a, int64_t n_blocks) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto x = load_block<quant::BlockIQ4_XS>(w, i);
    const auto y = load_block<quant::BlockQ8_K>(a, i);
    int32_t sumi = 0;
    for (int s = 0; s < 8; ++s)
      sumi += quant::iq4_xs_scale(w + i * sizeof(x), s) *
              dot_nibble_levels(x.qs + 16 * s, quant::kIQ4NLValues, y.qs + 32 * s);
    sum = std::fma(static_cast<float>(sumi), h2f(x.d) * y.d, sum);
  }
  return sum;
}

// The low-bit types (quant_lowbit.h), summed as llama.cpp sums them in a matmul of 8 or more
// tokens, its "IQ panel" GEMM (ggml-cpu/iqp.cpp, on every x86 build with AVX2), which hearth
// follows at every batch size: each super-block's exact integer sum over its 16-element
// sub-blocks of (2s + 1) * v * y, where v is the signed codebook value (IQ1: 8 * grid +- 1, the
// shift folded in), enters the row's f32 sum by one FMA with dfac * y.d, dfac being d times the
// format's constant (1/8 for IQ2 and IQ1, 1/4 for IQ3_XXS, 1 for IQ3_S). (Fewer than 8 tokens
// take ggml's vec_dot, whose x86 code adds the same integers in 8 float lanes: an ulp apart.)
// The ternary types have no panel path: their order is ggml's x86 vec_dot (AVX2), 8 float lanes,
// lane l holding the integer sum over the elements e with (e % 32) / 4 == l of the stored digit
// (q + 1) times y, less the activation sum of elements 32l..32l+31, added by one FMA with
// d * y.d (GCC contracts its multiply and add), the lanes summed as hsum_float_8 does.
// On random models an ulp here lands on rounding ties of the next layer's 8-bit activations:
// forward_logits measured mean KL ~1e-4..1e-3 against llama.cpp in other orders.
float dot_lowbit(DType type, const uint8_t* w, const uint8_t* a, int64_t n_blocks) {
  quant::LowBitBlock x;
  if (type == DType::TQ1_0 || type == DType::TQ2_0) {
    Lanes8 lanes;
    for (int64_t i = 0; i < n_blocks; ++i) {
      quant::decode_lowbit(type, w, i, &x);
      const auto y = load_block<quant::BlockQ8_K>(a, i);
      int32_t lane[8] = {};
      for (int e = 0; e < kQK_K; ++e) {
        lane[(e % 32) / 4] += (x.q[e] + 1) * y.qs[e];
        lane[e / 32] -= y.qs[e];
      }
      const float d = y.d * h2f(x.d);
      for (int l = 0; l < 8; ++l) lanes.lane[l] = std::fma(static_cast<float>(lane[l]), d, lanes.lane[l]);
    }
    return lanes.sum();
  }
  const bool iq1 = type == DType::IQ1_S || type == DType::IQ1_M;
  const float factor = type == DType::IQ3_XXS ? 0.25f : type == DType::IQ3_S ? 1.0f : 0.125f;
  float sum = 0.0f;
  for (int64_t i = 0; i < n_blocks; ++i) {
    quant::decode_lowbit(type, w, i, &x);
    const auto y = load_block<quant::BlockQ8_K>(a, i);
    int32_t sumi = 0;
    for (int sb = 0; sb < kQK_K / 16; ++sb) {
      int32_t isum = 0;
      for (int e = 16 * sb; e < 16 * sb + 16; ++e) {
        const int v = iq1 ? 8 * x.q[e] + x.shift[e / 8] : x.q[e];
        isum += v * y.qs[e];
      }
      sumi += (2 * x.scale[sb] + 1) * isum;
    }
    const float dfac = h2f(x.d) * factor;
    sum = std::fma(static_cast<float>(sumi), dfac * y.d, sum);
  }
  return sum;
}

// Float types: f32 products accumulated in double. (F16 and BF16 products of two widened halves
// are exact in f32 apart from underflow.)
template <typename Widen>
float dot_halves(const uint8_t* w, const uint8_t* a, int64_t n, Widen widen) {
  double sum = 0.0;
  for (int64_t j = 0; j < n; ++j) {
    uint16_t hx, hy;
    std::memcpy(&hx, w + 2 * j, 2);
    std::memcpy(&hy, a + 2 * j, 2);
    sum += static_cast<double>(widen(hx) * widen(hy));
  }
  return static_cast<float>(sum);
}

// ggml_vec_dot_f32 as it runs on AVX-512 (KSums::kVecDot): lane l of accumulator q takes the
// products of elements 64i + 16q + l by fused multiply-adds; the accumulators fold 0+2, 1+3, then
// 0+1; reduce_lanes16 adds the 16 lanes. The tail past the last whole 64 (its scalar
// `sumf += x[i]*y[i]`) is added in order, as the prebuilt library's compiler vectorised it:
// whole 16s and then one 8 as rounded products, the last 0..7 by fused multiply-adds (measured
// against it: tests/kernels/vec_dot_test.cpp).
float dot_f32_vec_dot(const uint8_t* w, const uint8_t* a, int64_t n) {
  float acc[4][16] = {};
  const int64_t n64 = n - n % 64;
  const auto at = [](const uint8_t* p, int64_t j) {
    float x;
    std::memcpy(&x, p + 4 * j, 4);
    return x;
  };
  for (int64_t i = 0; i < n64; i += 64)
    for (int q = 0; q < 4; ++q)
      for (int l = 0; l < 16; ++l) acc[q][l] = std::fma(at(w, i + 16 * q + l), at(a, i + 16 * q + l), acc[q][l]);
  for (int l = 0; l < 16; ++l) {
    acc[0][l] += acc[2][l];
    acc[1][l] += acc[3][l];
    acc[0][l] += acc[1][l];
  }
  float sum = reduce_lanes16(acc[0]);
  int64_t j = n64;
  for (; n - j >= 16; j += 16)
    for (int64_t l = 0; l < 16; ++l) sum += at(w, j + l) * at(a, j + l);
  if (n - j >= 8)
    for (const int64_t end = j + 8; j < end; ++j) sum += at(w, j) * at(a, j);
  for (; j < n; ++j) sum = std::fma(at(w, j), at(a, j), sum);
  return sum;
}

float dot_f32(const uint8_t* w, const uint8_t* a, int64_t n) {
  double sum = 0.0;
  for (int64_t j = 0; j < n; ++j) {
    float x, y;
    std::memcpy(&x, w + 4 * j, 4);
    std::memcpy(&y, a + 4 * j, 4);
    sum += static_cast<double>(x * y);
  }
  return static_cast<float>(sum);
}

}  // namespace

bool has_vec_dot(DType weight_type) {
  switch (weight_type) {
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::Q8_0:
    case DType::Q2_K:
    case DType::Q3_K:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
    case DType::IQ4_NL:
    case DType::IQ4_XS:
    case DType::MXFP4:
      return true;
    default:
      return quant::is_lowbit(weight_type);
  }
}

DType vec_dot_type(DType weight_type) {
  switch (weight_type) {
    case DType::F32:
    case DType::F16:
    case DType::BF16:
      return weight_type;
    case DType::Q4_0:
    case DType::Q5_0:
    case DType::Q8_0:
    case DType::IQ4_NL:
    case DType::MXFP4:
      return DType::Q8_0;
    case DType::Q4_1:
    case DType::Q5_1:
      return DType::Q8_1;
    case DType::Q2_K:
    case DType::Q3_K:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
    case DType::IQ4_XS:
      return DType::Q8_K;
    default:
      if (quant::is_lowbit(weight_type)) return DType::Q8_K;
      HEARTH_CHECK(false, "no vec_dot for " + std::string(dtype_name(weight_type)));
      return weight_type;
  }
}

void quantize_activation(DType act_type, const float* x, void* out, int64_t n) {
  const DTypeInfo& info = dtype_info(act_type);
  HEARTH_CHECK(n >= 0 && n % info.block_elems == 0,
               std::string(info.name) + " row of " + std::to_string(n) + " elements");
  const int64_t n_blocks = n / info.block_elems;
  auto* dst = static_cast<uint8_t*>(out);
  switch (act_type) {
    case DType::Q8_0:
      return quantize_q8_0(x, dst, n_blocks);
    case DType::Q8_1:
      return quantize_q8_1(x, dst, n_blocks);
    case DType::Q8_K:
      return quantize_q8_k(x, dst, n_blocks);
    case DType::F32:
      if (n > 0) std::memcpy(dst, x, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::F16:
    case DType::BF16:
      for (int64_t j = 0; j < n; ++j) {
        const uint16_t h = act_type == DType::F16 ? fp32_to_fp16(x[j]) : fp32_to_bf16(x[j]);
        std::memcpy(dst + 2 * j, &h, 2);
      }
      return;
    default:
      HEARTH_CHECK(false, "not an activation type: " + std::string(info.name));
  }
}

bool has_blocks_order(DType weight_type) {
  switch (weight_type) {
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::Q8_0:
      return true;
    default:
      return false;
  }
}

float vec_dot(DType weight_type, const void* w_row, const void* act_row, int64_t n, KSums sums) {
  if ((sums == KSums::kBlocks || sums == KSums::kExact) && !has_blocks_order(weight_type)) sums = KSums::kPairs;
  const DTypeInfo& info = dtype_info(weight_type);
  const DTypeInfo& act_info = dtype_info(vec_dot_type(weight_type));
  HEARTH_CHECK(n >= 0 && n % info.block_elems == 0 && n % act_info.block_elems == 0,
               std::string(info.name) + " row of " + std::to_string(n) + " elements");
  const auto* w = static_cast<const uint8_t*>(w_row);
  const auto* a = static_cast<const uint8_t*>(act_row);
  const int64_t nb = n / info.block_elems;
  switch (weight_type) {
    case DType::F32:
      return sums == KSums::kVecDot ? dot_f32_vec_dot(w, a, n) : dot_f32(w, a, n);
    case DType::F16:
      return dot_halves(w, a, n, fp16_to_fp32);
    case DType::BF16:
      return dot_halves(w, a, n, bf16_to_fp32);
    case DType::Q4_0:
      return sums == KSums::kBlocks  ? dot_q4_0<FusedBlocks>(w, a, nb)
             : sums == KSums::kExact ? dot_q4_0<ExactBlocks>(w, a, nb)
                                     : dot_q4_0<Lanes8>(w, a, nb);
    case DType::Q4_1:
      return sums == KSums::kBlocks  ? dot_q4_1<FusedBlocks>(w, a, nb)
             : sums == KSums::kExact ? dot_q4_1<ExactBlocks>(w, a, nb)
                                     : dot_q4_1<LanesWithMins>(w, a, nb);
    case DType::Q5_0:
      return sums == KSums::kBlocks  ? dot_q5_0<FusedBlocks>(w, a, nb)
             : sums == KSums::kExact ? dot_q5_0<ExactBlocks>(w, a, nb)
                                     : dot_q5_0<Lanes8>(w, a, nb);
    case DType::Q5_1:
      return sums == KSums::kBlocks  ? dot_q5_1<FusedBlocks>(w, a, nb)
             : sums == KSums::kExact ? dot_q5_1<ExactBlocks>(w, a, nb)
                                     : dot_q5_1<LanesWithMins>(w, a, nb);
    case DType::Q8_0:
      return sums == KSums::kBlocks  ? dot_q8_0<FusedBlocks>(w, a, nb)
             : sums == KSums::kExact ? dot_q8_0<ExactBlocks>(w, a, nb)
                                     : dot_q8_0<Lanes8>(w, a, nb);
    case DType::Q2_K:
      return dot_q2_k(w, a, nb);
    case DType::Q3_K:
      return dot_q3_k(w, a, nb);
    case DType::Q4_K:
      return sums == KSums::kVecDot ? dot_q4_k_vec_dot(w, a, nb) : dot_q4_k(w, a, nb, sums);
    case DType::Q5_K:
      return dot_q5_k(w, a, nb);
    case DType::Q6_K:
      return dot_q6_k(w, a, nb);
    case DType::IQ4_NL:
      return dot_iq4_nl(w, a, nb);
    case DType::IQ4_XS:
      return dot_iq4_xs(w, a, nb);
    case DType::MXFP4:
      return dot_mxfp4(w, a, nb);
    default:
      if (quant::is_lowbit(weight_type)) return dot_lowbit(weight_type, w, a, nb);
      HEARTH_CHECK(false, "unreachable");
  }
  return 0.0f;
}

}  // namespace hearth::ref
