// Tensor element types, numbered exactly as GGUF/ggml numbers them (the ids are on disk).
// A quantized type stores `block_elems` consecutive elements of a row in `block_bytes` bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace hearth {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

struct DTypeInfo {
  DType type;
  std::string_view name;   // as llama.cpp prints it: "q4_K", "f16", "mxfp4"
  uint32_t block_elems;    // elements per block (1 for plain types)
  uint32_t block_bytes;    // bytes per block
  bool can_dequantize;     // hearth implements dequantization for it
  bool can_quantize;       // hearth implements quantization to it
};

// nullopt for an id that no known type uses (a hostile or future file).
std::optional<DTypeInfo> dtype_info(uint32_t id);
const DTypeInfo& dtype_info(DType type);
std::string_view dtype_name(DType type);
// Case-insensitive parse of a type name ("Q4_K", "q8_0", "bf16").
std::optional<DType> dtype_from_name(std::string_view name);

// Bytes for one row of `n_elems` elements; nullopt if n_elems is not a whole number of blocks
// or the product overflows.
std::optional<uint64_t> row_bytes(DType type, uint64_t n_elems);

}  // namespace hearth
