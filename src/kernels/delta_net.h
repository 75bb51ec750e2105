// The Gated DeltaNet kernels of the CPU backend: ref's (kernels/ref/delta_net.h) bit for bit, in
// SIMD where the CPU has it.
#pragma once

#include <cstdint>

namespace hearth::kernels {

// ref::delta_rule_step with AVX-512 or AVX2 (head widths a multiple of 64); ref's otherwise.
void delta_rule_step(float* state, const float* q, const float* k, const float* v, float g, float beta, int64_t d,
                     float* out, float* scratch);

// ref::conv_step with the CPU's fused multiply-add instruction (ref calls libm's fmaf).
void conv_step(float* window, const float* x, const float* w, int64_t channels, int64_t width, float* out);

}  // namespace hearth::kernels
