#include "tensor/dtype.h"

#include <array>
#include <cctype>

#include "base/checked_math.h"
#include "base/result.h"

namespace hearth {
namespace {

// Block geometry from the GGUF/ggml format definition; the flags say what hearth implements.
constexpr std::array kTypes = {
    DTypeInfo{DType::F32, "f32", 1, 4, true, true},
    DTypeInfo{DType::F16, "f16", 1, 2, true, true},
    DTypeInfo{DType::Q4_0, "q4_0", 32, 18, true, true},
    DTypeInfo{DType::Q4_1, "q4_1", 32, 20, true, true},
    DTypeInfo{DType::Q5_0, "q5_0", 32, 22, true, true},
    DTypeInfo{DType::Q5_1, "q5_1", 32, 24, true, true},
    DTypeInfo{DType::Q8_0, "q8_0", 32, 34, true, true},
    DTypeInfo{DType::Q8_1, "q8_1", 32, 36, false, false},
    DTypeInfo{DType::Q2_K, "q2_K", 256, 84, true, true},
    DTypeInfo{DType::Q3_K, "q3_K", 256, 110, true, true},
    DTypeInfo{DType::Q4_K, "q4_K", 256, 144, true, true},
    DTypeInfo{DType::Q5_K, "q5_K", 256, 176, true, true},
    DTypeInfo{DType::Q6_K, "q6_K", 256, 210, true, true},
    DTypeInfo{DType::Q8_K, "q8_K", 256, 292, false, false},
    DTypeInfo{DType::IQ2_XXS, "iq2_xxs", 256, 66, true, false},
    DTypeInfo{DType::IQ2_XS, "iq2_xs", 256, 74, true, false},
    DTypeInfo{DType::IQ3_XXS, "iq3_xxs", 256, 98, true, false},
    DTypeInfo{DType::IQ1_S, "iq1_s", 256, 50, true, false},
    DTypeInfo{DType::IQ4_NL, "iq4_nl", 32, 18, true, true},
    DTypeInfo{DType::IQ3_S, "iq3_s", 256, 110, true, false},
    DTypeInfo{DType::IQ2_S, "iq2_s", 256, 82, true, false},
    DTypeInfo{DType::IQ4_XS, "iq4_xs", 256, 136, true, true},
    DTypeInfo{DType::I8, "i8", 1, 1, false, false},
    DTypeInfo{DType::I16, "i16", 1, 2, false, false},
    DTypeInfo{DType::I32, "i32", 1, 4, false, false},
    DTypeInfo{DType::I64, "i64", 1, 8, false, false},
    DTypeInfo{DType::F64, "f64", 1, 8, false, false},
    DTypeInfo{DType::IQ1_M, "iq1_m", 256, 56, true, false},
    DTypeInfo{DType::BF16, "bf16", 1, 2, true, true},
    DTypeInfo{DType::TQ1_0, "tq1_0", 256, 54, true, false},
    DTypeInfo{DType::TQ2_0, "tq2_0", 256, 66, true, false},
    DTypeInfo{DType::MXFP4, "mxfp4", 32, 17, true, true},
};

}  // namespace

std::optional<DTypeInfo> dtype_info(uint32_t id) {
  for (const DTypeInfo& info : kTypes)
    if (static_cast<uint32_t>(info.type) == id) return info;
  return std::nullopt;
}

const DTypeInfo& dtype_info(DType type) {
  for (const DTypeInfo& info : kTypes)
    if (info.type == type) return info;
  HEARTH_CHECK(false, "unknown DType");
}

std::string_view dtype_name(DType type) { return dtype_info(type).name; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const DTypeInfo& info : kTypes) {
    if (info.name.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i)
      same = std::tolower(static_cast<unsigned char>(name[i])) ==
             std::tolower(static_cast<unsigned char>(info.name[i]));
    if (same) return info.type;
  }
  return std::nullopt;
}

std::optional<uint64_t> row_bytes(DType type, uint64_t n_elems) {
  const DTypeInfo& info = dtype_info(type);
  if (n_elems % info.block_elems != 0) return std::nullopt;
  uint64_t bytes = 0;
  if (!checked_mul(n_elems / info.block_elems, info.block_bytes, &bytes)) return std::nullopt;
  return bytes;
}

}  // namespace hearth
