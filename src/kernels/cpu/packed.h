// Weight matrices rearranged at load for the AVX-512 VNNI kernels (private to kernels/cpu).
//
// Why: the file layouts keep each row's blocks together, so a SIMD kernel working on them
// reduces every (row, token) block dot product over 8 lanes and pays a float multiply-add per
// 32 weights per token: that epilogue, not the integer products, bounded the GEMM at ~30 GMAC/s
// per core. Packed, 16 rows are interleaved 4 bytes at a time, so one vpdpbusd multiplies 4
// weights of each of 16 rows by 4 broadcast activations and its 16 lanes are 16 rows' partial
// sums; a block's 8 such products sum in place and one float multiply-add covers 16 rows.
//
// Layout of a 32-element type (Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, IQ4_NL, MXFP4), per group of 16 rows (the last
// group padded with zero-scale rows), nb = k / 32 blocks, the same bytes as the 16 rows in the
// file, in chunks of as many blocks as one 64-byte line of scales covers (2; MXFP4 4; Q4_1/Q5_1 1; the last
// chunk may hold fewer), each chunk [its scales][its quants][its fifth bits] so that a group is
// one stream read front to back (isa.h's block32_place; with all scales first, then all quants,
// one-token products of out-of-cache matrices ran 5-25% slower per core):
//   scales  [16] f16 per block     row r's block scale at [r] (MXFP4: its u8 E8M0 exponent;
//                                  Q4_1/Q5_1: [16] x (f16 d, f16 m), the file's 4 bytes)
//   quants  Q8_0: [8][64] per block  byte 4r+e of vector j = q(r, 4j+e) + 128 (u8)
//           Q4_0/Q5_0/Q4_1/Q5_1/IQ4_NL/MXFP4: [4][64] per block: byte 4r+e of vector j = file byte 4j+e of row
//                                  r, i.e. low nibble = element 4j+e, high nibble = element
//                                  16+4j+e (IQ4_NL/MXFP4: an index into their levels, which
//                                  the kernel looks up as level + offset, 127 and 12)
//   Q5_0/Q5_1 fifth bits [8] u64 per block: bit 4r+e of word j = bit 4 of element (r, 4j+e)
// The unsigned quants u = q + offset (128, 8, 16; 0 for the _1 types) are what vpdpbusd
// multiplies; the activation side carries -offset * (sum of its quants) to add.
//
// Activations for the 32-element kernels, per token row and block (72 bytes): f32 scale (the
// Q8_0 f16 scale, widened), i32 -offset * (sum of the block's 32 quants), 8 x i32 -offset *
// (sum of lane j's 4 quants), 32 i8 quants: ref::quantize_activation's Q8_0 quants and scales.
// Q4_1/Q5_1 take Q8_1 rows instead (offset 0): the block's f32 s (Q8_1's f16 d * sum, widened)
// where the block's correction would be, lane corrections zero.
// The K types (Q4_K, IQ4_XS) read ref's Q8_K rows as they are.
//
// Layout of the K type packed (Q4_K), per group of 16 rows and super-block (offsets in bytes):
//   Q4_K       d [16] f16 @0, dmin [16] f16 @32, scales [8][16] u8 @64, mins [8][16] u8 @192,
//              quants [4][8][64] @320 (byte 4r+e of vector (p, j) = file byte qs[32p + 4j + e]
//              of row r: low nibble sub-block 2p, high nibble 2p+1); 2368 bytes, 148 per row
//              against the file's 144.
//   IQ4_XS     d [16] f16 @0, scales [8][16] i8 (ls - 32) @32, quants [8][4][64] @192 (byte 4r+e
//              of vector (s, j) = file byte qs[16s + 4j + e] of row r: low nibble element
//              32s + 4j + e, high nibble 32s + 16 + 4j + e); 2240 bytes, 140 per row against 136.
//   Q5_K is not packed: llama.cpp sums it in 8 f32 lanes per (row, token) (ref's dot_q5_k),
//              and a packed kernel in that order (an integer accumulator per lane and token,
//              vpmaddubsw + vpdpwssd) ran at half the unpacked tile's speed on Zen 4: prefill
//              74-82 against 119 GMAC/s, decode 10 against 20-25 GB/s (hearth_kernels_bench).
//   Q6_K is not packed either, for the same reason: llama.cpp sums it in 8 lanes (ref's
//              dot_q6_k), and the packed kernel summed each block in one integer. Its unpacked
//              tile in that order streams 32-39 GB/s one-token (the packed one 37) but prefills
//              at 133 GMAC/s against the packed one's 244-262.
//   F16/BF16   [k][16] 16-bit values (element j of row r at [j][r]), 32 bytes per row-element
//              group, the file's bytes rearranged. Activations: the f16/bf16-rounded values as
//              f32, transposed into tiles of kHalfTileTokens tokens ([k][kHalfTileTokens]).
//
// Numerics. Q4_0, and Q8_0/Q5_0/Q4_1/Q5_1 with ref::KSums::kBlocks (the default for dense matrices
// at this level, kernels::dense_sums): each block's integer dot product is exact, then acc =
// fma(float(dot), wd*ad, acc), block after block, a _1 type's m*s added to the chain after its
// block (the order of llama.cpp's repacked Q4_0 and of its AMX kernels). Where the CPU has AMX,
// batches of 16 tokens and more take those block sums from tile products (x86_avx512_packed.cpp's
// gemm_amx) and the same f32 chain: the same bits. IQ4_NL, MXFP4: the same
// without the fusion, acc + (wd*ad) * float(dot): ref's order and bits. Q8_0, Q5_0, Q4_1, Q5_1 with
// kPairs (HEARTH_SUMS=ggml): ggml's 8
// f32 lanes (lane j = elements 4j..4j+3 of each block, one FMA per lane and block, hsum_float_8's
// tree; the _1 types' mins in one chain, sum of m * s, added after), as llama.cpp sums them
// (tinyBLAS and vec_dot) and as ref does: the same bits packed or not. Q4_K: exact integer sums per super-block, then ref's f32
// expression. IQ4_XS: exact integer sums per super-block, one FMA each (ref's). F16/BF16: one f32 FMA chain over k from 0, which a scalar loop reproduces bit for
// bit (llama.cpp's tinyBLAS keeps 16 lanes instead: the results differ by f32 rounding). Every
// (row, token) has one fixed sequence: batch- and thread-invariant.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/isa.h"
#include "kernels/ref/vec_dot.h"
#include "tensor/tensor_view.h"

namespace hearth::cpu {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

struct PackedMatrix {
  CpuLevel level = CpuLevel::kRef;  // the build whose kernel reads this layout
  DType type = DType::F32;          // the file's type
  ref::KSums sums = ref::KSums::kPairs;  // Q4_K's accumulation order (kernels/ref/vec_dot.h)
  int64_t k = 0;                    // elements per row
  int64_t rows = 0;                 // real rows (the last group may hold padding)
  uint64_t group_bytes = 0;         // bytes per group of kPackRows rows
  std::unique_ptr<uint8_t, FreeDeleter> data;  // 64-byte aligned, n_groups() * group_bytes

  int64_t n_groups() const { return (rows + kPackRows - 1) / kPackRows; }
};

// True when `level` has a packed kernel for `w` (type and shape).
bool can_pack(CpuLevel level, const TensorView& w);

// The packed copy of `w` for `level`'s kernel, or nullptr when can_pack is false.
std::unique_ptr<PackedMatrix> pack_at(CpuLevel level, const TensorView& w, ThreadPool& pool,
                                      ref::KSums sums = ref::KSums::kPairs);

// y [n_tokens, w.rows] = x [n_tokens, w.k] · wᵀ with the packed kernel of w.level.
void matmul_packed(const PackedMatrix& w, const float* x, int64_t n_tokens, float* y,
                   ThreadPool& pool, std::vector<uint8_t>& scratch);

// Two matrices of one kind (level, type, k, sums; not F16/BF16) over the same activations: the
// activations are converted once and both products run in one parallel pass. The results are
// matmul_packed's, bit for bit.
bool can_pair(const PackedMatrix& a, const PackedMatrix& b);
void matmul_packed_pair(const PackedMatrix& a, const PackedMatrix& b, const float* x, int64_t n_tokens,
                        float* ya, float* yb, ThreadPool& pool, std::vector<uint8_t>& scratch);

}  // namespace hearth::cpu
