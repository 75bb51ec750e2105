// Real architectures at real shapes, for `hearth mkmodel`: random weights, real vocabularies.
// The tiny variants keep each family's features (GQA, QKV bias, QK-norm, head_dim != n_embd /
// n_head, llama-3 rope scaling) at sizes unit tests can afford; their n_embd is a multiple of 256
// so K-quants apply to them as to real models.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/arch.h"

namespace hearth {

struct Llama3RopeScaling {
  double factor = 32.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_context = 8192;
};

// YaRN context extension (gpt-oss): rope.scaling.{type = yarn, factor, original_context_length}.
struct YarnScaling {
  double factor = 32.0;
  int64_t original_context = 4096;
};

struct Preset {
  std::string_view name;          // "qwen2.5-0.5b"
  std::string_view arch;          // general.architecture
  std::string_view vocab_file;    // in shared/testdata/vocab
  std::string_view chat_template; // in shared/testdata/chat_templates ("" = keep the vocab's)
  HParams hp;                     // n_vocab is taken from the vocabulary
  bool tied_output = false;
  std::optional<Llama3RopeScaling> llama3_rope = std::nullopt;
  std::optional<int64_t> eos_token_id = std::nullopt;// instruct models stop on end-of-turn
  std::optional<bool> add_bos_token = std::nullopt;
  std::optional<YarnScaling> yarn = std::nullopt;
  // Control tokens appended to the vocabulary, for chat formats whose markers it lacks
  // (gpt-oss's harmony format over the qwen2 vocabulary: the o200k one is not in testdata).
  std::vector<std::string_view> extra_control_tokens = {};
  std::optional<std::string_view> eos_token = std::nullopt;  // by text, among the extra tokens
  std::optional<bool> add_eos_token = std::nullopt;  // embedding models that pool the appended EOS
  // Rerankers (pooling rank): tokenizer.chat_template.rerank, with {query} and {document}.
  std::string_view rerank_template = {};
  // Gemma 4: its full layers rotate this fraction of each head ("proportional" rope, written as
  // rope_freqs: 1 for the rotated pairs, 1e30 for the rest, as llama.cpp's converter does), and
  // have no attn_v (their keys are their values). 0 / false: neither.
  double proportional_rope = 0.0;
  bool keys_as_values_full = false;
  bool fused_expert_gate_up = false;  // ffn_gate_up_exps instead of ffn_gate_exps + ffn_up_exps (Gemma 4)
};

const std::vector<Preset>& presets();
const Preset* find_preset(std::string_view name);

}  // namespace hearth
