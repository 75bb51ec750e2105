// Hugging Face <-> GGUF as data: the architecture table (HF class / model_type <-> GGUF
// general.architecture), the HF name of each tensor slot for the llama family (llama/mistral,
// qwen2, qwen3, their MoE kin; the GGUF names are arch.cpp's slot tables'), both directions, and the Q/K row permutation llama.cpp's converter applies for llama.
// Checked against llama.cpp's gguf-py/gguf/tensor_mapping.py and convert_hf_to_gguf.py; "{i}"
// stands for the layer index.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/arch.h"

namespace hearth {

struct HfArch {
  std::string_view hf_class;    // config.json architectures[0]: "LlamaForCausalLM"
  std::string_view model_type;  // config.json model_type: "llama"
  std::string_view gguf_arch;   // general.architecture: "llama"
  // llama.cpp's LlamaModel permutes Q/K rows from HF's rotate-half RoPE layout to GGUF's
  // adjacent-pairs layout; qwen2/qwen3 keep HF's layout (NeoX RoPE) and are not permuted.
  bool permute_qk;
  // LlamaModel.set_gguf_parameters also writes {arch}.vocab_size and {arch}.rope.dimension_count
  // and bakes llama3 rope scaling into a rope_freqs tensor; Qwen2Model does neither.
  bool llama_extras;
  // Mixture of Experts: config.json's expert-count field ("num_experts", "num_local_experts"),
  // empty for dense models.
  std::string_view expert_count_key = "";
  // A multimodal checkpoint's text model: the model_type whose tensor names (less
  // "model.language_model." -> "model.") its tensors have; empty: model_type itself.
  std::string_view text_model_type = "";
  bool moe() const { return !expert_count_key.empty(); }
  std::string_view names() const { return text_model_type.empty() ? model_type : text_model_type; }
};

std::span<const HfArch> hf_arch_table();
// By architectures[0] first, then by model_type; nullptr if neither is known.
const HfArch* find_hf_arch(std::string_view hf_class, std::string_view model_type);
// The HF class written for a GGUF architecture: the first table row with that gguf_arch and
// that kind (dense or Mixture of Experts: "llama" with experts is Mixtral).
const HfArch* find_hf_arch_for_gguf(std::string_view gguf_arch, bool moe = false);

// One HF tensor name per slot (arch.h): the GGUF name is the architecture's slot table's, so no
// GGUF tensor name is written here. Rows whose slot an architecture lacks do not apply to it.
struct HfNamePair {
  Slot slot;
  std::string_view hf;    // "model.layers.{i}.self_attn.q_proj.weight"
  std::string_view model_type = "";  // non-empty: the HF name of this model_type only
};

std::span<const HfNamePair> hf_name_table();

// "model.layers.3.mlp.down_proj.weight" -> "blk.3.ffn_down.weight" for `arch` and an HF folder of
// `model_type`; nullopt if no row applies.
std::optional<std::string> hf_to_gguf_name(std::string_view hf_name, const ArchSpec& arch,
                                           std::string_view model_type);
// "blk.3.ffn_down.weight" -> "model.layers.3.mlp.down_proj.weight"; nullopt if no row applies.
std::optional<std::string> gguf_to_hf_name(std::string_view gguf_name, const ArchSpec& arch,
                                           std::string_view model_type);

// Mixture of Experts: HF stores each expert's matrix as its own tensor, GGUF stacks them along a
// third dimension. "{e}" stands for the expert index.
struct HfExpertPair {
  Slot slot;                    // the stacked tensor's slot: Slot::kGateExps
  std::string_view hf;          // "model.layers.{i}.mlp.experts.{e}.gate_proj.weight"
  std::string_view model_type;  // "qwen3_moe"
};
std::span<const HfExpertPair> hf_expert_table();
struct HfExpertName {
  std::string gguf;  // the stacked tensor: "blk.3.ffn_gate_exps.weight"
  int64_t expert;    // its slice
};
// "model.layers.3.mlp.experts.17.gate_proj.weight" -> {"blk.3.ffn_gate_exps.weight", 17}.
std::optional<HfExpertName> hf_expert_name(std::string_view hf_name, const ArchSpec& arch,
                                           std::string_view model_type);
// The HF name of slice `expert` of a stacked GGUF tensor for `model_type`; nullopt if none.
std::optional<std::string> gguf_expert_to_hf_name(std::string_view gguf_name, int64_t expert,
                                                  const ArchSpec& arch, std::string_view model_type);

// Hyperparameters carried one to one between config.json and GGUF metadata: the GGUF key
// (after "{arch}."), its config.json key, and whether it is a float (else an unsigned integer).
// The loader copies each present one to GGUF and the writer back; keys with more to them (the
// rope settings, the expert count's per-dialect name, defaults) are handled by each beside it.
struct HfKey {
  std::string_view gguf;  // "block_count"
  std::string_view hf;    // "num_hidden_layers" (a literal: hf.data() is NUL-terminated)
  bool is_float = false;
  bool moe_only = false;  // copied only for Mixture-of-Experts architectures
  bool required = false;  // a config.json without it is refused
};
std::span<const HfKey> hf_key_table();
// The config.json key of a GGUF key in the table (a programming error if it is not there).
const char* hf_key(std::string_view gguf);
// Inside rope_scaling for YaRN: GGUF key -> config.json key (all floats).
std::span<const HfKey> hf_yarn_key_table();

// The special tokens llama.cpp's SpecialVocab carries from tokenizer_config.json: the field there
// ("cls_token") and the GGUF key's stem (tokenizer.ggml.{gguf}_token_id; llama.cpp spells
// "seperator" so).
struct HfSpecialToken {
  std::string_view hf;
  std::string_view gguf;
};
std::span<const HfSpecialToken> hf_special_token_table();

// nomic-bert's config.json (NomicBertModel) names some of the table's keys as GPT-2 does: the
// standard name and nomic's, for the loader to read either and the writer to write nomic's.
struct HfKeyAlias {
  std::string_view hf;     // "hidden_size"
  std::string_view nomic;  // "n_embd"
};
std::span<const HfKeyAlias> hf_nomic_key_aliases();

// HF tensors that carry no weights and that llama.cpp's converter drops (rotary inv_freq buffers).
bool hf_name_is_ignored(std::string_view hf_name);

// llama.cpp's LlamaModel.permute: viewing the rows of an attn_q/attn_k weight (or bias) as
// [n_head][2][rows/n_head/2], swap the last two axes, so within each head row s*half + j (HF,
// rotate-half pairs (j, j+half)) moves to row 2*j + s (GGUF, adjacent pairs). `inverse` undoes it.
// Rows are moved as opaque bytes, so any dtype works. Requires n_rows % (2 * n_head) == 0.
void permute_qk_rows(const uint8_t* src, uint8_t* dst, int64_t n_rows, uint64_t row_bytes,
                     int64_t n_head, bool inverse);
// The source row that permute_qk_rows copies to output row `row`.
int64_t permute_qk_source_row(int64_t row, int64_t n_rows, int64_t n_head, bool inverse);

// The rope_freqs.weight that llama.cpp's LlamaModel.generate_extra_tensors bakes for
// rope_type "llama3": head_dim/2 F32 divisors of the RoPE frequencies (1 for high frequencies,
// `factor` for low ones, smooth in between). Computed in float32 like the converter's torch code.
std::vector<float> llama3_rope_factors(double rope_theta, int64_t head_dim, double factor,
                                       double low_freq_factor, double high_freq_factor,
                                       double original_context);

}  // namespace hearth
