// Packing weight matrices into the interleaved layouts of kernels/cpu/packed.h (plain C++: a
// one-time copy at load), and the packed product's driver: activation conversion, then groups of
// 16 rows split between the threads.
#include "kernels/cpu/packed.h"

#include <sys/mman.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstring>
#include <string>

#include "base/result.h"
#include "kernels/cpu/cpu_features.h"
#include "tensor/quant.h"
#include "tensor/quant_blocks.h"

namespace hearth::cpu {
namespace {

constexpr int64_t kQ8_0Bytes = 34, kQ8_1Bytes = 36, kQ8_KBytes = 292;

struct Block32Format {
  int64_t file_bytes;   // bytes per block in the file
  int64_t quants_at;    // where the block's quants (or nibbles) start in the file
  int64_t qh_at;        // where its u32 of fifth bits is (0: none)
  int64_t quant_bytes;  // packed quant bytes per block per group
  int offset;           // u = q + offset
  int64_t scale_bytes;  // per row and block: f16 d (2), MXFP4's E8M0 exponent (1), f16 d and m (4)
  uint8_t pad_quant;    // a padding row's quant bytes (values that decode to small sums)
  DType act = DType::Q8_0;  // the activations' type (Q8_1 for the types with a min)

  int64_t mask_bytes() const { return qh_at ? 64 : 0; }  // packed fifth bits per block per group
};

std::optional<Block32Format> block32_format(DType type) {
  switch (type) {
    case DType::Q8_0: return Block32Format{kQ8_0Bytes, 2, 0, 512, 128, 2, 0x80};
    case DType::Q4_0: return Block32Format{18, 2, 0, 256, 8, 2, 0x88};
    case DType::Q5_0: return Block32Format{22, 6, 2, 256, 16, 2, 0x88};
    case DType::Q4_1: return Block32Format{20, 4, 0, 256, 0, 4, 0x00, DType::Q8_1};
    case DType::Q5_1: return Block32Format{24, 8, 4, 256, 0, 4, 0x00, DType::Q8_1};
    case DType::IQ4_NL: return Block32Format{18, 2, 0, 256, kIQ4NLOffset, 2, 0x88};
    case DType::MXFP4: return Block32Format{17, 1, 0, 256, kMXFP4Offset, 1, 0x00};
    default: return std::nullopt;
  }
}

// Packs rows [16g, 16g + 16) of a 32-element type (rows past `rows` become zero-scale padding).
void pack_group_block32(const TensorView& w, const Block32Format& f, int64_t g, uint8_t* out) {
  const int64_t nb = w.ne[0] / 32;
  const uint64_t row_bytes = static_cast<uint64_t>(nb * f.file_bytes);
  const auto place = [&](int64_t i) { return block32_place(nb, i, f.scale_bytes, f.quant_bytes, f.mask_bytes()); };
  std::memset(out, 0, static_cast<size_t>(nb * (kPackRows * f.scale_bytes + f.quant_bytes + f.mask_bytes())));
  for (int64_t r = 0; r < kPackRows; ++r) {
    const int64_t row = g * kPackRows + r;
    if (row >= w.ne[1]) {
      // Padding: zero scales (and mins); quants that decode to 0 keep the sums small.
      for (int64_t i = 0; i < nb; ++i)
        for (int64_t j = 0; j < f.quant_bytes / 64; ++j)
          std::memset(out + place(i).quants + 64 * j + 4 * r, f.pad_quant, 4);
      continue;
    }
    const uint8_t* src = static_cast<const uint8_t*>(w.data) + static_cast<uint64_t>(row) * row_bytes;
    for (int64_t i = 0; i < nb; ++i, src += f.file_bytes) {
      const Block32Place at = place(i);
      // The scale (the _1 types: d then m, as the file has them).
      std::memcpy(out + at.scales + f.scale_bytes * r, src, static_cast<size_t>(f.scale_bytes));
      uint8_t* q = out + at.quants;
      if (f.file_bytes == kQ8_0Bytes) {
        for (int j = 0; j < 8; ++j) {
          uint32_t v;
          std::memcpy(&v, src + 2 + 4 * j, 4);
          v ^= 0x80808080u;  // q + 128, four at a time
          std::memcpy(q + 64 * j + 4 * r, &v, 4);
        }
        continue;
      }
      const uint8_t* qs = src + f.quants_at;
      for (int j = 0; j < 4; ++j) std::memcpy(q + 64 * j + 4 * r, qs + 4 * j, 4);
      if (f.qh_at) {
        uint32_t qh;
        std::memcpy(&qh, src + f.qh_at, 4);
        uint8_t* m = out + at.masks;
        // Bits 4j..4j+3 of qh are bits 4r..4r+3 of word j: one nibble of its byte r/2 (a nibble
        // at a time; bit by bit this loop was half of load time).
        for (int j = 0; j < 8; ++j)
          m[8 * j + r / 2] |= static_cast<uint8_t>(((qh >> (4 * j)) & 0xFu) << (4 * (r % 2)));
      }
    }
  }
}

// ---- K types, per super-block of a group (layouts in packed.h) ------------------------------

constexpr int64_t kQ4_KBytes = 144, kIQ4_XSBytes = 136;

// Bytes per super-block in the file, and of a group of 16 rows packed.
int64_t k_file_bytes(DType type) { return type == DType::Q4_K ? kQ4_KBytes : kIQ4_XSBytes; }
int64_t k_packed_bytes(DType type) {
  switch (type) {
    case DType::Q4_K: return 2368;
    case DType::IQ4_XS: return 2240;
    default: return 0;
  }
}

// Q4_K: src[r] is row r's super-block (nullptr: padding, left zero = contributes 0).
void pack_q4_k(const uint8_t* const* src, uint8_t* out) {
  uint8_t* d = out;
  uint8_t* dmin = out + 32;
  uint8_t* scales = out + 64;
  uint8_t* mins = out + 192;
  uint8_t* quants = out + 320;
  for (int r = 0; r < kPackRows; ++r) {
    const uint8_t* b = src[r];
    if (b == nullptr) continue;
    std::memcpy(d + 2 * r, b, 2);
    std::memcpy(dmin + 2 * r, b + 2, 2);
    for (int s = 0; s < 8; ++s) quant::unpack_scale_min_k4(s, b + 4, &scales[16 * s + r], &mins[16 * s + r]);
    const uint8_t* qs = b + 16;
    for (int p = 0; p < 4; ++p)
      for (int j = 0; j < 8; ++j) std::memcpy(quants + 512 * p + 64 * j + 4 * r, qs + 32 * p + 4 * j, 4);
  }
}

// IQ4_XS likewise (layout in packed.h): the scales unpacked to ls - 32, the nibbles as they are.
void pack_iq4_xs(const uint8_t* const* src, uint8_t* out) {
  uint8_t* d = out;
  auto* scales = reinterpret_cast<int8_t*>(out + 32);
  uint8_t* quants = out + 192;
  for (int r = 0; r < kPackRows; ++r) {
    const uint8_t* b = src[r];
    if (b == nullptr) continue;
    std::memcpy(d + 2 * r, b, 2);
    for (int s = 0; s < 8; ++s) scales[16 * s + r] = static_cast<int8_t>(quant::iq4_xs_scale(b, s));
    const uint8_t* qs = b + 8;
    for (int s = 0; s < 8; ++s)
      for (int j = 0; j < 4; ++j) std::memcpy(quants + 256 * s + 64 * j + 4 * r, qs + 16 * s + 4 * j, 4);
  }
}

void pack_group_k(const TensorView& w, int64_t g, uint8_t* out) {
  const int64_t nb = w.ne[0] / 256;
  const int64_t file_bytes = k_file_bytes(w.type);
  const int64_t packed = k_packed_bytes(w.type);
  const uint64_t row_bytes = static_cast<uint64_t>(nb * file_bytes);
  std::memset(out, 0, static_cast<size_t>(nb * packed));
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* src[kPackRows];
    for (int64_t r = 0; r < kPackRows; ++r) {
      const int64_t row = g * kPackRows + r;
      src[r] = row < w.ne[1] ? static_cast<const uint8_t*>(w.data) + static_cast<uint64_t>(row) * row_bytes +
                                   i * file_bytes
                             : nullptr;
    }
    if (w.type == DType::Q4_K)
      pack_q4_k(src, out + i * packed);
    else
      pack_iq4_xs(src, out + i * packed);
  }
}

PackedGemmFn packed_gemm_at(CpuLevel level, DType type, ref::KSums sums = ref::KSums::kPairs) {
#if defined(__x86_64__)
  if (level == CpuLevel::kAvx512) return avx512_packed_gemm(type, sums, has_amx_int8());
#endif
  (void)sums;
  (void)level;
  (void)type;
  return nullptr;
}

// One activation row for the 32-element kernels: ref-identical Q8_0 (Q8_1) quants and scales
// (the dispatched conversion), rearranged per block as packed.h describes.
constexpr int64_t kAct32Bytes = 72;

#if defined(__x86_64__)
// One block's rearrangement with AVX2 (every packed level has it): the lane sums by maddubs with
// ones (pairs, at most 2 x 128 in i16) and madd with ones, the scale by F16C. Integer sums and an
// exact widening: the scalar loop's bytes. The scalar loop was 9% of an encoder's time (bge-small,
// perf), where K is small and the GEMM per activation row short.
__attribute__((target("avx2,f16c"))) void rearrange_block32_avx2(const uint8_t* block, bool q8_1, int offset,
                                                                 uint8_t* out) {
  uint16_t d;
  std::memcpy(&d, block, 2);
  const float df = _cvtsh_ss(d);
  std::memcpy(out, &df, 4);
  const uint8_t* qs = block + (q8_1 ? 4 : 2);
  const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs));
  const __m256i lanes = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
  if (q8_1) {  // offset 0: no corrections; the block's s in their place
    uint16_t sh;
    std::memcpy(&sh, block + 2, 2);
    const float s = _cvtsh_ss(sh);
    std::memcpy(out + 4, &s, 4);
  } else {
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(lanes), _mm256_extracti128_si256(lanes, 1));
    h = _mm_add_epi32(h, _mm_unpackhi_epi64(h, h));
    const int32_t sum = (_mm_cvtsi128_si32(h) + _mm_extract_epi32(h, 1)) * -offset;
    std::memcpy(out + 4, &sum, 4);
  }
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8), _mm256_mullo_epi32(lanes, _mm256_set1_epi32(-offset)));
  std::memcpy(out + 40, qs, 32);
}
#endif

void convert_activation_block32(QuantizeFn quantize, const Block32Format& f, const float* x, uint8_t* out,
                                int64_t k, uint8_t* q8_row) {
  const int64_t nb = k / 32;
  const bool q8_1 = f.act == DType::Q8_1;
  const int64_t block_bytes = q8_1 ? kQ8_1Bytes : kQ8_0Bytes;
  quantize(x, q8_row, k);
#if defined(__x86_64__)
  static const bool avx2 = has_avx2_fma() && has_f16c();
  if (avx2) {
    for (int64_t i = 0; i < nb; ++i) rearrange_block32_avx2(q8_row + i * block_bytes, q8_1, f.offset, out + i * kAct32Bytes);
    return;
  }
#endif
  for (int64_t i = 0; i < nb; ++i, out += kAct32Bytes) {
    const uint8_t* block = q8_row + i * block_bytes;
    const uint8_t* qs = block + (q8_1 ? 4 : 2);
    uint16_t d;
    std::memcpy(&d, block, 2);
    const float df = fp16_to_fp32(d);
    std::memcpy(out, &df, 4);
    int32_t lanes[8] = {};
    for (int j = 0; j < 32; ++j) lanes[j / 4] += static_cast<int8_t>(qs[j]);
    int32_t sum = 0;
    for (int32_t& lane : lanes) {
      sum += lane;
      lane *= -f.offset;
    }
    sum *= -f.offset;
    if (q8_1) {
      uint16_t sh;
      std::memcpy(&sh, block + 2, 2);
      const float s = fp16_to_fp32(sh);
      std::memcpy(out + 4, &s, 4);
    } else {
      std::memcpy(out + 4, &sum, 4);
    }
    std::memcpy(out + 8, lanes, 32);
    std::memcpy(out + 40, qs, 32);
  }
}

bool is_k_type(DType type) { return k_packed_bytes(type) != 0; }
bool is_half_type(DType type) { return type == DType::F16 || type == DType::BF16; }

// Rows [16g, 16g + 16) of an F16/BF16 matrix as [k][16] 16-bit values (padding rows zero).
void pack_group_half(const TensorView& w, int64_t g, uint8_t* out) {
  const int64_t k = w.ne[0];
  auto* dst = reinterpret_cast<uint16_t*>(out);
  std::memset(out, 0, static_cast<size_t>(2 * k * kPackRows));
  for (int64_t r = 0; r < kPackRows && g * kPackRows + r < w.ne[1]; ++r) {
    const uint8_t* src = static_cast<const uint8_t*>(w.data) + static_cast<uint64_t>(g * kPackRows + r) * 2 * k;
    for (int64_t j = 0; j < k; ++j) std::memcpy(dst + j * kPackRows + r, src + 2 * j, 2);
  }
}

// The dispatched ref-identical conversion to Q8_0 (32-element types), Q8_K (K types), or the
// f16/bf16-rounded f32 values (F16/BF16).
QuantizeFn act_quantizer(CpuLevel level, DType weight_type) {
#if defined(__x86_64__)
  if (level == CpuLevel::kAvx512)
    return avx512_quantize(is_half_type(weight_type) ? weight_type
                           : is_k_type(weight_type)  ? DType::Q8_K
                           : block32_format(weight_type) ? block32_format(weight_type)->act
                                                     : DType::Q8_0);
#endif
  (void)level;
  (void)weight_type;
  return nullptr;
}

// F16/BF16: the rounded activations transposed into tiles of kHalfTileTokens tokens,
// [tile][k][kHalfTileTokens] f32 (a short last tile zero-padded), so the kernel broadcasts each
// token's value at k from one pointer.
void matmul_packed_half(const PackedMatrix& w, PackedGemmFn gemm, QuantizeFn quantize, const float* x,
                        int64_t n_tokens, float* y, ThreadPool& pool, std::vector<uint8_t>& scratch) {
  const int64_t k = w.k;
  const int64_t n_tiles = (n_tokens + kHalfTileTokens - 1) / kHalfTileTokens;
  const uint64_t tile_bytes = static_cast<uint64_t>(k) * kHalfTileTokens * 4;
  const uint64_t row_bytes = static_cast<uint64_t>(k) * 4;
  scratch.resize(tile_bytes * static_cast<uint64_t>(n_tiles) + row_bytes * static_cast<uint64_t>(pool.size()) + 64);
  // 64-byte aligned tiles.
  const auto base = reinterpret_cast<uintptr_t>(scratch.data());
  uint8_t* act = scratch.data() + ((64 - base % 64) % 64);
  auto* staging = reinterpret_cast<float*>(act + tile_bytes * static_cast<uint64_t>(n_tiles));
  pool.parallel_for(n_tiles, [&](int64_t begin, int64_t end, int thread) {
    float* row = staging + static_cast<uint64_t>(thread) * static_cast<uint64_t>(k);
    for (int64_t tile = begin; tile < end; ++tile) {
      auto* dst = reinterpret_cast<float*>(act + static_cast<uint64_t>(tile) * tile_bytes);
      const int64_t t0 = tile * kHalfTileTokens;
      const int64_t nt = std::min<int64_t>(kHalfTileTokens, n_tokens - t0);
      if (nt < kHalfTileTokens) std::memset(dst, 0, tile_bytes);
      for (int64_t t = 0; t < nt; ++t) {
        quantize(x + (t0 + t) * k, row, k);
        for (int64_t j = 0; j < k; ++j) dst[j * kHalfTileTokens + t] = row[j];
      }
    }
  });
  const PackedGemmArgs args{w.data.get(), w.group_bytes, w.rows, k, act, tile_bytes, n_tokens, y, w.rows};
  // Pairs of groups per thread: the kernel runs two groups at a time.
  const int64_t n_pairs = (w.n_groups() + 1) / 2;
  pool.parallel_for(n_pairs, [&](int64_t begin, int64_t end, int) {
    gemm(args, 2 * begin, std::min<int64_t>(2 * end, w.n_groups()));
  });
}

}  // namespace

bool can_pack(CpuLevel level, const TensorView& w) {
  if (packed_gemm_at(level, w.type) == nullptr || act_quantizer(level, w.type) == nullptr) return false;
  if (w.n_dims > 2 || w.ne[1] <= 0 || w.ne[0] <= 0) return false;
  if (is_k_type(w.type)) return w.ne[0] % 256 == 0;
  if (is_half_type(w.type)) return true;
  return block32_format(w.type).has_value() && w.ne[0] % 32 == 0;
}

std::unique_ptr<PackedMatrix> pack_at(CpuLevel level, const TensorView& w, ThreadPool& pool,
                                      ref::KSums sums) {
  if (!can_pack(level, w) || sums == ref::KSums::kExact) return nullptr;  // kExact: ref only
  auto p = std::make_unique<PackedMatrix>();
  p->level = level;
  p->type = w.type;
  p->sums = sums;
  p->k = w.ne[0];
  p->rows = w.ne[1];
  if (is_k_type(w.type)) {
    p->group_bytes = static_cast<uint64_t>(w.ne[0] / 256 * k_packed_bytes(w.type));
  } else if (is_half_type(w.type)) {
    p->group_bytes = static_cast<uint64_t>(w.ne[0]) * 2 * kPackRows;
  } else {
    const Block32Format f = *block32_format(w.type);
    p->group_bytes =
        static_cast<uint64_t>(w.ne[0] / 32 * (kPackRows * f.scale_bytes + f.quant_bytes + f.mask_bytes()));
  }
  const uint64_t total = p->group_bytes * static_cast<uint64_t>(p->n_groups());
  // Large matrices on 2 MiB boundaries with transparent huge pages asked for their whole 2 MiB
  // stretches: first-touch page faults were a third of load time with 4 KiB pages (perf, qwen2.5
  // 0.5B). The tail keeps small pages, so nothing beyond `total` is ever committed.
  constexpr uint64_t kHuge = 2ull << 20;
  const uint64_t align = total >= kHuge ? kHuge : 64;
  void* mem = std::aligned_alloc(align, (total + align - 1) / align * align);
  HEARTH_CHECK(mem != nullptr, "out of memory packing a weight matrix");
  if (total >= kHuge) ::madvise(mem, total / kHuge * kHuge, MADV_HUGEPAGE);
  p->data.reset(static_cast<uint8_t*>(mem));
  pool.parallel_for(p->n_groups(), [&](int64_t begin, int64_t end, int) {
    for (int64_t g = begin; g < end; ++g) {
      uint8_t* out = p->data.get() + static_cast<uint64_t>(g) * p->group_bytes;
      if (is_k_type(w.type))
        pack_group_k(w, g, out);
      else if (is_half_type(w.type))
        pack_group_half(w, g, out);
      else
        pack_group_block32(w, *block32_format(w.type), g, out);
    }
  });
  return p;
}

namespace {

// The activations of `x` as w's packed kernel reads them (K types: ref's Q8_K rows; 32-element
// types: the rearranged Q8_0 rows), in `scratch`; returns their row size.
uint64_t convert_packed_activations(const PackedMatrix& w, QuantizeFn quantize, const float* x,
                                    int64_t n_tokens, ThreadPool& pool, std::vector<uint8_t>& scratch) {
  const int64_t k = w.k;
  const bool k_type = is_k_type(w.type);
  // K types read ref's Q8_K rows as they are; the 32-element types a rearranged Q8_0 row, staged
  // per thread.
  const uint64_t act_row = static_cast<uint64_t>(k_type ? k / 256 * kQ8_KBytes : k / 32 * kAct32Bytes);
  const uint64_t q8_row = k_type ? 0 : static_cast<uint64_t>(k / 32 * kQ8_1Bytes);  // Q8_0's or Q8_1's
  scratch.resize(act_row * static_cast<uint64_t>(n_tokens) + q8_row * static_cast<uint64_t>(pool.size()));
  uint8_t* act = scratch.data();
  uint8_t* staging = act + act_row * static_cast<uint64_t>(n_tokens);
  const std::optional<Block32Format> format = block32_format(w.type);
  pool.parallel_for(n_tokens, [&](int64_t begin, int64_t end, int thread) {
    for (int64_t t = begin; t < end; ++t) {
      uint8_t* row = act + static_cast<uint64_t>(t) * act_row;
      if (k_type)
        quantize(x + t * k, row, k);
      else
        convert_activation_block32(quantize, *format, x + t * k, row, k,
                                   staging + static_cast<uint64_t>(thread) * q8_row);
    }
  });
  return act_row;
}

}  // namespace

void matmul_packed(const PackedMatrix& w, const float* x, int64_t n_tokens, float* y,
                   ThreadPool& pool, std::vector<uint8_t>& scratch) {
  const PackedGemmFn gemm = packed_gemm_at(w.level, w.type, w.sums);
  const QuantizeFn quantize = act_quantizer(w.level, w.type);
  HEARTH_CHECK(gemm != nullptr && quantize != nullptr, "no packed kernel for this matrix");
  if (is_half_type(w.type)) return matmul_packed_half(w, gemm, quantize, x, n_tokens, y, pool, scratch);
  const uint64_t act_row = convert_packed_activations(w, quantize, x, n_tokens, pool, scratch);
  const PackedGemmArgs args{w.data.get(), w.group_bytes, w.rows, w.k, scratch.data(), act_row, n_tokens, y, w.rows};
  pool.parallel_for(w.n_groups(), [&](int64_t begin, int64_t end, int) { gemm(args, begin, end); });
}

bool can_pair(const PackedMatrix& a, const PackedMatrix& b) {
  return a.level == b.level && a.type == b.type && a.k == b.k && a.sums == b.sums && !is_half_type(a.type);
}

void matmul_packed_pair(const PackedMatrix& a, const PackedMatrix& b, const float* x, int64_t n_tokens,
                        float* ya, float* yb, ThreadPool& pool, std::vector<uint8_t>& scratch) {
  HEARTH_CHECK(can_pair(a, b), "matmul_packed_pair: the matrices differ in kind");
  const PackedGemmFn gemm = packed_gemm_at(a.level, a.type, a.sums);
  const QuantizeFn quantize = act_quantizer(a.level, a.type);
  HEARTH_CHECK(gemm != nullptr && quantize != nullptr, "no packed kernel for this matrix");
  const uint64_t act_row = convert_packed_activations(a, quantize, x, n_tokens, pool, scratch);
  const PackedGemmArgs pa{a.data.get(), a.group_bytes, a.rows, a.k, scratch.data(), act_row, n_tokens, ya, a.rows};
  const PackedGemmArgs pb{b.data.get(), b.group_bytes, b.rows, b.k, scratch.data(), act_row, n_tokens, yb, b.rows};
  const int64_t na = a.n_groups();
  pool.parallel_for(na + b.n_groups(), [&](int64_t begin, int64_t end, int) {
    if (begin < na) gemm(pa, begin, std::min(end, na));
    if (end > na) gemm(pb, std::max(begin, na) - na, end - na);
  });
}

}  // namespace hearth::cpu
