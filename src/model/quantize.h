// Model quantization: `hearth quantize IN OUT TYPE`. TYPE is a llama.cpp file type recipe
// ("Q4_K_M", "Q5_K_M", "Q8_0", ...: per-tensor types chosen as llama-quantize chooses them) or a
// plain tensor type ("q4_k", "f16": every matrix in that type, with llama.cpp's fallback where a
// row length does not fit the block size). 1-D tensors (norms, biases) always stay F32.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/result.h"
#include "model/arch.h"
#include "model/model_file.h"
#include "model/tensor_pipeline.h"

namespace hearth {

struct RecipeChoice {
  std::string name;               // as given, for messages
  std::optional<DType> pure;      // a plain tensor type
  int file_type = 0;              // llama_ftype value written as general.file_type
};

// What the per-tensor rules need to know about the model, plus the running counters llama.cpp
// keeps while walking tensors in order (attn_v / ffn_down layer index).
struct RecipeContext {
  std::string arch;
  HParams hp;
  int64_t n_attn_v_seen = 0;
  int64_t n_ffn_down_seen = 0;
  bool has_output = false;  // an untied output.weight exists
};

Result<RecipeChoice> parse_type_or_recipe(const std::string& name);
RecipeContext make_recipe_context(std::string arch, const HParams& hp);
DType choose_type(const RecipeChoice& recipe, RecipeContext& ctx, const std::string& tensor_name,
                  const TensorView& shape);
uint32_t recipe_file_type(const RecipeChoice& recipe);
// Names accepted by parse_type_or_recipe, for --help.
std::string recipe_names();

struct QuantizeReport {
  PipelineStats in;
  PipelineStats out;
  std::vector<std::pair<std::string, DType>> tensor_types;  // in file order
};

Result<QuantizeReport> quantize_model(const ModelFile& in, const std::string& out_path,
                                      const RecipeChoice& recipe, int n_threads);

}  // namespace hearth
