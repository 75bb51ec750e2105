// The AVX-512 VNNI kernels over packed weights (layouts and numerics: kernels/cpu/packed.h).
// Compiled with the AVX-512 flags (src/CMakeLists.txt) and only entered after the dispatcher
// checked the CPU. Like x86_kernels.inc, everything here has internal linkage and the file
// includes nothing that defines inline functions a baseline translation unit could share.
#if defined(__x86_64__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12's own avx512fintrin.h idioms
#include <immintrin.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/isa.h"

namespace hearth::cpu {
namespace {

#define HEARTH_INLINE inline __attribute__((always_inline))
#define HEARTH_INLINE_LAMBDA __attribute__((always_inline))
// Every loop over tokens, lanes, chunks and sub-blocks below is unrolled (#pragma GCC unroll):
// left as loops, GCC kept the weight vectors and integer sums in memory (a load and a store
// around each vpdpbusd; the Q4_K kernel ran ~40% slower).

HEARTH_INLINE __m512i load512(const void* p) { return _mm512_loadu_si512(p); }

HEARTH_INLINE int32_t load_i32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

HEARTH_INLINE float load_f32(const void* p) {
  float v;
  std::memcpy(&v, p, 4);
  return v;
}

// Up to this many tokens share each decoded block of 16 rows (one accumulator each: 8 weight
// vectors + 8 accumulators + temporaries fit the 32 registers).
constexpr int kTileTokens = 8;
// Tokens per pass over a thread's rows: their converted activations stay in L2 while the
// rows stream through.
constexpr int64_t kTokenChunk = 64;
// How far ahead the weight stream is prefetched.
constexpr int64_t kPrefetchBytes = 2048;

// ---- 32-element types: the 8 vectors of 16 rows x 4 unsigned quants of block i ---------------

// One block of a packed activation row (packed.h): f32 scale, i32 -offset * (sum of the block's
// quants), 8 x i32 -offset * (sum of each lane's 4 quants), 32 i8 quants.
// For Q8_1 (the _1 types, offset 0) the block's f32 s takes the first correction's place.
constexpr int64_t kAct32Bytes = 72, kAct32BlockCorr = 4, kAct32S = 4, kAct32LaneCorr = 8, kAct32Quants = 40;

// The 16 rows' exact dot products of 32 unsigned weights (u[j]: 4 per row, elements 4j..4j+3) with
// 32 signed activations at aq: two chains of 4 vpdpbusd, so that their latency overlaps even for
// one token.
HEARTH_INLINE __m512i dot32(const __m512i u[8], const uint8_t* aq) {
  __m512i s0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u[0], _mm512_set1_epi32(load_i32(aq)));
  __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u[1], _mm512_set1_epi32(load_i32(aq + 4)));
  #pragma GCC unroll 8
  for (int j = 2; j < 8; j += 2) {
    s0 = _mm512_dpbusd_epi32(s0, u[j], _mm512_set1_epi32(load_i32(aq + 4 * j)));
    s1 = _mm512_dpbusd_epi32(s1, u[j + 1], _mm512_set1_epi32(load_i32(aq + 4 * j + 4)));
  }
  return _mm512_add_epi32(s0, s1);
}

// The 16 rows' f16 block scales, widened.
HEARTH_INLINE __m512 f16_scales(const uint8_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

struct Q8_0Packed {
  static constexpr int64_t kQuantBytes = 512, kMaskBytes = 0, kScaleBytes = 2;
  HEARTH_INLINE static __m512 scales(const uint8_t* p) { return f16_scales(p); }
  static constexpr bool kLanes = true;      // ggml's 8-lane order (tile_block32_lanes)
  static constexpr bool kMins = false;
  HEARTH_INLINE static void unpack(const uint8_t* q, const uint8_t*, __m512i u[8]) {
    #pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) u[j] = load512(q + 64 * j);
  }
};

struct Q4_0Packed {
  static constexpr int64_t kQuantBytes = 256, kMaskBytes = 0, kScaleBytes = 2;
  HEARTH_INLINE static __m512 scales(const uint8_t* p) { return f16_scales(p); }
  static constexpr bool kLanes = false, kMins = false;
  static constexpr bool kFusedSum = true;   // fma per block (llama.cpp's repacked Q4_0)
  HEARTH_INLINE static void unpack(const uint8_t* q, const uint8_t*, __m512i u[8]) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    #pragma GCC unroll 8
    for (int j = 0; j < 4; ++j) {
      const __m512i v = load512(q + 64 * j);
      u[j] = _mm512_and_si512(v, low4);
      u[j + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
    }
  }
};

struct Q5_0Packed {
  static constexpr int64_t kQuantBytes = 256, kMaskBytes = 64, kScaleBytes = 2;
  HEARTH_INLINE static __m512 scales(const uint8_t* p) { return f16_scales(p); }
  // ggml's 8-lane order, as llama.cpp sums Q5_0 on x86 in tinyBLAS and in vec_dot alike (and as
  // ref and the unpacked tile do).
  static constexpr bool kLanes = true;
  static constexpr bool kMins = false;
  HEARTH_INLINE static void unpack(const uint8_t* q, const uint8_t* masks, __m512i u[8]) {
    Q4_0Packed::unpack(q, nullptr, u);
    const __m512i sixteen = _mm512_set1_epi8(0x10);
    #pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      uint64_t m;
      std::memcpy(&m, masks + 8 * j, 8);
      u[j] = _mm512_mask_add_epi8(u[j], _cvtu64_mask64(m), u[j], sixteen);
    }
  }
};

// Q4_1 and Q5_1: Q4_0's and Q5_0's quants, unsigned as they are (offset 0), and per row and block
// f16 d then f16 m (4 bytes). ggml's 8-lane order plus the mins' chain (tile_block32_lanes).
// The 16 rows' (d, m) pairs as 16 u32: d the low halves, m the high.
HEARTH_INLINE __m512 low_halves(const uint8_t* p) { return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(load512(p))); }
HEARTH_INLINE __m512 high_halves(const uint8_t* p) {
  return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(load512(p), 16)));
}
struct Q4_1Packed {
  static constexpr int64_t kQuantBytes = 256, kMaskBytes = 0, kScaleBytes = 4;
  static constexpr bool kLanes = true, kMins = true;
  HEARTH_INLINE static __m512 scales(const uint8_t* p) { return low_halves(p); }
  HEARTH_INLINE static __m512 mins(const uint8_t* p) { return high_halves(p); }
  HEARTH_INLINE static void unpack(const uint8_t* q, const uint8_t*, __m512i u[8]) { Q4_0Packed::unpack(q, nullptr, u); }
};
struct Q5_1Packed {
  static constexpr int64_t kQuantBytes = 256, kMaskBytes = 64, kScaleBytes = 4;
  static constexpr bool kLanes = true, kMins = true;
  HEARTH_INLINE static __m512 scales(const uint8_t* p) { return low_halves(p); }
  HEARTH_INLINE static __m512 mins(const uint8_t* p) { return high_halves(p); }
  HEARTH_INLINE static void unpack(const uint8_t* q, const uint8_t* masks, __m512i u[8]) { Q5_0Packed::unpack(q, masks, u); }
};

// IQ4_NL and MXFP4: Q4_0's nibble layout, each nibble an index into 16 signed levels, looked up
// plus their offset (isa.h's unsigned tables; packed.cpp's Block32Format carries the same
// offsets for the activation side). The per-block sum then enters as ref's chain:
// acc + (wd * ad) * float(dot).
template <const uint8_t* kLevels>
HEARTH_INLINE void unpack_levels(const uint8_t* q, __m512i u[8]) {
  const __m512i lut = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(kLevels)));
  Q4_0Packed::unpack(q, nullptr, u);
  #pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) u[j] = _mm512_shuffle_epi8(lut, u[j]);
}

struct IQ4_NLPacked {
  static constexpr int64_t kQuantBytes = 256, kMaskBytes = 0, kScaleBytes = 2;
  static constexpr bool kLanes = false, kMins = false;
  static constexpr bool kFusedSum = false;
  HEARTH_INLINE static __m512 scales(const uint8_t* p) { return f16_scales(p); }
  HEARTH_INLINE static void unpack(const uint8_t* q, const uint8_t*, __m512i u[8]) { unpack_levels<kIQ4NLUnsigned>(q, u); }
};

struct MXFP4Packed {
  static constexpr int64_t kQuantBytes = 256, kMaskBytes = 0, kScaleBytes = 1;
  static constexpr bool kLanes = false, kMins = false;
  static constexpr bool kFusedSum = false;
  // 16 E8M0 exponents e -> 2^(e - 128) as f32: bits (e - 1) << 23, and for e < 2 the
  // subnormals 0x00200000 << e (quant::e8m0_to_fp32_half).
  HEARTH_INLINE static __m512 scales(const uint8_t* p) {
    const __m512i e = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    const __m512i normal = _mm512_slli_epi32(_mm512_sub_epi32(e, _mm512_set1_epi32(1)), 23);
    const __m512i tiny = _mm512_sllv_epi32(_mm512_set1_epi32(0x00200000), e);
    const __mmask16 small = _mm512_cmplt_epu32_mask(e, _mm512_set1_epi32(2));
    return _mm512_castsi512_ps(_mm512_mask_blend_epi32(small, normal, tiny));
  }
  HEARTH_INLINE static void unpack(const uint8_t* q, const uint8_t*, __m512i u[8]) { unpack_levels<kMXFP4Unsigned>(q, u); }
};

// A type of ggml's lanes (Q8_0, Q5_0, Q4_1, Q5_1) summed in ref::KSums::kBlocks' order instead: each
// block's exact integer sum enters one chain by acc = fma(float(dot), wd * ad, acc), as Q4_0 does.
template <typename W>
struct Blocks : W {
  static constexpr bool kLanes = false;
  static constexpr bool kFusedSum = true;
};

// Block i of a group (packed.h's layout): its 8 vectors of unsigned quants, prefetching ahead,
// and the 16 rows' scales widened.
template <typename W>
HEARTH_INLINE __m512 load_block32(const uint8_t* group, int64_t nb, int64_t i, __m512i u[8]) {
  const Block32Place at = block32_place(nb, i, W::kScaleBytes, W::kQuantBytes, W::kMaskBytes);
  const uint8_t* q = group + at.quants;
  for (int64_t off = 0; off < W::kQuantBytes; off += 64)
    _mm_prefetch(reinterpret_cast<const char*>(q) + kPrefetchBytes + off, _MM_HINT_T0);
  W::unpack(q, group + at.masks, u);
  return W::scales(group + at.scales);
}

// The _1 types' second term in ggml's lanes order: the sum over blocks of m * s (exact products of
// two f16s) in its own chain, added to out[t] after the lanes' tree. A pass of its
// own: kept in the blocks' loop, its accumulators would not fit the registers beside the lanes'.
// The group's scales are still in cache.
template <typename W, int NT>
HEARTH_INLINE void add_mins(const uint8_t* group, int64_t nb, const uint8_t* const* act, float out[][kPackRows]) {
  __m512 mins[NT];
  #pragma GCC unroll 16
  for (int t = 0; t < NT; ++t) mins[t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const Block32Place at = block32_place(nb, i, W::kScaleBytes, W::kQuantBytes, W::kMaskBytes);
    const __m512 wm = W::mins(group + at.scales);
    #pragma GCC unroll 16
    for (int t = 0; t < NT; ++t)
      mins[t] = _mm512_add_ps(mins[t], _mm512_mul_ps(wm, _mm512_set1_ps(load_f32(act[t] + i * kAct32Bytes + kAct32S))));
  }
  #pragma GCC unroll 16
  for (int t = 0; t < NT; ++t) _mm512_storeu_ps(out[t], _mm512_add_ps(_mm512_loadu_ps(out[t]), mins[t]));
}

// NT tokens x the 16 rows of one group, over all nb blocks: out[t][r]. Each block's integer
// dot product is exact, then Q4_0: acc = fma(float(dot), wd * ad, acc), the order of llama.cpp's
// repacked Q4_0 kernels; IQ4_NL, MXFP4: acc + (wd * ad) * float(dot), ref::vec_dot's order.
template <typename W, int NT>
HEARTH_INLINE void tile_block32(const uint8_t* group, int64_t nb, const uint8_t* const* act,
                                float out[][kPackRows]) {
  __m512 acc[NT];
  #pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    __m512i u[8];
    const __m512 wd = load_block32<W>(group, nb, i, u);
    __m512 wm;
    if constexpr (W::kMins)
      wm = W::mins(group + block32_place(nb, i, W::kScaleBytes, W::kQuantBytes, W::kMaskBytes).scales);
    #pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) {
      const uint8_t* a = act[t] + i * kAct32Bytes;
      const uint8_t* aq = a + kAct32Quants;
      // sum q*a = sum u*a - offset * sum a, exact in i32 (the _1 types: offset 0, and the
      // correction's place holds the block's s).
      __m512i dot = dot32(u, aq);
      if constexpr (!W::kMins) dot = _mm512_add_epi32(dot, _mm512_set1_epi32(load_i32(a + kAct32BlockCorr)));
      const __m512 d = _mm512_mul_ps(wd, _mm512_set1_ps(load_f32(a)));
      if constexpr (W::kFusedSum)
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), d, acc[t]);
      else
        acc[t] = _mm512_add_ps(acc[t], _mm512_mul_ps(d, _mm512_cvtepi32_ps(dot)));
      // The _1 types in kBlocks' order: m * s (exact) into the same chain, after the block.
      if constexpr (W::kMins) acc[t] = _mm512_fmadd_ps(wm, _mm512_set1_ps(load_f32(a + kAct32S)), acc[t]);
    }
  }
  #pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) _mm512_storeu_ps(out[t], acc[t]);
}

// The same product in ggml's x86 order for Q8_0 (ref::vec_dot's Lanes8) and Q5_0: lane j of
// a (row, token) is the exact sum over elements 4j..4j+3 of each block, one FMA per lane and
// block, then hsum_float_8's tree. The packed vector j holds exactly lane j of 16 rows, so the
// lanes stay apart in 8 accumulators per token and the tree runs once at the end: the same bits
// as llama.cpp, at three vector operations per 4 x 16 weights.
template <typename W, int NT>
HEARTH_INLINE void tile_block32_lanes(const uint8_t* group, int64_t nb, const uint8_t* const* act,
                                      float out[][kPackRows]) {
  __m512 acc[NT][8];
  #pragma GCC unroll 8
  for (int t = 0; t < NT; ++t)
    #pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) acc[t][j] = _mm512_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    __m512i u[8];
    const __m512 wd = load_block32<W>(group, nb, i, u);
    #pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) {
      const uint8_t* a = act[t] + i * kAct32Bytes;
      const uint8_t* aq = a + kAct32Quants;
      const __m512 d = _mm512_mul_ps(wd, _mm512_set1_ps(load_f32(a)));
      #pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) {
        // Start at -offset * (the lane's 4 activations' sum): the lane's exact q*a sum.
        const __m512i lane = _mm512_dpbusd_epi32(_mm512_set1_epi32(load_i32(a + kAct32LaneCorr + 4 * j)), u[j],
                                                 _mm512_set1_epi32(load_i32(aq + 4 * j)));
        acc[t][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(lane), d, acc[t][j]);
      }
    }
  }
  #pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) {
    const __m512 a = _mm512_add_ps(_mm512_add_ps(acc[t][4], acc[t][0]), _mm512_add_ps(acc[t][6], acc[t][2]));
    const __m512 b = _mm512_add_ps(_mm512_add_ps(acc[t][5], acc[t][1]), _mm512_add_ps(acc[t][7], acc[t][3]));
    _mm512_storeu_ps(out[t], _mm512_add_ps(a, b));
  }
  if constexpr (W::kMins) add_mins<W, NT>(group, nb, act, out);
}

// ---- K types against ref's Q8_K activation rows (d f32, 256 i8 quants, 16 i16 sums of 16) ----

constexpr int64_t kQ8_KBytes = 292, kQ8_KQuants = 4, kQ8_KBsums = 260;

// Sub-block s (32 elements) of super-block i for NT tokens, 16 rows at a time: isum += sc * (the
// rows' dot of u with the token's activations), msum += pairs (two i16 copies of a per-row
// factor) times the activations' two sums of 16. Exact in i32.
template <int NT>
HEARTH_INLINE void sub_block_sums(const __m512i u[8], __m512i sc, __m512i pairs, const uint8_t* const* act,
                                  int64_t i, int s, __m512i* isum, __m512i* msum) {
  #pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) {
    const uint8_t* ablock = act[t] + i * kQ8_KBytes;
    isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(dot32(u, ablock + kQ8_KQuants + 32 * s), sc));
    msum[t] = _mm512_dpwssd_epi32(msum[t], pairs, _mm512_set1_epi32(load_i32(ablock + kQ8_KBsums + 4 * s)));
  }
}

// Q4_K: per sub-block s, the exact sum of scale * dot over 16 rows; the mins
// against the activation's sums of 32 (vpdpwssd of (min, min) with two sums of 16); then ref's
// f32 accumulation acc = fma(isum, wd*ad, acc), min_acc = fma(msum, wdmin*ad, min_acc) per pair
// of sub-blocks, lane by lane, subtracted at the end: ref's bits.
// kSuper: the pairs' sums enter the float accumulators once per super-block instead
// (ref::KSums::kSuperBlocks, llama.cpp's Q4_K GEMV order).
template <int NT, bool kSuper = false>
HEARTH_INLINE void tile_q4_k(const uint8_t* group, int64_t nb, const uint8_t* const* act,
                              float out[][kPackRows]) {
  constexpr int64_t kBytes = 2368;
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  __m512 acc[NT], min_acc[NT];
  #pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) acc[t] = min_acc[t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* b = group + i * kBytes;
    const __m512 wd = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)));
    const __m512 wdmin = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 32)));
    __m512i isum[NT], msum[NT];
    #pragma GCC unroll 8
    for (int s = 0; s < 8; ++s) {
      if (s == 0 || (!kSuper && s % 2 == 0)) {
        #pragma GCC unroll 8
        for (int t = 0; t < NT; ++t) isum[t] = msum[t] = _mm512_setzero_si512();
      }
      const uint8_t* q = b + 320 + 512 * (s / 2);
      for (int64_t off = 0; off < 512; off += 128)
        _mm_prefetch(reinterpret_cast<const char*>(q) + kPrefetchBytes + off, _MM_HINT_T0);
      __m512i u[8];
      #pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) {
        const __m512i raw = load512(q + 64 * j);
        u[j] = _mm512_and_si512(s % 2 ? _mm512_srli_epi16(raw, 4) : raw, low4);
      }
      const __m512i sc = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 64 + 16 * s)));
      __m512i mn = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 192 + 16 * s)));
      mn = _mm512_or_si512(mn, _mm512_slli_epi32(mn, 16));  // (min, min) as two i16
      sub_block_sums<NT>(u, sc, mn, act, i, s, isum, msum);
      if (kSuper ? s == 7 : s % 2 == 1) {  // a pair (super-block) done: into the float accumulators
        #pragma GCC unroll 8
        for (int t = 0; t < NT; ++t) {
          const __m512 ad = _mm512_set1_ps(load_f32(act[t] + i * kQ8_KBytes));
          acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(wd, ad), acc[t]);
          min_acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(msum[t]), _mm512_mul_ps(wdmin, ad), min_acc[t]);
        }
      }
    }
  }
  #pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) _mm512_storeu_ps(out[t], _mm512_sub_ps(acc[t], min_acc[t]));
}

// IQ4_XS: per sub-block s, u = level + 127 (the 16 levels looked up unsigned), the exact sum of
// (ls - 32) * dot over 16 rows; the offset's share, 127 * (ls - 32) * (the activations' sum of
// 32), by vpdpwssd of two i16 copies of it with the two sums of 16 (|127 * 32| < 2^15); one
// fused multiply-add per super-block, sum = fma(isum, wd * ad, sum): ref's bits (llama.cpp's IQ
// panel order). Every integer is exact in i32 (|isum| < 8 * 32 * 241 * 127 * 32).
template <int NT>
HEARTH_INLINE void tile_iq4_xs(const uint8_t* group, int64_t nb, const uint8_t* const* act,
                               float out[][kPackRows]) {
  constexpr int64_t kBytes = 2240;
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i lut = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(kIQ4NLUnsigned)));
  __m512 acc[NT];
  #pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* b = group + i * kBytes;
    const __m512 wd = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)));
    __m512i isum[NT], osum[NT];
    #pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) isum[t] = osum[t] = _mm512_setzero_si512();
    #pragma GCC unroll 8
    for (int s = 0; s < 8; ++s) {
      const uint8_t* q = b + 192 + 256 * s;
      for (int64_t off = 0; off < 256; off += 128)
        _mm_prefetch(reinterpret_cast<const char*>(q) + kPrefetchBytes + off, _MM_HINT_T0);
      __m512i u[8];  // u[j]: elements 4j.. of the sub-block (j < 4 low nibbles, then 16 + 4(j - 4)..)
      #pragma GCC unroll 8
      for (int j = 0; j < 4; ++j) {
        const __m512i raw = load512(q + 64 * j);
        u[j] = _mm512_shuffle_epi8(lut, _mm512_and_si512(raw, low4));
        u[j + 4] = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(raw, 4), low4));
      }
      const __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 32 + 16 * s)));
      __m512i off = _mm512_mullo_epi32(sc, _mm512_set1_epi32(kIQ4NLOffset));
      off = _mm512_or_si512(_mm512_and_si512(off, _mm512_set1_epi32(0xFFFF)), _mm512_slli_epi32(off, 16));
      sub_block_sums<NT>(u, sc, off, act, i, s, isum, osum);
    }
    #pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) {
      const __m512 ad = _mm512_set1_ps(load_f32(act[t] + i * kQ8_KBytes));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(isum[t], osum[t])), _mm512_mul_ps(wd, ad), acc[t]);
    }
  }
  #pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) _mm512_storeu_ps(out[t], acc[t]);
}

// ---- the group x token loop ------------------------------------------------------------------

// What gemm_packed needs of a type: the widest token tile that fits the registers, and the tile.
template <typename W>
struct Block32Kernel {
  // The lane order keeps 8 accumulators per token: 3 tokens (24) and the 8 weight vectors fill
  // the 32 registers. At 8 tokens, as the other types, GCC spilled the accumulators around every
  // FMA: Q8_0 qwen3.5-0.8b pp512 went from ~170 to ~240 t/s (2 threads, Zen 4) at 3.
  static constexpr int kMaxTokens = W::kLanes ? 3 : 8;
  template <int NT>
  HEARTH_INLINE static void run(const uint8_t* g, int64_t k, const uint8_t* const* a, float o[][kPackRows]) {
    if constexpr (W::kLanes)
      tile_block32_lanes<W, NT>(g, k / 32, a, o);
    else
      tile_block32<W, NT>(g, k / 32, a, o);
  }
};
template <bool kSuper = false>
struct Q4KKernel {
  static constexpr int kMaxTokens = 6;
  template <int NT>
  HEARTH_INLINE static void run(const uint8_t* g, int64_t k, const uint8_t* const* a, float o[][kPackRows]) {
    tile_q4_k<NT, kSuper>(g, k / 256, a, o);
  }
};

struct IQ4XSKernel {
  static constexpr int kMaxTokens = 6;
  template <int NT>
  HEARTH_INLINE static void run(const uint8_t* g, int64_t k, const uint8_t* const* a, float o[][kPackRows]) {
    tile_iq4_xs<NT>(g, k / 256, a, o);
  }
};

// Tokens [t0, t1) x the rows of group grp, K::kMaxTokens at a time, into y.
template <typename K>
HEARTH_INLINE void run_tokens(const PackedGemmArgs& g, int64_t grp, int64_t t0, int64_t t1) {
  constexpr int kMax = K::kMaxTokens;
  alignas(64) float out[kTileTokens][kPackRows];
  const uint8_t* group = g.w + static_cast<uint64_t>(grp) * g.group_bytes;
  const int64_t row0 = grp * kPackRows;
  const int nr = g.rows - row0 < kPackRows ? static_cast<int>(g.rows - row0) : kPackRows;
  const __mmask16 rows_mask = static_cast<__mmask16>((1u << nr) - 1u);
  for (; t0 < t1; t0 += kMax) {
    const int nt = t1 - t0 < kMax ? static_cast<int>(t1 - t0) : kMax;
    const uint8_t* act[kTileTokens];
    #pragma GCC unroll 8
    for (int t = 0; t < nt; ++t) act[t] = g.act + static_cast<uint64_t>(t0 + t) * g.act_row_bytes;
    switch (nt) {
      case 1: if constexpr (kMax >= 1) K::template run<1>(group, g.k, act, out); break;
      case 2: if constexpr (kMax >= 2) K::template run<2>(group, g.k, act, out); break;
      case 3: if constexpr (kMax >= 3) K::template run<3>(group, g.k, act, out); break;
      case 4: if constexpr (kMax >= 4) K::template run<4>(group, g.k, act, out); break;
      case 5: if constexpr (kMax >= 5) K::template run<5>(group, g.k, act, out); break;
      case 6: if constexpr (kMax >= 6) K::template run<6>(group, g.k, act, out); break;
      case 7: if constexpr (kMax >= 7) K::template run<7>(group, g.k, act, out); break;
      default: if constexpr (kMax >= 8) K::template run<8>(group, g.k, act, out); break;
    }
    #pragma GCC unroll 8
    for (int t = 0; t < nt; ++t)
      _mm512_mask_storeu_ps(g.y + (t0 + t) * g.ldy + row0, rows_mask, _mm512_load_ps(out[t]));
  }
}

template <typename K>
void gemm_packed(const PackedGemmArgs& g, int64_t g0, int64_t g1) {
  for (int64_t c0 = 0; c0 < g.n_tokens; c0 += kTokenChunk) {
    const int64_t c1 = c0 + kTokenChunk < g.n_tokens ? c0 + kTokenChunk : g.n_tokens;
    for (int64_t grp = g0; grp < g1; ++grp) run_tokens<K>(g, grp, c0, c1);
  }
}

// ---- AMX: batches in kBlocks' order, 16 tokens x 16 rows x one block per tile product ---------
//
// Why: in ref::KSums::kBlocks' order a (row, token) takes one exact integer sum per block, which
// is what one AMX tile product gives for 16 x 16 of them: TDPBSUD multiplies 16 tokens' 32 signed
// activations (tile A, read in place from the activation rows) by the 16 rows' 32 unsigned quants
// (tile B: the packed layout's 8 vectors of a block, which are AMX's B layout as they lie), 8192
// products per instruction against vpdpbusd's 64. The f32 chain is then tile_block32's
// (kFusedSum), token by token, so a token's bits do not depend on whether its batch took this
// path: the last tokens of a batch that fill no tile take the VNNI tile.
// Tiles: 0-3 the sums of four blocks, 4, 5 activations, 6, 7 weights.
struct alignas(64) AmxConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {64, 64, 64, 64, 32, 32, 64, 64};
  uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 8, 8};
};
constexpr int kAmxTokens = 16;
// Blocks of a group whose unpacked quants (types other than Q8_0) are staged at a time: 32 KiB.
constexpr int64_t kAmxStageBlocks = 64;

// The activations of one 16-token tile as gemm_amx stages them, per block (kAmxBlockBytes):
// [16 tokens][32] i8 quants (tile A, rows 32 bytes apart), [16] f32 scales, [16] i32 corrections
// (-offset * the block's sum; the _1 types: their f32 s). Read in place from the activation rows, tile A's 16 rows lay in 16
// rows a whole activation row apart, and loading it stalled the tile products (perf annotate).
constexpr int64_t kAmxBlockBytes = 640, kAmxScales = 512, kAmxCorr = 576;

// One block's tile sums c (c[t][r]: token t, row r) into the 16 tokens' chains: tile_block32's
// sequence.
template <typename W>
HEARTH_INLINE void amx_chain(const int32_t (*c)[kPackRows], __m512 wd, __m512 wm, const uint8_t* staged,
                             __m512 acc[kAmxTokens]) {
  #pragma GCC unroll 16
  for (int t = 0; t < kAmxTokens; ++t) {
    __m512i dot = _mm512_load_si512(c[t]);
    if constexpr (!W::kMins) dot = _mm512_add_epi32(dot, _mm512_set1_epi32(load_i32(staged + kAmxCorr + 4 * t)));
    const __m512 d = _mm512_mul_ps(wd, _mm512_set1_ps(load_f32(staged + kAmxScales + 4 * t)));
    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), d, acc[t]);
    if constexpr (W::kMins) acc[t] = _mm512_fmadd_ps(wm, _mm512_set1_ps(load_f32(staged + kAmxCorr + 4 * t)), acc[t]);
  }
}

// Blocks [i0, i1) of a group for the 16 tokens staged at `staged`, into acc. quants(i): block i's
// 8 x 64 unsigned quant bytes. Four blocks per step: the four products are issued before the
// first sums are stored, so a tile product's latency overlaps the f32 chain of the blocks before
// it (storing each sum right after its product stalled on it).
template <typename W, typename Quants>
HEARTH_INLINE void amx_tile(const uint8_t* group, int64_t nb, int64_t i0, int64_t i1, Quants quants,
                            const uint8_t* staged, __m512 acc[kAmxTokens]) {
  alignas(64) int32_t c[4][kAmxTokens][kPackRows];
  const auto chain = [&](int j, int64_t i) HEARTH_INLINE_LAMBDA {
    const uint8_t* sc = group + block32_place(nb, i, W::kScaleBytes, W::kQuantBytes, W::kMaskBytes).scales;
    __m512 wm = _mm512_setzero_ps();
    if constexpr (W::kMins) wm = W::mins(sc);
    amx_chain<W>(c[j], W::scales(sc), wm, staged + i * kAmxBlockBytes, acc);
  };
  int64_t i = i0;
  for (; i + 3 < i1; i += 4) {
    _tile_zero(0);
    _tile_loadd(4, staged + i * kAmxBlockBytes, 32);
    _tile_loadd(6, quants(i), 64);
    _tile_dpbsud(0, 4, 6);
    _tile_zero(1);
    _tile_loadd(5, staged + (i + 1) * kAmxBlockBytes, 32);
    _tile_loadd(7, quants(i + 1), 64);
    _tile_dpbsud(1, 5, 7);
    _tile_zero(2);
    _tile_loadd(4, staged + (i + 2) * kAmxBlockBytes, 32);
    _tile_loadd(6, quants(i + 2), 64);
    _tile_dpbsud(2, 4, 6);
    _tile_zero(3);
    _tile_loadd(5, staged + (i + 3) * kAmxBlockBytes, 32);
    _tile_loadd(7, quants(i + 3), 64);
    _tile_dpbsud(3, 5, 7);
    _tile_stored(0, c[0], 64);
    chain(0, i);
    _tile_stored(1, c[1], 64);
    chain(1, i + 1);
    _tile_stored(2, c[2], 64);
    chain(2, i + 2);
    _tile_stored(3, c[3], 64);
    chain(3, i + 3);
  }
  for (; i < i1; ++i) {
    _tile_zero(0);
    _tile_loadd(4, staged + i * kAmxBlockBytes, 32);
    _tile_loadd(6, quants(i), 64);
    _tile_dpbsud(0, 4, 6);
    _tile_stored(0, c[0], 64);
    chain(0, i);
  }
}

// A thread's staging memory for gemm_amx, kept between calls and freed when the thread ends.
struct AmxStage {
  uint8_t* data = nullptr;
  uint64_t bytes = 0;
  AmxStage() = default;
  AmxStage(const AmxStage&) = delete;
  AmxStage& operator=(const AmxStage&) = delete;
  ~AmxStage() { std::free(data); }
  // nullptr when the memory cannot be had (the caller then takes the VNNI tile).
  uint8_t* get(uint64_t want) {
    if (want > bytes) {
      std::free(data);
      bytes = (want + 63) / 64 * 64;
      data = static_cast<uint8_t*>(std::aligned_alloc(64, bytes));
      if (data == nullptr) bytes = 0;
    }
    return data;
  }
};
thread_local AmxStage t_amx_stage;

template <typename W>
void gemm_amx(const PackedGemmArgs& g, int64_t g0, int64_t g1) {
  const int64_t nb = g.k / 32;
  constexpr int kMaxTiles = kTokenChunk / kAmxTokens;
  uint8_t* const staged =
      g.n_tokens >= kAmxTokens ? t_amx_stage.get(static_cast<uint64_t>(kMaxTiles * nb * kAmxBlockBytes)) : nullptr;
  // Under a tile of tokens (decode) the tiles are not touched: no configuration, no state to save.
  if (staged == nullptr) return gemm_packed<Block32Kernel<W>>(g, g0, g1);
  static constexpr AmxConfig kConfig{};
  _tile_loadconfig(&kConfig);
  // Q8_0's packed quants are tile B as they lie; the nibble types unpack a stage of blocks first.
  constexpr bool kStage = W::kQuantBytes != 512;
  const int64_t stage_blocks = kStage ? kAmxStageBlocks : nb;
  alignas(64) uint8_t stage[kStage ? kAmxStageBlocks * 512 : 64];
  // Each 16-token tile's chains between stages (kept exactly: a store and a load do not round).
  alignas(64) float chains[kMaxTiles][kAmxTokens][kPackRows];
  for (int64_t c0 = 0; c0 < g.n_tokens; c0 += kTokenChunk) {
    const int64_t c1 = c0 + kTokenChunk < g.n_tokens ? c0 + kTokenChunk : g.n_tokens;
    const int n_tiles = static_cast<int>((c1 - c0) / kAmxTokens);
    for (int tile = 0; tile < n_tiles; ++tile)
      for (int t = 0; t < kAmxTokens; ++t) {
        const uint8_t* a = g.act + static_cast<uint64_t>(c0 + tile * kAmxTokens + t) * g.act_row_bytes;
        uint8_t* st = staged + static_cast<uint64_t>(tile * nb) * kAmxBlockBytes;
        for (int64_t i = 0; i < nb; ++i, a += kAct32Bytes, st += kAmxBlockBytes) {
          std::memcpy(st + 32 * t, a + kAct32Quants, 32);
          std::memcpy(st + kAmxScales + 4 * t, a, 4);
          std::memcpy(st + kAmxCorr + 4 * t, a + kAct32BlockCorr, 4);
        }
      }
    for (int64_t grp = g0; grp < g1; ++grp) {
      const uint8_t* group = g.w + static_cast<uint64_t>(grp) * g.group_bytes;
      for (int64_t i0 = 0; i0 < nb && n_tiles > 0; i0 += stage_blocks) {
        const int64_t i1 = nb - i0 < stage_blocks ? nb : i0 + stage_blocks;
        if constexpr (kStage) {
          for (int64_t i = i0; i < i1; ++i) {
            const Block32Place at = block32_place(nb, i, W::kScaleBytes, W::kQuantBytes, W::kMaskBytes);
            __m512i u[8];
            W::unpack(group + at.quants, group + at.masks, u);
            #pragma GCC unroll 8
            for (int j = 0; j < 8; ++j) _mm512_store_si512(stage + (i - i0) * 512 + 64 * j, u[j]);
          }
        }
        const auto quants = [&](int64_t i) HEARTH_INLINE_LAMBDA -> const uint8_t* {
          if constexpr (kStage) return stage + (i - i0) * 512;
          return group + block32_place(nb, i, W::kScaleBytes, W::kQuantBytes, W::kMaskBytes).quants;
        };
        for (int tile = 0; tile < n_tiles; ++tile) {
          __m512 acc[kAmxTokens];
          #pragma GCC unroll 16
          for (int t = 0; t < kAmxTokens; ++t)
            acc[t] = i0 == 0 ? _mm512_setzero_ps() : _mm512_load_ps(chains[tile][t]);
          amx_tile<W>(group, nb, i0, i1, quants, staged + static_cast<uint64_t>(tile * nb) * kAmxBlockBytes, acc);
          #pragma GCC unroll 16
          for (int t = 0; t < kAmxTokens; ++t) _mm512_store_ps(chains[tile][t], acc[t]);
        }
      }
      const int64_t row0 = grp * kPackRows;
      const int nr = g.rows - row0 < kPackRows ? static_cast<int>(g.rows - row0) : kPackRows;
      const __mmask16 rows_mask = static_cast<__mmask16>((1u << nr) - 1u);
      for (int tile = 0; tile < n_tiles; ++tile) {
        const int64_t t0 = c0 + tile * kAmxTokens;
        for (int t = 0; t < kAmxTokens; ++t)
          _mm512_mask_storeu_ps(g.y + (t0 + t) * g.ldy + row0, rows_mask, _mm512_load_ps(chains[tile][t]));
      }
      run_tokens<Block32Kernel<W>>(g, grp, c0 + n_tiles * kAmxTokens, c1);
    }
  }
  _tile_release();
}

// ---- F16 / BF16: the 16 rows' values at each k, widened; one f32 FMA chain per (row, token) ----
//
// Why not the unpacked tile (x86_kernels.inc's TileHalf, lanes along k): it widens every weight
// vector once per 4 tokens, and on this core the widening takes the FMA ports (vcvtph2ps zmm is
// two p0/p5 uops), so a third of the port time went to conversion (perf annotate). Here the lanes
// are rows and the activations are broadcast from memory by the FMA itself, so one widened
// vector serves kHalfTileTokens tokens.

struct F16Half {
  HEARTH_INLINE static __m512 widen(const uint8_t* p) {
    return _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(p)));
  }
};
struct BF16Half {
  HEARTH_INLINE static __m512 widen(const uint8_t* p) {
    const __m256i h = _mm256_load_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
};

// R groups (16R rows) x NT tokens over all k: y[t][row] for the real rows. `a` is the token
// tile's activations, [k][kHalfTileTokens] f32. Per (row, token): s = fma(w_j, a_j, s) for
// j = 0, 1, ..., k-1 from s = 0.
template <typename W, int R, int NT>
void tile_half(const uint8_t* w, uint64_t group_bytes, int64_t k, const float* a, float* y,
               int64_t ldy, int64_t real_rows) {
  __m512 acc[R][NT];
  #pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 16
    for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_setzero_ps();
  const auto step = [&](int64_t j) HEARTH_INLINE_LAMBDA {
    __m512 wv[R];
    #pragma GCC unroll 4
    for (int r = 0; r < R; ++r) wv[r] = W::widen(w + r * group_bytes + 32 * j);
    #pragma GCC unroll 16
    for (int t = 0; t < NT; ++t) {
      const __m512 b = _mm512_set1_ps(a[j * kHalfTileTokens + t]);
      #pragma GCC unroll 4
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], b, acc[r][t]);
    }
  };
  int64_t j = 0;
  for (; j + 2 <= k; j += 2) {  // two steps per 64-byte line of each group
    #pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
      _mm_prefetch(reinterpret_cast<const char*>(w + r * group_bytes + 32 * j) + kPrefetchBytes, _MM_HINT_T0);
    step(j);
    step(j + 1);
  }
  if (j < k) step(j);
  #pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    const int64_t left = real_rows - r * kPackRows;
    if (left <= 0) break;
    const __mmask16 mask = left >= kPackRows ? static_cast<__mmask16>(0xFFFF)
                                             : static_cast<__mmask16>((1u << left) - 1u);
    #pragma GCC unroll 16
    for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(y + t * ldy + r * kPackRows, mask, acc[r][t]);
  }
}

// tile_half with the token count as a template argument.
template <typename W, int R, int NT = 1>
void run_half(int nt, const uint8_t* w, uint64_t group_bytes, int64_t k, const float* a, float* y,
              int64_t ldy, int64_t real_rows) {
  if constexpr (NT < kHalfTileTokens) {
    if (nt > NT) return run_half<W, R, NT + 1>(nt, w, group_bytes, k, a, y, ldy, real_rows);
  }
  tile_half<W, R, NT>(w, group_bytes, k, a, y, ldy, real_rows);
}

// Token tiles per pass over a thread's rows (their activations stay in L2 while the rows stream).
constexpr int64_t kHalfChunkTiles = 5;

template <typename W>
void gemm_half(const PackedGemmArgs& g, int64_t g0, int64_t g1) {
  constexpr int kGroups = 2;  // 32 rows x 12 tokens: 24 accumulators, 2 widened vectors
  const int64_t n_tiles = (g.n_tokens + kHalfTileTokens - 1) / kHalfTileTokens;
  for (int64_t c0 = 0; c0 < n_tiles; c0 += kHalfChunkTiles) {
    const int64_t c1 = c0 + kHalfChunkTiles < n_tiles ? c0 + kHalfChunkTiles : n_tiles;
    for (int64_t grp = g0; grp < g1; grp += kGroups) {
      const uint8_t* w = g.w + static_cast<uint64_t>(grp) * g.group_bytes;
      const int64_t row0 = grp * kPackRows;
      const int64_t real_rows = g.rows - row0;
      for (int64_t tile = c0; tile < c1; ++tile) {
        const int64_t t0 = tile * kHalfTileTokens;
        const int nt = static_cast<int>(g.n_tokens - t0 < kHalfTileTokens ? g.n_tokens - t0 : kHalfTileTokens);
        const float* a = reinterpret_cast<const float*>(g.act + static_cast<uint64_t>(tile) * g.act_row_bytes);
        float* y = g.y + t0 * g.ldy + row0;
        if (g1 - grp >= kGroups)
          run_half<W, kGroups>(nt, w, g.group_bytes, g.k, a, y, g.ldy, real_rows);
        else
          run_half<W, 1>(nt, w, g.group_bytes, g.k, a, y, g.ldy, real_rows);
      }
    }
  }
}

#undef HEARTH_INLINE
#undef HEARTH_INLINE_LAMBDA

}  // namespace

PackedGemmFn avx512_packed_gemm(DType weight_type, ref::KSums sums, bool amx) {
  if (sums == ref::KSums::kBlocks) {
    switch (weight_type) {
      case DType::Q8_0: return amx ? gemm_amx<Blocks<Q8_0Packed>> : gemm_packed<Block32Kernel<Blocks<Q8_0Packed>>>;
      case DType::Q4_0: return amx ? gemm_amx<Q4_0Packed> : gemm_packed<Block32Kernel<Q4_0Packed>>;
      case DType::Q5_0: return amx ? gemm_amx<Blocks<Q5_0Packed>> : gemm_packed<Block32Kernel<Blocks<Q5_0Packed>>>;
      case DType::Q4_1: return amx ? gemm_amx<Blocks<Q4_1Packed>> : gemm_packed<Block32Kernel<Blocks<Q4_1Packed>>>;
      case DType::Q5_1: return amx ? gemm_amx<Blocks<Q5_1Packed>> : gemm_packed<Block32Kernel<Blocks<Q5_1Packed>>>;
      default: break;
    }
  }
  switch (weight_type) {
    case DType::Q8_0: return gemm_packed<Block32Kernel<Q8_0Packed>>;
    case DType::Q4_0: return amx ? gemm_amx<Q4_0Packed> : gemm_packed<Block32Kernel<Q4_0Packed>>;
    case DType::Q5_0: return gemm_packed<Block32Kernel<Q5_0Packed>>;
    case DType::Q4_1: return gemm_packed<Block32Kernel<Q4_1Packed>>;
    case DType::Q5_1: return gemm_packed<Block32Kernel<Q5_1Packed>>;
    case DType::IQ4_NL: return gemm_packed<Block32Kernel<IQ4_NLPacked>>;
    case DType::IQ4_XS: return gemm_packed<IQ4XSKernel>;
    case DType::MXFP4: return gemm_packed<Block32Kernel<MXFP4Packed>>;
    case DType::Q4_K:
      return sums == ref::KSums::kPairs ? gemm_packed<Q4KKernel<>> : gemm_packed<Q4KKernel<true>>;
    case DType::F16: return gemm_half<F16Half>;
    case DType::BF16: return gemm_half<BF16Half>;
    default: return nullptr;
  }
}

}  // namespace hearth::cpu
#endif
