// Quantization recipes: which element type each tensor of a model gets when the whole file is
// quantized to a llama.cpp "file type" such as Q4_K_M. The mixes are llama-quantize's (llama.cpp
// src/llama-quant.cpp at commit de3ff81, the one node-llama-cpp 3.22.1 ships), re-derived so
// that `hearth quantize` writes the same per-tensor types as llama.cpp does for the same input;
// tests/peers/quantize_recipe.test.mjs holds the two side by side.
//
// The rules in short (see quantize_recipe.cpp for each one and why):
//   - Only weights of two or more dimensions are quantized; norms, 1-D tensors (biases,
//     rope_freqs), MoE routers and a few small special tensors keep their type.
//   - output.weight (and token_embd.weight when the output is tied to it) gets Q6_K, or Q8_0
//     when its rows do not fit the file type's block.
//   - The *_M / *_L mixes spend more bits on attn_v and ffn_down in the first and last eighth of
//     the layers and every third layer between ("use more bits"), the *_S mixes on the first few.
//   - A type whose block does not divide the row length falls back to a 32-element type of about
//     the same size (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0), or F16.
//
// Tensors are visited in llama.cpp's order (tensors outside the blocks first, then by block
// number, names sorted inside each group) because the attn_v / ffn_down rules count layers as
// they go; plan_quantization() does that ordering for the caller.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "tensor/dtype.h"
#include "tensor/tensor_view.h"

namespace hearth {

// llama.cpp's llama_ftype values; the number is what GGUF stores in `general.file_type`.
enum class FileType : uint32_t {
  ALL_F32 = 0,
  MOSTLY_F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q8_0 = 7,
  Q5_0 = 8,
  Q5_1 = 9,
  Q2_K = 10,
  Q3_K_S = 11,
  Q3_K_M = 12,
  Q3_K_L = 13,
  Q4_K_S = 14,
  Q4_K_M = 15,
  Q5_K_S = 16,
  Q5_K_M = 17,
  Q6_K = 18,
  IQ2_XXS = 19,
  IQ2_XS = 20,
  Q2_K_S = 21,
  IQ3_XS = 22,
  IQ3_XXS = 23,
  IQ1_S = 24,
  IQ4_NL = 25,
  IQ3_S = 26,
  IQ3_M = 27,
  IQ2_S = 28,
  IQ2_M = 29,
  IQ4_XS = 30,
  IQ1_M = 31,
  MOSTLY_BF16 = 32,
  TQ1_0 = 36,
  TQ2_0 = 37,
  MXFP4_MOE = 38,
};

// The name llama-quantize uses on its command line: "F32", "F16", "BF16", "Q4_K_M", "MXFP4_MOE".
std::string_view file_type_name(FileType type);
// Case-insensitive inverse of file_type_name().
std::optional<FileType> file_type_from_name(std::string_view name);
// Every file type, in llama_ftype order (for --help texts and tests).
std::span<const FileType> all_file_types();
// The value written to `general.file_type`.
inline uint32_t file_type_gguf_value(FileType type) { return static_cast<uint32_t>(type); }
// The type most tensors get (Q4_K for Q4_K_M, IQ2_XS for IQ2_S, ...).
DType file_type_base_dtype(FileType type);

// What the rules need to know about the model (GGUF keys {arch}.block_count, .attention.head_count,
// .attention.head_count_kv of layer 0, .expert_count).
struct RecipeInput {
  std::string arch;      // general.architecture: "llama", "qwen2", "falcon", ...
  int n_layer = 0;       // block_count
  int n_head = 0;        // attention.head_count (layer 0)
  int n_head_kv = 0;     // attention.head_count_kv (layer 0); 0 if unknown
  int n_expert = 0;      // expert_count; 0 for dense models
  bool has_imatrix = false;  // an importance matrix is supplied (hearth has none yet)

  // Query heads per KV head, 0 when head_count_kv is unknown (llama.cpp's n_gqa()).
  int n_gqa() const { return n_head_kv > 0 ? n_head / n_head_kv : 0; }
  // llama.cpp calls these models "70B" and gives their attn_v at least Q5_K.
  bool is_70b_class() const;
};

// Counters llama.cpp keeps while it walks the tensors: totals over the whole file, and how many
// of each kind have been seen so far.
struct RecipeState {
  int n_attn_v = 0;           // attn_v / attn_qkv / attn_kv_b tensors in the file
  int n_ffn_layers = 0;       // block_count, the denominator of the ffn_* layer rules
  bool tied_output = true;    // no output.weight: token_embd doubles as the output matrix
  int i_attn_v = 0;
  int i_ffn_down = 0;
  int i_ffn_gate = 0;
  int i_ffn_up = 0;
  int n_fallback = 0;         // tensors that needed a fallback type (llama.cpp warns about them)
};

// Totals for a file with these tensor names.
RecipeState make_recipe_state(const RecipeInput& model, std::span<const std::string> tensor_names);

// Whether llama-quantize changes this tensor's type at all (it must be a weight of >= 2
// dimensions that is not a norm, router or one of a few small special tensors).
bool tensor_is_quantizable(std::string_view name, const TensorView& shape);

// The type one tensor gets. `shape.type` is its current type, kept for tensors that are not
// quantizable. Call in llama.cpp's order (see llama_tensor_order); updates `state`. Fails only for
// MoE models whose expert tensors are not named "blk.N.…" or name a block out of range.
Result<DType> choose_tensor_type(FileType type, const RecipeInput& model, std::string_view name,
                                 const TensorView& shape, RecipeState& state);

// Indices of `tensor_names` in the order llama.cpp visits (and writes) them: tensors outside the
// "blk.N." blocks first, then block by block in numeric order, byte-wise name order inside each.
std::vector<size_t> llama_tensor_order(std::span<const std::string> tensor_names);

struct RecipeTensor {
  std::string name;
  TensorView shape;  // current type and ne[]; data is not read
};

// The type of every tensor (same order as `tensors`), visiting them in llama.cpp's order.
Result<std::vector<DType>> plan_quantization(FileType type, const RecipeInput& model,
                                             std::span<const RecipeTensor> tensors);

// llama.cpp refuses to make these without an importance matrix (IQ1/IQ2/IQ3_XXS tensors, and
// Q2_K tensors of a Q2_K_S file), except for token_embd and output.
bool type_requires_imatrix(std::string_view name, DType chosen, FileType type);

}  // namespace hearth
