// dequantize_row / quantize_row: check the request, then hand whole blocks to the type's codec
// (quant_rows.h). codec_for() and the can_dequantize/can_quantize flags in dtype.cpp must agree;
// QuantDispatch.FlagsMatchTheCodecs (tests/tensor/quant_roundtrip_test.cpp) checks every type.
#include <cstring>
#include <string>

#include "tensor/quant.h"
#include "tensor/quant_rows.h"

namespace hearth {
namespace {

using DequantizeFn = void (*)(const uint8_t* src, float* dst, int64_t n_blocks);
using QuantizeFn = void (*)(const float* src, uint8_t* dst, int64_t n_blocks);

struct Codec {
  DequantizeFn dequantize = nullptr;
  QuantizeFn quantize = nullptr;
};

// The plain types as one-element blocks. Elements go through memcpy: rows need not be aligned.
void dequantize_f32(const uint8_t* src, float* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}
void quantize_f32(const float* src, uint8_t* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

template <float (*widen)(uint16_t)>
void dequantize_16bit(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, sizeof(h));
    dst[i] = widen(h);
  }
}

template <uint16_t (*narrow)(float)>
void quantize_16bit(const float* src, uint8_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = narrow(src[i]);
    std::memcpy(dst + 2 * i, &h, sizeof(h));
  }
}

Codec codec_for(DType type) {
  using namespace quant;
  switch (type) {
    case DType::F32:
      return {dequantize_f32, quantize_f32};
    case DType::F16:
      return {dequantize_16bit<fp16_to_fp32>, quantize_16bit<fp32_to_fp16>};
    case DType::BF16:
      return {dequantize_16bit<bf16_to_fp32>, quantize_16bit<fp32_to_bf16>};
    case DType::Q4_0:
      return {dequantize_q4_0, quantize_q4_0};
    case DType::Q4_1:
      return {dequantize_q4_1, quantize_q4_1};
    case DType::Q5_0:
      return {dequantize_q5_0, quantize_q5_0};
    case DType::Q5_1:
      return {dequantize_q5_1, quantize_q5_1};
    case DType::Q8_0:
      return {dequantize_q8_0, quantize_q8_0};
    case DType::Q2_K:
      return {dequantize_q2_k, quantize_q2_k};
    case DType::Q3_K:
      return {dequantize_q3_k, quantize_q3_k};
    case DType::Q4_K:
      return {dequantize_q4_k, quantize_q4_k};
    case DType::Q5_K:
      return {dequantize_q5_k, quantize_q5_k};
    case DType::Q6_K:
      return {dequantize_q6_k, quantize_q6_k};
    case DType::IQ4_NL:
      return {dequantize_iq4_nl, quantize_iq4_nl};
    case DType::IQ4_XS:
      return {dequantize_iq4_xs, quantize_iq4_xs};
    case DType::MXFP4:
      return {dequantize_mxfp4, quantize_mxfp4};
    case DType::IQ2_XXS:
      return {dequantize_iq2_xxs, nullptr};
    case DType::IQ2_XS:
      return {dequantize_iq2_xs, nullptr};
    case DType::IQ2_S:
      return {dequantize_iq2_s, nullptr};
    case DType::IQ3_XXS:
      return {dequantize_iq3_xxs, nullptr};
    case DType::IQ3_S:
      return {dequantize_iq3_s, nullptr};
    case DType::IQ1_S:
      return {dequantize_iq1_s, nullptr};
    case DType::IQ1_M:
      return {dequantize_iq1_m, nullptr};
    case DType::TQ1_0:
      return {dequantize_tq1_0, nullptr};
    case DType::TQ2_0:
      return {dequantize_tq2_0, nullptr};
    default:
      return {};
  }
}

}  // namespace

void dequantize_row(DType type, const void* src, float* dst, int64_t n_elems) {
  const DTypeInfo& info = dtype_info(type);
  const DequantizeFn fn = codec_for(type).dequantize;
  HEARTH_CHECK(info.can_dequantize && fn, "no dequantizer for " + std::string(info.name));
  HEARTH_CHECK(n_elems >= 0 && n_elems % info.block_elems == 0, "row is not whole blocks");
  if (n_elems == 0) return;  // src/dst may be null; memcpy must not see a null pointer
  fn(static_cast<const uint8_t*>(src), dst, n_elems / info.block_elems);
}

void quantize_row(DType type, const float* src, void* dst, int64_t n_elems,
                  const float* importance) {
  // Only the reference (no-imatrix) algorithms exist so far; weights are accepted and ignored.
  (void)importance;
  const DTypeInfo& info = dtype_info(type);
  const QuantizeFn fn = codec_for(type).quantize;
  HEARTH_CHECK(info.can_quantize && fn, "no quantizer for " + std::string(info.name));
  HEARTH_CHECK(n_elems >= 0 && n_elems % info.block_elems == 0, "row is not whole blocks");
  if (n_elems == 0) return;
  fn(src, static_cast<uint8_t*>(dst), n_elems / info.block_elems);
}

}  // namespace hearth
