// Multi-head Latent Attention's combined key/value up-projection, split per head. Hugging Face
// folders (kv_b_proj) and GGUF files from llama.cpp converters before its MLA support
// (attn_kv_b) hold one matrix of n_head * (nope + v_head) rows of kv_lora; hearth, like current
// llama.cpp files, runs the absorbed form, which needs each head's key rows transposed (attn_k_b:
// queries into the latent) and its value rows (attn_v_b: the attended latent out).
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "model/model_file.h"

namespace hearth {

struct MlaHeadShape {
  int64_t n_head = 0, nope = 0, v_head = 0, kv_lora = 0;
};

// Appends blk.{layer}.attn_k_b [n_head][kv_lora][nope] and attn_v_b [n_head][v_head][kv_lora] to
// `parts`, owned by it. F32, F16 and BF16 keep their type (the same elements, moved); a quantized
// kv_b keeps its type in attn_v_b (whole rows are copied) and is dequantized to F32 for attn_k_b,
// whose transposed rows (nope wide) no longer line up with the blocks.
Status split_kv_b(const TensorView& kv_b, const std::string& where, const MlaHeadShape& shape, int64_t layer,
                  ModelFile::Parts& parts);

// A deepseek2 GGUF from an older converter (attn_kv_b, no attention.key_length_mla) rewritten in
// memory to the current layout: key_length/value_length become the per-head _mla sizes, the cache's
// head becomes the latent (kv_lora + rope, one KV head), and each attn_kv_b is split. A file with
// attn_k_b and attn_v_b as well keeps those and drops attn_kv_b. Anything else is left alone.
Status upgrade_legacy_mla(ModelFile::Parts& parts);

}  // namespace hearth
