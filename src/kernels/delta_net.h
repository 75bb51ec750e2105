// The Gated DeltaNet kernels of the CPU backend: ref's (kernels/ref/delta_net.h) bit for bit, in
// SIMD where the CPU has it.
#pragma once

#include <cstdint>

namespace hearth::kernels {

// ref::delta_rule_step with AVX-512 or AVX2 (head widths a multiple of 64); ref's otherwise.
void delta_rule_step(float* state, const float* q, const float* k, const float* v, float g, float beta, int64_t d,
                     float* out, float* scratch);

// ref::conv_step's arithmetic, channel for channel, over tap-major operands: window row i (of
// width - 1) at window + i * window_stride and tap i at taps + i * taps_stride, each holding
// `channels` consecutive channels, so that AVX-512 takes sixteen channels per instruction.
void conv_step(float* window, int64_t window_stride, const float* x, const float* taps, int64_t taps_stride,
               int64_t channels, int64_t width, float* out);

}  // namespace hearth::kernels
