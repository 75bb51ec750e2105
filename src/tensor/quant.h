// Conversion between F32 and every stored tensor type. These are the reference (scalar,
// obviously-correct) routines: dequantization is bit-exact with ggml's; quantization follows the
// same algorithms so llama.cpp loads the output and its error matches llama.cpp's quantizer.
#pragma once

#include <cstdint>

#include "base/result.h"
#include "tensor/dtype.h"

namespace hearth {

// Converts `n_elems` elements (a whole number of blocks of `type`) from `src` to F32 in `dst`.
// CHECKs that the type is dequantizable (dtype_info(type).can_dequantize) and n is block-aligned.
void dequantize_row(DType type, const void* src, float* dst, int64_t n_elems);

// Quantizes `n_elems` floats (a whole number of blocks) into `dst`, which holds row_bytes(type, n)
// bytes. `importance` (may be null) weights the error per element, as llama.cpp's imatrix does.
// For now only the reference algorithms exist (llama-quantize without --imatrix, byte-identical
// to it for every can_quantize type), and `importance` is ignored.
void quantize_row(DType type, const float* src, void* dst, int64_t n_elems,
                  const float* importance = nullptr);

// Half-precision helpers (IEEE binary16 and bfloat16), round-to-nearest-even as ggml does.
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);

}  // namespace hearth
