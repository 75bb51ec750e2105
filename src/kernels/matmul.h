// The matrix product the model calls: the fastest kernel this CPU supports (chosen once, at the
// first call), falling back to the reference product (kernels/ref/matmul.h) for any weight type
// without a SIMD kernel. Same contract and same signature as ref::matmul, so callers switch by
// name.
//
// Every result y[t, r] is computed by one fixed sequence of operations that depends only on
// weight row r and activation row t: the same bits whatever n_tokens is, whichever other tokens
// share the batch, and however many threads run (the server batches requests and relies on it).
// SIMD kernels exist for every quantized type (x86 AVX2 and AVX-512, and NEON; ref's bits, which
// are llama.cpp's), F16, BF16, and F32 in ggml's vec_dot_f32 order (KSums::kVecDot only: MLA's
// F32 head slices; other F32 goes through ref). For the quantized types that sequence is
// ref::vec_dot's, so the bits equal the reference's (and, for Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/Q5_K/Q6_K,
// llama.cpp's vec_dot's); F16/BF16 sum in f32 lanes instead of ref's double: a few ulps from ref.
// On AVX-512 VNNI the quantized types but Q5_K, Q6_K, Q2_K, Q3_K and the low-bit IQ/ternary types
// run on weights packed at load (Matrix, kernels/cpu/packed.h): Q4_K and IQ4_XS keep the
// sequences above, Q4_0 sums each block exactly, then in f32, as llama.cpp's repacked Q4_0 does,
// and so do Q8_0, Q5_0, Q4_1 and Q5_1 in a model's dense matrices unless HEARTH_SUMS=ggml
// (dense_sums below; with it they keep ggml's lanes); F16/BF16 are packed too and sum in one f32
// FMA chain per (row, token).
// Q4_K's reference sequence (kernels/ref/vec_dot.cpp) is that of llama.cpp's repacked Q4_K GEMM,
// so Q4_K too gives llama.cpp's bits for batches of two or more tokens.
#pragma once

#include <cstdint>
#include <memory>

#include "base/thread_pool.h"
#include "kernels/ref/matmul.h"
#include "kernels/ref/vec_dot.h"
#include "tensor/tensor_view.h"

namespace hearth::cpu {
struct PackedMatrix;
}

namespace hearth::kernels {

using MatmulScratch = ref::MatmulScratch;

// A weight matrix as the model hands it to matmul: the file's bytes, used in place, plus, where
// this CPU's fastest kernel for the type reads an interleaved layout (kernels/cpu/packed.h), a
// packed copy made once at load. Copies share the packed bytes.
class Matrix {
 public:
  Matrix() = default;
  explicit Matrix(const TensorView& view, ref::KSums sums = ref::KSums::kPairs) : view_(view), sums_(sums) {}
  // `view`, packed for the active CPU level where it has a packed kernel for the type.
  static Matrix prepare(const TensorView& view, ThreadPool& pool, ref::KSums sums = ref::KSums::kPairs);

  const TensorView& view() const { return view_; }
  const cpu::PackedMatrix* packed() const { return packed_.get(); }
  // Q4_K's accumulation order (kernels/ref/vec_dot.h): kSuperBlocks for MoE expert matrices,
  // whose products llama.cpp computes with its GEMV order at every batch size.
  ref::KSums sums() const { return sums_; }

 private:
  TensorView view_;
  ref::KSums sums_ = ref::KSums::kPairs;
  std::shared_ptr<const cpu::PackedMatrix> packed_;
};

// The order a model's dense matrices of `type` sum in (ref/vec_dot.h's KSums): kBlocks for the
// 32-element types where the active level runs that order packed (AVX-512: VNNI, and AMX tiles for
// batches), kPairs otherwise. The environment's HEARTH_SUMS=ggml keeps llama.cpp's lanes
// everywhere (the bit-for-bit tests against llama.cpp set it); HEARTH_SUMS=blocks is the default;
// HEARTH_SUMS=exact sums those types in double through the reference kernels (slow: the
// yardstick of bench/RESULTS.md's KL study). Any other value is an error naming the three.
ref::KSums dense_sums(DType type);

// y [n_tokens, w.ne[1]] f32 = x [n_tokens, w.ne[0]] f32 · wᵀ, where w is [ne1 rows of ne0].
void matmul(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            MatmulScratch& scratch);
// The same product through w's packed copy when it has one for the active level. Packed
// kernels sum each block exactly in integers and then in f32 (packed.h): a few ulps from the
// unpacked kernels, but still the same bits whatever the batch or thread count.
void matmul(const Matrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            MatmulScratch& scratch);

// ya = a · x and yb = b · x (an FFN's gate and up): when both are packed alike, the activations
// are converted once and both run in one parallel pass; else two matmuls. Same bits either way.
void matmul_pair(const Matrix& a, const Matrix& b, const float* x, int64_t n_tokens, float* ya, float* yb,
                 ThreadPool& pool, MatmulScratch& scratch);

}  // namespace hearth::kernels
