#include "model/hf_writer.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "model/hf_names.h"
#include "model/hf_qwen35.h"
#include "model/rerank.h"
#include "safetensors/safetensors.h"

namespace hearth {
namespace {

using Json = nlohmann::ordered_json;

// GGUF stores these as f32; the shortest decimal that round-trips the float ("1e-06") reads
// better in config.json than the widened double (9.999999974752427e-07) and loads back to the
// same f32.
double tidy_float(double value) {
  float f = static_cast<float>(value);
  return std::strtod(fmt::format("{}", f).c_str(), nullptr);
}

const char* torch_dtype_name(DType type) {
  switch (type) {
    case DType::F32:
      return "float32";
    case DType::F16:
      return "float16";
    case DType::BF16:
      return "bfloat16";
    default:
      return nullptr;
  }
}

// rope_freqs.weight -> the llama3 rope_scaling block that regenerates it. The tensor does not
// record low/high_freq_factor or the original context, so we assume Llama 3.x's published
// values (1, 4, 8192), solve for `factor` from the first entry that depends on it, and refuse if
// the regenerated tensor does not match what the model has.
Result<Json> llama3_scaling_from_tensor(const ModelTensor& t, double theta) {
  if (t.view.type != DType::F32 || t.view.n_dims != 1 || t.view.ne[0] <= 0)
    return make_error("rope_freqs.weight: expected a 1-D F32 tensor");
  const int64_t n = t.view.ne[0];
  const float* values = static_cast<const float*>(t.view.data);
  constexpr double kLow = 1.0, kHigh = 4.0, kOriginal = 8192.0;
  std::optional<double> factor;
  for (int64_t i = 0; i < n && !factor; ++i) {
    double freq = 1.0 / std::pow(theta, static_cast<double>(2 * i) / static_cast<double>(2 * n));
    double wavelen = 2 * M_PI / freq;
    if (wavelen > kOriginal / kLow) {
      factor = values[i];  // low frequencies are divided by exactly `factor`
    } else if (wavelen >= kOriginal / kHigh) {
      // value = 1 / ((1 - smooth) / factor + smooth)  =>  factor = (1 - smooth) / (1/value -
      // smooth)
      double smooth = (kOriginal / wavelen - kLow) / (kHigh - kLow);
      double denominator = 1.0 / values[i] - smooth;
      if (smooth < 1.0 && denominator > 0) factor = (1.0 - smooth) / denominator;
    }
  }
  if (!factor) factor = 8.0;  // every entry is 1: any factor regenerates the tensor
  // The solved factor carries float rounding (7.9999995 for 8); the shortest decimal that
  // regenerates the tensor bit for bit is what the original config said.
  for (int digits = 1; digits <= 9; ++digits) {
    double rounded = std::strtod(fmt::format("{:.{}g}", *factor, digits).c_str(), nullptr);
    std::vector<float> candidate =
        llama3_rope_factors(theta, 2 * n, rounded, kLow, kHigh, kOriginal);
    if (std::memcmp(candidate.data(), values, static_cast<size_t>(n) * sizeof(float)) == 0) {
      factor = rounded;
      break;
    }
  }
  std::vector<float> expected = llama3_rope_factors(theta, 2 * n, *factor, kLow, kHigh, kOriginal);
  for (int64_t i = 0; i < n; ++i) {
    float a = values[i];
    float b = expected[static_cast<size_t>(i)];
    if (!(std::fabs(a - b) <= 1e-5f * std::max(1.0f, std::fabs(b))))
      return make_error(
          "rope_freqs.weight[{}] = {} does not match llama3 rope scaling with factor {}, "
          "low_freq_factor 1, high_freq_factor 4, original context 8192 ({} expected); cannot "
          "express it in config.json",
          i, a, *factor, b);
  }
  Json scaling = Json::object();
  scaling["factor"] = tidy_float(*factor);
  scaling["high_freq_factor"] = 4.0;
  scaling["low_freq_factor"] = 1.0;
  scaling["original_max_position_embeddings"] = 8192;
  scaling["rope_type"] = "llama3";
  return scaling;
}

// DeepSeek V2/V3's config.json fields, the inverse of hf_loader.cpp's read_deepseek_config: the
// per-head sizes instead of the cache's latent head, the router's settings, mscale_all_dim.
Status add_deepseek_config(const ModelFile& model, const std::string& where, Json& config) {
  auto get = [&](std::string_view suffix) { return model.get_int(model.arch_key(suffix)); };
  const std::optional<int64_t> kv_lora = get("attention.kv_lora_rank"), k_mla = get("attention.key_length_mla"),
                               v_mla = get("attention.value_length_mla"), rot = get("rope.dimension_count");
  if (!kv_lora || !k_mla || !v_mla || !rot)
    return make_error("{}: a DeepSeek file needs kv_lora_rank, key_length_mla, value_length_mla and "
                      "rope.dimension_count to be written as a Hugging Face folder", where);
  config.erase("head_dim");  // the cache's latent head; HF has the per-head sizes below
  config["num_key_value_heads"] = config["num_attention_heads"];
  config["kv_lora_rank"] = *kv_lora;
  const std::optional<int64_t> q_lora = get("attention.q_lora_rank");
  config["q_lora_rank"] = q_lora && *q_lora > 0 ? Json(*q_lora) : Json(nullptr);
  config["qk_nope_head_dim"] = *k_mla - *rot;
  config["qk_rope_head_dim"] = *rot;
  config["v_head_dim"] = *v_mla;
  config["first_k_dense_replace"] = get("leading_dense_block_count").value_or(0);
  config["n_shared_experts"] = get("expert_shared_count").value_or(0);
  config["routed_scaling_factor"] = tidy_float(model.get_float(model.arch_key("expert_weights_scale")).value_or(1.0));
  const gguf::Value* norm = model.find(model.arch_key("expert_weights_norm"));
  config["norm_topk_prob"] = norm && norm->as_bool().value_or(false);
  const bool sigmoid = get("expert_gating_func").value_or(1) == 2;
  config["scoring_func"] = sigmoid ? "sigmoid" : "softmax";
  config["topk_method"] = sigmoid ? "noaux_tc" : "greedy";
  config["n_group"] = get("expert_group_count").value_or(1);
  config["topk_group"] = get("expert_group_used_count").value_or(1);
  if (config.contains("rope_scaling"))
    if (auto m = model.get_float(model.arch_key("rope.scaling.yarn_log_multiplier")))
      config["rope_scaling"]["mscale_all_dim"] = config["rope_scaling"]["mscale"] =
          tidy_float(static_cast<float>(*m) / 0.1f);  // llama.cpp divides the 0.1 back out in float
  return Status::Ok();
}

// Qwen3.5's config.json fields, the inverse of hf_loader.cpp's read_qwen35_config, as Qwen3.5's
// text configs spell them (rope settings under rope_parameters, layer_types listing each layer).
Status add_qwen35_config(const ModelFile& model, const std::string& where, Json& config) {
  auto get = [&](std::string_view suffix) { return model.get_int(model.arch_key(suffix)); };
  const std::optional<int64_t> conv = get("ssm.conv_kernel"), head_k = get("ssm.state_size"),
                               n_k = get("ssm.group_count"), n_v = get("ssm.time_step_rank"),
                               inner = get("ssm.inner_size"), n_rot = get("rope.dimension_count"),
                               n_layer = get("block_count");
  if (!conv || !head_k || !n_k || !n_v || !inner || !n_rot || !n_layer || *n_v <= 0 || *inner % *n_v != 0)
    return make_error("{}: a Qwen3.5 file needs its ssm.* sizes, rope.dimension_count and block_count to be "
                      "written as a Hugging Face folder", where);
  const int64_t n_head = config["num_attention_heads"].get<int64_t>();
  const int64_t head_dim =
      config.contains("head_dim") ? config["head_dim"].get<int64_t>()
                                  : (n_head > 0 ? config["hidden_size"].get<int64_t>() / n_head : 0);
  if (head_dim <= 0) return make_error("{}: no head size (head_count 0, no key_length)", where);
  config["head_dim"] = head_dim;
  config["linear_conv_kernel_dim"] = *conv;
  config["linear_key_head_dim"] = *head_k;
  config["linear_num_key_heads"] = *n_k;
  config["linear_num_value_heads"] = *n_v;
  config["linear_value_head_dim"] = *inner / *n_v;
  config["attn_output_gate"] = true;
  // Which layers are recurrent: the file's flags, else every full_attention_interval-th attends.
  const int64_t interval = get("full_attention_interval").value_or(4);
  config["full_attention_interval"] = interval;
  const gguf::Array* flags = nullptr;
  if (const gguf::Value* v = model.find(model.arch_key("attention.recurrent_layers"))) flags = v->as_array();
  Json types = Json::array();
  for (int64_t il = 0; il < *n_layer; ++il) {
    const bool recurrent = flags != nullptr && size_t(il) < flags->items.size()
                               ? flags->items[size_t(il)].as_bool().value_or(false)
                               : interval > 0 && (il + 1) % interval != 0;
    types.push_back(recurrent ? "linear_attention" : "full_attention");
  }
  config["layer_types"] = std::move(types);
  Json rope = Json::object();
  rope["rope_type"] = "default";
  if (config.contains("rope_theta")) rope["rope_theta"] = config["rope_theta"];
  rope["partial_rotary_factor"] = static_cast<double>(*n_rot) / static_cast<double>(head_dim);
  Json sections = Json::array();
  if (const gguf::Value* v = model.find(model.arch_key("rope.dimension_sections")); v && v->as_array())
    for (const gguf::Value& x : v->as_array()->items) sections.push_back(x.as_int().value_or(0));
  if (!sections.empty()) rope["mrope_section"] = std::move(sections);
  rope["mrope_interleaved"] = true;
  config["rope_parameters"] = std::move(rope);
  if (auto shexp = get("expert_shared_feed_forward_length")) {
    config["shared_expert_intermediate_size"] = *shexp;
    config["norm_topk_prob"] = true;
  }
  return Status::Ok();
}

// Gemma 2 / Gemma 3's fields (the inverse of hf_loader.cpp's read_gemma_config): GELU's tanh form,
// the window, the soft-caps, the queries' scale (transformers' query_pre_attn_scalar: the head
// size, which llama.cpp assumes but for the 27B shapes), the windowed layers' rope base.
void add_gemma_config(const ModelFile& model, Json& config) {
  const bool gemma3 = model.architecture() == "gemma3" || model.architecture() == "gemma-embedding";
  if (model.architecture() == "gemma-embedding") config["use_bidirectional_attention"] = true;
  config["hidden_act"] = "gelu_pytorch_tanh";
  config["hidden_activation"] = "gelu_pytorch_tanh";
  if (auto w = model.get_int(model.arch_key("attention.sliding_window"))) config["sliding_window"] = *w;
  else if (gemma3) config["sliding_window_pattern"] = 1;  // no windows: every layer global
  for (const char* key : {"attn_logit_softcapping", "final_logit_softcapping"})
    config[key] = model.get_float(model.arch_key(key)) ? Json(tidy_float(*model.get_float(model.arch_key(key))))
                                                        : Json(nullptr);
  if (!config.contains("head_dim"))  // Gemma's config.json always states it (Gemma3Model defaults it to 256)
    config["head_dim"] = config["hidden_size"].get<int64_t>() / config["num_attention_heads"].get<int64_t>();
  config["query_pre_attn_scalar"] = config["head_dim"];
  if (gemma3) config["rope_local_base_freq"] = tidy_float(model.get_float(model.arch_key("rope.freq_base_swa")).value_or(10000.0));
}

// Gemma 4's fields (the inverse of hf_loader.cpp's read_gemma4_config): the windowed layers' head
// size as head_dim and the full ones' as global_head_dim, KV heads of each kind, layer_types, the
// shared-KV layers and per-layer embeddings, double-wide FFNs, and both kinds' rope parameters,
// the full layers' rotated fraction read off rope_freqs.
Status add_gemma4_config(const ModelFile& model, const std::string& where, Json& config) {
  auto get = [&](std::string_view suffix) { return model.get_int(model.arch_key(suffix)); };
  const gguf::Value* pattern = model.find(model.arch_key("attention.sliding_window_pattern"));
  const std::optional<int64_t> n_layer = get("block_count"), head_full = get("attention.key_length"),
                               head_swa = get("attention.key_length_swa");
  if (!pattern || !pattern->as_array() || !n_layer || !head_full || !head_swa ||
      int64_t(pattern->as_array()->items.size()) != *n_layer)
    return make_error("{}: a Gemma 4 file needs its window pattern and both head sizes to be written as a Hugging "
                      "Face folder", where);
  std::vector<bool> swa;
  Json types = Json::array();
  for (const gguf::Value& f : pattern->as_array()->items) {
    swa.push_back(f.as_bool().value_or(false));
    types.push_back(swa.back() ? "sliding_attention" : "full_attention");
  }
  config["layer_types"] = std::move(types);
  config["head_dim"] = *head_swa;
  config["global_head_dim"] = *head_full;
  if (const gguf::Value* kv = model.find(model.arch_key("attention.head_count_kv")); kv && kv->as_array()) {
    const auto& counts = kv->as_array()->items;
    for (size_t il = 0; il < counts.size() && il < swa.size(); ++il)
      config[swa[il] ? "num_key_value_heads" : "num_global_key_value_heads"] = counts[il].as_int().value_or(0);
  }
  const int64_t shared = get("attention.shared_kv_layers").value_or(0);
  config["num_kv_shared_layers"] = shared;
  config["hidden_size_per_layer_input"] = get("embedding_length_per_layer_input").value_or(0);
  if (get("embedding_length_per_layer_input").value_or(0) > 0) config["vocab_size_per_layer_input"] = config["vocab_size"];
  if (const gguf::Value* ff = model.find(model.arch_key("feed_forward_length")); ff && ff->as_array()) {
    const auto& widths = ff->as_array()->items;
    const int64_t first = widths.empty() ? 0 : widths[0].as_int().value_or(0);
    bool doubled = shared > 0;
    for (size_t il = 0; il < widths.size(); ++il)
      doubled = doubled && widths[il].as_int() == (int64_t(il) + shared < *n_layer ? first : 2 * first);
    if (!doubled) return make_error("{}: per-layer FFN widths other than E2B's doubled shared-KV layers", where);
    config["intermediate_size"] = first;
    config["use_double_wide_mlp"] = true;
  }
  bool k_eq_v = false;  // a full layer without attn_v uses its keys as values
  for (int64_t il = 0; il < *n_layer; ++il)
    k_eq_v = k_eq_v || (!swa[size_t(il)] && model.find_tensor(fmt::format("blk.{}.attn_v.weight", il)) == nullptr &&
                        model.find_tensor(fmt::format("blk.{}.attn_k.weight", il)) != nullptr);
  config["attention_k_eq_v"] = k_eq_v;
  // 26B-A4B: experts beside the dense FFN in every layer; dense: null (the converter reads the
  // expert width either way).
  const std::optional<int64_t> n_expert = get("expert_count");
  config["enable_moe_block"] = n_expert.has_value();
  config["num_experts"] = n_expert ? Json(*n_expert) : Json(nullptr);
  config["top_k_experts"] = n_expert ? Json(get("expert_used_count").value_or(0)) : Json(nullptr);
  config["moe_intermediate_size"] = n_expert ? Json(get("expert_feed_forward_length").value_or(0)) : Json(nullptr);
  const ModelTensor* freqs = model.find_tensor("rope_freqs.weight");
  int64_t rotated = *head_full / 2;
  if (freqs != nullptr && freqs->view.type == DType::F32) {
    rotated = 0;
    for (int64_t i = 0; i < freqs->view.ne[0]; ++i) rotated += static_cast<const float*>(freqs->view.data)[i] == 1.0f;
  }
  Json rope = Json::object();
  rope["full_attention"] = {{"rope_type", "proportional"},
                            {"rope_theta", config.value("rope_theta", 1000000.0)},
                            {"partial_rotary_factor", double(2 * rotated) / double(*head_full)}};
  rope["sliding_attention"] = {{"rope_type", "default"},
                               {"rope_theta", tidy_float(model.get_float(model.arch_key("rope.freq_base_swa")).value_or(10000.0))}};
  config["rope_parameters"] = std::move(rope);
  config.erase("rope_theta");
  config.erase("query_pre_attn_scalar");  // Gemma 4's scores are not scaled
  config.erase("rope_local_base_freq");
  config.erase("attn_logit_softcapping");
  return {};
}

// BERT's fields (the inverse of hf_loader.cpp's bert block).
void add_bert_config(const ModelFile& model, Json& config) {
  config["hidden_act"] = "gelu";
  config["layer_norm_eps"] = model.get_float(model.arch_key("attention.layer_norm_epsilon")).value_or(1e-12);
  config["type_vocab_size"] = model.get_int("tokenizer.ggml.token_type_count").value_or(2);
  config["position_embedding_type"] = "absolute";
  config.erase("tie_word_embeddings");
}

// A cross-encoder's one label (the inverse of hf_loader.cpp's read_cross_encoder_labels).
void add_cross_encoder_config(const ModelFile& model, Json& config) {
  std::string label = "LABEL_0";
  if (const gguf::Value* labels = model.find(model.arch_key("classifier.output_labels"));
      labels != nullptr && labels->as_array() && !labels->as_array()->items.empty() &&
      labels->as_array()->items[0].as_string())
    label = *labels->as_array()->items[0].as_string();
  config["id2label"] = {{"0", label}};
  config["label2id"] = {{label, 0}};
}

// nomic-bert's fields under NomicBertModel's GPT-2-style names, with the settings its converter
// asserts (the inverse of hf_loader.cpp's read_nomic_config).
Status add_nomic_config(const ModelFile& model, const std::string& where, Json& config) {
  add_bert_config(model, config);
  if (config.value("max_position_embeddings", int64_t{0}) != 2048)
    return make_error("{}: a nomic-bert context of {} has no NomicBertModel config (2048, as v1/v1.5 are trained, has)",
                      where, config.value("max_position_embeddings", int64_t{0}));
  config["n_positions"] = 8192;  // v1/v1.5's config.json: the converter takes 2048 from these two
  config["max_trained_positions"] = 2048;
  for (const HfKeyAlias& k : hf_nomic_key_aliases()) {
    const std::string hf(k.hf), nomic(k.nomic);
    if (config.contains(hf)) {
      config[nomic] = config[hf];
      config.erase(hf);
    }
  }
  for (const char* key : {"max_position_embeddings", "num_key_value_heads", "hidden_act", "position_embedding_type"})
    config.erase(key);
  config["activation_function"] = "swiglu";
  for (const char* key : {"causal", "qkv_proj_bias", "mlp_fc1_bias", "mlp_fc2_bias", "prenorm", "rotary_emb_interleaved"})
    config[key] = false;
  config["rotary_emb_fraction"] = 1.0;
  config["rotary_emb_scale_base"] = nullptr;
  return {};
}

// The id of `token` in the model's own vocabulary.
std::optional<int64_t> vocab_id(const ModelFile& model, std::string_view token) {
  const gguf::Value* tokens = model.find("tokenizer.ggml.tokens");
  if (tokens == nullptr || !tokens->as_array()) return std::nullopt;
  const auto& items = tokens->as_array()->items;
  for (size_t i = 0; i < items.size(); ++i)
    if (items[i].as_string() && *items[i].as_string() == token) return static_cast<int64_t>(i);
  return std::nullopt;
}

// A Qwen3-Reranker's lm_head, as its released folders have one: the model's output matrix
// (token_embd when tied) with the class tokens' rows set to cls.output's, so that the converter
// and hf_loader.cpp, taking those rows back, find the head the model has.
Result<safetensors::TensorToWrite> qwen3_rerank_lm_head(const ModelFile& model) {
  const ModelTensor* cls = model.find_tensor("cls.output.weight");
  const ModelTensor* out = model.find_tensor("output.weight");
  if (out == nullptr) out = model.find_tensor("token_embd.weight");
  if (cls == nullptr || out == nullptr || cls->view.type != out->view.type || cls->view.n_dims != 2 ||
      out->view.n_dims != 2 || cls->view.ne[0] != out->view.ne[0] || cls->view.ne[1] != 2)
    return make_error("{}: a reranker's cls.output must be two rows of the output matrix's width and type",
                      model.path());
  std::optional<safetensors::Dtype> dtype = safetensors::from_model_dtype(out->view.type);
  if (!dtype) return make_error("{}: only F32, F16 and BF16 heads can be written", model.path());
  std::vector<int64_t> ids;
  for (std::string_view c : kQwen3RerankClasses) {
    std::optional<int64_t> id = vocab_id(model, c);
    if (!id || *id >= out->view.ne[1])
      return make_error("{}: the reranker's class token '{}' is not in its vocabulary", model.path(), c);
    ids.push_back(*id);
  }
  const TensorView o = out->view, c = cls->view;
  safetensors::TensorToWrite w{"lm_head.weight", *dtype, {uint64_t(o.ne[1]), uint64_t(o.ne[0])}, nullptr};
  w.write = [o, c, ids](const safetensors::Emit& emit) -> Status {
    const uint64_t row = o.n_bytes / uint64_t(o.ne[1]);
    for (int64_t r = 0; r < o.ne[1]; ++r) {
      const uint8_t* src = static_cast<const uint8_t*>(o.data) + uint64_t(r) * row;
      for (size_t k = 0; k < ids.size(); ++k)
        if (ids[k] == r) src = static_cast<const uint8_t*>(c.data) + k * row;
      HEARTH_RETURN_IF_ERROR(emit({src, static_cast<size_t>(row)}));
    }
    return Status::Ok();
  };
  return w;
}

Status write_text(const std::string& path, const std::string& text);

// A "bert" vocabulary as the tokenizer.json and tokenizer_config.json of a BERT folder (the
// inverse of hf_loader.cpp's read_wordpiece_vocab): phantom-space tokens back to WordPiece's
// ("##" for a continuation), control tokens as special added tokens.
Status write_wordpiece_tokenizer(const ModelFile& model, const std::filesystem::path& dir) {
  const gguf::Value* tokens = model.find("tokenizer.ggml.tokens");
  const gguf::Value* types = model.find("tokenizer.ggml.token_type");
  if (tokens == nullptr || !tokens->as_array()) return make_error("{}: no vocabulary to write", model.path());
  const auto& items = tokens->as_array()->items;
  Json vocab = Json::object(), added = Json::array();
  const std::string_view phantom = "\u2581";
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string t = items[i].as_string() ? *items[i].as_string() : std::string();
    const int64_t type = types && types->as_array() && i < types->as_array()->items.size()
                             ? types->as_array()->items[i].as_int().value_or(1)
                             : 1;
    std::string piece = type == 3 ? t : t.starts_with(phantom) ? t.substr(phantom.size()) : "##" + t;
    if (type == 3 || type == 4)
      added.push_back({{"id", i}, {"content", piece}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                       {"normalized", type == 4}, {"special", type == 3}});
    vocab[piece] = i;
  }
  Json tok = {{"version", "1.0"},
              {"added_tokens", std::move(added)},
              {"normalizer",
               {{"type", "BertNormalizer"}, {"clean_text", true}, {"handle_chinese_chars", true},
                {"strip_accents", nullptr}, {"lowercase", true}}},
              {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
              {"model",
               {{"type", "WordPiece"}, {"unk_token", "[UNK]"}, {"continuing_subword_prefix", "##"},
                {"max_input_chars_per_word", 100}, {"vocab", std::move(vocab)}}}};
  HEARTH_RETURN_IF_ERROR(write_text((dir / "tokenizer.json").string(), tok.dump(2) + "\n"));
  Json tc = Json::object();
  for (const HfSpecialToken& special : hf_special_token_table())
    if (auto id = model.get_int(fmt::format("tokenizer.ggml.{}_token_id", special.gguf));
        id && *id >= 0 && size_t(*id) < items.size())
      tc[std::string(special.hf)] = items[size_t(*id)].as_string() ? *items[size_t(*id)].as_string() : "";
  tc["tokenizer_class"] = "BertTokenizer";
  tc["do_lower_case"] = true;
  return write_text((dir / "tokenizer_config.json").string(), tc.dump(2) + "\n");
}

// Phi-3's fields (the inverse of hf_loader.cpp's read_phi3_config): the original context, the
// rotated fraction of each head, the window, and LongRoPE's factors from their tensors.
Status add_phi3_config(const ModelFile& model, const std::string& where, Json& config) {
  const int64_t n_embd = config["hidden_size"].get<int64_t>(), n_head = config["num_attention_heads"].get<int64_t>();
  if (n_head <= 0) return make_error("{}: attention.head_count must be positive", where);
  const int64_t head_dim = n_embd / n_head;
  const int64_t n_rot = model.get_int(model.arch_key("rope.dimension_count")).value_or(head_dim);
  config["original_max_position_embeddings"] = model.get_int(model.arch_key("rope.scaling.original_context_length"))
                                                    .value_or(config.value("max_position_embeddings", int64_t{0}));
  if (n_rot != head_dim) config["partial_rotary_factor"] = double(n_rot) / double(head_dim);
  const std::optional<int64_t> window = model.get_int(model.arch_key("attention.sliding_window"));
  config["sliding_window"] = window && *window > 0 ? Json(*window) : Json(nullptr);
  const ModelTensor* long_f = model.find_tensor("rope_factors_long.weight");
  const ModelTensor* short_f = model.find_tensor("rope_factors_short.weight");
  if (long_f == nullptr && short_f == nullptr) return {};
  if (long_f == nullptr || short_f == nullptr || long_f->view.type != DType::F32 || short_f->view.type != DType::F32)
    return make_error("{}: LongRoPE needs both rope_factors_long and rope_factors_short as F32", where);
  Json scaling = Json::object();
  scaling["type"] = "longrope";
  scaling["rope_type"] = "longrope";
  for (const auto& [key, t] : {std::pair{"long_factor", long_f}, std::pair{"short_factor", short_f}}) {
    Json values = Json::array();
    const float* x = static_cast<const float*>(t->view.data);
    for (int64_t i = 0; i < t->view.ne[0]; ++i) values.push_back(tidy_float(x[i]));
    scaling[key] = std::move(values);
  }
  config["rope_scaling"] = std::move(scaling);
  return {};
}

// A Qwen3.5 tensor in HF's layout (hf_qwen35.h, from GGUF to HF): the value heads grouped again,
// ssm_a back to A_log, norms zero-centred, the conv kernel [channels, 1, taps], the shared
// expert's gate a [1, n_embd] linear layer. Null when the tensor goes out as it is.
Result<std::shared_ptr<std::vector<uint8_t>>> qwen35_hf_bytes(const ModelTensor& t, const Qwen35Heads& heads,
                                                               std::vector<uint64_t>& shape) {
  const TensorView& v = t.view;
  const bool a_log = t.name.ends_with(".ssm_a");
  const bool norm = t.name.ends_with("norm.weight") && !t.name.ends_with(".ssm_norm.weight");
  if (t.name.ends_with(".ssm_conv1d.weight")) shape = {uint64_t(v.ne[1]), 1, uint64_t(v.ne[0])};
  if (t.name.ends_with(".ffn_gate_inp_shexp.weight")) shape = {1, uint64_t(v.ne[0])};
  const std::optional<VHeadMove> move = qwen35_v_head_move(t.name, heads);
  if (!a_log && !norm && !move) return std::shared_ptr<std::vector<uint8_t>>();
  auto bytes = std::make_shared<std::vector<uint8_t>>(static_cast<const uint8_t*>(v.data),
                                                      static_cast<const uint8_t*>(v.data) + v.n_bytes);
  if (a_log || norm) {
    if (v.type != DType::F32) return make_error("{}: expected an F32 tensor", t.name);
    float* x = reinterpret_cast<float*>(bytes->data());
    for (int64_t i = 0; i < v.n_elements(); ++i) x[i] = a_log ? std::log(-x[i]) : x[i] - 1.0f;
  }
  if (move) {
    TensorView changed = v;
    changed.data = bytes->data();
    std::vector<uint8_t> grouped;
    HEARTH_RETURN_IF_ERROR(qwen35_move_tensor(*move, heads, changed, /*to_tiled=*/false, t.name, grouped));
    *bytes = std::move(grouped);
  }
  return bytes;
}

// attn_k_b [n_head][kv_lora][nope] and attn_v_b [n_head][v_head][kv_lora] merged back into one
// kv_b_proj [n_head * (nope + v_head) rows of kv_lora]: each head's key rows (k_b transposed),
// then its value rows.
Result<safetensors::TensorToWrite> merged_kv_b(const ModelTensor& k_b, const ModelTensor& v_b, std::string hf_name) {
  const TensorView k = k_b.view, v = v_b.view;
  const int64_t nope = k.ne[0], lora = k.ne[1], h = k.ne[2], vh = v.ne[1];
  std::optional<safetensors::Dtype> dtype = safetensors::from_model_dtype(k.type);
  if (!dtype || v.type != k.type || v.ne[0] != lora || v.ne[2] != h)
    return make_error("{} / {}: cannot be merged into kv_b_proj (F32, F16 or BF16 of matching shapes)", k_b.name,
                      v_b.name);
  safetensors::TensorToWrite out;
  out.name = std::move(hf_name);
  out.dtype = *dtype;
  out.shape = {static_cast<uint64_t>(h * (nope + vh)), static_cast<uint64_t>(lora)};
  out.write = [k, v, nope, lora, h, vh](const safetensors::Emit& emit) -> Status {
    const uint64_t es = k.n_bytes / static_cast<uint64_t>(nope * lora * h);
    std::vector<uint8_t> rows(static_cast<size_t>((nope + vh) * lora) * es);
    for (int64_t head = 0; head < h; ++head) {
      const auto* kh = static_cast<const uint8_t*>(k.data) + uint64_t(head * lora * nope) * es;
      for (int64_t c = 0; c < nope; ++c)
        for (int64_t r = 0; r < lora; ++r)
          std::memcpy(rows.data() + uint64_t(c * lora + r) * es, kh + uint64_t(r * nope + c) * es, es);
      std::memcpy(rows.data() + uint64_t(nope * lora) * es,
                  static_cast<const uint8_t*>(v.data) + uint64_t(head * vh * lora) * es, uint64_t(vh * lora) * es);
      HEARTH_RETURN_IF_ERROR(emit({rows.data(), rows.size()}));
    }
    return Status::Ok();
  };
  return out;
}

Result<Json> build_config(const ModelFile& model, const HfArch& arch) {
  const std::string where = model.path() + " (metadata)";
  auto req = [&](std::string_view suffix) -> Result<int64_t> {
    std::optional<int64_t> v = model.get_int(model.arch_key(suffix));
    if (!v || *v < 0) return make_error("{}: missing or invalid {}", where, model.arch_key(suffix));
    return *v;
  };
  HEARTH_TRY(int64_t n_head, req("attention.head_count"));
  int64_t n_head_kv = model.get_int(model.arch_key("attention.head_count_kv")).value_or(n_head);

  std::optional<int64_t> n_vocab = model.get_int(model.arch_key("vocab_size"));
  const ModelTensor* embd = model.find_tensor("token_embd.weight");
  if (!n_vocab && embd != nullptr) n_vocab = embd->view.ne[1];
  if (!n_vocab) return make_error("{}: no vocab_size and no token_embd.weight", where);

  Json config = Json::object();
  config["architectures"] = Json::array({std::string(arch.hf_class)});
  config["model_type"] = std::string(arch.model_type);
  config["hidden_act"] = "silu";
  // The one-to-one keys (hf_names.h).
  for (const HfKey& k : hf_key_table()) {
    if (k.moe_only && !arch.moe()) continue;
    if (k.required) {
      const gguf::Value* widths = model.find(model.arch_key(k.gguf));
      if (widths != nullptr && widths->as_array() && !widths->as_array()->items.empty()) {
        // One value per layer (Gemma 4 E2B's FFN widths): the first here, the family's block the rest.
        config[std::string(k.hf)] = widths->as_array()->items[0].as_int().value_or(0);
        continue;
      }
      HEARTH_TRY(int64_t v, req(k.gguf));
      config[std::string(k.hf)] = v;
    } else if (k.is_float) {
      if (auto v = model.get_float(model.arch_key(k.gguf))) config[std::string(k.hf)] = tidy_float(*v);
    } else if (auto v = model.get_int(model.arch_key(k.gguf))) {
      config[std::string(k.hf)] = *v;
    }
  }
  config[hf_key("attention.head_count_kv")] = n_head_kv;  // written even when GGUF leaves it to default
  std::optional<double> theta = model.get_float(model.arch_key("rope.freq_base"));
  if (theta) config["rope_theta"] = tidy_float(*theta);
  config["vocab_size"] = *n_vocab;
  config["tie_word_embeddings"] = model.find_tensor("output.weight") == nullptr;
  if (arch.model_type == "llama" || arch.model_type == "mistral")
    config["attention_bias"] = model.find_tensor("blk.0.attn_q.bias") != nullptr;
  if (arch.moe()) {
    HEARTH_TRY(int64_t n_expert, req("expert_count"));
    HEARTH_TRY(int64_t n_used, req("expert_used_count"));
    config[std::string(arch.expert_count_key)] = n_expert;
    config[hf_key("expert_used_count")] = n_used;
    if (arch.model_type == "qwen3_moe") {
      config["norm_topk_prob"] = true;
      config["decoder_sparse_step"] = 1;
      config["mlp_only_layers"] = Json::array();
    }
  }

  std::optional<std::string> scaling_type = model.get_string(model.arch_key("rope.scaling.type"));
  const ModelTensor* rope_freqs = model.find_tensor("rope_freqs.weight");
  if (rope_freqs != nullptr && model.architecture() != "gemma4") {  // Gemma 4's: add_gemma4_config
    HEARTH_TRY(Json scaling, llama3_scaling_from_tensor(*rope_freqs, theta.value_or(10000.0)));
    config["rope_scaling"] = std::move(scaling);
  } else if (scaling_type && (*scaling_type == "linear" || *scaling_type == "yarn")) {
    Json scaling = Json::object();
    scaling["rope_type"] = *scaling_type;
    scaling["type"] = *scaling_type;  // the pre-4.45 transformers spelling
    if (auto factor = model.get_float(model.arch_key("rope.scaling.factor")))
      scaling["factor"] = tidy_float(*factor);
    if (*scaling_type == "yarn") {
      if (auto orig = model.get_int(model.arch_key("rope.scaling.original_context_length")))
        scaling["original_max_position_embeddings"] = *orig;
      for (const HfKey& k : hf_yarn_key_table())
        if (auto v = model.get_float(model.arch_key(k.gguf))) scaling[std::string(k.hf)] = tidy_float(*v);
    }
    config["rope_scaling"] = std::move(scaling);
  } else if (scaling_type && *scaling_type != "none") {
    return make_error("{}: rope scaling type '{}' cannot be written as an HF config", where,
                      *scaling_type);
  }

  if (auto bos = model.get_int("tokenizer.ggml.bos_token_id")) config["bos_token_id"] = *bos;
  if (auto eos = model.get_int("tokenizer.ggml.eos_token_id")) config["eos_token_id"] = *eos;
  if (embd != nullptr)
    if (const char* name = torch_dtype_name(embd->view.type)) config["torch_dtype"] = name;
  if (model.architecture() == "deepseek2") HEARTH_RETURN_IF_ERROR(add_deepseek_config(model, where, config));
  if (model.architecture() == "qwen35" || model.architecture() == "qwen35moe")
    HEARTH_RETURN_IF_ERROR(add_qwen35_config(model, where, config));
  if (model.architecture() == "gemma2" || model.architecture() == "gemma3" || model.architecture() == "gemma4" ||
      model.architecture() == "gemma-embedding")
    add_gemma_config(model, config);
  if (model.architecture() == "gemma4") HEARTH_RETURN_IF_ERROR(add_gemma4_config(model, where, config));
  if (model.architecture() == "phi3") HEARTH_RETURN_IF_ERROR(add_phi3_config(model, where, config));
  if (model.architecture() == "bert") add_bert_config(model, config);
  if (arch.hf_class == "BertForSequenceClassification") add_cross_encoder_config(model, config);
  if (model.architecture() == "nomic-bert") HEARTH_RETURN_IF_ERROR(add_nomic_config(model, where, config));
  return config;
}

Status write_text(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return make_error("{}: cannot create", path);
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) return make_error("{}: write failed", path);
  return Status::Ok();
}

constexpr const char* kTokenizerFiles[] = {
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "chat_template.jinja",
};

}  // namespace

Status write_hf_folder(const ModelFile& model, const std::string& out_dir,
                       const std::string& tokenizer_src_dir) {
  // Gemma 4's one HF class is dense and MoE alike (enable_moe_block), its experts fused in one tensor.
  const bool gemma4 = model.architecture() == "gemma4";
  const bool moe = model.find(model.arch_key("expert_count")) != nullptr && !gemma4;
  const HfArch* arch = find_hf_arch_for_gguf(model.architecture(), moe);
  if (model.architecture() == "deepseek2" && model.get_int(model.arch_key("expert_gating_func")).value_or(1) == 2)
    arch = find_hf_arch("DeepseekV3ForCausalLM", "");  // sigmoid routing: V3's modelling code
  const bool reranker = model.get_int(model.arch_key("pooling_type")) == static_cast<int64_t>(Pooling::kRank);
  const bool cross_encoder = reranker && model.architecture() == "bert";
  const bool qwen3_reranker = reranker && model.architecture() == "qwen3";
  if (cross_encoder) arch = find_hf_arch("BertForSequenceClassification", "");
  const ArchSpec* spec = find_arch(model.architecture());
  if (arch == nullptr || spec == nullptr)
    return make_error("{}: architecture '{}' cannot be written as a Hugging Face folder",
                      model.path(), model.architecture());
  HEARTH_TRY(Json config, build_config(model, *arch));
  if (qwen3_reranker) config["tie_word_embeddings"] = false;  // its lm_head carries the head's rows
  // From the model, not config.json, whose names differ by family (nomic's n_head); build_config
  // checked that the head count is there.
  const int64_t n_head = model.get_int(model.arch_key("attention.head_count")).value_or(0);
  const int64_t n_head_kv = model.get_int(model.arch_key("attention.head_count_kv")).value_or(n_head);
  const bool qwen35 = config.contains("linear_num_key_heads");
  const Qwen35Heads heads =
      qwen35 ? Qwen35Heads{config["linear_num_key_heads"].get<int64_t>(), config["linear_num_value_heads"].get<int64_t>(),
                           config["linear_key_head_dim"].get<int64_t>(), config["linear_value_head_dim"].get<int64_t>()}
             : Qwen35Heads{};

  // Declare every tensor first (the header needs all shapes), then stream.
  std::vector<safetensors::TensorToWrite> tensors;
  for (const ModelTensor& t : model.tensors()) {
    if (t.name == "rope_freqs.weight" || t.name.starts_with("rope_factors_"))
      continue;  // carried by rope_scaling in config.json
    if (t.name.ends_with(".attn_v_b.weight")) continue;  // merged with attn_k_b below
    if (t.name.ends_with(".attn_k_b.weight")) {
      const std::string layer = t.name.substr(0, t.name.size() - std::string_view(".attn_k_b.weight").size());
      const ModelTensor* v_b = model.find_tensor(layer + ".attn_v_b.weight");
      if (v_b == nullptr) return make_error("{}: {} has no attn_v_b beside it", model.path(), t.name);
      HEARTH_TRY(safetensors::TensorToWrite out,
                 merged_kv_b(t, *v_b, "model.layers." + layer.substr(4) + ".self_attn.kv_b_proj.weight"));
      tensors.push_back(std::move(out));
      continue;
    }
    if (t.view.n_dims == 3 && t.name.ends_with("_exps.weight") && !gemma4) {  // one HF tensor per expert
      std::optional<safetensors::Dtype> dtype = safetensors::from_model_dtype(t.view.type);
      if (!dtype)
        return make_error("{}: tensor '{}' is {}; only F32, F16 and BF16 tensors can be written to "
                          "safetensors (dequantize the model first)", model.path(), t.name, dtype_name(t.view.type));
      const uint64_t slice_bytes = t.view.n_bytes / static_cast<uint64_t>(t.view.ne[2]);
      for (int64_t e = 0; e < t.view.ne[2]; ++e) {
        std::optional<std::string> hf_name = gguf_expert_to_hf_name(t.name, e, *spec, arch->names());
        if (!hf_name)
          return make_error("{}: tensor '{}' has no Hugging Face name for architecture {}", model.path(),
                            t.name, model.architecture());
        safetensors::TensorToWrite out;
        out.name = *hf_name;
        out.dtype = *dtype;
        out.shape = {static_cast<uint64_t>(t.view.ne[1]), static_cast<uint64_t>(t.view.ne[0])};
        const uint8_t* slice = static_cast<const uint8_t*>(t.view.data) + static_cast<uint64_t>(e) * slice_bytes;
        out.write = [slice, slice_bytes](const safetensors::Emit& emit) -> Status {
          return emit({slice, static_cast<size_t>(slice_bytes)});
        };
        tensors.push_back(std::move(out));
      }
      continue;
    }
    if (t.name == "dense_2.weight" || t.name == "dense_3.weight") continue;  // their own module folders, below
    if (qwen3_reranker && (t.name == "cls.output.weight" || t.name == "output.weight")) continue;  // lm_head, below
    std::optional<std::string> hf_name = gguf_to_hf_name(t.name, *spec, arch->names());
    if (!hf_name)
      return make_error("{}: tensor '{}' has no Hugging Face name for architecture {}",
                        model.path(), t.name, model.architecture());
    if (model.architecture() == "gemma-embedding" && hf_name->starts_with("model."))
      hf_name = hf_name->substr(6);  // Gemma3TextModel is a base model: no "model." prefix
    if (cross_encoder && !hf_name->starts_with("classifier."))
      hf_name = "bert." + *hf_name;  // BertForSequenceClassification's encoder and pooler
    std::optional<safetensors::Dtype> dtype = safetensors::from_model_dtype(t.view.type);
    if (!dtype)
      return make_error(
          "{}: tensor '{}' is {}; only F32, F16 and BF16 tensors can be written to "
          "safetensors (dequantize the model first)",
          model.path(), t.name, dtype_name(t.view.type));
    safetensors::TensorToWrite out;
    out.name = *hf_name;
    out.dtype = *dtype;
    for (int d = std::max(1, t.view.n_dims) - 1; d >= 0; --d)
      out.shape.push_back(static_cast<uint64_t>(t.view.ne[d]));

    const bool gemma = model.architecture() == "gemma2" || model.architecture() == "gemma3" ||
                       model.architecture() == "gemma-embedding";
    if (gemma && t.name.ends_with("norm.weight")) {  // HF keeps w - 1 (its modules compute x * (1 + w))
      if (t.view.type != DType::F32) return make_error("{}: {} is not F32", model.path(), t.name);
      auto bytes = std::make_shared<std::vector<uint8_t>>(static_cast<const uint8_t*>(t.view.data),
                                                          static_cast<const uint8_t*>(t.view.data) + t.view.n_bytes);
      float* x = reinterpret_cast<float*>(bytes->data());
      for (int64_t i = 0; i < t.view.n_elements(); ++i) x[i] -= 1.0f;
      out.write = [bytes](const safetensors::Emit& emit) -> Status { return emit({bytes->data(), bytes->size()}); };
      tensors.push_back(std::move(out));
      continue;
    }
    if (qwen35) {
      HEARTH_TRY(std::shared_ptr<std::vector<uint8_t>> bytes, qwen35_hf_bytes(t, heads, out.shape));
      if (bytes) {
        out.write = [bytes](const safetensors::Emit& emit) -> Status { return emit({bytes->data(), bytes->size()}); };
        tensors.push_back(std::move(out));
        continue;
      }
    }
    const bool is_q = t.name.ends_with("attn_q.weight") || t.name.ends_with("attn_q.bias");
    const bool is_k = t.name.ends_with("attn_k.weight") || t.name.ends_with("attn_k.bias");
    const TensorView view = t.view;
    const std::string name = t.name;
    if (arch->permute_qk && (is_q || is_k)) {
      const int64_t heads = is_q ? n_head : n_head_kv;
      const int64_t n_rows = view.n_dims >= 2 ? view.n_rows() : view.ne[0];
      if (heads <= 0 || n_rows % (2 * heads) != 0)
        return make_error("{}: tensor '{}': {} rows cannot be split into {} heads of even size",
                          model.path(), name, n_rows, heads);
      // Rows go out one by one in HF order, read from the GGUF-order source: no copy.
      out.write = [view, n_rows, heads](const safetensors::Emit& emit) -> Status {
        const uint64_t row_bytes = n_rows == 0 ? 0 : view.n_bytes / static_cast<uint64_t>(n_rows);
        const auto* base = static_cast<const uint8_t*>(view.data);
        for (int64_t row = 0; row < n_rows; ++row) {
          int64_t from = permute_qk_source_row(row, n_rows, heads, /*inverse=*/true);
          HEARTH_RETURN_IF_ERROR(emit(
              {base + static_cast<uint64_t>(from) * row_bytes, static_cast<size_t>(row_bytes)}));
        }
        return Status::Ok();
      };
    } else {
      out.write = [view](const safetensors::Emit& emit) -> Status {
        return emit({static_cast<const uint8_t*>(view.data), static_cast<size_t>(view.n_bytes)});
      };
    }
    tensors.push_back(std::move(out));
  }
  if (qwen3_reranker) {
    HEARTH_TRY(safetensors::TensorToWrite head, qwen3_rerank_lm_head(model));
    tensors.push_back(std::move(head));
  }

  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return make_error("{}: cannot create directory: {}", out_dir, ec.message());
  const std::filesystem::path dir(out_dir);

  HEARTH_RETURN_IF_ERROR(write_text((dir / "config.json").string(), config.dump(2) + "\n"));
  HEARTH_RETURN_IF_ERROR(
      safetensors::write_file((dir / "model.safetensors").string(), tensors, {{"format", "pt"}}));

  // An embedding model: the sentence-transformers modules that say how it pools (hf_loader.cpp
  // reads them back as llama.cpp's converter does).
  if (const std::optional<int64_t> pooling = model.get_int(model.arch_key("pooling_type"));
      pooling && *pooling >= 1 && *pooling <= 3) {
    Json modules = Json::array({Json{{"idx", 0}, {"name", "0"}, {"path", ""}, {"type", "sentence_transformers.models.Transformer"}},
                                Json{{"idx", 1}, {"name", "1"}, {"path", "1_Pooling"}, {"type", "sentence_transformers.models.Pooling"}}});
    // EmbeddingGemma's Dense modules: each a folder with linear.weight [out, in] and its features.
    for (const auto& [name, sub] : {std::pair{"dense_2.weight", "2_Dense"}, std::pair{"dense_3.weight", "3_Dense"}}) {
      const ModelTensor* d = model.find_tensor(name);
      if (d == nullptr) continue;
      std::optional<safetensors::Dtype> dtype = safetensors::from_model_dtype(d->view.type);
      if (!dtype) return make_error("{}: {} is {}; only F32, F16 and BF16 can be written", model.path(), name,
                                    dtype_name(d->view.type));
      std::filesystem::create_directories(dir / sub, ec);
      if (ec) return make_error("{}: cannot create {}: {}", out_dir, sub, ec.message());
      const Json dense = {{"in_features", d->view.ne[0]}, {"out_features", d->view.ne[1]}, {"bias", false},
                          {"activation_function", "torch.nn.modules.linear.Identity"}};
      HEARTH_RETURN_IF_ERROR(write_text((dir / sub / "config.json").string(), dense.dump(2) + "\n"));
      const TensorView v = d->view;
      safetensors::TensorToWrite w{"linear.weight", *dtype, {uint64_t(v.ne[1]), uint64_t(v.ne[0])},
                                   [v](const safetensors::Emit& emit) -> Status {
                                     return emit({static_cast<const uint8_t*>(v.data), size_t(v.n_bytes)});
                                   }};
      HEARTH_RETURN_IF_ERROR(safetensors::write_file((dir / sub / "model.safetensors").string(), {w}, {{"format", "pt"}}));
      modules.push_back(Json{{"idx", modules.size()}, {"name", std::to_string(modules.size())}, {"path", sub},
                             {"type", "sentence_transformers.models.Dense"}});
    }
    HEARTH_RETURN_IF_ERROR(write_text((dir / "modules.json").string(), modules.dump(2) + "\n"));
    std::filesystem::create_directories(dir / "1_Pooling", ec);
    if (ec) return make_error("{}: cannot create 1_Pooling: {}", out_dir, ec.message());
    const Json pool_config = {{"word_embedding_dimension", model.get_int(model.arch_key("embedding_length")).value_or(0)},
                              {"pooling_mode_cls_token", *pooling == 2},
                              {"pooling_mode_mean_tokens", *pooling == 1},
                              {"pooling_mode_lasttoken", *pooling == 3}};
    HEARTH_RETURN_IF_ERROR(write_text((dir / "1_Pooling" / "config.json").string(), pool_config.dump(2) + "\n"));
  }

  bool copied_tokenizer_config = false;
  if (qwen3_reranker)  // the title by which llama.cpp's converter (and hf_loader.cpp) know a Qwen3-Reranker
    HEARTH_RETURN_IF_ERROR(write_text((dir / "README.md").string(),
                                      "# Qwen3-Reranker\n\nA Qwen3-Reranker-shaped model written by hearth.\n"));
  if (tokenizer_src_dir.empty() && (model.architecture() == "bert" || model.architecture() == "nomic-bert")) {
    HEARTH_RETURN_IF_ERROR(write_wordpiece_tokenizer(model, dir));
    copied_tokenizer_config = true;
  }
  if (!tokenizer_src_dir.empty()) {
    for (const char* file : kTokenizerFiles) {
      std::filesystem::path src = std::filesystem::path(tokenizer_src_dir) / file;
      if (!std::filesystem::is_regular_file(src, ec)) continue;
      std::filesystem::copy_file(src, dir / file, std::filesystem::copy_options::overwrite_existing,
                                 ec);
      if (ec) return make_error("{}: cannot copy to {}: {}", src.string(), out_dir, ec.message());
      copied_tokenizer_config =
          copied_tokenizer_config || std::string_view(file) == "tokenizer_config.json";
    }
  }
  if (!copied_tokenizer_config) {
    if (auto tmpl = model.get_string("tokenizer.chat_template")) {
      Json tc = Json::object();
      tc["chat_template"] = *tmpl;
      HEARTH_RETURN_IF_ERROR(
          write_text((dir / "tokenizer_config.json").string(), tc.dump(2) + "\n"));
    }
  }
  return Status::Ok();
}

}  // namespace hearth
