// Hugging Face folder -> ModelFile: config.json becomes the GGUF keys llama.cpp's converter
// (convert_hf_to_gguf.py) writes, tensors get their GGUF names, and the two places where the
// converter changes bytes are reproduced so the same model read from HF or from a converted GGUF
// is identical: llama's Q/K rows are permuted (into owned buffers) and llama3 rope scaling becomes
// a synthesized rope_freqs.weight. Every other tensor is a zero-copy view into the mmap.
#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <tuple>
#include <filesystem>
#include <map>
#include <memory>
#include <vector>

#include "base/checked_math.h"
#include "model/arch.h"
#include "model/hf_names.h"
#include "model/hf_qwen35.h"
#include "model/mla_split.h"
#include "model/rerank.h"
#include "model/model_file.h"
#include "safetensors/json_strict.h"
#include "safetensors/safetensors.h"
#include "tensor/quant.h"

namespace hearth {
namespace {

using Json = nlohmann::ordered_json;

constexpr size_t kMaxConfigBytes = 16ull << 20;
constexpr size_t kMaxTokenizerConfigBytes = 64ull << 20;  // added_tokens_decoder can be large

std::string join(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

bool is_regular_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string base_name(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  size_t slash = dir.rfind('/');
  return slash == std::string::npos ? dir : dir.substr(slash + 1);
}

// A tokenizer.json, whose vocabulary is too large an object for ordered_json (json_strict.h).
Result<nlohmann::json> read_tokenizer_json(const std::string& path) {
  HEARTH_TRY(std::string text, read_text_file(path, kMaxTokenizerConfigBytes));
  HEARTH_TRY(nlohmann::json json, safetensors::parse_json_strict_unordered(text, path, 0, 64));
  if (!json.is_object()) return make_error("{}: must be a JSON object, got {}", path, json.type_name());
  return json;
}

Result<Json> read_json(const std::string& path, size_t max_bytes) {
  HEARTH_TRY(std::string text, read_text_file(path, max_bytes));
  HEARTH_TRY(Json json, safetensors::parse_json_strict(text, path, 0, 64));
  if (!json.is_object())
    return make_error("{}: must be a JSON object, got {}", path, json.type_name());
  return json;
}

// Typed, optional field access on a JSON object; null counts as absent (HF writes
// "head_dim": null). Errors name the file and the field.
class Fields {
 public:
  Fields(const Json& json, std::string where) : json_(json), where_(std::move(where)) {}

  const Json* get(const char* key) const {
    auto it = json_.find(key);
    if (it == json_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  Result<std::optional<uint64_t>> opt_uint(const char* key) const {
    const Json* v = get(key);
    if (v == nullptr) return std::optional<uint64_t>{};
    if (v->is_number_unsigned()) return std::optional<uint64_t>{v->get<uint64_t>()};
    if (v->is_number_integer() && v->get<int64_t>() >= 0)
      return std::optional<uint64_t>{static_cast<uint64_t>(v->get<int64_t>())};
    return make_error("{}: field '{}' must be a non-negative integer, got {}", where_, key,
                      v->dump().substr(0, 40));
  }

  Result<uint64_t> req_uint(const char* key) const {
    HEARTH_TRY(std::optional<uint64_t> v, opt_uint(key));
    if (!v) return make_error("{}: missing required field '{}'", where_, key);
    return *v;
  }

  Result<std::optional<double>> opt_float(const char* key) const {
    const Json* v = get(key);
    if (v == nullptr) return std::optional<double>{};
    if (!v->is_number())
      return make_error("{}: field '{}' must be a number, got {}", where_, key,
                        v->dump().substr(0, 40));
    return std::optional<double>{v->get<double>()};
  }

  Result<std::optional<bool>> opt_bool(const char* key) const {
    const Json* v = get(key);
    if (v == nullptr) return std::optional<bool>{};
    if (!v->is_boolean())
      return make_error("{}: field '{}' must be true or false, got {}", where_, key,
                        v->dump().substr(0, 40));
    return std::optional<bool>{v->get<bool>()};
  }

  Result<std::optional<std::string>> opt_string(const char* key) const {
    const Json* v = get(key);
    if (v == nullptr) return std::optional<std::string>{};
    if (!v->is_string())
      return make_error("{}: field '{}' must be a string, got {}", where_, key, v->type_name());
    return std::optional<std::string>{v->get<std::string>()};
  }

  // A token id: an integer, or a list of them (Llama 3.1's eos_token_id) of which the first is
  // taken.
  Result<std::optional<uint64_t>> opt_token_id(const char* key) const {
    const Json* v = get(key);
    if (v != nullptr && v->is_array()) {
      if (v->empty()) return std::optional<uint64_t>{};
      Json first = Json::object({{key, (*v)[0]}});
      return Fields(first, where_ + " (" + key + "[0])").opt_uint(key);
    }
    return opt_uint(key);
  }

  const std::string& where() const { return where_; }

 private:
  const Json& json_;
  std::string where_;
};

class MetadataBuilder {
 public:
  explicit MetadataBuilder(std::string arch) : arch_(std::move(arch)) {}

  void string(std::string key, std::string value) {
    add(std::move(key), gguf::Value{std::move(value)});
  }
  void f32(std::string key, double value) {
    add(std::move(key), gguf::Value{static_cast<float>(value)});
  }
  Status u32(std::string key, uint64_t value, const std::string& where) {
    if (value > UINT32_MAX)
      return make_error("{}: {} = {} does not fit in 32 bits", where, key, value);
    add(std::move(key), gguf::Value{static_cast<uint32_t>(value)});
    return Status::Ok();
  }
  void boolean(std::string key, bool value) { add(std::move(key), gguf::Value{value}); }
  void array(std::string key, gguf::Array value) { add(std::move(key), gguf::Value{std::move(value)}); }
  std::string arch_key(std::string_view suffix) const { return arch_ + "." + std::string(suffix); }
  std::vector<gguf::KeyValue> take() { return std::move(kvs_); }

 private:
  // A later value for a key replaces the earlier one (a family's own rule over the generic table).
  void add(std::string key, gguf::Value value) {
    for (gguf::KeyValue& kv : kvs_)
      if (kv.key == key) {
        kv.value = std::move(value);
        return;
      }
    kvs_.push_back(gguf::KeyValue{std::move(key), std::move(value)});
  }
  std::string arch_;
  std::vector<gguf::KeyValue> kvs_;
};

struct RopeConfig {
  std::string type;  // "", "linear", "yarn", "llama3", ...
  const Json* params = nullptr;
  std::optional<double> theta;
};

Result<RopeConfig> read_rope(const Json& config, const Fields& fields) {
  RopeConfig rope;
  const Json* params = fields.get("rope_parameters");
  if (params == nullptr) params = fields.get("rope_scaling");
  if (params != nullptr) {
    if (!params->is_object())
      return make_error("{}: rope_scaling must be an object, got {}", fields.where(),
                        params->type_name());
    auto full = params->find("full_attention");
    if (full != params->end() && full->is_object()) params = &*full;
    rope.params = params;
    Fields p(*params, fields.where() + " rope_scaling");
    HEARTH_TRY(std::optional<std::string> type, p.opt_string("rope_type"));
    if (!type) {
      HEARTH_TRY(std::optional<std::string> legacy, p.opt_string("type"));
      type = legacy;
    }
    rope.type = type.value_or("");
    HEARTH_TRY(rope.theta, p.opt_float("rope_theta"));
  }
  if (!rope.theta) {
    HEARTH_TRY(rope.theta, Fields(config, fields.where()).opt_float("rope_theta"));
  }
  return rope;
}

// A BERT folder's WordPiece vocabulary (tokenizer.json's model.vocab), written as llama.cpp's
// BertModel converter writes it, so that hearth's "bert" tokenizer (llama.cpp's WPM) runs it: the
// tokens in phantom-space form (a word's first piece gets U+2581, a "##" continuation loses its
// "##"), added special tokens as control tokens (other added ones user-defined), the special
// tokens' ids from tokenizer_config.json as SpecialVocab reads them, and the token-type count.
// A config.json vocab_size beyond the tokenizer's (nomic pads its embeddings to a multiple of 64)
// is filled with unused "[PAD{id}]" tokens, as the converter's get_vocab_base does.
Status read_wordpiece_vocab(const std::string& dir, uint64_t type_vocab, std::optional<uint64_t> n_vocab,
                            MetadataBuilder& md) {
  const std::string path = join(dir, "tokenizer.json");
  if (!is_regular_file(path)) return make_error("{}: a BERT folder needs its tokenizer.json (WordPiece)", dir);
  HEARTH_TRY(nlohmann::json tok, read_tokenizer_json(path));
  const nlohmann::json* model = tok.contains("model") ? &tok["model"] : nullptr;
  const auto is = [](const nlohmann::json* obj, const char* key, std::string_view want) {
    const auto it = obj->find(key);
    return it != obj->end() && it->is_string() && it->get<std::string>() == want;
  };
  if (model == nullptr || !model->is_object() || !is(model, "type", "WordPiece"))
    return make_error("{}: model.type must be \"WordPiece\" for a BERT folder", path);
  const nlohmann::json* vocab = model->contains("vocab") ? &(*model)["vocab"] : nullptr;
  if (vocab == nullptr || !vocab->is_object() || vocab->empty() || vocab->size() > (size_t{1} << 22))
    return make_error("{}: model.vocab must be an object of 1..{} tokens", path, size_t{1} << 22);
  if (n_vocab && (*n_vocab < vocab->size() || *n_vocab > (size_t{1} << 22)))
    return make_error("{}: vocab_size {} must hold the tokenizer's {} tokens (and at most {})", join(dir, "config.json"),
                      *n_vocab, vocab->size(), size_t{1} << 22);
  const size_t n_tokens = n_vocab.value_or(vocab->size());
  std::vector<std::string> tokens(n_tokens);
  std::vector<int32_t> types(n_tokens, 1);  // 1: normal
  std::vector<bool> seen(vocab->size(), false);
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    if (!it->is_number_unsigned() || it->get<uint64_t>() >= seen.size() || seen[it->get<uint64_t>()])
      return make_error("{}: model.vocab ids must be 0..{}, each once ('{}')", path, seen.size() - 1, it.key());
    seen[it->get<uint64_t>()] = true;
    tokens[it->get<uint64_t>()] = it.key();
  }
  for (size_t i = vocab->size(); i < n_tokens; ++i) {
    tokens[i] = fmt::format("[PAD{}]", i);
    types[i] = 5;  // unused
  }
  if (const nlohmann::json* added = tok.contains("added_tokens") ? &tok["added_tokens"] : nullptr;
      added && added->is_array())
    for (const nlohmann::json& a : *added) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_unsigned() || !a.contains("content") ||
          !a["content"].is_string())
        return make_error("{}: added_tokens entries need an id and a content", path);
      const uint64_t id = a["id"].get<uint64_t>();
      if (id >= tokens.size() || tokens[id] != a["content"].get<std::string>())
        return make_error("{}: added token '{}' is not model.vocab's id {}", path, a["content"].get<std::string>(), id);
      const auto special = a.find("special");
      types[id] = special != a.end() && special->is_boolean() && special->get<bool>() ? 3 : 4;  // control, user-defined
    }
  gguf::Array list{gguf::ValueType::STRING, {}}, type_list{gguf::ValueType::INT32, {}};
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    list.items.push_back(gguf::Value{types[i] == 3 ? t : t.starts_with("##") ? t.substr(2) : "\u2581" + t});
    type_list.items.push_back(gguf::Value{types[i]});
  }
  md.string("tokenizer.ggml.model", "bert");
  md.string("tokenizer.ggml.pre", "default");
  md.array("tokenizer.ggml.tokens", std::move(list));
  md.array("tokenizer.ggml.token_type", std::move(type_list));
  HEARTH_RETURN_IF_ERROR(md.u32("tokenizer.ggml.token_type_count", type_vocab, path));
  // SpecialVocab: each special token named in tokenizer_config.json, by its id in the vocabulary.
  const std::string config_path = join(dir, "tokenizer_config.json");
  if (!is_regular_file(config_path)) return {};
  HEARTH_TRY(Json tc, read_json(config_path, kMaxTokenizerConfigBytes));
  for (const HfSpecialToken& special : hf_special_token_table()) {
    const std::string field(special.hf);
    const Json* v = tc.contains(field) ? &tc[field] : nullptr;
    if (v != nullptr && v->is_object() && v->contains("content")) v = &(*v)["content"];
    if (v == nullptr || !v->is_string()) continue;
    const auto it = vocab->find(v->get<std::string>());
    if (it != vocab->end())
      HEARTH_RETURN_IF_ERROR(
          md.u32(fmt::format("tokenizer.ggml.{}_token_id", special.gguf), it->get<uint64_t>(), config_path));
  }
  return {};
}

// {arch}.pooling_type from a sentence-transformers folder, as llama.cpp's converter reads it
// (_try_set_pooling_type): modules.json names a *Pooling module, whose config.json sets mean, cls
// or last-token pooling. No modules.json: a generator, nothing to set.
// A module's folder inside the model folder (sentence-transformers modules.json paths): no
// absolute paths, no way up, no symlink out.
Status check_module_path(const std::string& dir, const std::string& sub, const std::string& where) {
  const std::string path = join(dir, sub);
  std::error_code ec;
  const std::filesystem::path root = std::filesystem::weakly_canonical(dir, ec);
  const std::filesystem::path target = std::filesystem::weakly_canonical(path, ec);
  const std::string r = root.string() + "/";
  if (sub.empty() || sub.front() == '/' || sub.find("..") != std::string::npos || ec ||
      target.string().compare(0, r.size(), r) != 0)
    return make_error("{}: the module path '{}' must be a folder inside the model folder", where, sub);
  return {};
}

// The sentence-transformers modules of a folder (modules.json; none: an empty list).
Result<Json> read_modules(const std::string& dir) {
  const std::string modules_path = join(dir, "modules.json");
  if (!is_regular_file(modules_path)) return Json::array();
  HEARTH_TRY(std::string text, read_text_file(modules_path, kMaxConfigBytes));
  HEARTH_TRY(Json modules, safetensors::parse_json_strict(text, modules_path, 0, 64));
  if (!modules.is_array()) return make_error("{}: must be a JSON list of modules", modules_path);
  for (const Json& m : modules)
    if (!m.is_object() || !m.contains("type") || !m["type"].is_string() || !m.contains("path") || !m["path"].is_string())
      return make_error("{}: each module needs string fields 'type' and 'path'", modules_path);
  return modules;
}

// EmbeddingGemma's Dense modules after the pooling, as llama.cpp's EmbeddingGemma converter reads
// them (with --sentence-transformers-dense-modules, which sentence-transformers itself always
// applies): "2_Dense" is dense_2 and any other dense_3, each its linear.weight and its in/out
// features.
Status read_dense_modules(const std::string& dir, MetadataBuilder& md, ModelFile::Parts& parts) {
  HEARTH_TRY(Json modules, read_modules(dir));
  for (const Json& m : modules) {
    if (!m["type"].get<std::string>().ends_with("Dense")) continue;
    const std::string sub = m["path"].get<std::string>();
    const std::string where = join(dir, "modules.json");
    HEARTH_RETURN_IF_ERROR(check_module_path(dir, sub, where));
    const std::string file = join(join(dir, sub), "model.safetensors");
    if (!is_regular_file(file)) continue;  // as the converter: no weights, no module
    const std::string prefix = sub == "2_Dense" ? "dense_2" : "dense_3";
    HEARTH_TRY(Json conf, read_json(join(join(dir, sub), "config.json"), kMaxConfigBytes));
    const Fields f(conf, join(join(dir, sub), "config.json"));
    HEARTH_TRY(uint64_t in, f.req_uint("in_features"));
    HEARTH_TRY(uint64_t out, f.req_uint("out_features"));
    HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key(prefix + "_feat_in"), in, where));
    HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key(prefix + "_feat_out"), out, where));
    HEARTH_TRY(safetensors::File st, safetensors::File::open(file));
    const safetensors::TensorInfo* w = st.find("linear.weight");
    if (w == nullptr) return make_error("{}: no linear.weight", file);
    HEARTH_TRY(TensorView view, safetensors::to_view(*w, file));
    if (view.n_dims != 2 || uint64_t(view.ne[0]) != in || uint64_t(view.ne[1]) != out)
      return make_error("{}: linear.weight must be [{}, {}] (out_features, in_features)", file, out, in);
    parts.keep_alive.push_back(st.mapping());
    parts.mappings.push_back(st.mapping());
    parts.tensors.push_back(ModelTensor{prefix + ".weight", file + ": linear.weight", view});
  }
  return {};
}

Status read_pooling(const std::string& dir, MetadataBuilder* md) {
  HEARTH_TRY(Json modules, read_modules(dir));
  std::optional<std::string> pooling_dir;
  for (const Json& m : modules)
    if (m["type"].get<std::string>().ends_with("Pooling")) {
      pooling_dir = m["path"].get<std::string>();
      break;
    }
  if (!pooling_dir) return {};
  HEARTH_RETURN_IF_ERROR(check_module_path(dir, *pooling_dir, join(dir, "modules.json")));
  const std::string config_path = join(join(dir, *pooling_dir), "config.json");
  HEARTH_TRY(Json config, read_json(config_path, kMaxConfigBytes));
  auto flag = [&](const char* key) { return config.contains(key) && config[key].is_boolean() && config[key].get<bool>(); };
  const std::string mode = config.contains("pooling_mode") && config["pooling_mode"].is_string()
                               ? config["pooling_mode"].get<std::string>()
                               : std::string();
  Pooling pooling;
  if (flag("pooling_mode_mean_tokens") || mode == "mean") pooling = Pooling::kMean;
  else if (flag("pooling_mode_cls_token") || mode == "cls") pooling = Pooling::kCls;
  else if (flag("pooling_mode_lasttoken") || mode == "lasttoken") pooling = Pooling::kLast;
  else return make_error("{}: only mean, cls and last-token pooling are supported", config_path);
  return md->u32(md->arch_key("pooling_type"), static_cast<uint32_t>(pooling), config_path);
}

// tokenizer.chat_template from tokenizer_config.json (a string, or a list of named templates of
// which "default" is the main one), falling back to chat_template.jinja / chat_template.json as
// llama.cpp's gguf-py does.
Status read_chat_template(const std::string& dir, MetadataBuilder* md) {
  std::string config_path = join(dir, "tokenizer_config.json");
  if (is_regular_file(config_path)) {
    HEARTH_TRY(Json tc, read_json(config_path, kMaxTokenizerConfigBytes));
    auto it = tc.find("chat_template");
    if (it != tc.end() && !it->is_null()) {
      if (it->is_string()) {
        md->string("tokenizer.chat_template", it->get<std::string>());
        return Status::Ok();
      }
      if (!it->is_array())
        return make_error("{}: chat_template must be a string or a list, got {}", config_path,
                          it->type_name());
      bool found_default = false;
      for (size_t i = 0; i < it->size(); ++i) {
        const Json& entry = (*it)[i];
        if (!entry.is_object() || !entry.contains("name") || !entry.contains("template") ||
            !entry["name"].is_string() || !entry["template"].is_string())
          return make_error(
              "{}: chat_template[{}] must be {{\"name\": string, \"template\": string}}",
              config_path, i);
        std::string name = entry["name"].get<std::string>();
        std::string text = entry["template"].get<std::string>();
        if (name == "default") {
          md->string("tokenizer.chat_template", std::move(text));
          found_default = true;
        } else {
          md->string("tokenizer.chat_template." + name, std::move(text));
        }
      }
      if (!found_default)
        return make_error("{}: chat_template list has no template named \"default\"", config_path);
      return Status::Ok();
    }
  }
  std::string jinja = join(dir, "chat_template.jinja");
  if (is_regular_file(jinja)) {
    HEARTH_TRY(std::string text, read_text_file(jinja, kMaxConfigBytes));
    md->string("tokenizer.chat_template", std::move(text));
    return Status::Ok();
  }
  std::string json_path = join(dir, "chat_template.json");
  if (is_regular_file(json_path)) {
    HEARTH_TRY(Json ct, read_json(json_path, kMaxConfigBytes));
    HEARTH_TRY(std::optional<std::string> text, Fields(ct, json_path).opt_string("chat_template"));
    if (text) md->string("tokenizer.chat_template", std::move(*text));
  }
  return Status::Ok();
}

// GGUF general.file_type from the first matrix, as the converter guesses its default outtype.
uint32_t guess_file_type(const safetensors::Folder& folder) {
  for (const auto& entry : folder.entries()) {
    const safetensors::TensorInfo& t = folder.info(entry);
    if (t.shape.size() < 2) continue;
    if (t.dtype == safetensors::Dtype::BF16) return 32;  // LLAMA_FTYPE_MOSTLY_BF16
    if (t.dtype == safetensors::Dtype::F32) return 0;    // LLAMA_FTYPE_ALL_F32
    return 1;                                            // LLAMA_FTYPE_MOSTLY_F16
  }
  return 1;
}

}  // namespace

namespace {

// DeepSeek V2/V3, as llama.cpp's DeepseekV2Model converter writes them: Multi-head Latent
// Attention's ranks and head sizes with the cache's one latent head (key_length = kv_lora_rank +
// qk_rope_head_dim, value_length = kv_lora_rank, head_count_kv 1), DeepSeekMoE's router (dense
// leading layers, shared experts, scaling, normalisation, groups, gating) and YaRN's mscale_all_dim.
struct DeepSeekShape {
  uint64_t n_layer = 0, n_head = 0, nope = 0, v_head = 0, kv_lora = 0;
};

Result<DeepSeekShape> read_deepseek_config(const Fields& cfg, const RopeConfig& rope, const std::string& where,
                                           MetadataBuilder& md) {
  DeepSeekShape shape;
  HEARTH_TRY(shape.n_layer, cfg.req_uint("num_hidden_layers"));
  HEARTH_TRY(shape.n_head, cfg.req_uint("num_attention_heads"));
  HEARTH_TRY(shape.kv_lora, cfg.req_uint("kv_lora_rank"));
  HEARTH_TRY(shape.nope, cfg.req_uint("qk_nope_head_dim"));
  HEARTH_TRY(shape.v_head, cfg.req_uint("v_head_dim"));
  HEARTH_TRY(const uint64_t rot, cfg.req_uint("qk_rope_head_dim"));
  HEARTH_TRY(const std::optional<uint64_t> q_lora, cfg.opt_uint("q_lora_rank"));  // null: V2-Lite
  HEARTH_TRY(const std::optional<uint64_t> dense, cfg.opt_uint("first_k_dense_replace"));
  HEARTH_TRY(const std::optional<uint64_t> n_shared, cfg.opt_uint("n_shared_experts"));
  HEARTH_TRY(const std::optional<double> scale, cfg.opt_float("routed_scaling_factor"));
  HEARTH_TRY(const std::optional<bool> norm, cfg.opt_bool("norm_topk_prob"));
  HEARTH_TRY(const std::optional<uint64_t> groups, cfg.opt_uint("n_group"));
  HEARTH_TRY(const std::optional<uint64_t> groups_used, cfg.opt_uint("topk_group"));
  HEARTH_TRY(const std::optional<std::string> scoring, cfg.opt_string("scoring_func"));
  HEARTH_TRY(const std::optional<uint64_t> n_vocab, cfg.opt_uint("vocab_size"));
  // Bounded before any sum or product of them is formed (read_hparams checks them again, tighter).
  constexpr uint64_t kMax = uint64_t{1} << 20;
  for (const uint64_t x : {shape.n_head, shape.kv_lora, shape.nope, shape.v_head, rot, q_lora.value_or(0)})
    if (x > kMax)
      return make_error("{}: num_attention_heads, kv_lora_rank, q_lora_rank and the head sizes must be at most {}",
                        where, kMax);
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("leading_dense_block_count"), dense.value_or(0), where));
  if (n_vocab) HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("vocab_size"), *n_vocab, where));
  if (q_lora) HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("attention.q_lora_rank"), *q_lora, where));
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("attention.kv_lora_rank"), shape.kv_lora, where));
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("attention.key_length"), shape.kv_lora + rot, where));
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("attention.value_length"), shape.kv_lora, where));
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("attention.key_length_mla"), shape.nope + rot, where));
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("attention.value_length_mla"), shape.v_head, where));
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("attention.head_count_kv"), 1, where));
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("rope.dimension_count"), rot, where));
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("expert_shared_count"), n_shared.value_or(0), where));
  if (scale) md.f32(md.arch_key("expert_weights_scale"), *scale);
  if (norm && *norm) md.boolean(md.arch_key("expert_weights_norm"), true);
  if (groups) HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("expert_group_count"), *groups, where));
  if (groups_used) HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("expert_group_used_count"), *groups_used, where));
  if (scoring && *scoring != "softmax" && *scoring != "sigmoid")
    return make_error("{}: scoring_func '{}' is not supported (softmax, sigmoid are)", where, *scoring);
  if (scoring) HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("expert_gating_func"), *scoring == "sigmoid" ? 2 : 1, where));
  if (rope.type == "yarn") {
    Fields p(*rope.params, where + " rope_scaling");
    HEARTH_TRY(const std::optional<double> mscale_all_dim, p.opt_float("mscale_all_dim"));
    if (mscale_all_dim) md.f32(md.arch_key("rope.scaling.yarn_log_multiplier"), 0.1 * *mscale_all_dim);
  }
  if (shape.n_head == 0 || shape.kv_lora == 0 || shape.nope == 0 || shape.v_head == 0 || rot == 0)
    return make_error("{}: num_attention_heads, kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim and v_head_dim "
                      "must be positive", where);
  return shape;
}

// config.json's layer_types as one flag per layer: whether each is of kind `flagged`
// ("linear_attention": Qwen3.5's recurrent layers; "sliding_attention": Gemma 4's windowed ones),
// every other entry being "full_attention".
Result<gguf::Array> layer_type_flags(const Json* types, uint64_t n_layer, std::string_view flagged,
                                     const std::string& where) {
  if (types == nullptr || !types->is_array() || types->size() != n_layer)
    return make_error("{}: layer_types must be a list of num_hidden_layers ({}) entries", where, n_layer);
  gguf::Array flags{gguf::ValueType::BOOL, {}};
  for (const Json& t : *types) {
    if (!t.is_string() || (t != flagged && t != "full_attention"))
      return make_error("{}: layer_types entries must be \"{}\" or \"full_attention\"", where, flagged);
    flags.items.push_back(gguf::Value{t == flagged});
  }
  return flags;
}

// Qwen3.5 (dense and MoE) as llama.cpp's Qwen3NextModel / Qwen3_5 converters write it: the Gated
// DeltaNet sizes, which layers are recurrent (layer_types, else every full_attention_interval-th
// attends), the rotated part of each head, the M-RoPE sections, the shared expert's width.
Result<Qwen35Heads> read_qwen35_config(const Fields& cfg, const RopeConfig& rope, uint64_t head_dim,
                                       const std::string& where, MetadataBuilder& md) {
  HEARTH_TRY(const uint64_t conv, cfg.req_uint("linear_conv_kernel_dim"));
  HEARTH_TRY(const uint64_t head_k, cfg.req_uint("linear_key_head_dim"));
  HEARTH_TRY(const uint64_t n_k, cfg.req_uint("linear_num_key_heads"));
  HEARTH_TRY(const uint64_t n_v, cfg.req_uint("linear_num_value_heads"));
  HEARTH_TRY(const uint64_t head_v, cfg.req_uint("linear_value_head_dim"));
  HEARTH_TRY(const uint64_t n_layer, cfg.req_uint("num_hidden_layers"));
  constexpr uint64_t kMax = uint64_t{1} << 16;  // products of two stay far inside 32 bits
  for (const uint64_t x : {conv, head_k, n_k, n_v, head_v})
    if (x == 0 || x > kMax)
      return make_error("{}: linear_conv_kernel_dim, linear_key_head_dim, linear_num_key_heads, linear_num_value_heads "
                        "and linear_value_head_dim must be in 1..{}", where, kMax);
  if (n_v % n_k != 0)
    return make_error("{}: linear_num_value_heads {} must be a multiple of linear_num_key_heads {}", where, n_v, n_k);
  if (head_dim == 0 || head_dim > kMax) return make_error("{}: head_dim {} must be in 1..{}", where, head_dim, kMax);
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("ssm.conv_kernel"), conv, where));
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("ssm.state_size"), head_k, where));
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("ssm.group_count"), n_k, where));
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("ssm.time_step_rank"), n_v, where));
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("ssm.inner_size"), head_v * n_v, where));
  if (const Json* types = cfg.get("layer_types")) {
    HEARTH_TRY(gguf::Array flags, layer_type_flags(types, n_layer, "linear_attention", where));
    md.array(md.arch_key("attention.recurrent_layers"), std::move(flags));
  }
  HEARTH_TRY(const std::optional<uint64_t> interval, cfg.opt_uint("full_attention_interval"));
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("full_attention_interval"), interval.value_or(4), where));
  // The rotated share of each head: rope_parameters' partial_rotary_factor, else the top level's,
  // else 0.25; the converter truncates head_dim * factor to an integer.
  std::optional<double> factor;
  if (rope.params != nullptr) {
    HEARTH_TRY(factor, Fields(*rope.params, where + " rope_parameters").opt_float("partial_rotary_factor"));
  }
  if (!factor) {
    HEARTH_TRY(factor, cfg.opt_float("partial_rotary_factor"));
  }
  const double share = factor.value_or(0.25);
  if (!(share > 0.0 && share <= 1.0))
    return make_error("{}: partial_rotary_factor {} must be in (0, 1]", where, share);
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("rope.dimension_count"),
                                static_cast<uint64_t>(static_cast<double>(head_dim) * share), where));
  // M-RoPE sections, padded to four; absent: Qwen3.5's [11, 11, 10, 0] (the converter's default).
  gguf::Array sections{gguf::ValueType::INT32, {}};
  const Json* given = rope.params != nullptr && rope.params->contains("mrope_section") ? &(*rope.params)["mrope_section"]
                                                                                          : nullptr;
  if (given != nullptr) {
    if (!given->is_array() || given->size() > 4)
      return make_error("{}: rope_parameters.mrope_section must be a list of up to 4 counts", where);
    for (const Json& x : *given) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() > 4096)
        return make_error("{}: rope_parameters.mrope_section entries must be integers in 0..4096", where);
      sections.items.push_back(gguf::Value{static_cast<int32_t>(x.get<int64_t>())});
    }
  } else {
    for (const int32_t x : {11, 11, 10}) sections.items.push_back(gguf::Value{x});
  }
  while (sections.items.size() < 4) sections.items.push_back(gguf::Value{int32_t{0}});
  md.array(md.arch_key("rope.dimension_sections"), std::move(sections));
  HEARTH_TRY(const std::optional<uint64_t> shexp, cfg.opt_uint("shared_expert_intermediate_size"));
  if (shexp) HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("expert_shared_feed_forward_length"), *shexp, where));
  return Qwen35Heads{int64_t(n_k), int64_t(n_v), int64_t(head_k), int64_t(head_v)};
}

// An owned F32 copy of a float tensor's values (F32, F16 or BF16).
std::shared_ptr<std::vector<float>> widened(const TensorView& v) {
  auto out = std::make_shared<std::vector<float>>(static_cast<size_t>(v.n_elements()));
  dequantize_row(v.type, v.data, out->data(), v.n_elements());
  return out;
}

// Rounds x as an op computed in the tensor's own precision would (torch computes F16 ops in float
// and rounds the result; the converter widens BF16 to F32 before it changes anything).
float round_as(DType type, float x) { return type == DType::F16 ? fp16_to_fp32(fp32_to_fp16(x)) : x; }

// The converter writes 1-D tensors, norms, routers and conv kernels as F32: an owned F32 copy of a
// half-precision one.
Status widen_to_f32(TensorView& view, const std::string& what, ModelFile::Parts& parts) {
  if (view.type == DType::F32) return {};
  if (view.type != DType::F16 && view.type != DType::BF16)
    return make_error("{}: a {} tensor where F32, F16 or BF16 is expected", what, dtype_name(view.type));
  auto values = widened(view);
  view.type = DType::F32;
  view.data = values->data();
  view.n_bytes = values->size() * sizeof(float);
  parts.keep_alive.push_back(std::move(values));
  return {};
}

bool kept_as_f32(const TensorView& view, std::string_view gguf_name) {
  return view.n_dims <= 1 || gguf_name.ends_with("_norm.weight") || gguf_name.ends_with(".ffn_gate_inp.weight") ||
         gguf_name.ends_with(".ffn_gate_inp_shexp.weight") || gguf_name.ends_with(".ssm_conv1d.weight");
}

// Phi-3 / Phi-3.5 / Phi-4's keys as llama.cpp's Phi3MiniModel writes them: the original context
// (rope_scaling's, else the top level's; required), the rotated dimensions
// (int(partial_rotary_factor * n_embd) // n_head), the window (0 when unset) and, for LongRoPE
// checkpoints, the attention factor; returns the long and short factors, which become tensors.
struct LongRope {
  std::vector<float> long_factors, short_factors;
};
Result<LongRope> read_phi3_config(const Fields& cfg, const RopeConfig& rope, uint64_t n_embd, uint64_t n_head,
                                  const std::string& where, MetadataBuilder& md) {
  const std::optional<Fields> params =
      rope.params ? std::optional<Fields>(Fields(*rope.params, where + " rope_scaling")) : std::nullopt;
  std::optional<uint64_t> orig;
  if (params) {
    HEARTH_TRY(orig, params->opt_uint("original_max_position_embeddings"));
  }
  if (!orig) {
    HEARTH_TRY(orig, cfg.opt_uint("original_max_position_embeddings"));
  }
  if (!orig || *orig == 0) return make_error("{}: missing required field 'original_max_position_embeddings'", where);
  HEARTH_TRY(uint64_t max_pos, cfg.req_uint("max_position_embeddings"));
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("rope.scaling.original_context_length"), *orig, where));
  std::optional<double> rot_pct;
  if (params) {
    HEARTH_TRY(rot_pct, params->opt_float("partial_rotary_factor"));
  }
  if (!rot_pct) {
    HEARTH_TRY(rot_pct, cfg.opt_float("partial_rotary_factor"));
  }
  const double pct = rot_pct.value_or(1.0);
  if (!(pct > 0 && pct <= 1)) return make_error("{}: partial_rotary_factor {} is outside (0, 1]", where, pct);
  const auto rope_dims = static_cast<uint64_t>(pct * double(n_embd)) / n_head;
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("rope.dimension_count"), rope_dims, where));
  const Json* window = cfg.get("sliding_window");
  uint64_t w = 0;
  if (window != nullptr && !window->is_null()) {
    HEARTH_TRY(w, cfg.req_uint("sliding_window"));
  }
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("attention.sliding_window"), w, where));

  LongRope out;
  const Json* long_f = params ? params->get("long_factor") : nullptr;
  if (long_f == nullptr || long_f->is_null() || (long_f->is_array() && long_f->empty())) return out;
  const double scale = double(max_pos) / double(*orig);
  double attn = 1.0;
  if (rope.type == "su" || rope.type == "longrope") {
    if (scale > 1.0) attn = std::sqrt(1.0 + std::log(scale) / std::log(double(*orig)));
  } else if (rope.type == "yarn") {
    if (scale > 1.0) attn = 0.1 * std::log(scale) + 1.0;
  } else {
    return make_error("{}: rope_scaling type '{}' with long_factor is not supported (longrope, su, yarn are)", where,
                      rope.type);
  }
  md.f32(md.arch_key("rope.scaling.attn_factor"), attn);
  const Json* short_f = params->get("short_factor");
  for (const auto& [json, dst] : {std::pair{long_f, &out.long_factors}, std::pair{short_f, &out.short_factors}}) {
    if (json == nullptr || !json->is_array() || json->size() != rope_dims / 2)
      return make_error("{}: rope_scaling long_factor and short_factor must be lists of {} numbers", where,
                        rope_dims / 2);
    for (const Json& x : *json) {
      if (!x.is_number()) return make_error("{}: rope_scaling factors must be numbers", where);
      dst->push_back(static_cast<float>(x.get<double>()));
    }
  }
  return out;
}

// The windowed layers' rope base, where TextModel.set_gguf_parameters finds one.
Result<std::optional<double>> local_rope_theta(const Fields& cfg) {
  const Json* params = cfg.get("rope_parameters");
  if (params == nullptr) params = cfg.get("rope_scaling");
  if (params != nullptr && params->is_object()) {
    const auto sliding = params->find("sliding_attention");
    if (sliding != params->end() && sliding->is_object())
      return Fields(*sliding, cfg.where() + " rope_parameters.sliding_attention").opt_float("rope_theta");
    if (params->contains("full_attention")) return std::optional<double>{};
  }
  for (const char* key : {"local_rope_theta", "rope_local_theta", "rope_theta_local", "swa_rope_theta",
                          "rope_local_base_freq"}) {
    HEARTH_TRY(std::optional<double> v, cfg.opt_float(key));
    if (v) return v;
  }
  return std::optional<double>{};
}

// Gemma 2 and Gemma 3's keys beyond the table, as llama.cpp's Gemma2Model / Gemma3Model write
// them: Gemma 2's soft-caps and window (all required there); Gemma 3's defaults for what its
// config.json may leave out, its final soft-cap when set, and its window unless every layer is
// global (sliding_window_pattern 1). Which layers are windowed is the family's rule (arch.cpp).
Status read_gemma_config(const Fields& cfg, bool gemma3, const std::string& where, MetadataBuilder& md) {
  if (!gemma3) {
    for (const char* key : {"attn_logit_softcapping", "final_logit_softcapping"}) {
      HEARTH_TRY(std::optional<double> cap, cfg.opt_float(key));
      if (!cap) return make_error("{}: missing required field '{}'", where, key);
      md.f32(md.arch_key(key), *cap);
    }
    HEARTH_TRY(uint64_t window, cfg.req_uint("sliding_window"));
    return md.u32(md.arch_key("attention.sliding_window"), window, where);
  }
  for (const auto& [key, hf, fallback] : {std::tuple{"context_length", "max_position_embeddings", uint64_t{131072}},
                                          std::tuple{"attention.head_count_kv", "num_key_value_heads", uint64_t{4}},
                                          std::tuple{"attention.key_length", "head_dim", uint64_t{256}}}) {
    HEARTH_TRY(std::optional<uint64_t> v, cfg.opt_uint(hf));
    if (!v) HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key(key), fallback, where));
  }
  HEARTH_TRY(std::optional<uint64_t> head_dim, cfg.opt_uint("head_dim"));
  if (!head_dim) HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("attention.value_length"), 256, where));
  HEARTH_TRY(std::optional<double> eps, cfg.opt_float("rms_norm_eps"));
  if (!eps) md.f32(md.arch_key("attention.layer_norm_rms_epsilon"), 1e-6);
  const Json* cap = cfg.get("final_logit_softcapping");
  if (cap != nullptr && !cap->is_null()) {
    HEARTH_TRY(std::optional<double> c, cfg.opt_float("final_logit_softcapping"));
    if (c && *c != 0) md.f32(md.arch_key("final_logit_softcapping"), *c);
  }
  if (const Json* a = cfg.get("attn_logit_softcapping"); a != nullptr && !a->is_null())
    return make_error("{}: attn_logit_softcapping is set, which Gemma 3 does not have", where);
  HEARTH_TRY(std::optional<uint64_t> pattern, cfg.opt_uint("sliding_window_pattern"));
  if (pattern.value_or(0) != 1) {
    HEARTH_TRY(uint64_t window, cfg.req_uint("sliding_window"));
    HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("attention.sliding_window"), window, where));
  }
  return {};
}

// Gemma 4's keys on top of Gemma 3's, as llama.cpp's Gemma4Model writes them: which layers are
// windowed (layer_types), the full layers' head size (global_head_dim) and the windowed ones'
// (head_dim), the full layers' KV heads where they differ, the shared-KV layers and per-layer
// embeddings (E2B/E4B), double-wide FFNs, and the rotated dimensions: a full head's whole width,
// whose "proportional" rope becomes the rope_freqs tensor (1 for the rotated pairs, 1e30 for the
// rest), returned here.
Result<std::vector<float>> read_gemma4_config(const Fields& cfg, uint64_t n_layer, const std::string& where,
                                              MetadataBuilder& md) {
  // 26B-A4B: enable_moe_block puts experts beside the dense FFN of every layer, their gate and up
  // projections fused in one tensor (kept fused, as the converter keeps them).
  HEARTH_TRY(std::optional<bool> moe_block, cfg.opt_bool("enable_moe_block"));
  HEARTH_TRY(std::optional<uint64_t> n_expert, cfg.opt_uint("num_experts"));
  if (moe_block.value_or(n_expert.value_or(0) > 0)) {
    HEARTH_TRY(uint64_t n_used, cfg.req_uint("top_k_experts"));
    HEARTH_TRY(std::optional<uint64_t> n_ff_exp, cfg.opt_uint("expert_intermediate_size"));
    if (!n_ff_exp) {
      HEARTH_TRY(n_ff_exp, cfg.opt_uint("moe_intermediate_size"));
    }
    if (!n_expert || *n_expert == 0 || *n_expert > static_cast<uint64_t>(kMaxExperts) || n_used == 0 ||
        n_used > *n_expert || !n_ff_exp || *n_ff_exp == 0)
      return make_error("{}: enable_moe_block needs num_experts (1..{}), top_k_experts (1..num_experts) and "
                        "moe_intermediate_size", where, kMaxExperts);
    HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("expert_count"), *n_expert, where));
    HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("expert_used_count"), n_used, where));
    HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("expert_feed_forward_length"), *n_ff_exp, where));
  } else if (n_expert.value_or(0) > 0) {
    return make_error("{}: num_experts {} with enable_moe_block false", where, *n_expert);
  }
  HEARTH_TRY(gguf::Array windowed, layer_type_flags(cfg.get("layer_types"), n_layer, "sliding_attention", where));
  std::vector<bool> swa;
  for (const gguf::Value& f : windowed.items) swa.push_back(*f.as_bool());
  md.array(md.arch_key("attention.sliding_window_pattern"), std::move(windowed));
  HEARTH_TRY(uint64_t shared, cfg.req_uint("num_kv_shared_layers"));
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("attention.shared_kv_layers"), shared, where));
  HEARTH_TRY(std::optional<uint64_t> per_layer, cfg.opt_uint("hidden_size_per_layer_input"));
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("embedding_length_per_layer_input"), per_layer.value_or(0), where));
  if (per_layer.value_or(0) > 0) {
    HEARTH_TRY(std::optional<uint64_t> rows, cfg.opt_uint("vocab_size_per_layer_input"));
    HEARTH_TRY(std::optional<uint64_t> vocab, cfg.opt_uint("vocab_size"));
    if (rows && vocab && *rows != *vocab)
      return make_error("{}: vocab_size_per_layer_input {} differs from vocab_size {} (unsupported)", where, *rows,
                        *vocab);
  }
  HEARTH_TRY(uint64_t head_full, cfg.req_uint("global_head_dim"));
  HEARTH_TRY(uint64_t head_swa, cfg.req_uint("head_dim"));
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("attention.key_length"), head_full, where));
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("attention.value_length"), head_full, where));
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("attention.key_length_swa"), head_swa, where));
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("attention.value_length_swa"), head_swa, where));
  HEARTH_TRY(uint64_t n_ff, cfg.req_uint("intermediate_size"));
  HEARTH_TRY(std::optional<bool> double_wide, cfg.opt_bool("use_double_wide_mlp"));
  if (double_wide.value_or(false)) {
    gguf::Array widths{gguf::ValueType::UINT32, {}};
    for (uint64_t il = 0; il < n_layer; ++il)
      widths.items.push_back(gguf::Value{static_cast<uint32_t>(il + shared < n_layer ? n_ff : 2 * n_ff)});
    md.array(md.arch_key("feed_forward_length"), std::move(widths));
  }
  HEARTH_TRY(std::optional<uint64_t> kv_full, cfg.opt_uint("num_global_key_value_heads"));
  HEARTH_TRY(std::optional<uint64_t> kv_swa, cfg.opt_uint("num_key_value_heads"));
  if (kv_full && kv_swa) {
    gguf::Array counts{gguf::ValueType::UINT32, {}};
    for (const bool w : swa) counts.items.push_back(gguf::Value{static_cast<uint32_t>(w ? *kv_swa : *kv_full)});
    md.array(md.arch_key("attention.head_count_kv"), std::move(counts));
  }
  // The full layers' proportional rope: rotated pairs as a fraction of the head.
  const Json* params = cfg.get("rope_parameters");
  const Json* full = params && params->is_object() && params->contains("full_attention") ? &(*params)["full_attention"]
                                                                                          : nullptr;
  const auto rope_type = full != nullptr && full->is_object() ? full->find("rope_type") : Json::const_iterator{};
  if (full == nullptr || !full->is_object() || rope_type == full->end() || !rope_type->is_string() ||
      rope_type->get<std::string>() != "proportional")
    return make_error("{}: rope_parameters.full_attention must have rope_type \"proportional\"", where);
  HEARTH_TRY(std::optional<double> full_factor,
             Fields(*full, where + " rope_parameters.full_attention").opt_float("partial_rotary_factor"));
  if (!full_factor) return make_error("{}: rope_parameters.full_attention.partial_rotary_factor is missing", where);
  const double factor = *full_factor;
  HEARTH_TRY(std::optional<double> swa_factor, Fields(*params, where + " rope_parameters").opt_float("partial_rotary_factor"));
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("rope.dimension_count"), head_full, where));
  HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("rope.dimension_count_swa"),
                                static_cast<uint64_t>(double(head_swa) * swa_factor.value_or(1.0)), where));
  if (!(factor > 0 && factor <= 1)) return make_error("{}: partial_rotary_factor {} is outside (0, 1]", where, factor);
  const auto rotated = static_cast<size_t>(double(head_full) * factor / 2);
  std::vector<float> freqs(head_full / 2, 1e30f);
  std::fill(freqs.begin(), freqs.begin() + long(std::min(rotated, freqs.size())), 1.0f);
  return freqs;
}

// A 1-D F32 tensor the converter computes from config.json (rope factors), owned by the model.
void add_f32_tensor(ModelFile::Parts& parts, std::string name, std::string source, std::vector<float> values) {
  auto owned = std::make_shared<std::vector<float>>(std::move(values));
  TensorView view;
  view.type = DType::F32;
  view.n_dims = 1;
  view.ne[0] = static_cast<int64_t>(owned->size());
  view.data = owned->data();
  view.n_bytes = owned->size() * sizeof(float);
  parts.tensors.push_back(ModelTensor{std::move(name), std::move(source), view});
  parts.keep_alive.push_back(std::move(owned));
}

// A Gemma norm as the converter writes it: HF keeps w - 1 (the modules compute x * (1 + w)).
Status gemma_norm(TensorView& view, const std::string& where, ModelFile::Parts& parts) {
  const DType source = view.type;
  HEARTH_RETURN_IF_ERROR(widen_to_f32(view, where, parts));
  auto values = std::make_shared<std::vector<float>>(static_cast<const float*>(view.data),
                                                     static_cast<const float*>(view.data) + view.n_elements());
  for (float& x : *values) x = round_as(source, x + 1.0f);
  view.data = values->data();
  parts.keep_alive.push_back(std::move(values));
  return {};
}

// One Qwen3.5 tensor as the converter writes it (hf_qwen35.h): the conv kernel's middle axis
// dropped, A_log and the zero-centred norms turned into ssm_a and norm weights, the value heads
// tiled.
Status qwen35_tensor(std::string_view hf_name, const std::string& gguf_name, const Qwen35Heads& heads,
                     const std::string& where, TensorView& view, ModelFile::Parts& parts) {
  if (gguf_name.ends_with(".ssm_conv1d.weight")) {  // [channels, 1, taps] -> ne [taps, channels]
    if (view.n_dims == 3 && view.ne[1] == 1) {
      view.ne[1] = view.ne[2];
      view.ne[2] = 1;
      view.n_dims = 2;
    } else if (view.n_dims != 2) {
      return make_error("{}: the conv kernel must be [channels, 1, taps] or [channels, taps]", where);
    }
  }
  const Qwen35Value change = qwen35_value_change(hf_name);
  if (change != Qwen35Value::kNone || kept_as_f32(view, gguf_name)) {
    const DType source = view.type;
    HEARTH_RETURN_IF_ERROR(widen_to_f32(view, where, parts));
    if (change != Qwen35Value::kNone) {
      auto values = std::make_shared<std::vector<float>>(static_cast<const float*>(view.data),
                                                         static_cast<const float*>(view.data) + view.n_elements());
      for (float& x : *values) x = change == Qwen35Value::kNegExp ? -round_as(source, std::exp(x)) : round_as(source, x + 1.0f);
      view.data = values->data();
      parts.keep_alive.push_back(std::move(values));
    }
  }
  if (const std::optional<VHeadMove> move = qwen35_v_head_move(gguf_name, heads)) {
    auto bytes = std::make_shared<std::vector<uint8_t>>();
    HEARTH_RETURN_IF_ERROR(qwen35_move_tensor(*move, heads, view, /*to_tiled=*/true, where, *bytes));
    view.data = bytes->data();
    parts.keep_alive.push_back(std::move(bytes));
  }
  return {};
}

// Qwen3.5-MoE's fused experts of one layer: gate_up_proj [experts, 2 * n_ff, n_embd] split into
// ffn_gate_exps and ffn_up_exps (copies: each expert's gate rows then its up rows), down_proj
// [experts, n_embd, n_ff] as ffn_down_exps (a view), as the converter's Qwen2MoeModel splits them.
Status qwen35_fused_experts(std::string_view name, uint64_t layer, uint64_t n_expert, const std::string& where,
                            TensorView view, ModelFile::Parts& parts) {
  const std::string blk = "blk." + std::to_string(layer) + ".";
  if (view.n_dims != 3 || uint64_t(view.ne[2]) != n_expert)
    return make_error("{}: fused experts must be [{}, rows, cols]", where, n_expert);
  if (name.ends_with("down_proj") || name.ends_with("down_proj.weight")) {
    parts.tensors.push_back(ModelTensor{blk + "ffn_down_exps.weight", std::string(name), view});
    return {};
  }
  if (view.ne[1] % 2 != 0) return make_error("{}: gate_up_proj has an odd number of rows ({})", where, view.ne[1]);
  const uint64_t half = view.n_bytes / n_expert / 2;
  for (const bool up : {false, true}) {
    auto bytes = std::make_shared<std::vector<uint8_t>>(view.n_bytes / 2);
    for (uint64_t e = 0; e < n_expert; ++e)
      std::memcpy(bytes->data() + e * half, static_cast<const uint8_t*>(view.data) + (2 * e + (up ? 1 : 0)) * half, half);
    TensorView part = view;
    part.ne[1] = view.ne[1] / 2;
    part.n_bytes = view.n_bytes / 2;
    part.data = bytes->data();
    parts.keep_alive.push_back(std::move(bytes));
    parts.tensors.push_back(ModelTensor{blk + (up ? "ffn_up_exps.weight" : "ffn_gate_exps.weight"), std::string(name), part});
  }
  return {};
}

// nomic-bert's config.json (NomicBertModel) speaks GPT-2's names: each is copied to the name
// the rest of the loader reads where that is absent, as the converter's find_hparam accepts both.
// Its context is the trained one, not n_positions (8192 for v1/v1.5, trained at 2048), by the
// converter's rule; the settings the converter asserts (hearth runs nothing else) are checked.
Status read_nomic_config(Json& config, const std::string& where) {
  const Fields f(config, where);
  HEARTH_TRY(std::optional<uint64_t> moe_every, f.opt_uint("moe_every_n_layers"));
  if (moe_every && *moe_every != 0)
    return make_error("{}: nomic-bert-moe (moe_every_n_layers) is not supported", where);
  const auto expect = [&](const char* key, const Json& want) -> Status {
    const Json* v = f.get(key);
    if (v != nullptr && *v != want)
      return make_error("{}: field '{}' is {}; only {} is supported for nomic-bert", where, key, v->dump().substr(0, 40),
                        want.dump());
    return {};
  };
  HEARTH_RETURN_IF_ERROR(expect("activation_function", "swiglu"));
  HEARTH_RETURN_IF_ERROR(expect("causal", false));
  HEARTH_RETURN_IF_ERROR(expect("qkv_proj_bias", false));
  HEARTH_RETURN_IF_ERROR(expect("mlp_fc1_bias", false));
  HEARTH_RETURN_IF_ERROR(expect("mlp_fc2_bias", false));
  HEARTH_RETURN_IF_ERROR(expect("prenorm", false));
  HEARTH_RETURN_IF_ERROR(expect("rotary_emb_fraction", 1.0));
  HEARTH_RETURN_IF_ERROR(expect("rotary_emb_interleaved", false));
  if (const Json* scale = f.get("rotary_emb_scale_base"))
    return make_error("{}: rotary_emb_scale_base {} (xPos) is not supported", where, scale->dump().substr(0, 40));
  HEARTH_TRY(std::optional<uint64_t> n_positions, f.opt_uint("n_positions"));
  HEARTH_TRY(std::optional<uint64_t> trained, f.opt_uint("max_trained_positions"));
  if (n_positions && !config.contains("max_position_embeddings")) {
    const uint64_t mtp = trained.value_or(2048);
    if (*n_positions == 8192 && mtp == 2048) config["max_position_embeddings"] = 2048;
    else if (*n_positions == 2048 && mtp == 2048) config["max_position_embeddings"] = 512;
    else
      return make_error("{}: n_positions {} with max_trained_positions {} is not a known nomic-bert (8192/2048)",
                        where, *n_positions, mtp);
  }
  for (const HfKeyAlias& k : hf_nomic_key_aliases()) {
    const std::string hf(k.hf), nomic(k.nomic);
    if (!config.contains(hf) && config.contains(nomic)) config[hf] = config[nomic];
  }
  return {};
}

// A BERT cross-encoder's one label (transformers' id2label; llama.cpp's converter writes it as
// classifier.output_labels). More labels make a classifier, whose relevance score is undefined.
Status read_cross_encoder_labels(const Fields& cfg, MetadataBuilder& md) {
  std::string label = "LABEL_0";
  HEARTH_TRY(std::optional<uint64_t> num_labels, cfg.opt_uint("num_labels"));
  const Json* id2label = cfg.get("id2label");
  if (id2label != nullptr) {
    if (!id2label->is_object() || id2label->size() != 1 || !id2label->begin()->is_string() ||
        id2label->begin().key() != "0")
      return make_error("{}: id2label must be one label {{\"0\": name}}: a cross-encoder scores with one logit "
                        "(classifiers of more labels are not rerankers)", cfg.where());
    label = id2label->begin()->get<std::string>();
  } else if (num_labels && *num_labels != 1) {
    return make_error("{}: num_labels {}: a cross-encoder scores with one logit (classifiers of more labels are "
                      "not rerankers)", cfg.where(), *num_labels);
  }
  md.array(md.arch_key("classifier.output_labels"), gguf::Array{gguf::ValueType::STRING, {gguf::Value{label}}});
  return md.u32(md.arch_key("pooling_type"), static_cast<uint32_t>(Pooling::kRank), cfg.where());
}

// Whether a Qwen3 folder is a Qwen3-Reranker, by llama.cpp's converter's rule (Qwen3Model.
// _is_qwen3_reranker): its README's title, or a name (the folder's, _name_or_path) that says so.
Result<bool> is_qwen3_reranker(const std::string& dir, const Fields& cfg) {
  const auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    return s;
  };
  const std::string readme = join(dir, "README.md");
  if (is_regular_file(readme)) {
    HEARTH_TRY(std::string text, read_text_file(readme, kMaxConfigBytes));
    text = lower(std::move(text));
    if (text.find("# qwen3-reranker") != std::string::npos || text.find("# qwen3-vl-reranker") != std::string::npos)
      return true;
  }
  HEARTH_TRY(std::optional<std::string> name_or_path, cfg.opt_string("_name_or_path"));
  for (const std::string& hint : {base_name(dir), name_or_path.value_or("")})
    if (const std::string h = lower(hint);
        h.find("qwen3-reranker") != std::string::npos || h.find("qwen3-vl-reranker") != std::string::npos)
      return true;
  return false;
}

// The ids of a Qwen3-Reranker's class tokens ("yes", "no") in its tokenizer.json, as the
// converter's AutoTokenizer.convert_tokens_to_ids finds them (the vocabulary, then added tokens).
Result<std::vector<uint64_t>> qwen3_rerank_class_ids(const std::string& dir) {
  const std::string path = join(dir, "tokenizer.json");
  if (!is_regular_file(path))
    return make_error("{}: a Qwen3-Reranker folder needs its tokenizer.json (the ids of its class tokens)", dir);
  HEARTH_TRY(nlohmann::json tok, read_tokenizer_json(path));
  std::vector<uint64_t> ids;
  for (std::string_view want : kQwen3RerankClasses) {
    std::optional<uint64_t> id;
    const std::string key(want);
    if (tok.contains("model") && tok["model"].is_object() && tok["model"].contains("vocab") &&
        tok["model"]["vocab"].is_object()) {
      const nlohmann::json& vocab = tok["model"]["vocab"];
      if (auto it = vocab.find(key); it != vocab.end() && it->is_number_unsigned()) id = it->get<uint64_t>();
    }
    if (!id && tok.contains("added_tokens") && tok["added_tokens"].is_array())
      for (const nlohmann::json& a : tok["added_tokens"])
        if (a.is_object() && a.value("content", nlohmann::json()) == key && a.contains("id") && a["id"].is_number_unsigned())
          id = a["id"].get<uint64_t>();
    if (!id) return make_error("{}: the reranker's class token '{}' is not in the vocabulary", path, key);
    ids.push_back(*id);
  }
  return ids;
}

// cls.output of a Qwen3-Reranker: the LM head's rows of its class tokens, stacked in class order
// (the converter's _get_cls_out_tensor), copied as bytes so any float type stays as it is.
Result<TensorView> rerank_head_rows(const TensorView& head, const std::vector<uint64_t>& rows, const std::string& where,
                                    ModelFile::Parts& parts) {
  if (head.n_dims != 2 || head.ne[1] <= 0 || head.n_bytes % static_cast<uint64_t>(head.ne[1]) != 0)
    return make_error("{}: the LM head must be a [vocab, hidden] matrix", where);
  const uint64_t row_bytes = head.n_bytes / static_cast<uint64_t>(head.ne[1]);
  auto buffer = std::make_shared<std::vector<uint8_t>>(rows.size() * row_bytes);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] >= static_cast<uint64_t>(head.ne[1]))
      return make_error("{}: class token id {} is beyond the LM head's {} rows", where, rows[i], head.ne[1]);
    std::memcpy(buffer->data() + i * row_bytes, static_cast<const uint8_t*>(head.data) + rows[i] * row_bytes,
                row_bytes);
  }
  TensorView view = head;
  view.ne[1] = static_cast<int64_t>(rows.size());
  view.n_bytes = buffer->size();
  view.data = buffer->data();
  parts.keep_alive.push_back(std::move(buffer));
  return view;
}

// The layer of an HF tensor "model.layers.N.*", if it is one.
std::optional<uint64_t> hf_layer_of(std::string_view name) {
  constexpr std::string_view kPrefix = "model.layers.";
  if (!name.starts_with(kPrefix)) return std::nullopt;
  uint64_t layer = 0;
  size_t i = kPrefix.size();
  if (i >= name.size() || name[i] < '0' || name[i] > '9') return std::nullopt;
  for (; i < name.size() && name[i] >= '0' && name[i] <= '9' && layer < (uint64_t{1} << 32); ++i)
    layer = layer * 10 + uint64_t(name[i] - '0');
  return layer;
}

}  // namespace

Result<ModelFile> open_hf_folder(const std::string& dir) {
  const std::string config_path = join(dir, "config.json");
  HEARTH_TRY(Json config, read_json(config_path, kMaxConfigBytes));
  Fields cfg(config, config_path);

  // Architecture: architectures[0], else model_type.
  std::string hf_class;
  if (const Json* archs = cfg.get("architectures")) {
    if (!archs->is_array() || (!archs->empty() && !(*archs)[0].is_string()))
      return make_error("{}: field 'architectures' must be a list of strings", config_path);
    if (!archs->empty()) hf_class = (*archs)[0].get<std::string>();
  }
  HEARTH_TRY(std::optional<std::string> model_type, cfg.opt_string("model_type"));
  const HfArch* arch = find_hf_arch(hf_class, model_type.value_or(""));
  if (arch == nullptr) {
    std::string known;
    for (const HfArch& a : hf_arch_table())
      known += (known.empty() ? "" : ", ") + std::string(a.hf_class);
    return make_error("{}: unsupported architecture '{}' (model_type '{}'); supported: {}",
                      config_path, hf_class, model_type.value_or(""), known);
  }
  const std::string gguf_arch(arch->gguf_arch);
  const ArchSpec* spec = find_arch(gguf_arch);
  HEARTH_CHECK(spec != nullptr, "the HF table names an architecture the slot tables lack");
  // Other classification heads would be read as their base model by model_type, head dropped.
  if (hf_class.ends_with("ForSequenceClassification") && hf_class != "BertForSequenceClassification")
    return make_error("{}: {} is not supported (of the classifier checkpoints, BERT cross-encoders are; "
                      "Qwen3-Reranker is read as the Qwen3ForCausalLM it is released as)", config_path, hf_class);
  // A multimodal checkpoint keeps the text model's hyperparameters in text_config; the converter
  // lays them over the top level, and so do we (the top level still answers what text_config
  // leaves out).
  Json merged_config = config;
  if (const Json* text = cfg.get("text_config")) {
    if (!text->is_object()) return make_error("{}: field 'text_config' must be an object", config_path);
    for (auto it = text->begin(); it != text->end(); ++it) merged_config[it.key()] = it.value();
  }
  const bool nomic = gguf_arch == "nomic-bert";
  if (nomic) HEARTH_RETURN_IF_ERROR(read_nomic_config(merged_config, config_path));
  const Fields hcfg(merged_config, config_path);

  // Hyperparameters, under the keys llama.cpp's TextModel/LlamaModel.set_gguf_parameters write.
  HEARTH_TRY(uint64_t n_embd, hcfg.req_uint(hf_key("embedding_length")));
  HEARTH_TRY(uint64_t n_head, hcfg.req_uint(hf_key("attention.head_count")));
  HEARTH_TRY(std::optional<uint64_t> n_head_kv_opt, hcfg.opt_uint(hf_key("attention.head_count_kv")));
  HEARTH_TRY(std::optional<uint64_t> head_dim, hcfg.opt_uint(hf_key("attention.key_length")));
  HEARTH_TRY(std::optional<uint64_t> n_vocab, hcfg.opt_uint("vocab_size"));
  HEARTH_TRY(std::optional<bool> tied, hcfg.opt_bool("tie_word_embeddings"));
  if (n_head == 0) return make_error("{}: num_attention_heads is 0", config_path);
  const uint64_t n_head_kv = n_head_kv_opt.value_or(n_head);  // HF's default
  if (n_head_kv == 0 || n_head % n_head_kv != 0)
    return make_error("{}: num_key_value_heads {} must divide num_attention_heads {}", config_path,
                      n_head_kv, n_head);
  if (!head_dim && n_embd % n_head != 0)
    return make_error(
        "{}: hidden_size {} is not a multiple of num_attention_heads {} and no "
        "head_dim is given",
        config_path, n_embd, n_head);
  const uint64_t rope_dim = head_dim.value_or(n_embd / n_head);
  HEARTH_TRY(RopeConfig rope, read_rope(merged_config, hcfg));

  MetadataBuilder md(gguf_arch);
  md.string("general.architecture", gguf_arch);
  md.string("general.name", base_name(dir));
  // The one-to-one keys (hf_names.h), each as config.json has it.
  for (const HfKey& k : hf_key_table()) {
    if (k.moe_only && !arch->moe()) continue;
    if (k.is_float) {
      HEARTH_TRY(std::optional<double> v, hcfg.opt_float(k.hf.data()));
      if (v) md.f32(md.arch_key(k.gguf), *v);
    } else if (k.required) {
      HEARTH_TRY(uint64_t v, hcfg.req_uint(k.hf.data()));
      HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key(k.gguf), v, config_path));
    } else {
      HEARTH_TRY(std::optional<uint64_t> v, hcfg.opt_uint(k.hf.data()));
      if (v) HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key(k.gguf), *v, config_path));
    }
  }

  bool llama3_rope = false;
  if (!rope.type.empty()) {
    Fields p(*rope.params, config_path + " rope_scaling");
    HEARTH_TRY(std::optional<double> factor, p.opt_float("factor"));
    if (rope.type == "linear" && factor) {
      md.string(md.arch_key("rope.scaling.type"), "linear");
      md.f32(md.arch_key("rope.scaling.factor"), *factor);
    } else if (rope.type == "yarn" && factor) {
      md.string(md.arch_key("rope.scaling.type"), "yarn");
      md.f32(md.arch_key("rope.scaling.factor"), *factor);
      HEARTH_TRY(uint64_t orig, p.req_uint("original_max_position_embeddings"));
      HEARTH_RETURN_IF_ERROR(
          md.u32(md.arch_key("rope.scaling.original_context_length"), orig, p.where()));
      for (const HfKey& k : hf_yarn_key_table()) {
        HEARTH_TRY(std::optional<double> v, p.opt_float(k.hf.data()));
        if (!v && k.hf == "attention_factor") {  // an older spelling; attention_factor wins
          HEARTH_TRY(v, p.opt_float("attn_factor"));
        }
        if (v) md.f32(md.arch_key(k.gguf), *v);
      }
    } else if (rope.type == "llama3" || rope.type == "Llama3" || rope.type == "LLAMA3") {
      llama3_rope = arch->llama_extras;  // only LlamaModel bakes rope_freqs
    } else if (rope.type != "default" && !(gguf_arch == "phi3" && (rope.type == "longrope" || rope.type == "su")) &&
               !(gguf_arch == "gemma4" && rope.type == "proportional")) {  // gemma4: rope_freqs, below
      return make_error("{}: rope_scaling type '{}' is not supported (linear, yarn, llama3 are; longrope for Phi-3)",
                        config_path, rope.type);
    }
  }
  // Gemma2Model writes neither rope base (llama.cpp's default, 10000, is the model's); the other
  // converters (TextModel) write both where config.json has them: the windowed layers' from
  // rope_parameters.sliding_attention or one of the older top-level spellings.
  const bool gemma2 = gguf_arch == "gemma2";
  if (rope.theta && !gemma2) md.f32(md.arch_key("rope.freq_base"), *rope.theta);
  if (!gemma2) {
    HEARTH_TRY(std::optional<double> local, local_rope_theta(hcfg));
    if (local) md.f32(md.arch_key("rope.freq_base_swa"), *local);
  }
  if (head_dim)  // key_length is in the table; HF has one head_dim for both
    HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("attention.value_length"), *head_dim, config_path));
  if (arch->llama_extras) {
    if (!n_vocab) return make_error("{}: missing required field 'vocab_size'", config_path);
    HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("vocab_size"), *n_vocab, config_path));
    HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("rope.dimension_count"), rope_dim, config_path));
  }

  const bool deepseek = gguf_arch == "deepseek2";
  DeepSeekShape deepseek_shape;
  if (deepseek) {
    HEARTH_TRY(deepseek_shape, read_deepseek_config(hcfg, rope, config_path, md));
  }
  LongRope long_rope;
  if (gguf_arch == "phi3") {
    HEARTH_TRY(long_rope, read_phi3_config(hcfg, rope, n_embd, n_head, config_path, md));
  }
  const bool embedding_gemma = gguf_arch == "gemma-embedding";
  const bool gemma = gguf_arch == "gemma2" || gguf_arch == "gemma3" || embedding_gemma;
  if (gemma || gguf_arch == "gemma4")  // Gemma4Model and EmbeddingGemma build on Gemma3Model
    HEARTH_RETURN_IF_ERROR(read_gemma_config(hcfg, gguf_arch != "gemma2", config_path, md));
  const bool bert = gguf_arch == "bert";
  const bool cross_encoder = hf_class == "BertForSequenceClassification";
  if (bert || nomic) {  // BertModel, NomicBertModel: LayerNorms, attention both ways, WordPiece
    HEARTH_TRY(std::optional<double> eps, hcfg.opt_float("layer_norm_eps"));
    if (!eps) return make_error("{}: missing required field 'layer_norm_eps'", config_path);
    md.f32(md.arch_key("attention.layer_norm_epsilon"), *eps);
    md.boolean(md.arch_key("attention.causal"), false);
    HEARTH_TRY(std::optional<uint64_t> type_vocab, hcfg.opt_uint("type_vocab_size"));
    HEARTH_RETURN_IF_ERROR(read_wordpiece_vocab(dir, type_vocab.value_or(1), n_vocab, md));
    HEARTH_TRY(std::optional<std::string> act, hcfg.opt_string("hidden_act"));
    if (bert && act && *act != "gelu")
      return make_error("{}: hidden_act '{}' is not supported for BERT (gelu is)", config_path, *act);
  }
  std::vector<float> gemma4_rope_freqs;
  if (gguf_arch == "gemma4") {
    HEARTH_TRY(uint64_t n_layer, hcfg.req_uint("num_hidden_layers"));
    HEARTH_TRY(gemma4_rope_freqs, read_gemma4_config(hcfg, n_layer, config_path, md));
  }
  const bool qwen35 = gguf_arch == "qwen35" || gguf_arch == "qwen35moe";
  Qwen35Heads qwen35_heads;
  uint64_t qwen35_layers = 0;
  if (qwen35) {
    HEARTH_TRY(qwen35_heads, read_qwen35_config(hcfg, rope, rope_dim, config_path, md));
    HEARTH_TRY(qwen35_layers, hcfg.req_uint("num_hidden_layers"));
  }
  // Mixture of Experts (Qwen3MoeModel / Mixtral's converters): experts on every layer, softmax
  // router renormalised over the top k, which is all hearth's MoE path computes for them.
  uint64_t n_expert = 0;
  if (arch->moe()) {
    const std::string count_key(arch->expert_count_key);
    HEARTH_TRY(n_expert, hcfg.req_uint(count_key.c_str()));
    HEARTH_TRY(uint64_t n_used, hcfg.req_uint(hf_key("expert_used_count")));
    if (n_expert == 0 || n_expert > static_cast<uint64_t>(kMaxExperts) || n_used == 0 || n_used > n_expert)
      return make_error("{}: {} = {} and num_experts_per_tok = {} must satisfy 1 <= used <= count <= {}",
                        config_path, count_key, n_expert, n_used, kMaxExperts);
    HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("expert_count"), n_expert, config_path));
    HEARTH_TRY(std::optional<bool> norm_topk, hcfg.opt_bool("norm_topk_prob"));
    if (norm_topk && !*norm_topk && !deepseek)
      return make_error("{}: norm_topk_prob false (unnormalised expert weights) is not supported",
                        config_path);
    HEARTH_TRY(std::optional<uint64_t> sparse_step, hcfg.opt_uint("decoder_sparse_step"));
    const Json* mlp_only = hcfg.get("mlp_only_layers");
    if (!deepseek && ((sparse_step && *sparse_step != 1) || (mlp_only && !(mlp_only->is_array() && mlp_only->empty()))))
      return make_error("{}: dense layers between MoE layers (decoder_sparse_step, mlp_only_layers) "
                        "are not supported", config_path);
  }

  HEARTH_TRY(std::optional<uint64_t> bos, hcfg.opt_token_id("bos_token_id"));
  HEARTH_TRY(std::optional<uint64_t> eos, hcfg.opt_token_id("eos_token_id"));
  if (bos) HEARTH_RETURN_IF_ERROR(md.u32("tokenizer.ggml.bos_token_id", *bos, config_path));
  if (eos) HEARTH_RETURN_IF_ERROR(md.u32("tokenizer.ggml.eos_token_id", *eos, config_path));
  HEARTH_RETURN_IF_ERROR(read_chat_template(dir, &md));
  HEARTH_RETURN_IF_ERROR(read_pooling(dir, &md));
  // Rerankers (rerank.h): pooling "rank" and the head's classes, over any pooling module.
  if (cross_encoder) HEARTH_RETURN_IF_ERROR(read_cross_encoder_labels(hcfg, md));
  bool qwen3_reranker = false;
  std::vector<uint64_t> rerank_rows;
  if (gguf_arch == "qwen3") {
    HEARTH_TRY(qwen3_reranker, is_qwen3_reranker(dir, hcfg));
  }
  if (qwen3_reranker) {
    HEARTH_TRY(rerank_rows, qwen3_rerank_class_ids(dir));
    HEARTH_RETURN_IF_ERROR(md.u32(md.arch_key("pooling_type"), static_cast<uint32_t>(Pooling::kRank), config_path));
    gguf::Array labels{gguf::ValueType::STRING, {}};
    for (std::string_view c : kQwen3RerankClasses) labels.items.push_back(gguf::Value{std::string(c)});
    md.array(md.arch_key("classifier.output_labels"), std::move(labels));
    md.string("tokenizer.chat_template.rerank", std::string(kQwen3RerankTemplate));
  }

  // Tensors.
  HEARTH_TRY(safetensors::Folder folder, safetensors::Folder::open(dir));
  HEARTH_RETURN_IF_ERROR(md.u32("general.file_type", guess_file_type(folder), config_path));

  ModelFile::Parts parts;
  parts.format = SourceFormat::kHuggingFace;
  parts.path = dir;
  if (embedding_gemma) HEARTH_RETURN_IF_ERROR(read_dense_modules(dir, md, parts));
  parts.metadata = md.take();
  if (is_regular_file(join(dir, "tokenizer.json")) && !bert && !nomic) parts.hf_tokenizer_dir = dir;  // WordPiece: in metadata
  for (const safetensors::File& shard : folder.shards()) {
    parts.keep_alive.push_back(shard.mapping());
    parts.mappings.push_back(shard.mapping());
  }

  if (llama3_rope) {
    Fields p(*rope.params, config_path + " rope_scaling");
    HEARTH_TRY(std::optional<double> factor, p.opt_float("factor"));
    HEARTH_TRY(std::optional<double> low, p.opt_float("low_freq_factor"));
    HEARTH_TRY(std::optional<double> high, p.opt_float("high_freq_factor"));
    // The converter reads original_max_position_embeddings from the top level of config.json
    // (where Llama 3.x configs do not have it), so in practice this is 8192; we do the same.
    HEARTH_TRY(std::optional<uint64_t> orig, hcfg.opt_uint("original_max_position_embeddings"));
    if (rope_dim == 0 || rope_dim % 2 != 0)
      return make_error("{}: head dimension {} must be even for llama3 rope scaling", config_path,
                        rope_dim);
    add_f32_tensor(parts, "rope_freqs.weight", "(config.json rope_scaling llama3)",
                   llama3_rope_factors(rope.theta.value_or(10000.0), static_cast<int64_t>(rope_dim),
                                       factor.value_or(8.0), low.value_or(1.0), high.value_or(4.0),
                                       static_cast<double>(orig.value_or(8192))));
  }
  if (!long_rope.long_factors.empty()) {
    add_f32_tensor(parts, "rope_factors_long.weight", "(config.json rope_scaling long_factor)",
                   std::move(long_rope.long_factors));
    add_f32_tensor(parts, "rope_factors_short.weight", "(config.json rope_scaling short_factor)",
                   std::move(long_rope.short_factors));
  }
  if (!gemma4_rope_freqs.empty())
    add_f32_tensor(parts, "rope_freqs.weight", "(config.json rope_parameters.full_attention)",
                   std::move(gemma4_rope_freqs));

  const bool tie = tied.value_or(false);
  // Expert slices by stacked GGUF name, collected and stacked after the loop.
  struct Slice {
    const safetensors::TensorInfo* info = nullptr;
    const std::string* shard = nullptr;
  };
  std::map<std::string, std::vector<Slice>> stacks;
  for (const auto& entry : folder.entries()) {
    const safetensors::TensorInfo& info = folder.info(entry);
    const std::string& shard_name = folder.shards()[entry.shard].name();
    if (hf_name_is_ignored(info.name)) continue;
    // The tensor's name as the text model's table spells it.
    std::string name = info.name;
    if (!arch->text_model_type.empty() || gguf_arch == "gemma4") {  // a multimodal checkpoint's text model
      constexpr std::string_view kLanguageModel = "model.language_model.";
      if (name.starts_with(kLanguageModel)) {
        name = "model." + name.substr(kLanguageModel.size());
      } else if (gguf_arch == "gemma4" && name.starts_with("model.") && !name.starts_with("model.layers.") &&
                 !name.starts_with("model.embed_tokens") && !name.starts_with("model.norm.") &&
                 !name.starts_with("model.per_layer_")) {
        continue;  // the vision and audio towers and their projections are not run (nor converted here)
      }
    }
    if (embedding_gemma && !name.starts_with("model."))  // Gemma3TextModel: the base model's own names
      name = "model." + name;
    if (bert) {  // as BertModel.filter_tensors: the "bert." prefix and old LayerNorm names; no MLM heads,
                 // and no pooler but a cross-encoder's (its head's first layer; hf_names.cpp)
      if (name.starts_with("bert.")) name = name.substr(5);
      if (name.ends_with(".gamma")) name = name.substr(0, name.size() - 6) + ".weight";
      if (name.ends_with(".beta")) name = name.substr(0, name.size() - 5) + ".bias";
      if (name == "embeddings.position_ids" || (name.starts_with("pooler.") && !cross_encoder) ||
          name.starts_with("cls.predictions") || name.starts_with("cls.seq_relationship"))
        continue;
    }
    if (qwen35) {
      // The vision tower and the multi-token-prediction layers are not run (nor converted here).
      if (name.starts_with("model.visual.") || name.starts_with("visual.") || name.starts_with("mtp.")) continue;
      const std::optional<uint64_t> layer = hf_layer_of(name);
      if (layer && *layer >= qwen35_layers)
        return make_error("{}: tensor '{}' is in layer {} of {}", shard_name, info.name, *layer, qwen35_layers);
      if (arch->moe() && layer && (name.ends_with(".mlp.experts.gate_up_proj") || name.ends_with(".mlp.experts.gate_up_proj.weight") ||
                                   name.ends_with(".mlp.experts.down_proj") || name.ends_with(".mlp.experts.down_proj.weight"))) {
        HEARTH_TRY(TensorView view, safetensors::to_view(info, shard_name));
        HEARTH_RETURN_IF_ERROR(qwen35_fused_experts(name, *layer, n_expert, shard_name + ": " + info.name, view, parts));
        continue;
      }
    }
    if (deepseek) {
      // Multi-token-prediction layers follow the trunk's (llama.cpp's converter drops them too).
      const std::optional<uint64_t> layer = hf_layer_of(info.name);
      if (layer && *layer >= deepseek_shape.n_layer) continue;
      if (layer && info.name.ends_with(".self_attn.kv_b_proj.weight")) {
        HEARTH_TRY(TensorView view, safetensors::to_view(info, shard_name));
        const MlaHeadShape mla{int64_t(deepseek_shape.n_head), int64_t(deepseek_shape.nope),
                               int64_t(deepseek_shape.v_head), int64_t(deepseek_shape.kv_lora)};
        HEARTH_RETURN_IF_ERROR(split_kv_b(view, shard_name + ": " + info.name, mla, int64_t(*layer), parts));
        continue;
      }
    }
    if (!arch->moe())
      for (const HfArch& a : hf_arch_table())
        if (a.moe() && hf_expert_name(name, *find_arch(a.gguf_arch), a.names()))
          return make_error("{}: tensor '{}' is an expert of a Mixture-of-Experts model, but {} is dense",
                            shard_name, info.name, hf_class);
    if (std::optional<HfExpertName> ex = hf_expert_name(name, *spec, arch->names())) {
      if (ex->expert < 0 || static_cast<uint64_t>(ex->expert) >= n_expert)
        return make_error("{}: tensor '{}' names expert {} of {}", shard_name, info.name, ex->expert, n_expert);
      std::vector<Slice>& slices = stacks[ex->gguf];
      slices.resize(n_expert);
      Slice& slot = slices[static_cast<size_t>(ex->expert)];
      if (slot.info != nullptr)
        return make_error("{}: tensor '{}' appears twice", shard_name, info.name);
      slot = Slice{&info, &shard_name};
      continue;
    }
    std::optional<std::string> gguf_name = hf_to_gguf_name(name, *spec, arch->names());
    if (!gguf_name)
      return make_error("{}: tensor '{}' has no GGUF name for architecture {}", shard_name,
                        info.name, gguf_arch);
    if (qwen3_reranker && *gguf_name == (tie ? "token_embd.weight" : "output.weight")) {
      HEARTH_TRY(TensorView head, safetensors::to_view(info, shard_name));
      HEARTH_TRY(TensorView rows, rerank_head_rows(head, rerank_rows, shard_name + ": " + info.name, parts));
      parts.tensors.push_back(ModelTensor{"cls.output.weight", info.name + " (the class tokens' rows)", rows});
      if (!tie) continue;  // an untied head is kept only as those rows, as the converter keeps it
    }
    if (tie && *gguf_name == "output.weight") continue;  // tied: output reuses token_embd
    HEARTH_TRY(TensorView view, safetensors::to_view(info, shard_name));

    const bool is_q = gguf_name->ends_with("attn_q.weight") || gguf_name->ends_with("attn_q.bias");
    const bool is_k = gguf_name->ends_with("attn_k.weight") || gguf_name->ends_with("attn_k.bias");
    if (arch->permute_qk && (is_q || is_k)) {
      const int64_t heads = static_cast<int64_t>(is_q ? n_head : n_head_kv);
      const int64_t n_rows = static_cast<int64_t>(info.shape.empty() ? 1 : info.shape[0]);
      if (n_rows % (2 * heads) != 0)
        return make_error("{}: tensor '{}': {} rows cannot be split into {} heads of even size",
                          shard_name, info.name, n_rows, heads);
      const uint64_t row_bytes = n_rows == 0 ? 0 : info.n_bytes() / static_cast<uint64_t>(n_rows);
      auto buffer = std::make_shared<std::vector<uint8_t>>(info.n_bytes());
      if (n_rows > 0)
        permute_qk_rows(info.data, buffer->data(), n_rows, row_bytes, heads, /*inverse=*/false);
      view.data = buffer->data();
      parts.keep_alive.push_back(std::move(buffer));
    }
    if (qwen35) {
      HEARTH_RETURN_IF_ERROR(qwen35_tensor(name, *gguf_name, qwen35_heads, shard_name + ": " + info.name, view, parts));
    } else if (gemma && name.ends_with("norm.weight")) {
      HEARTH_RETURN_IF_ERROR(gemma_norm(view, shard_name + ": " + info.name, parts));
    } else if (view.n_dims <= 1 || gguf_name->ends_with("_norm.weight")) {
      HEARTH_RETURN_IF_ERROR(widen_to_f32(view, shard_name + ": " + info.name, parts));
    }
    parts.tensors.push_back(ModelTensor{*gguf_name, info.name, view});
  }

  // Stack each expert matrix's slices into one [cols, rows, n_expert] tensor: a view of the file
  // when the slices lie back to back in expert order (as converters write them), else a copy.
  for (const auto& [gguf_name, slices] : stacks) {
    TensorView first;
    for (size_t e = 0; e < slices.size(); ++e) {
      if (slices[e].info == nullptr)
        return make_error("{}: expert {} of '{}' is missing", dir, e, gguf_name);
      HEARTH_TRY(TensorView v, safetensors::to_view(*slices[e].info, *slices[e].shard));
      if (e == 0) first = v;
      if (v.n_dims != 2 || v.type != first.type || v.ne != first.ne)
        return make_error("{}: tensor '{}' differs in type or shape from expert 0 of '{}'", *slices[e].shard,
                          slices[e].info->name, gguf_name);
    }
    const uint64_t slice_bytes = first.n_bytes;
    const auto* base = static_cast<const uint8_t*>(first.data);
    bool contiguous = true;
    for (size_t e = 0; e < slices.size(); ++e)
      contiguous = contiguous && slices[e].info->data == base + e * slice_bytes;
    TensorView view = first;
    view.n_dims = 3;
    view.ne[2] = static_cast<int64_t>(slices.size());
    view.n_bytes = slice_bytes * slices.size();
    if (!contiguous) {
      auto buffer = std::make_shared<std::vector<uint8_t>>(view.n_bytes);
      for (size_t e = 0; e < slices.size(); ++e)
        std::memcpy(buffer->data() + e * slice_bytes, slices[e].info->data, slice_bytes);
      view.data = buffer->data();
      parts.keep_alive.push_back(std::move(buffer));
    }
    parts.tensors.push_back(ModelTensor{gguf_name, slices[0].info->name + " (+ the other experts)", view});
  }
  return ModelFile(std::move(parts));
}

}  // namespace hearth
