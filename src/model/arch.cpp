#include "model/arch.h"

#include <fmt/format.h>

namespace hearth {
namespace {

// Tensors every llama-like decoder has; families below add their extras.
std::vector<TensorSpec> llama_globals() {
  return {
      {"token_embd.weight", Dim::kEmbd, Dim::kVocab, true},
      {"output_norm.weight", Dim::kEmbd, Dim::kOne, true},
      {"output.weight", Dim::kEmbd, Dim::kVocab, false},   // absent when tied to token_embd
      {"rope_freqs.weight", Dim::kRotHalf, Dim::kOne, false},  // llama-3 rope scaling factors
  };
}

std::vector<TensorSpec> llama_layer() {
  return {
      {"blk.{i}.attn_norm.weight", Dim::kEmbd, Dim::kOne, true},
      {"blk.{i}.attn_q.weight", Dim::kEmbd, Dim::kQ, true},
      {"blk.{i}.attn_k.weight", Dim::kEmbd, Dim::kKV, true},
      {"blk.{i}.attn_v.weight", Dim::kEmbd, Dim::kKV, true},
      {"blk.{i}.attn_output.weight", Dim::kQ, Dim::kEmbd, true},
      {"blk.{i}.ffn_norm.weight", Dim::kEmbd, Dim::kOne, true},
      {"blk.{i}.ffn_gate.weight", Dim::kEmbd, Dim::kFF, true, Dim::kOne, Layers::kDense},
      {"blk.{i}.ffn_down.weight", Dim::kFF, Dim::kEmbd, true, Dim::kOne, Layers::kDense},
      {"blk.{i}.ffn_up.weight", Dim::kEmbd, Dim::kFF, true, Dim::kOne, Layers::kDense},
      // Mixture of Experts layers (Mixtral under "llama", qwen3moe): a router and each expert's
      // SwiGLU matrices stacked along a third dimension.
      {"blk.{i}.ffn_gate_inp.weight", Dim::kEmbd, Dim::kExpert, true, Dim::kOne, Layers::kMoe},
      {"blk.{i}.ffn_gate_exps.weight", Dim::kEmbd, Dim::kFFExp, true, Dim::kExpert, Layers::kMoe},
      {"blk.{i}.ffn_down_exps.weight", Dim::kFFExp, Dim::kEmbd, true, Dim::kExpert, Layers::kMoe},
      {"blk.{i}.ffn_up_exps.weight", Dim::kEmbd, Dim::kFFExp, true, Dim::kExpert, Layers::kMoe},
  };
}

std::vector<TensorSpec> with(std::vector<TensorSpec> base, std::vector<TensorSpec> extra) {
  base.insert(base.end(), extra.begin(), extra.end());
  return base;
}

const std::vector<ArchSpec>& arch_table() {
  static const std::vector<ArchSpec> table = {
      {"llama", llama_globals(), llama_layer(), RopeStyle::kNormal, false, false},
      {"qwen2", llama_globals(),
       with(llama_layer(), {{"blk.{i}.attn_q.bias", Dim::kQ, Dim::kOne, true},
                            {"blk.{i}.attn_k.bias", Dim::kKV, Dim::kOne, true},
                            {"blk.{i}.attn_v.bias", Dim::kKV, Dim::kOne, true}}),
       RopeStyle::kNeox, true, false},
      {"qwen3", llama_globals(),
       with(llama_layer(), {{"blk.{i}.attn_q_norm.weight", Dim::kHeadDim, Dim::kOne, true},
                            {"blk.{i}.attn_k_norm.weight", Dim::kHeadDim, Dim::kOne, true}}),
       RopeStyle::kNeox, false, true},
      {"qwen3moe", llama_globals(),
       with(llama_layer(), {{"blk.{i}.attn_q_norm.weight", Dim::kHeadDim, Dim::kOne, true},
                            {"blk.{i}.attn_k_norm.weight", Dim::kHeadDim, Dim::kOne, true}}),
       RopeStyle::kNeox, false, true, /*requires_experts=*/true},
  };
  return table;
}

}  // namespace

const ArchSpec* find_arch(std::string_view name) {
  for (const ArchSpec& a : arch_table())
    if (a.name == name) return &a;
  return nullptr;
}

std::vector<std::string_view> known_archs() {
  std::vector<std::string_view> names;
  for (const ArchSpec& a : arch_table()) names.push_back(a.name);
  return names;
}

int64_t dim_value(Dim dim, const HParams& hp) {
  switch (dim) {
    case Dim::kOne: return 1;
    case Dim::kEmbd: return hp.n_embd;
    case Dim::kVocab: return hp.n_vocab;
    case Dim::kQ: return hp.q_dim();
    case Dim::kKV: return hp.kv_dim();
    case Dim::kFF: return hp.n_ff;
    case Dim::kHeadDim: return hp.head_dim;
    case Dim::kRotHalf: return hp.n_rot / 2;
    case Dim::kExpert: return hp.n_expert;
    case Dim::kFFExp: return hp.n_ff_exp;
  }
  return 0;
}

bool TensorSpec::in_layer(const HParams& hp, int64_t layer) const {
  switch (layers) {
    case Layers::kAll: return true;
    case Layers::kDense: return !hp.layer_is_moe(layer);
    case Layers::kMoe: return hp.layer_is_moe(layer);
  }
  return true;
}

std::string layer_tensor_name(std::string_view pattern, int64_t layer) {
  std::string name(pattern);
  size_t at = name.find("{i}");
  if (at != std::string::npos) name.replace(at, 3, std::to_string(layer));
  return name;
}

Result<HParams> read_hparams(const ModelFile& model) {
  const std::string arch = model.architecture();
  if (arch.empty()) return make_error("{}: general.architecture is missing", model.path());
  // Every hyperparameter is bounded: a hostile file must not make later code size buffers from
  // absurd values (these limits are far above any released model).
  auto get = [&](std::string_view suffix, bool required, int64_t fallback,
                 int64_t max) -> Result<int64_t> {
    std::string key = model.arch_key(suffix);
    const gguf::Value* v = model.find(key);
    if (v == nullptr) {
      if (required) return make_error("{}: {} is missing", model.path(), key);
      return fallback;
    }
    std::optional<int64_t> x = v->as_int();
    if (!x) return make_error("{}: {} must be an integer", model.path(), key);
    if (*x <= 0 || *x > max)
      return make_error("{}: {} = {} is out of range 1..{}", model.path(), key, *x, max);
    return *x;
  };
  HParams hp;
  HEARTH_TRY(hp.n_ctx_train, get("context_length", true, 0, int64_t{1} << 24));
  HEARTH_TRY(hp.n_embd, get("embedding_length", true, 0, int64_t{1} << 17));
  HEARTH_TRY(hp.n_layer, get("block_count", true, 0, 4096));
  HEARTH_TRY(hp.n_ff, get("feed_forward_length", true, 0, int64_t{1} << 20));
  HEARTH_TRY(hp.n_head, get("attention.head_count", true, 0, 4096));
  HEARTH_TRY(hp.n_head_kv, get("attention.head_count_kv", false, hp.n_head, 4096));
  if (hp.n_head % hp.n_head_kv != 0)
    return make_error("{}: attention.head_count {} is not a multiple of head_count_kv {}",
                      model.path(), hp.n_head, hp.n_head_kv);
  const bool has_key_length = model.find(model.arch_key("attention.key_length")) != nullptr;
  if (!has_key_length && hp.n_embd % hp.n_head != 0)
    return make_error("{}: embedding_length {} is not divisible by attention.head_count {}",
                      model.path(), hp.n_embd, hp.n_head);
  HEARTH_TRY(hp.head_dim, get("attention.key_length", false, hp.n_embd / hp.n_head, 1 << 14));
  HEARTH_TRY(int64_t value_length, get("attention.value_length", false, hp.head_dim, 1 << 14));
  if (value_length != hp.head_dim)
    return make_error("{}: attention.value_length {} differs from key_length {} (unsupported)",
                      model.path(), value_length, hp.head_dim);
  HEARTH_TRY(hp.n_rot, get("rope.dimension_count", false, hp.head_dim, hp.head_dim));
  if (hp.n_rot % 2 != 0)
    return make_error("{}: rope.dimension_count {} is odd", model.path(), hp.n_rot);
  hp.rope_freq_base = model.get_float(model.arch_key("rope.freq_base")).value_or(10000.0);
  hp.rms_eps = model.get_float(model.arch_key("attention.layer_norm_rms_epsilon")).value_or(1e-5);
  if (!(hp.rope_freq_base > 0) || !(hp.rms_eps > 0) || !(hp.rms_eps < 1))
    return make_error("{}: rope.freq_base / layer_norm_rms_epsilon out of range", model.path());

  // Experts: a count of 0 is refused by get() like every other zero; a MoE family must have one.
  const bool has_experts = model.find(model.arch_key("expert_count")) != nullptr;
  const ArchSpec* arch_spec = find_arch(arch);
  if (!has_experts && arch_spec && arch_spec->requires_experts)
    return make_error("{}: {} is missing ({} is a Mixture-of-Experts architecture)", model.path(),
                      model.arch_key("expert_count"), arch);
  if (has_experts) {
    HEARTH_TRY(hp.n_expert, get("expert_count", true, 0, kMaxExperts));
    HEARTH_TRY(hp.n_expert_used, get("expert_used_count", true, 0, kMaxExperts));
    if (hp.n_expert_used > hp.n_expert)
      return make_error("{}: expert_used_count {} exceeds expert_count {}", model.path(),
                        hp.n_expert_used, hp.n_expert);
    HEARTH_TRY(hp.n_ff_exp, get("expert_feed_forward_length", false, hp.n_ff, int64_t{1} << 20));
    const gguf::Value* lead = model.find(model.arch_key("leading_dense_block_count"));
    if (lead != nullptr) {
      std::optional<int64_t> n = lead->as_int();
      if (!n || *n < 0 || *n > hp.n_layer)
        return make_error("{}: leading_dense_block_count must be an integer in 0..{} (block_count)",
                          model.path(), hp.n_layer);
      hp.n_layer_dense_lead = *n;
    }
  }

  if (const ModelTensor* embd = model.find_tensor("token_embd.weight")) {
    hp.n_vocab = embd->view.ne[1];
  } else if (const gguf::Value* tokens = model.find("tokenizer.ggml.tokens");
             tokens && tokens->as_array()) {
    hp.n_vocab = static_cast<int64_t>(tokens->as_array()->items.size());
  } else {
    hp.n_vocab = model.get_int(model.arch_key("vocab_size")).value_or(0);
  }
  return hp;
}

static std::string shape_string(const TensorView& v) {
  std::string s = "[";
  for (int d = 0; d < v.n_dims; ++d) s += (d ? ", " : "") + std::to_string(v.ne[d]);
  return s + "]";
}

Status validate_tensors(const ModelFile& model, const ArchSpec& arch, const HParams& hp) {
  auto check = [&](const TensorSpec& spec, int64_t layer) -> Status {
    std::string name = layer_tensor_name(spec.name, layer);
    const ModelTensor* t = model.find_tensor(name);
    if (t == nullptr) {
      if (spec.required) return make_error("{}: tensor '{}' is missing", model.path(), name);
      return {};
    }
    const int64_t ne0 = dim_value(spec.ne0, hp);
    const int64_t ne1 = dim_value(spec.ne1, hp);
    const int64_t ne2 = dim_value(spec.ne2, hp);
    const bool ok = t->view.ne[0] == ne0 && t->view.ne[1] == ne1 && t->view.ne[2] == ne2 &&
                    t->view.ne[3] == 1;
    if (!ok) {
      const std::string expected = spec.ne2 == Dim::kOne ? fmt::format("[{}, {}]", ne0, ne1)
                                                         : fmt::format("[{}, {}, {}]", ne0, ne1, ne2);
      return make_error("{}: tensor '{}' has shape {}, expected {} for these hyperparameters",
                        model.path(), name, shape_string(t->view), expected);
    }
    return {};
  };
  for (const TensorSpec& spec : arch.globals) HEARTH_RETURN_IF_ERROR(check(spec, -1));
  for (int64_t i = 0; i < hp.n_layer; ++i)
    for (const TensorSpec& spec : arch.per_layer)
      if (spec.in_layer(hp, i)) HEARTH_RETURN_IF_ERROR(check(spec, i));
  return {};
}

}  // namespace hearth
