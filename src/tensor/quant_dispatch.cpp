// dequantize_row / quantize_row: check the request, then hand whole blocks to the per-type codec
// (quant_rows.h). The switches here and the can_dequantize/can_quantize flags in dtype.cpp must
// agree; tests/tensor/quant_dispatch_test.cpp checks that they do for every type.
#include <cstring>

#include "tensor/quant.h"
#include "tensor/quant_rows.h"

namespace hearth {

void dequantize_row(DType type, const void* src, float* dst, int64_t n_elems) {
  const DTypeInfo& info = dtype_info(type);
  HEARTH_CHECK(info.can_dequantize, std::string("no dequantizer for ") + std::string(info.name));
  HEARTH_CHECK(n_elems >= 0 && n_elems % info.block_elems == 0, "row is not whole blocks");
  if (n_elems == 0) return;  // src/dst may be null; memcpy must not see a null pointer
  const auto* bytes = static_cast<const uint8_t*>(src);
  const int64_t n_blocks = n_elems / info.block_elems;
  switch (type) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n_elems) * sizeof(float)); return;
    case DType::F16:
      for (int64_t i = 0; i < n_elems; ++i) {
        uint16_t h;
        std::memcpy(&h, bytes + 2 * i, sizeof(h));
        dst[i] = fp16_to_fp32(h);
      }
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n_elems; ++i) {
        uint16_t h;
        std::memcpy(&h, bytes + 2 * i, sizeof(h));
        dst[i] = bf16_to_fp32(h);
      }
      return;
    case DType::Q4_0: quant::dequantize_q4_0(bytes, dst, n_blocks); return;
    case DType::Q4_1: quant::dequantize_q4_1(bytes, dst, n_blocks); return;
    case DType::Q5_0: quant::dequantize_q5_0(bytes, dst, n_blocks); return;
    case DType::Q5_1: quant::dequantize_q5_1(bytes, dst, n_blocks); return;
    case DType::Q8_0: quant::dequantize_q8_0(bytes, dst, n_blocks); return;
    case DType::Q2_K: quant::dequantize_q2_k(bytes, dst, n_blocks); return;
    case DType::Q3_K: quant::dequantize_q3_k(bytes, dst, n_blocks); return;
    case DType::Q4_K: quant::dequantize_q4_k(bytes, dst, n_blocks); return;
    case DType::Q5_K: quant::dequantize_q5_k(bytes, dst, n_blocks); return;
    case DType::Q6_K: quant::dequantize_q6_k(bytes, dst, n_blocks); return;
    case DType::IQ4_NL: quant::dequantize_iq4_nl(bytes, dst, n_blocks); return;
    case DType::IQ4_XS: quant::dequantize_iq4_xs(bytes, dst, n_blocks); return;
    case DType::MXFP4: quant::dequantize_mxfp4(bytes, dst, n_blocks); return;
    default: break;
  }
  HEARTH_CHECK(false, std::string("dtype flagged dequantizable has no codec: ") + std::string(info.name));
}

void quantize_row(DType type, const float* src, void* dst, int64_t n_elems,
                  const float* importance) {
  // The reference paths take no importance weights; llama.cpp's imatrix variants differ per
  // type and are not implemented yet, so a caller's weights are accepted and ignored.
  (void)importance;
  const DTypeInfo& info = dtype_info(type);
  HEARTH_CHECK(info.can_quantize, std::string("no quantizer for ") + std::string(info.name));
  HEARTH_CHECK(n_elems >= 0 && n_elems % info.block_elems == 0, "row is not whole blocks");
  if (n_elems == 0) return;
  auto* bytes = static_cast<uint8_t*>(dst);
  const int64_t n_blocks = n_elems / info.block_elems;
  switch (type) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n_elems) * sizeof(float)); return;
    case DType::F16:
      for (int64_t i = 0; i < n_elems; ++i) {
        const uint16_t h = fp32_to_fp16(src[i]);
        std::memcpy(bytes + 2 * i, &h, sizeof(h));
      }
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n_elems; ++i) {
        const uint16_t h = fp32_to_bf16(src[i]);
        std::memcpy(bytes + 2 * i, &h, sizeof(h));
      }
      return;
    case DType::Q4_0: quant::quantize_q4_0(src, bytes, n_blocks); return;
    case DType::Q4_1: quant::quantize_q4_1(src, bytes, n_blocks); return;
    case DType::Q5_0: quant::quantize_q5_0(src, bytes, n_blocks); return;
    case DType::Q5_1: quant::quantize_q5_1(src, bytes, n_blocks); return;
    case DType::Q8_0: quant::quantize_q8_0(src, bytes, n_blocks); return;
    case DType::Q2_K: quant::quantize_q2_k(src, bytes, n_blocks); return;
    case DType::Q3_K: quant::quantize_q3_k(src, bytes, n_blocks); return;
    case DType::Q4_K: quant::quantize_q4_k(src, bytes, n_blocks); return;
    case DType::Q5_K: quant::quantize_q5_k(src, bytes, n_blocks); return;
    case DType::Q6_K: quant::quantize_q6_k(src, bytes, n_blocks); return;
    case DType::IQ4_NL: quant::quantize_iq4_nl(src, bytes, n_blocks); return;
    case DType::IQ4_XS: quant::quantize_iq4_xs(src, bytes, n_blocks); return;
    case DType::MXFP4: quant::quantize_mxfp4(src, bytes, n_blocks); return;
    default: break;
  }
  HEARTH_CHECK(false, std::string("dtype flagged quantizable has no codec: ") + std::string(info.name));
}

}  // namespace hearth
