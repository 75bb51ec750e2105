#include "model/hf_names.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

#include "base/result.h"

namespace hearth {
namespace {

constexpr std::array kArchs = {
    HfArch{"LlamaForCausalLM", "llama", "llama", true, true},
    HfArch{"MistralForCausalLM", "mistral", "llama", true, true},
    HfArch{"Qwen2ForCausalLM", "qwen2", "qwen2", false, false},
    HfArch{"Qwen3ForCausalLM", "qwen3", "qwen3", false, false},
    HfArch{"Qwen3MoeForCausalLM", "qwen3_moe", "qwen3moe", false, false, "num_experts"},
    HfArch{"MixtralForCausalLM", "mixtral", "llama", true, true, "num_local_experts"},
    // DeepSeek V2/V3 (hf_loader.cpp's deepseek block: MLA's shapes, kv_b_proj split per head).
    HfArch{"DeepseekV2ForCausalLM", "deepseek_v2", "deepseek2", false, false, "n_routed_experts"},
    HfArch{"DeepseekV3ForCausalLM", "deepseek_v3", "deepseek2", false, false, "n_routed_experts"},
    // Qwen3.5 (hf_loader.cpp's qwen35 block: the Gated DeltaNet keys and tensor transforms). The
    // multimodal checkpoints nest the text model's config in text_config and its tensors under
    // model.language_model.; their tensor names are the text model's once that is taken off.
    HfArch{"Qwen3_5ForCausalLM", "qwen3_5_text", "qwen35", false, false},
    HfArch{"Qwen3_5ForConditionalGeneration", "qwen3_5", "qwen35", false, false, "", "qwen3_5_text"},
    HfArch{"Qwen3_5MoeForCausalLM", "qwen3_5_moe_text", "qwen35moe", false, false, "num_experts"},
    HfArch{"Qwen3_5MoeForConditionalGeneration", "qwen3_5_moe", "qwen35moe", false, false, "num_experts",
           "qwen3_5_moe_text"},
    // Gemma 2 and Gemma 3's text model (hf_loader.cpp's gemma block: norms stored as w - 1, the
    // windows and soft-caps).
    HfArch{"Gemma2ForCausalLM", "gemma2", "gemma2", false, false},
    HfArch{"Gemma3ForCausalLM", "gemma3_text", "gemma3", false, false},
    // Phi-3 / Phi-3.5 / Phi-4 (mini and medium): fused qkv_proj and gate_up_proj, LongRoPE factors.
    HfArch{"Phi3ForCausalLM", "phi3", "phi3", false, false},
    // Gemma 4 (dense and E2B/E4B; hf_loader.cpp's gemma4 block): the multimodal checkpoints' text
    // model, its vision and audio towers left out.
    HfArch{"Gemma4ForCausalLM", "gemma4_text", "gemma4", false, false},
    HfArch{"Gemma4ForConditionalGeneration", "gemma4", "gemma4", false, false, "", "gemma4_text"},
    // BERT encoders (bge, MiniLM, e5; hf_loader.cpp's bert block: the WordPiece vocabulary, pooling
    // from the sentence-transformers modules).
    HfArch{"BertModel", "bert", "bert", false, false},
    // A BERT cross-encoder (ms-marco-MiniLM and kin): the pooler and the one-logit classifier as
    // the reranker's head (hf_loader.cpp; rerank.h).
    HfArch{"BertForSequenceClassification", "bert", "bert", false, false},
    // nomic-embed-text v1/v1.5: GPT-2-style config keys, fused Wqkv, SwiGLU (hf_loader.cpp's nomic block).
    HfArch{"NomicBertModel", "nomic_bert", "nomic-bert", false, false},
    // EmbeddingGemma: Gemma 3's text model as a base model (names without "model."), its Dense
    // modules from the sentence-transformers folders (hf_loader.cpp).
    HfArch{"Gemma3TextModel", "gemma3_text", "gemma-embedding", false, false},
};

constexpr std::array kTable = {
    // BERT (BertModel's own names, "bert." taken off by the loader as the converter does).
    HfNamePair{Slot::kTokenEmbd, "embeddings.word_embeddings.weight", "bert"},
    HfNamePair{Slot::kPosEmbd, "embeddings.position_embeddings.weight", "bert"},
    HfNamePair{Slot::kTokenTypes, "embeddings.token_type_embeddings.weight", "bert"},
    HfNamePair{Slot::kTokenEmbdNorm, "embeddings.LayerNorm.weight", "bert"},
    HfNamePair{Slot::kTokenEmbdNormBias, "embeddings.LayerNorm.bias", "bert"},
    HfNamePair{Slot::kWq, "encoder.layer.{i}.attention.self.query.weight", "bert"},
    HfNamePair{Slot::kBq, "encoder.layer.{i}.attention.self.query.bias", "bert"},
    HfNamePair{Slot::kWk, "encoder.layer.{i}.attention.self.key.weight", "bert"},
    HfNamePair{Slot::kBk, "encoder.layer.{i}.attention.self.key.bias", "bert"},
    HfNamePair{Slot::kWv, "encoder.layer.{i}.attention.self.value.weight", "bert"},
    HfNamePair{Slot::kBv, "encoder.layer.{i}.attention.self.value.bias", "bert"},
    HfNamePair{Slot::kWo, "encoder.layer.{i}.attention.output.dense.weight", "bert"},
    HfNamePair{Slot::kBo, "encoder.layer.{i}.attention.output.dense.bias", "bert"},
    HfNamePair{Slot::kAttnNorm, "encoder.layer.{i}.attention.output.LayerNorm.weight", "bert"},
    HfNamePair{Slot::kAttnNormBias, "encoder.layer.{i}.attention.output.LayerNorm.bias", "bert"},
    HfNamePair{Slot::kUp, "encoder.layer.{i}.intermediate.dense.weight", "bert"},
    HfNamePair{Slot::kUpBias, "encoder.layer.{i}.intermediate.dense.bias", "bert"},
    HfNamePair{Slot::kDown, "encoder.layer.{i}.output.dense.weight", "bert"},
    HfNamePair{Slot::kDownBias, "encoder.layer.{i}.output.dense.bias", "bert"},
    HfNamePair{Slot::kFfnNorm, "encoder.layer.{i}.output.LayerNorm.weight", "bert"},
    HfNamePair{Slot::kFfnNormBias, "encoder.layer.{i}.output.LayerNorm.bias", "bert"},
    // A cross-encoder's head: BertForSequenceClassification's pooler (its "bert." prefix taken off
    // like the rest) and classifier. llama.cpp's converter drops the pooler, which transformers
    // runs; hearth keeps it as cls, where llama.cpp's graph runs it too.
    HfNamePair{Slot::kCls, "pooler.dense.weight", "bert"},
    HfNamePair{Slot::kClsBias, "pooler.dense.bias", "bert"},
    HfNamePair{Slot::kClsOut, "classifier.weight", "bert"},
    HfNamePair{Slot::kClsOutBias, "classifier.bias", "bert"},
    // nomic-bert (NomicBertModel's names, no prefix).
    HfNamePair{Slot::kTokenEmbd, "embeddings.word_embeddings.weight", "nomic_bert"},
    HfNamePair{Slot::kTokenTypes, "embeddings.token_type_embeddings.weight", "nomic_bert"},
    HfNamePair{Slot::kTokenEmbdNorm, "emb_ln.weight", "nomic_bert"},
    HfNamePair{Slot::kTokenEmbdNormBias, "emb_ln.bias", "nomic_bert"},
    HfNamePair{Slot::kWqkv, "encoder.layers.{i}.attn.Wqkv.weight", "nomic_bert"},
    HfNamePair{Slot::kWo, "encoder.layers.{i}.attn.out_proj.weight", "nomic_bert"},
    HfNamePair{Slot::kBo, "encoder.layers.{i}.attn.out_proj.bias", "nomic_bert"},
    HfNamePair{Slot::kAttnNorm, "encoder.layers.{i}.norm1.weight", "nomic_bert"},
    HfNamePair{Slot::kAttnNormBias, "encoder.layers.{i}.norm1.bias", "nomic_bert"},
    HfNamePair{Slot::kUp, "encoder.layers.{i}.mlp.fc11.weight", "nomic_bert"},
    HfNamePair{Slot::kGate, "encoder.layers.{i}.mlp.fc12.weight", "nomic_bert"},
    HfNamePair{Slot::kDown, "encoder.layers.{i}.mlp.fc2.weight", "nomic_bert"},
    HfNamePair{Slot::kFfnNorm, "encoder.layers.{i}.norm2.weight", "nomic_bert"},
    HfNamePair{Slot::kFfnNormBias, "encoder.layers.{i}.norm2.bias", "nomic_bert"},
    // Gemma names its post-attention norm as llama names the FFN's input norm, which it calls
    // pre_feedforward_layernorm: these rows come before the generic ones.
    HfNamePair{Slot::kAttnPostNorm, "model.layers.{i}.post_attention_layernorm.weight", "gemma2"},
    HfNamePair{Slot::kAttnPostNorm, "model.layers.{i}.post_attention_layernorm.weight", "gemma3_text"},
    HfNamePair{Slot::kFfnNorm, "model.layers.{i}.pre_feedforward_layernorm.weight", "gemma2"},
    HfNamePair{Slot::kFfnNorm, "model.layers.{i}.pre_feedforward_layernorm.weight", "gemma3_text"},
    HfNamePair{Slot::kFfnPostNorm, "model.layers.{i}.post_feedforward_layernorm.weight", "gemma2"},
    HfNamePair{Slot::kFfnPostNorm, "model.layers.{i}.post_feedforward_layernorm.weight", "gemma3_text"},
    HfNamePair{Slot::kAttnPostNorm, "model.layers.{i}.post_attention_layernorm.weight", "gemma4_text"},
    HfNamePair{Slot::kFfnNorm, "model.layers.{i}.pre_feedforward_layernorm.weight", "gemma4_text"},
    HfNamePair{Slot::kFfnPostNorm, "model.layers.{i}.post_feedforward_layernorm.weight", "gemma4_text"},
    // Gemma 4 26B-A4B's experts beside the dense FFN: the router (its projection, its input scale,
    // its per-expert output scale, which llama.cpp keeps as ffn_down_exps.scale), the experts'
    // fused gate/up and down projections (3-D, no ".weight"), and the second FFN's norms.
    HfNamePair{Slot::kRouter, "model.layers.{i}.router.proj.weight", "gemma4_text"},
    HfNamePair{Slot::kRouterScale, "model.layers.{i}.router.scale", "gemma4_text"},
    HfNamePair{Slot::kDownExpsScale, "model.layers.{i}.router.per_expert_scale", "gemma4_text"},
    HfNamePair{Slot::kGateUpExps, "model.layers.{i}.experts.gate_up_proj", "gemma4_text"},
    HfNamePair{Slot::kDownExps, "model.layers.{i}.experts.down_proj", "gemma4_text"},
    HfNamePair{Slot::kFfnPreNorm2, "model.layers.{i}.pre_feedforward_layernorm_2.weight", "gemma4_text"},
    HfNamePair{Slot::kFfnPostNorm1, "model.layers.{i}.post_feedforward_layernorm_1.weight", "gemma4_text"},
    HfNamePair{Slot::kFfnPostNorm2, "model.layers.{i}.post_feedforward_layernorm_2.weight", "gemma4_text"},
    // Gemma 4: the layer's output scale, and E2B/E4B's per-layer embeddings.
    HfNamePair{Slot::kLayerOutScale, "model.layers.{i}.layer_scalar"},
    HfNamePair{Slot::kPleTokEmbd, "model.embed_tokens_per_layer.weight"},
    HfNamePair{Slot::kPleModelProj, "model.per_layer_model_projection.weight"},
    HfNamePair{Slot::kPleProjNorm, "model.per_layer_projection_norm.weight"},
    HfNamePair{Slot::kPleInpGate, "model.layers.{i}.per_layer_input_gate.weight"},
    HfNamePair{Slot::kPleProj, "model.layers.{i}.per_layer_projection.weight"},
    HfNamePair{Slot::kPlePostNorm, "model.layers.{i}.post_per_layer_input_norm.weight"},
    // Qwen3.5-MoE's one shared expert (singular, unlike DeepSeek's below) and its gate.
    HfNamePair{Slot::kGateShexp, "model.layers.{i}.mlp.shared_expert.gate_proj.weight", "qwen3_5_moe_text"},
    HfNamePair{Slot::kUpShexp, "model.layers.{i}.mlp.shared_expert.up_proj.weight", "qwen3_5_moe_text"},
    HfNamePair{Slot::kDownShexp, "model.layers.{i}.mlp.shared_expert.down_proj.weight", "qwen3_5_moe_text"},
    HfNamePair{Slot::kShexpGate, "model.layers.{i}.mlp.shared_expert_gate.weight", "qwen3_5_moe_text"},
    HfNamePair{Slot::kRouter, "model.layers.{i}.mlp.gate.weight", "qwen3_5_moe_text"},
    HfNamePair{Slot::kTokenEmbd, "model.embed_tokens.weight"},
    HfNamePair{Slot::kOutputNorm, "model.norm.weight"},
    HfNamePair{Slot::kOutput, "lm_head.weight"},
    HfNamePair{Slot::kAttnNorm, "model.layers.{i}.input_layernorm.weight"},
    HfNamePair{Slot::kWq, "model.layers.{i}.self_attn.q_proj.weight"},
    HfNamePair{Slot::kWk, "model.layers.{i}.self_attn.k_proj.weight"},
    HfNamePair{Slot::kWv, "model.layers.{i}.self_attn.v_proj.weight"},
    HfNamePair{Slot::kWo, "model.layers.{i}.self_attn.o_proj.weight"},
    HfNamePair{Slot::kBq, "model.layers.{i}.self_attn.q_proj.bias"},
    HfNamePair{Slot::kBk, "model.layers.{i}.self_attn.k_proj.bias"},
    HfNamePair{Slot::kBv, "model.layers.{i}.self_attn.v_proj.bias"},
    HfNamePair{Slot::kQNorm, "model.layers.{i}.self_attn.q_norm.weight"},
    HfNamePair{Slot::kKNorm, "model.layers.{i}.self_attn.k_norm.weight"},
    HfNamePair{Slot::kFfnNorm, "model.layers.{i}.post_attention_layernorm.weight"},
    HfNamePair{Slot::kWqkv, "model.layers.{i}.self_attn.qkv_proj.weight"},
    HfNamePair{Slot::kGateUp, "model.layers.{i}.mlp.gate_up_proj.weight"},
    HfNamePair{Slot::kGate, "model.layers.{i}.mlp.gate_proj.weight"},
    HfNamePair{Slot::kUp, "model.layers.{i}.mlp.up_proj.weight"},
    HfNamePair{Slot::kDown, "model.layers.{i}.mlp.down_proj.weight"},
    HfNamePair{Slot::kRouter, "model.layers.{i}.mlp.gate.weight", "qwen3_moe"},
    HfNamePair{Slot::kRouter, "model.layers.{i}.block_sparse_moe.gate.weight", "mixtral"},
    // DeepSeek: MLA's low-rank query and latent paths (attn_k_b and attn_v_b are one kv_b_proj in
    // HF, split and merged by hf_loader.cpp and hf_writer.cpp), the router and its selection bias,
    // the shared experts.
    HfNamePair{Slot::kWqA, "model.layers.{i}.self_attn.q_a_proj.weight"},
    HfNamePair{Slot::kQANorm, "model.layers.{i}.self_attn.q_a_layernorm.weight"},
    HfNamePair{Slot::kWqB, "model.layers.{i}.self_attn.q_b_proj.weight"},
    HfNamePair{Slot::kWkvA, "model.layers.{i}.self_attn.kv_a_proj_with_mqa.weight"},
    HfNamePair{Slot::kKvANorm, "model.layers.{i}.self_attn.kv_a_layernorm.weight"},
    HfNamePair{Slot::kRouter, "model.layers.{i}.mlp.gate.weight", "deepseek_v2"},
    HfNamePair{Slot::kRouter, "model.layers.{i}.mlp.gate.weight", "deepseek_v3"},
    HfNamePair{Slot::kExpProbsB, "model.layers.{i}.mlp.gate.e_score_correction_bias"},
    HfNamePair{Slot::kGateShexp, "model.layers.{i}.mlp.shared_experts.gate_proj.weight", "deepseek_v2"},
    HfNamePair{Slot::kUpShexp, "model.layers.{i}.mlp.shared_experts.up_proj.weight", "deepseek_v2"},
    HfNamePair{Slot::kDownShexp, "model.layers.{i}.mlp.shared_experts.down_proj.weight", "deepseek_v2"},
    HfNamePair{Slot::kGateShexp, "model.layers.{i}.mlp.shared_experts.gate_proj.weight", "deepseek_v3"},
    HfNamePair{Slot::kUpShexp, "model.layers.{i}.mlp.shared_experts.up_proj.weight", "deepseek_v3"},
    HfNamePair{Slot::kDownShexp, "model.layers.{i}.mlp.shared_experts.down_proj.weight", "deepseek_v3"},
    // Qwen3.5's Gated DeltaNet layers (Qwen3-Next's, with q/k/v and z in separate projections).
    // ssm_dt.bias is the converter's rename of dt_bias; ssm_a is -exp(A_log) (hf_loader.cpp).
    HfNamePair{Slot::kSsmQkv, "model.layers.{i}.linear_attn.in_proj_qkv.weight"},
    HfNamePair{Slot::kSsmGate, "model.layers.{i}.linear_attn.in_proj_z.weight"},
    HfNamePair{Slot::kSsmBeta, "model.layers.{i}.linear_attn.in_proj_b.weight"},
    HfNamePair{Slot::kSsmAlpha, "model.layers.{i}.linear_attn.in_proj_a.weight"},
    HfNamePair{Slot::kSsmConv, "model.layers.{i}.linear_attn.conv1d.weight"},
    HfNamePair{Slot::kSsmDt, "model.layers.{i}.linear_attn.dt_bias"},
    HfNamePair{Slot::kSsmA, "model.layers.{i}.linear_attn.A_log"},
    HfNamePair{Slot::kSsmNorm, "model.layers.{i}.linear_attn.norm.weight"},
    HfNamePair{Slot::kSsmOut, "model.layers.{i}.linear_attn.out_proj.weight"},
};

constexpr std::array kExperts = {
    HfExpertPair{Slot::kGateExps, "model.layers.{i}.mlp.experts.{e}.gate_proj.weight", "qwen3_moe"},
    HfExpertPair{Slot::kUpExps, "model.layers.{i}.mlp.experts.{e}.up_proj.weight", "qwen3_moe"},
    HfExpertPair{Slot::kDownExps, "model.layers.{i}.mlp.experts.{e}.down_proj.weight", "qwen3_moe"},
    HfExpertPair{Slot::kGateExps, "model.layers.{i}.block_sparse_moe.experts.{e}.w1.weight", "mixtral"},
    HfExpertPair{Slot::kUpExps, "model.layers.{i}.block_sparse_moe.experts.{e}.w3.weight", "mixtral"},
    HfExpertPair{Slot::kDownExps, "model.layers.{i}.block_sparse_moe.experts.{e}.w2.weight", "mixtral"},
    HfExpertPair{Slot::kGateExps, "model.layers.{i}.mlp.experts.{e}.gate_proj.weight", "deepseek_v2"},
    HfExpertPair{Slot::kUpExps, "model.layers.{i}.mlp.experts.{e}.up_proj.weight", "deepseek_v2"},
    HfExpertPair{Slot::kDownExps, "model.layers.{i}.mlp.experts.{e}.down_proj.weight", "deepseek_v2"},
    HfExpertPair{Slot::kGateExps, "model.layers.{i}.mlp.experts.{e}.gate_proj.weight", "deepseek_v3"},
    HfExpertPair{Slot::kUpExps, "model.layers.{i}.mlp.experts.{e}.up_proj.weight", "deepseek_v3"},
    HfExpertPair{Slot::kDownExps, "model.layers.{i}.mlp.experts.{e}.down_proj.weight", "deepseek_v3"},
    HfExpertPair{Slot::kGateExps, "model.layers.{i}.mlp.experts.{e}.gate_proj.weight", "qwen3_5_moe_text"},
    HfExpertPair{Slot::kUpExps, "model.layers.{i}.mlp.experts.{e}.up_proj.weight", "qwen3_5_moe_text"},
    HfExpertPair{Slot::kDownExps, "model.layers.{i}.mlp.experts.{e}.down_proj.weight", "qwen3_5_moe_text"},
};

constexpr std::array kKeys = {
    HfKey{"block_count", "num_hidden_layers", false, false, true},
    HfKey{"context_length", "max_position_embeddings"},
    HfKey{"embedding_length", "hidden_size", false, false, true},
    HfKey{"feed_forward_length", "intermediate_size", false, false, true},
    HfKey{"attention.head_count", "num_attention_heads", false, false, true},
    HfKey{"attention.head_count_kv", "num_key_value_heads"},
    HfKey{"attention.key_length", "head_dim"},
    HfKey{"attention.layer_norm_rms_epsilon", "rms_norm_eps", true},
    HfKey{"expert_used_count", "num_experts_per_tok", false, true},
    HfKey{"expert_feed_forward_length", "moe_intermediate_size", false, true},
};

constexpr std::array kYarnKeys = {
    HfKey{"rope.scaling.yarn_ext_factor", "extrapolation_factor", true},
    HfKey{"rope.scaling.yarn_attn_factor", "attention_factor", true},
    HfKey{"rope.scaling.yarn_beta_fast", "beta_fast", true},
    HfKey{"rope.scaling.yarn_beta_slow", "beta_slow", true},
};

constexpr std::array kSpecialTokens = {
    HfSpecialToken{"unk_token", "unknown"}, HfSpecialToken{"sep_token", "seperator"},
    HfSpecialToken{"pad_token", "padding"}, HfSpecialToken{"cls_token", "cls"},
    HfSpecialToken{"mask_token", "mask"},
};

constexpr std::array kNomicAliases = {
    HfKeyAlias{"hidden_size", "n_embd"},          HfKeyAlias{"num_hidden_layers", "n_layer"},
    HfKeyAlias{"num_attention_heads", "n_head"},  HfKeyAlias{"intermediate_size", "n_inner"},
    HfKeyAlias{"layer_norm_eps", "layer_norm_epsilon"}, HfKeyAlias{"rope_theta", "rotary_emb_base"},
};

constexpr std::string_view kLayer = "{i}";
constexpr size_t kMaxLayerDigits = 6;

// Matches `name` against `pattern`; on success returns the layer digits ("" for globals).
std::optional<std::string_view> match(std::string_view pattern, std::string_view name) {
  size_t hole = pattern.find(kLayer);
  if (hole == std::string_view::npos) {
    if (pattern == name) return std::string_view{};
    return std::nullopt;
  }
  std::string_view prefix = pattern.substr(0, hole);
  std::string_view suffix = pattern.substr(hole + kLayer.size());
  if (name.size() <= prefix.size() + suffix.size()) return std::nullopt;
  if (name.substr(0, prefix.size()) != prefix) return std::nullopt;
  if (name.substr(name.size() - suffix.size()) != suffix) return std::nullopt;
  std::string_view digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.size() > kMaxLayerDigits) return std::nullopt;
  for (char c : digits)
    if (c < '0' || c > '9') return std::nullopt;
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;  // one spelling per layer
  return digits;
}

std::string fill(std::string_view pattern, std::string_view digits) {
  std::string out(pattern);
  size_t hole = out.find(kLayer);
  if (hole != std::string::npos) out.replace(hole, kLayer.size(), digits);
  return out;
}

bool applies(std::string_view row_type, std::string_view model_type) {
  return row_type.empty() || row_type == model_type;
}

bool has_layer_hole(std::string_view pattern) { return pattern.find(kLayer) != std::string_view::npos; }

// The GGUF name pattern of `slot` in `arch`, if the architecture has the slot and it is global or
// per-layer as `hf` is.
std::optional<std::string_view> gguf_pattern(const ArchSpec& arch, Slot slot, std::string_view hf) {
  for (const std::vector<TensorSpec>* specs : {&arch.globals, &arch.per_layer})
    for (const TensorSpec& t : *specs)
      if (t.slot == slot && has_layer_hole(t.name) == has_layer_hole(hf)) return t.name;
  return std::nullopt;
}

// The slot of a GGUF tensor name in `arch`, and its layer digits.
std::optional<std::pair<Slot, std::string_view>> gguf_slot(const ArchSpec& arch, std::string_view gguf_name) {
  for (const std::vector<TensorSpec>* specs : {&arch.globals, &arch.per_layer})
    for (const TensorSpec& t : *specs)
      if (auto digits = match(t.name, gguf_name)) return std::pair{t.slot, *digits};
  return std::nullopt;
}

}  // namespace

std::span<const HfArch> hf_arch_table() { return kArchs; }

std::span<const HfKey> hf_key_table() { return kKeys; }
std::span<const HfSpecialToken> hf_special_token_table() { return kSpecialTokens; }
std::span<const HfKeyAlias> hf_nomic_key_aliases() { return kNomicAliases; }
std::span<const HfKey> hf_yarn_key_table() { return kYarnKeys; }

const char* hf_key(std::string_view gguf) {
  for (const HfKey& k : kKeys)
    if (k.gguf == gguf) return k.hf.data();  // the literals are NUL-terminated
  HEARTH_CHECK(false, "no config.json key for a GGUF key");
  return "";
}

const HfArch* find_hf_arch(std::string_view hf_class, std::string_view model_type) {
  for (const HfArch& a : kArchs)
    if (!hf_class.empty() && a.hf_class == hf_class) return &a;
  for (const HfArch& a : kArchs)
    if (!model_type.empty() && a.model_type == model_type) return &a;
  return nullptr;
}

const HfArch* find_hf_arch_for_gguf(std::string_view gguf_arch, bool moe) {
  for (const HfArch& a : kArchs)
    if (a.gguf_arch == gguf_arch && a.moe() == moe) return &a;
  return nullptr;
}

std::span<const HfNamePair> hf_name_table() { return kTable; }

// A dialect's own row for a slot replaces the generic rows of that slot (BERT's embeddings are
// not model.embed_tokens; Gemma's FFN norm is not post_attention_layernorm).
bool overridden(const HfNamePair& pair, std::string_view model_type) {
  if (!pair.model_type.empty()) return false;
  for (const HfNamePair& other : kTable)
    if (other.slot == pair.slot && !other.model_type.empty() && other.model_type == model_type) return true;
  return false;
}

std::optional<std::string> hf_to_gguf_name(std::string_view hf_name, const ArchSpec& arch,
                                           std::string_view model_type) {
  for (const HfNamePair& pair : kTable) {
    if (!applies(pair.model_type, model_type) || overridden(pair, model_type)) continue;
    auto digits = match(pair.hf, hf_name);
    if (!digits) continue;
    if (auto gguf = gguf_pattern(arch, pair.slot, pair.hf)) return fill(*gguf, *digits);
  }
  return std::nullopt;
}

std::optional<std::string> gguf_to_hf_name(std::string_view gguf_name, const ArchSpec& arch,
                                           std::string_view model_type) {
  auto slot = gguf_slot(arch, gguf_name);
  if (!slot) return std::nullopt;
  for (const HfNamePair& pair : kTable)
    if (pair.slot == slot->first && applies(pair.model_type, model_type) &&
        has_layer_hole(pair.hf) == !slot->second.empty())
      return fill(pair.hf, slot->second);
  return std::nullopt;
}

std::span<const HfExpertPair> hf_expert_table() { return kExperts; }

std::optional<HfExpertName> hf_expert_name(std::string_view hf_name, const ArchSpec& arch,
                                           std::string_view model_type) {
  constexpr std::string_view kExpert = "{e}";
  for (const HfExpertPair& pair : kExperts) {
    if (!applies(pair.model_type, model_type)) continue;
    // pattern = head "{e}" tail, where head holds the layer hole: match the tail, then the
    // expert digits, then the head against what precedes them.
    const size_t hole = pair.hf.find(kExpert);
    const std::string_view head = pair.hf.substr(0, hole), tail = pair.hf.substr(hole + kExpert.size());
    if (hf_name.size() <= tail.size() || !hf_name.ends_with(tail)) continue;
    const std::string_view rest = hf_name.substr(0, hf_name.size() - tail.size());
    size_t digits_at = rest.size();
    while (digits_at > 0 && rest[digits_at - 1] >= '0' && rest[digits_at - 1] <= '9') --digits_at;
    const std::string_view digits = rest.substr(digits_at);
    if (digits.empty() || digits.size() > kMaxLayerDigits || (digits.size() > 1 && digits[0] == '0')) continue;
    auto layer = match(head, rest.substr(0, digits_at));
    if (!layer) continue;
    auto gguf = gguf_pattern(arch, pair.slot, pair.hf);
    if (!gguf) continue;
    return HfExpertName{fill(*gguf, *layer), std::stoll(std::string(digits))};
  }
  return std::nullopt;
}

std::optional<std::string> gguf_expert_to_hf_name(std::string_view gguf_name, int64_t expert,
                                                  const ArchSpec& arch, std::string_view model_type) {
  auto slot = gguf_slot(arch, gguf_name);
  if (!slot) return std::nullopt;
  for (const HfExpertPair& pair : kExperts) {
    if (pair.slot != slot->first || pair.model_type != model_type) continue;
    std::string name = fill(pair.hf, slot->second);
    name.replace(name.find("{e}"), 3, std::to_string(expert));
    return name;
  }
  return std::nullopt;
}

bool hf_name_is_ignored(std::string_view hf_name) {
  constexpr std::string_view kInvFreq = ".rotary_emb.inv_freq";
  return hf_name.size() >= kInvFreq.size() &&
         hf_name.substr(hf_name.size() - kInvFreq.size()) == kInvFreq;
}

int64_t permute_qk_source_row(int64_t row, int64_t n_rows, int64_t n_head, bool inverse) {
  HEARTH_CHECK(n_head > 0 && n_rows % (2 * n_head) == 0, "rows not divisible by 2*n_head");
  const int64_t head_rows = n_rows / n_head;
  const int64_t half = head_rows / 2;
  const int64_t head = row / head_rows;
  const int64_t r = row % head_rows;
  // Forward: out[2*j + s] = in[s*half + j].  Inverse: out[s*half + j] = in[2*j + s].
  int64_t src = 0;
  if (!inverse) {
    src = (r % 2) * half + r / 2;
  } else {
    src = 2 * (r % half) + r / half;
  }
  return head * head_rows + src;
}

void permute_qk_rows(const uint8_t* src, uint8_t* dst, int64_t n_rows, uint64_t row_bytes,
                     int64_t n_head, bool inverse) {
  for (int64_t row = 0; row < n_rows; ++row) {
    int64_t from = permute_qk_source_row(row, n_rows, n_head, inverse);
    std::memcpy(dst + static_cast<uint64_t>(row) * row_bytes,
                src + static_cast<uint64_t>(from) * row_bytes, row_bytes);
  }
}

std::vector<float> llama3_rope_factors(double rope_theta, int64_t head_dim, double factor,
                                       double low_freq_factor, double high_freq_factor,
                                       double original_context) {
  // Mirrors the converter's float32 torch arithmetic: python scalars meet float32 tensors, so
  // every intermediate is rounded to float.
  const float low_wavelen = static_cast<float>(original_context / low_freq_factor);
  const float high_wavelen = static_cast<float>(original_context / high_freq_factor);
  const float two_pi = static_cast<float>(2.0 * M_PI);
  std::vector<float> factors;
  for (int64_t i = 0; i < head_dim; i += 2) {
    float exponent = static_cast<float>(i) / static_cast<float>(head_dim);
    float freq = 1.0f / std::pow(static_cast<float>(rope_theta), exponent);
    float wavelen = two_pi / freq;
    if (wavelen < high_wavelen) {
      factors.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      factors.push_back(static_cast<float>(factor));
    } else {
      float smooth =
          (static_cast<float>(original_context) / wavelen - static_cast<float>(low_freq_factor)) /
          static_cast<float>(high_freq_factor - low_freq_factor);
      factors.push_back(1.0f / ((1.0f - smooth) / static_cast<float>(factor) + smooth));
    }
  }
  return factors;
}

}  // namespace hearth
