// Gated DeltaNet (Qwen3.5, Qwen3-Next): linear attention whose memory is a fixed-size state per
// head instead of a KV cache, one token at a time, in the arithmetic of llama.cpp's fused CPU
// operator (ggml_gated_delta_net, which its context enables for prefill and decode alike) and of
// the ggml ops around it (ssm_conv, softplus, sigmoid, the l2 norm as an RMS norm).
//
// Per head, with the state S [d, d] (d = head width), a token's q, k, v [d], gate g and beta:
//   S <- exp(g) S;   delta = (v - S^T k) beta;   S <- S + k delta^T;   out = S^T q / sqrt(d)
// The state is stored transposed, row j holding column j of S, as ggml keeps it, so every
// product is a contiguous dot product (ggml_vec_dot_f32's order: ref::dot_f32_vec_dot).
#pragma once

#include <cstdint>

namespace hearth::ref {

// One token through one head: `state` [d * d] (row j = column j of S) updated in place, out [d].
// q and k are already l2-normalised; `scratch` holds d floats.
void delta_rule_step(float* state, const float* q, const float* k, const float* v, float g, float beta, int64_t d,
                     float* out, float* scratch);

// One token of the short causal convolution over `channels` channels of kernel width `width`:
// window [channels, width - 1] holds each channel's previous width - 1 inputs, oldest first; out[c]
// = sum over i of (window then x)[c][i] * w[c][i], summed from the oldest as ggml_ssm_conv does
// (fused multiply-adds, as its compiler makes them); the window then shifts in x. w: [channels, width].
void conv_step(float* window, const float* x, const float* w, int64_t channels, int64_t width, float* out);

// The decay and write strength of a head from its projections (llama.cpp's graph): g =
// softplus(alpha + dt_bias) * a (softplus as ggml's: x above 20 passes through, else
// logf(1 + expf(x))) and beta = sigmoid(beta) (1 / (1 + expf(-x))).
float delta_gate(float alpha, float dt_bias, float a);
float sigmoid(float x);

// x [n] scaled to unit length as llama.cpp's graph does it: an RMS norm with eps / n, then times
// 1 / sqrt(n).
void l2_norm(float* x, int64_t n, float eps);

}  // namespace hearth::ref
