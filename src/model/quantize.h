// Model quantization: `hearth quantize IN OUT TYPE`. TYPE is a llama.cpp file type recipe
// ("Q4_K_M", "Q5_K_M", "Q8_0", ...: per-tensor types chosen as llama-quantize chooses them) or a
// plain tensor type ("q4_k", "f16": every matrix in that type, with llama.cpp's fallback where a
// row length does not fit the block size), or COPY (every tensor as it is, as llama-quantize's
// COPY: a file rewritten in the current layout, e.g. an older DeepSeek file's attn_kv_b split).
// 1-D tensors (norms, biases) always stay F32.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "base/result.h"
#include "model/arch.h"
#include "model/model_file.h"
#include "model/quantize_recipe.h"
#include "model/tensor_pipeline.h"

namespace hearth {

struct RecipeChoice {
  std::string name;               // as given, for messages
  std::optional<FileType> recipe; // a llama.cpp file type (per-tensor mix)
  std::optional<DType> pure;      // or a plain tensor type for every matrix
  bool copy = false;              // or every tensor in its own type (COPY)
};

Result<RecipeChoice> parse_type_or_recipe(const std::string& name);
// Names accepted by parse_type_or_recipe, for --help.
std::string recipe_names();
uint32_t recipe_file_type(const RecipeChoice& recipe);

// The stored type of every tensor (same order as `tensors`) for a model of `arch` / `hp`.
Result<std::vector<DType>> plan_tensor_types(const RecipeChoice& recipe, const std::string& arch,
                                             const HParams& hp,
                                             std::span<const RecipeTensor> tensors);

struct QuantizeReport {
  PipelineStats in;
  PipelineStats out;
  std::vector<std::pair<std::string, DType>> tensor_types;  // in file order
};

Result<QuantizeReport> quantize_model(const ModelFile& in, const std::string& out_path,
                                      const RecipeChoice& recipe, int n_threads);

}  // namespace hearth
