// The transformer's element-wise ops that cost enough to vectorise: SwiGLU and the rope rotation.
// Each is bit-identical to its reference in kernels/ref/ops.h (same operations per element, only
// several elements per instruction), so which build runs never changes a result.
#pragma once

#include <cstdint>

#include "kernels/ref/ops.h"

namespace hearth::kernels {

// ref::silu_mul over one row of n: AVX-512 or AVX2 when the CPU has it.
void silu_mul(const float* gate, const float* up, float* out, int64_t n);

// ref::add_inplace (out += x) eight elements per instruction with AVX2: each sum is one rounded
// addition whatever the width. Residual adds and biases, which an encoder does per matmul.
void add_inplace(float* out, const float* x, int64_t n);

// ref::rms_norm and ref::layer_norm of `rows` rows (row r at x + r * x_stride, its result at
// out + r * out_stride; in place allowed), eight rows at a time with AVX2. ggml sums each row
// serially in double, a chain of dependent additions; eight rows' chains run side by side in
// vector lanes instead (gathered), each in its own row's order, so the bits are ref's.
void rms_norm_rows(const float* x, int64_t x_stride, const float* weight, float* out, int64_t out_stride,
                   int64_t rows, int64_t n, float eps);
void layer_norm_rows(const float* x, int64_t x_stride, const float* weight, const float* bias, float* out,
                     int64_t out_stride, int64_t rows, int64_t n, float eps);

// ref::gelu and ref::geglu with F16C's conversions to and from f16 around the table lookups
// (the scalar conversions are what those cost); the reference where the CPU lacks AVX2/F16C.
void gelu(const float* x, float* out, int64_t n);
void geglu(const float* gate, const float* up, float* out, int64_t n);

// ref::rope_apply with the CPU's fused multiply-add instruction where it has one (the reference
// calls libm's fmaf per element otherwise).
void rope_apply(const ref::RopeParams& p, const float* cache, float* x, int64_t n_heads, int64_t head_dim);

// y [n_tokens, rows] = x [n_tokens, k] · wᵀ for an f32 matrix w [rows, k], every sum exactly
// ref::dot_f32_lanes16's (kernels/ref/moe.h): one 16-lane FMA accumulator per (row, token) on
// AVX-512, two 8-lane halves on AVX2. For MoE routers and other f32 matrices llama.cpp multiplies
// in that order (tinyBLAS). y's rows are y_stride apart (rows: a whole matrix; more: a caller
// splitting the rows among threads).
void matmul_f32_lanes16(const float* w, int64_t rows, int64_t k, const float* x, int64_t n_tokens, float* y,
                        int64_t y_stride = 0);

}  // namespace hearth::kernels
