#include "model/mkmodel.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "gguf/gguf.h"
#include "model/hf_names.h"
#include "model/quantize.h"
#include "model/rerank.h"

namespace hearth {
namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// splitmix64: a tiny, well-mixed generator; one independent stream per (seed, tensor, row), so
// rows can be generated in any order on any thread with identical results.
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>((next() >> 11) + 1) * 0x1.0p-53; }  // (0, 1]
};

}  // namespace

void random_row(uint64_t seed, const std::string& tensor_name, int64_t row, const WeightInit& init,
                float* out, int64_t n) {
  SplitMix64 rng{seed * 0x2545F4914F6CDD1Dull ^ fnv1a(tensor_name) ^
                 (static_cast<uint64_t>(row) * 0x9E3779B97F4A7C15ull)};
  for (int64_t i = 0; i < n; i += 2) {
    // Box-Muller: two normals per pair of uniforms.
    double r = std::sqrt(-2.0 * std::log(rng.uniform()));
    double theta = 2.0 * 3.14159265358979323846 * rng.uniform();
    double z[2] = {r * std::cos(theta), r * std::sin(theta)};
    for (int64_t j = 0; j < 2 && i + j < n; ++j) {
      double x = z[j] * init.stddev;
      out[i + j] = static_cast<float>(init.kind == WeightInit::Kind::kOnesPlusNoise       ? 1.0 + x
                                      : init.kind == WeightInit::Kind::kMinusOnePlusNoise ? -1.0 + x
                                                                                          : x);
    }
  }
}

namespace {

// Weights scaled so activations keep unit scale through the layers (N(0, 1/fan_in) for
// matrices) and the logits are peaked: with std 3/sqrt(n_embd) embeddings the tied output gives
// logits of std ~3, so top-1 is usually clear and a broken forward pass shows in comparisons.
WeightInit init_for(const std::string& name, const TensorView& shape, const HParams& hp) {
  if (name == "rope_freqs.weight") return {WeightInit::Kind::kRopeFactors, 0};
  // Gated DeltaNet's decay scale a = -exp(A_log) is negative (the state decays): about -1.
  if (name.ends_with(".ssm_a")) return {WeightInit::Kind::kMinusOnePlusNoise, 0.1f};
  // Qwen3.5-MoE's shared-expert gate is a one-row matrix stored 1-D: initialised as one.
  if (name.ends_with("ffn_gate_inp_shexp.weight"))
    return {WeightInit::Kind::kNormal, static_cast<float>(1.0 / std::sqrt(hp.n_embd))};
  if (shape.n_dims == 1) {
    if (name.ends_with(".bias")) return {WeightInit::Kind::kNormal, 0.05f};
    return {WeightInit::Kind::kOnesPlusNoise, 0.1f};  // norm weights
  }
  if (name == "per_layer_token_embd.weight")  // about 1 once scaled by sqrt(n_pl), as the projection it meets
    return {WeightInit::Kind::kNormal, static_cast<float>(1.0 / std::sqrt(hp.n_embd_per_layer))};
  if (name == "token_embd.weight" || name == "output.weight" || name == "cls.output.weight")
    return {WeightInit::Kind::kNormal, static_cast<float>(3.0 / std::sqrt(hp.n_embd))};
  return {WeightInit::Kind::kNormal, static_cast<float>(1.0 / std::sqrt(shape.ne[0]))};
}

// The vocabulary's token and token-type arrays with the preset's extra control tokens appended
// (none: nothing to rewrite), and the eos id when the preset names its eos by text.
std::vector<std::pair<std::string, gguf::Value>> with_extra_tokens(const Preset& p, const gguf::File& vocab) {
  std::vector<std::pair<std::string, gguf::Value>> out;
  if (p.extra_control_tokens.empty()) return out;
  const gguf::Value* tokens = vocab.find("tokenizer.ggml.tokens");
  const gguf::Value* types = vocab.find("tokenizer.ggml.token_type");
  gguf::Array t = *tokens->as_array();
  gguf::Array ty = types && types->as_array() ? *types->as_array() : gguf::Array{gguf::ValueType::INT32, {}};
  ty.items.resize(t.items.size(), gguf::Value{int32_t{1}});  // 1: normal
  // SentencePiece vocabularies carry a score per token too (llama.cpp refuses a short array).
  const gguf::Value* scores = vocab.find("tokenizer.ggml.scores");
  std::optional<gguf::Array> sc;
  if (scores && scores->as_array()) sc = *scores->as_array();
  std::optional<int64_t> eos;
  for (std::string_view tok : p.extra_control_tokens) {
    bool present = false;
    for (size_t i = 0; i < t.items.size() && !present; ++i) {
      const std::string* s = t.items[i].as_string();
      if (s && *s == tok) {
        present = true;
        if (p.eos_token && *p.eos_token == tok) eos = static_cast<int64_t>(i);
      }
    }
    if (present) continue;
    if (p.eos_token && *p.eos_token == tok) eos = static_cast<int64_t>(t.items.size());
    t.items.push_back(gguf::Value{std::string(tok)});
    ty.items.push_back(gguf::Value{int32_t{3}});  // 3: control
    if (sc) sc->items.push_back(gguf::Value{0.0f});
  }
  out.emplace_back("tokenizer.ggml.tokens", gguf::Value{std::move(t)});
  out.emplace_back("tokenizer.ggml.token_type", gguf::Value{std::move(ty)});
  if (sc) out.emplace_back("tokenizer.ggml.scores", gguf::Value{std::move(*sc)});
  if (eos) out.emplace_back("tokenizer.ggml.eos_token_id", gguf::Value{static_cast<uint32_t>(*eos)});
  return out;
}

// Row `row` of a layer's combined attn_kv_b (n_head * (nope + v) rows of kv_lora) from the
// attn_k_b and attn_v_b the same seed gives: a head's key rows are its attn_k_b columns, its value
// rows its attn_v_b rows, as llama.cpp's converter splits them.
RowSource legacy_kv_b_rows(uint64_t seed, const std::string& kv_b_name, const HParams& hp) {
  const std::string stem = kv_b_name.substr(0, kv_b_name.size() - std::string_view("attn_kv_b.weight").size());
  const int64_t nope = hp.head_dim_k_mla - hp.n_rot, v = hp.head_dim_v_mla, lora = hp.n_lora_kv;
  const WeightInit k_init{WeightInit::Kind::kNormal, static_cast<float>(1.0 / std::sqrt(nope))};
  const WeightInit v_init{WeightInit::Kind::kNormal, static_cast<float>(1.0 / std::sqrt(lora))};
  return [=](int64_t row, float* dst) {
    const int64_t head = row / (nope + v), j = row % (nope + v);
    if (j >= nope) return random_row(seed, stem + "attn_v_b.weight", head * v + j - nope, v_init, dst, lora);
    std::vector<float> k_row(static_cast<size_t>(nope));
    for (int64_t r = 0; r < lora; ++r) {
      random_row(seed, stem + "attn_k_b.weight", head * lora + r, k_init, k_row.data(), nope);
      dst[r] = k_row[static_cast<size_t>(j)];
    }
  };
}

using ExtraTokens = std::vector<std::pair<std::string, gguf::Value>>;

std::vector<gguf::KeyValue> preset_metadata(const Preset& p, const HParams& hp, const gguf::File& vocab,
                                            const ExtraTokens& extra_tokens, const std::string& tmpl,
                                            bool legacy_kv_b) {
  gguf::Writer w;  // used only as an ordered key/value map
  std::string a(p.arch);
  w.set_string("general.architecture", a);
  w.set_string("general.name", fmt::format("hearth-random-{}", p.name));
  w.set_u32(a + ".context_length", static_cast<uint32_t>(hp.n_ctx_train));
  w.set_u32(a + ".embedding_length", static_cast<uint32_t>(hp.n_embd));
  w.set_u32(a + ".block_count", static_cast<uint32_t>(hp.n_layer));
  if (!hp.n_ff_arr.empty()) {  // one width per layer (Gemma 4 E2B), as its converter writes them
    gguf::Array widths{gguf::ValueType::UINT32, {}};
    for (int64_t x : hp.n_ff_arr) widths.items.push_back(gguf::Value{static_cast<uint32_t>(x)});
    w.set(a + ".feed_forward_length", gguf::Value{std::move(widths)});
  } else {
    w.set_u32(a + ".feed_forward_length", static_cast<uint32_t>(hp.n_ff));
  }
  w.set_u32(a + ".attention.head_count", static_cast<uint32_t>(hp.n_head));
  if (!hp.n_head_kv_arr.empty()) {  // one count per layer (Gemma 4)
    gguf::Array counts{gguf::ValueType::UINT32, {}};
    for (int64_t c : hp.n_head_kv_arr) counts.items.push_back(gguf::Value{static_cast<uint32_t>(c)});
    w.set(a + ".attention.head_count_kv", gguf::Value{std::move(counts)});
  } else {
    w.set_u32(a + ".attention.head_count_kv", static_cast<uint32_t>(legacy_kv_b ? hp.n_head : hp.n_head_kv));
  }
  if (hp.is_mla() && legacy_kv_b) {  // the older converter: the heads of the uncompressed attention
    w.set_u32(a + ".attention.key_length", static_cast<uint32_t>(hp.head_dim_k_mla));
    w.set_u32(a + ".attention.value_length", static_cast<uint32_t>(hp.head_dim_v_mla));
    w.set_u32(a + ".attention.q_lora_rank", static_cast<uint32_t>(hp.n_lora_q));
    w.set_u32(a + ".attention.kv_lora_rank", static_cast<uint32_t>(hp.n_lora_kv));
  } else if (hp.is_mla()) {  // as llama.cpp's converter writes DeepSeek: the cache's head is the latent
    w.set_u32(a + ".attention.key_length", static_cast<uint32_t>(hp.head_dim));
    w.set_u32(a + ".attention.value_length", static_cast<uint32_t>(hp.n_lora_kv));
    w.set_u32(a + ".attention.key_length_mla", static_cast<uint32_t>(hp.head_dim_k_mla));
    w.set_u32(a + ".attention.value_length_mla", static_cast<uint32_t>(hp.head_dim_v_mla));
    w.set_u32(a + ".attention.q_lora_rank", static_cast<uint32_t>(hp.n_lora_q));
    w.set_u32(a + ".attention.kv_lora_rank", static_cast<uint32_t>(hp.n_lora_kv));
  } else if (hp.head_dim != hp.n_embd / hp.n_head || hp.head_dim_swa > 0) {
    w.set_u32(a + ".attention.key_length", static_cast<uint32_t>(hp.head_dim));
    w.set_u32(a + ".attention.value_length", static_cast<uint32_t>(hp.head_dim));
  }
  const ArchSpec* arch = find_arch(p.arch);
  if (!(arch && arch->absolute_positions)) {  // BERT's positions are learned, not roped
    w.set_f32(a + ".rope.freq_base", static_cast<float>(hp.rope_freq_base));
    w.set_u32(a + ".rope.dimension_count", static_cast<uint32_t>(hp.n_rot));
  }
  if (arch && arch->norm == NormKind::kLayer)
    w.set_f32(a + ".attention.layer_norm_epsilon", static_cast<float>(hp.norm_eps));
  else
    w.set_f32(a + ".attention.layer_norm_rms_epsilon", static_cast<float>(hp.rms_eps));
  if (!hp.causal) w.set_bool(a + ".attention.causal", false);
  w.set_u32(a + ".vocab_size", static_cast<uint32_t>(hp.n_vocab));
  if (hp.n_expert > 0) {
    w.set_u32(a + ".expert_count", static_cast<uint32_t>(hp.n_expert));
    w.set_u32(a + ".expert_used_count", static_cast<uint32_t>(hp.n_expert_used));
    // Written by llama.cpp's converter for every MoE family but Mixtral (llama).
    if (hp.n_ff_exp != hp.n_ff || p.arch != "llama")
      w.set_u32(a + ".expert_feed_forward_length", static_cast<uint32_t>(hp.n_ff_exp));
    if (hp.n_layer_dense_lead > 0)
      w.set_u32(a + ".leading_dense_block_count", static_cast<uint32_t>(hp.n_layer_dense_lead));
    if (arch && arch->mla) {  // DeepSeekMoE's router, as the converter writes V2 and V3
      w.set_u32(a + ".expert_shared_count", static_cast<uint32_t>(hp.n_expert_shared));
      w.set_f32(a + ".expert_weights_scale", static_cast<float>(hp.expert_weights_scale));
      w.set_bool(a + ".expert_weights_norm", hp.expert_weights_norm);
      w.set_u32(a + ".expert_gating_func", hp.gating == ExpertGating::kSigmoid ? 2 : 1);
      if (hp.n_expert_groups > 0) {
        w.set_u32(a + ".expert_group_count", static_cast<uint32_t>(hp.n_expert_groups));
        w.set_u32(a + ".expert_group_used_count", static_cast<uint32_t>(hp.n_group_used));
      }
    }
  }
  if (arch && arch->delta_net) {  // as llama.cpp's converter writes Qwen3.5
    w.set_u32(a + ".ssm.conv_kernel", static_cast<uint32_t>(hp.ssm_conv_kernel));
    w.set_u32(a + ".ssm.state_size", static_cast<uint32_t>(hp.ssm_head_dim));
    w.set_u32(a + ".ssm.group_count", static_cast<uint32_t>(hp.ssm_n_k_heads));
    w.set_u32(a + ".ssm.time_step_rank", static_cast<uint32_t>(hp.ssm_n_v_heads));
    w.set_u32(a + ".ssm.inner_size", static_cast<uint32_t>(hp.ssm_value_dim()));
    if (hp.n_expert > 0)
      w.set_u32(a + ".expert_shared_feed_forward_length", static_cast<uint32_t>(hp.ffn_shexp_width()));
    int64_t interval = 1;  // the first attention layer's number (every interval-th attends)
    while (interval <= hp.n_layer && hp.layer_is_recurrent(interval - 1)) ++interval;
    w.set_u32(a + ".full_attention_interval", static_cast<uint32_t>(interval));
    if (!hp.rope_sections.empty()) {
      gguf::Array sections{gguf::ValueType::INT32, {}};
      for (int64_t x : hp.rope_sections) sections.items.push_back(gguf::Value{static_cast<int32_t>(x)});
      w.set(a + ".rope.dimension_sections", gguf::Value{std::move(sections)});
    }
  }
  if (hp.n_swa > 0) w.set_u32(a + ".attention.sliding_window", static_cast<uint32_t>(hp.n_swa));
  if (hp.n_swa > 0 && !hp.swa_layers.empty()) {  // the preset's own pattern, one flag per layer
    gguf::Array flags{gguf::ValueType::BOOL, {}};
    for (uint8_t f : hp.swa_layers) flags.items.push_back(gguf::Value{f != 0});
    w.set(a + ".attention.sliding_window_pattern", gguf::Value{std::move(flags)});
  }
  if (hp.head_dim_swa > 0) {  // Gemma 4, as its converter writes it (0: not an E2B/E4B)
    w.set_u32(a + ".attention.key_length_swa", static_cast<uint32_t>(hp.head_dim_swa));
    w.set_u32(a + ".attention.value_length_swa", static_cast<uint32_t>(hp.head_dim_swa));
    w.set_u32(a + ".rope.dimension_count_swa", static_cast<uint32_t>(hp.n_rot_swa));
    w.set_u32(a + ".attention.shared_kv_layers", static_cast<uint32_t>(hp.n_kv_shared));
    w.set_u32(a + ".embedding_length_per_layer_input", static_cast<uint32_t>(hp.n_embd_per_layer));
  }
  if (hp.n_swa > 0 && arch && arch->swa_own_rope)
    w.set_f32(a + ".rope.freq_base_swa", static_cast<float>(hp.rope_freq_base_swa));
  if (hp.attn_logit_softcap > 0)
    w.set_f32(a + ".attn_logit_softcapping", static_cast<float>(hp.attn_logit_softcap));
  if (hp.final_logit_softcap > 0)
    w.set_f32(a + ".final_logit_softcapping", static_cast<float>(hp.final_logit_softcap));
  if (hp.pooling != Pooling::kNone)
    w.set_u32(a + ".pooling_type", static_cast<uint32_t>(hp.pooling));
  if (hp.n_dense > 0) {  // as llama.cpp's converter writes sentence-transformers Dense modules
    w.set_u32(a + ".dense_2_feat_in", static_cast<uint32_t>(hp.n_embd));
    w.set_u32(a + ".dense_2_feat_out", static_cast<uint32_t>(hp.n_dense));
    w.set_u32(a + ".dense_3_feat_in", static_cast<uint32_t>(hp.n_dense));
    w.set_u32(a + ".dense_3_feat_out", static_cast<uint32_t>(hp.n_embd));
  }
  if (hp.pooling == Pooling::kRank) {  // as llama.cpp's converter labels a Qwen3-Reranker's head (a
    gguf::Array labels;                // cross-encoder's one logit: transformers' default label)
    labels.elem_type = gguf::ValueType::STRING;
    if (hp.n_cls_out == 2)
      for (std::string_view c : kQwen3RerankClasses) labels.items.push_back(gguf::Value{std::string(c)});
    for (int64_t i = int64_t(labels.items.size()); i < hp.n_cls_out; ++i)
      labels.items.push_back(gguf::Value{fmt::format("LABEL_{}", i)});
    w.set(a + ".classifier.output_labels", gguf::Value{std::move(labels)});
  }
  if (p.yarn) {
    w.set_string(a + ".rope.scaling.type", "yarn");
    w.set_f32(a + ".rope.scaling.factor", static_cast<float>(p.yarn->factor));
    w.set_u32(a + ".rope.scaling.original_context_length", static_cast<uint32_t>(p.yarn->original_context));
    if (hp.rope_yarn_log_mul != 0)  // the converter's 0.1 * mscale_all_dim
      w.set_f32(a + ".rope.scaling.yarn_log_multiplier", static_cast<float>(0.1 * hp.rope_yarn_log_mul));
  }
  for (const gguf::KeyValue& kv : vocab.metadata())
    if (kv.key.starts_with("tokenizer.")) w.set(kv.key, kv.value);
  for (const auto& [key, value] : extra_tokens) w.set(key, value);
  if (hp.n_token_types > 0) w.set_u32("tokenizer.ggml.token_type_count", static_cast<uint32_t>(hp.n_token_types));
  if (p.eos_token_id) w.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(*p.eos_token_id));
  if (p.add_bos_token) w.set_bool("tokenizer.ggml.add_bos_token", *p.add_bos_token);
  if (p.add_eos_token) w.set_bool("tokenizer.ggml.add_eos_token", *p.add_eos_token);
  if (!tmpl.empty()) w.set_string("tokenizer.chat_template", tmpl);
  if (!p.rerank_template.empty()) w.set_string("tokenizer.chat_template.rerank", std::string(p.rerank_template));
  return w.metadata();
}

}  // namespace

Result<MkModelReport> make_random_model(const MkModelOptions& options) {
  const Preset* preset = find_preset(options.preset);
  if (preset == nullptr) {
    std::string names;
    for (const Preset& p : presets()) names += (names.empty() ? "" : ", ") + std::string(p.name);
    return make_error("unknown preset '{}' (known: {})", options.preset, names);
  }
  const ArchSpec* arch = find_arch(preset->arch);
  HEARTH_CHECK(arch != nullptr, "preset names an unknown architecture");
  HEARTH_TRY(RecipeChoice recipe, parse_type_or_recipe(options.type));

  std::string vocab_path = options.vocab_dir + "/" + std::string(preset->vocab_file);
  HEARTH_TRY(gguf::File vocab, gguf::File::open(vocab_path));
  const gguf::Value* tokens = vocab.find("tokenizer.ggml.tokens");
  if (tokens == nullptr || tokens->as_array() == nullptr)
    return make_error("{}: no tokenizer.ggml.tokens array", vocab_path);
  HParams hp = preset->hp;
  hp.n_vocab = static_cast<int64_t>(tokens->as_array()->items.size());
  const ExtraTokens extra_tokens = with_extra_tokens(*preset, vocab);
  for (const auto& [key, value] : extra_tokens)
    if (key == "tokenizer.ggml.tokens") hp.n_vocab = static_cast<int64_t>(value.as_array()->items.size());
  if (options.n_layer > 0) {  // fewer layers of a full-width model, for benchmarks on small machines
    if (options.n_layer > hp.n_layer)
      return make_error("--layers {} exceeds the preset's {} layers", options.n_layer, hp.n_layer);
    hp.n_layer = options.n_layer;
    hp.n_layer_dense_lead = std::min(hp.n_layer_dense_lead, hp.n_layer);
    if (!hp.recurrent_layers.empty()) hp.recurrent_layers.resize(size_t(hp.n_layer));
    if (!hp.swa_layers.empty()) hp.swa_layers.resize(size_t(hp.n_layer));  // per-layer arrays keep
    if (!hp.n_head_kv_arr.empty()) hp.n_head_kv_arr.resize(size_t(hp.n_layer));  // their first layers
    if (!hp.n_ff_arr.empty()) hp.n_ff_arr.resize(size_t(hp.n_layer));
    // Shared-KV layers stay the tail after the same layers with keys (none if those are all kept).
    const int64_t with_kv = preset->hp.n_layer - preset->hp.n_kv_shared;
    hp.n_kv_shared = std::max<int64_t>(0, hp.n_layer - with_kv);
    if (!hp.n_ff_arr.empty()) hp.n_ff = *std::max_element(hp.n_ff_arr.begin(), hp.n_ff_arr.end());
  }

  if (options.n_expert > 0) {  // fewer experts of a full-width model, as --layers is fewer layers
    if (hp.n_expert == 0) return make_error("--experts: preset '{}' has no experts", preset->name);
    if (options.n_expert > hp.n_expert || options.n_expert < hp.n_expert_used)
      return make_error("--experts {} must be in {}..{} (the experts a token uses .. the preset's)", options.n_expert,
                        hp.n_expert_used, hp.n_expert);
    // Groups keep their count while they hold two experts or more (then fewer groups); the groups
    // a token chooses from must still hold the experts it uses.
    if (hp.n_expert_groups > 1) {
      while (hp.n_expert_groups > 1 && (options.n_expert % hp.n_expert_groups != 0 ||
                                        options.n_expert / hp.n_expert_groups < 2))
        hp.n_expert_groups /= 2;
      hp.n_group_used = std::min(hp.n_group_used, hp.n_expert_groups);
      while (hp.n_expert_groups > 1 &&
             hp.n_group_used * (options.n_expert / hp.n_expert_groups) < hp.n_expert_used)
        ++hp.n_group_used;
      if (hp.n_expert_groups <= 1) hp.n_expert_groups = hp.n_group_used = 0;
    }
    hp.n_expert = options.n_expert;
  }

  std::string tmpl;
  if (!preset->chat_template.empty() && !options.chat_template_dir.empty()) {
    std::string path = options.chat_template_dir + "/" + std::string(preset->chat_template);
    HEARTH_TRY(tmpl, read_text_file(path, 1 << 20));
  }

  gguf::Writer writer;
  if (options.legacy_kv_b && !arch->mla)
    return make_error("--legacy-kv-b: preset '{}' has no Multi-head Latent Attention", preset->name);
  for (gguf::KeyValue& kv : preset_metadata(*preset, hp, vocab, extra_tokens, tmpl, options.legacy_kv_b))
    writer.set(std::move(kv.key), std::move(kv.value));

  // The tensor list in llama.cpp's converter order: embeddings, each block, then the head.
  std::vector<std::pair<std::string, TensorView>> shapes;
  const auto is_head = [](Slot s) {
    return s == Slot::kOutputNorm || s == Slot::kOutput || s == Slot::kCls || s == Slot::kClsBias ||
           s == Slot::kClsOut || s == Slot::kClsOutBias || s == Slot::kDense2 || s == Slot::kDense3;
  };
  auto add = [&](const TensorSpec& spec, int64_t layer) {
    if (spec.name == "output.weight" && preset->tied_output) return;
    if (spec.name == "rope_freqs.weight" && !preset->llama3_rope && preset->proportional_rope == 0) return;
    if (spec.slot == Slot::kWv && preset->keys_as_values_full && layer >= 0 && !hp.layer_is_swa(layer)) return;
    if (spec.slot == Slot::kGateUpExps && !preset->fused_expert_gate_up) return;
    if ((spec.slot == Slot::kGateExps || spec.slot == Slot::kUpExps) && preset->fused_expert_gate_up) return;
    if (spec.slot == Slot::kRopeLong || spec.slot == Slot::kRopeShort) return;  // presets use no LongRoPE
    if (spec.slot == Slot::kExpProbsB && hp.gating != ExpertGating::kSigmoid) return;  // V3's only
    const bool classifier = spec.slot == Slot::kCls || spec.slot == Slot::kClsBias || spec.slot == Slot::kClsOut ||
                            spec.slot == Slot::kClsOutBias;
    if (classifier && hp.pooling != Pooling::kRank) return;
    if ((spec.slot == Slot::kDense2 || spec.slot == Slot::kDense3) && hp.n_dense == 0) return;
    if (!spec.in_layer(hp, layer)) return;
    if (options.legacy_kv_b && spec.slot == Slot::kWvB) return;  // both are in attn_kv_b
    if (options.legacy_kv_b && spec.slot == Slot::kWkB) {
      TensorView v;
      v.n_dims = 2;
      v.ne = {hp.n_lora_kv, hp.n_head * (hp.head_dim_k_mla - hp.n_rot + hp.head_dim_v_mla), 1, 1};
      shapes.emplace_back(layer_tensor_name("blk.{i}.attn_kv_b.weight", layer), v);
      return;
    }
    TensorView v;
    v.type = DType::F32;
    v.ne = {dim_value(spec.ne0, hp, layer), dim_value(spec.ne1, hp, layer), dim_value(spec.ne2, hp, layer), 1};
    v.n_dims = spec.n_dims();
    shapes.emplace_back(layer_tensor_name(spec.name, layer), v);
  };
  for (const TensorSpec& spec : arch->globals)
    if (!is_head(spec.slot)) add(spec, -1);
  for (int64_t i = 0; i < hp.n_layer; ++i)
    for (const TensorSpec& spec : arch->per_layer) add(spec, i);
  for (const TensorSpec& spec : arch->globals)
    if (is_head(spec.slot)) add(spec, -1);

  std::vector<float> rope_factors;
  if (preset->llama3_rope)
    {
    const Llama3RopeScaling& s = *preset->llama3_rope;
    rope_factors = llama3_rope_factors(hp.rope_freq_base, hp.n_rot, s.factor, s.low_freq_factor,
                                       s.high_freq_factor, double(s.original_context));
  }
  if (preset->proportional_rope > 0) {
    const auto rotated = static_cast<size_t>(double(hp.n_rot) * preset->proportional_rope / 2);
    rope_factors.assign(size_t(hp.n_rot / 2), 1e30f);
    std::fill(rope_factors.begin(), rope_factors.begin() + long(rotated), 1.0f);
  }

  std::vector<RecipeTensor> plan_in;
  for (const auto& [name, view] : shapes) plan_in.push_back(RecipeTensor{name, view});
  HEARTH_TRY(std::vector<DType> types,
             plan_tensor_types(recipe, std::string(preset->arch), hp, plan_in));
  std::vector<OutputTensor> outputs;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const auto& [name, view] = shapes[i];
    OutputTensor out;
    out.name = name;
    out.shape = view;
    out.shape.type = types[i];
    WeightInit init = init_for(name, view, hp);
    const uint64_t seed = options.seed;
    const int64_t ne0 = view.ne[0];
    if (name.ends_with(".attn_kv_b.weight")) {
      out.rows = legacy_kv_b_rows(seed, name, hp);
    } else if (init.kind == WeightInit::Kind::kRopeFactors) {
      const float* factors = rope_factors.data();
      out.rows = [factors, ne0](int64_t, float* dst) { std::copy(factors, factors + ne0, dst); };
    } else {
      out.rows = [seed, name = out.name, init, ne0](int64_t row, float* dst) {
        random_row(seed, name, row, init, dst, ne0);
      };
    }
    outputs.push_back(std::move(out));
  }
  writer.set_u32("general.file_type", recipe_file_type(recipe));
  writer.set_u32("general.quantization_version", 2);

  HEARTH_TRY(PipelineStats stats, write_tensor_pipeline(writer, outputs, options.output,
                                                        options.n_threads, "mkmodel"));
  return MkModelReport{std::string(preset->name), std::string(preset->arch), stats, hp.n_vocab};
}

}  // namespace hearth
