// hearth inspect FILE|DIR: what a model file holds, as a table or as JSON (--json).
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "model/arch.h"
#include "model/model_file.h"
#include "model/transformer.h"
#include "tokenizer/tokenizer.h"

namespace hearth::cli {
namespace {

using nlohmann::json;

constexpr size_t kShortArray = 16;  // arrays longer than this are summarised unless --full

json value_to_json(const gguf::Value& value, bool full) {
  json out;
  out["type"] = std::string(gguf::value_type_name(value.type()));
  if (const gguf::Array* array = value.as_array()) {
    out["elem_type"] = std::string(gguf::value_type_name(array->elem_type));
    out["length"] = array->items.size();
    if (full || array->items.size() <= kShortArray) {
      json items = json::array();
      for (const gguf::Value& item : array->items) {
        if (item.as_array()) items.push_back(value_to_json(item, full));
        else items.push_back(value_to_json(item, full)["value"]);
      }
      out["value"] = std::move(items);
    }
    return out;
  }
  std::visit(
      [&out](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (!std::is_same_v<T, gguf::Array>) out["value"] = x;
      },
      value.v);
  return out;
}

std::string shape_string(const TensorView& v) {
  std::string s;
  for (int d = 0; d < v.n_dims; ++d) s += (d ? " x " : "") + std::to_string(v.ne[d]);
  return s;
}

std::string human_bytes(uint64_t n) {
  if (n >= (1ull << 30)) return fmt::format("{:.2f} GiB", static_cast<double>(n) / (1ull << 30));
  if (n >= (1ull << 20)) return fmt::format("{:.2f} MiB", static_cast<double>(n) / (1ull << 20));
  if (n >= (1ull << 10)) return fmt::format("{:.2f} KiB", static_cast<double>(n) / (1ull << 10));
  return fmt::format("{} B", n);
}

struct Totals {
  uint64_t n_params = 0;
  uint64_t n_bytes = 0;
  // What one token reads: every tensor but the stacked expert tensors, which count n_used of
  // their n_expert slices (the token-embedding table counts whole, as in the usual figure).
  double active_params = 0;
  double active_bytes = 0;
};

Totals totals(const ModelFile& model, int64_t n_expert, int64_t n_used) {
  Totals t;
  for (const ModelTensor& tensor : model.tensors()) {
    t.n_params += static_cast<uint64_t>(tensor.view.n_elements());
    t.n_bytes += tensor.view.n_bytes;
    // Expert stacks [.., .., n_expert] and per-expert biases [.., n_expert] (gpt-oss).
    const bool stacked_experts =
        n_expert > 0 && ((tensor.view.n_dims == 3 && tensor.view.ne[2] == n_expert) ||
                         (tensor.view.n_dims == 2 && tensor.view.ne[1] == n_expert &&
                          tensor.name.ends_with("_exps.bias")));
    const double share = stacked_experts ? static_cast<double>(n_used) / static_cast<double>(n_expert) : 1.0;
    t.active_params += share * static_cast<double>(tensor.view.n_elements());
    t.active_bytes += share * static_cast<double>(tensor.view.n_bytes);
  }
  return t;
}

json tokenizer_summary(const ModelFile& model) {
  json tok;
  tok["model"] = model.get_string("tokenizer.ggml.model").value_or("");
  tok["pre"] = model.get_string("tokenizer.ggml.pre").value_or("");
  const gguf::Value* tokens = model.find("tokenizer.ggml.tokens");
  tok["n_tokens"] = tokens && tokens->as_array() ? tokens->as_array()->items.size() : 0;
  for (const char* id : {"bos", "eos", "eot", "padding", "unknown"}) {
    std::optional<int64_t> v = model.get_int(fmt::format("tokenizer.ggml.{}_token_id", id));
    if (v) tok[std::string(id) + "_id"] = *v;
  }
  std::optional<std::string> tmpl = model.get_string("tokenizer.chat_template");
  tok["has_chat_template"] = tmpl.has_value();
  tok["chat_template_bytes"] = tmpl ? tmpl->size() : 0;
  if (!model.hf_tokenizer_dir().empty()) {
    // A Hugging Face folder's vocabulary is its tokenizer.json (loaded to count and check it).
    tok["hf_tokenizer_dir"] = model.hf_tokenizer_dir();
    tok["model"] = "tokenizer.json";
    Result<tokenizer::Tokenizer> t = tokenizer::Tokenizer::from_model(model);
    if (t.ok()) {
      tok["n_tokens"] = t->n_vocab();
      for (auto [name, id] : {std::pair{"bos_id", t->bos()}, std::pair{"eos_id", t->eos()}, std::pair{"eot_id", t->eot()},
                              std::pair{"padding_id", t->pad()}, std::pair{"unknown_id", t->unk()}}) {
        if (id != tokenizer::kNoToken) tok[name] = id;
        else tok.erase(name);
      }
    } else {
      tok["error"] = t.error().message;
    }
  }
  return tok;
}

json hparams_json(const ModelFile& model, std::string* error) {
  auto hp = read_hparams(model);
  if (!hp.ok()) {
    *error = hp.error().message;
    return nullptr;
  }
  json out{{"n_vocab", hp->n_vocab},         {"n_ctx_train", hp->n_ctx_train},
            {"n_embd", hp->n_embd},           {"n_layer", hp->n_layer},
            {"n_head", hp->n_head},           {"n_head_kv", hp->n_head_kv},
            {"head_dim", hp->head_dim},       {"n_ff", hp->n_ff},
            {"n_rot", hp->n_rot},             {"rope_freq_base", hp->rope_freq_base},
            {"rms_eps", hp->rms_eps}};
  if (hp->n_expert > 0) {
    out["n_expert"] = hp->n_expert;
    out["n_expert_used"] = hp->n_expert_used;
    out["n_ff_exp"] = hp->n_ff_exp;
    out["n_layer_dense_lead"] = hp->n_layer_dense_lead;
  }
  if (hp->n_swa > 0) {
    int64_t windowed = 0;
    for (int64_t il = 0; il < hp->n_layer; ++il) windowed += hp->layer_is_swa(il) ? 1 : 0;
    out["n_swa"] = hp->n_swa;
    out["n_layer_swa"] = windowed;
  }
  if (hp->n_embd_per_layer > 0) out["n_embd_per_layer"] = hp->n_embd_per_layer;  // Gemma 4 E2B/E4B
  if (hp->n_kv_shared > 0) out["n_layer_kv_shared"] = hp->n_kv_shared;           // layers with no cache
  if (hp->pooling != Pooling::kNone) out["pooling"] = pooling_name(hp->pooling);
  if (!hp->causal) {  // an encoder: LayerNorms, no rope, no KV cache
    out["causal"] = false;
    out["norm_eps"] = hp->norm_eps;
    for (const char* key : {"rms_eps", "rope_freq_base", "n_rot"}) out.erase(key);
    return out;
  }
  // The f16 KV cache (model/kv_cache.h): bytes per position of the full-attention layers, and of
  // the sliding-window layers, which keep only their window (kv_window) however long the context.
  const std::vector<KvLayerShape> layers = kv_layer_shapes(*hp);
  const uint64_t full = KvCache::bytes_per_block(layers, KvGroup::kFull, 1);
  const uint64_t window = KvCache::bytes_per_block(layers, KvGroup::kWindow, 1);
  out["kv_bytes_per_token"] = full;
  if (window > 0) {
    out["kv_bytes_per_window_token"] = window;
    out["kv_window"] = kv_window(*hp);
  }
  // Recurrent layers (Gated DeltaNet): a fixed-size state per sequence instead of keys.
  if (const uint64_t state = KvCache::bytes_per_state_slot(layers); state > 0) out["state_bytes_per_sequence"] = state;
  return out;
}

// "kv cache: ..." for the text view: per token, and at the training context and at 32k.
std::string kv_summary(const json& hp) {
  if (!hp.contains("kv_bytes_per_token")) return "kv cache: none (an encoder attends within each input's pass)";
  const auto full = hp["kv_bytes_per_token"].get<uint64_t>();
  const uint64_t window = hp.contains("kv_bytes_per_window_token") ? hp["kv_bytes_per_window_token"].get<uint64_t>() : 0;
  const int64_t w = hp.contains("kv_window") ? hp["kv_window"].get<int64_t>() : 0;
  auto at = [&](int64_t n_ctx) {
    const double bytes = double(full) * double(n_ctx) + double(window) * double(std::min(n_ctx, w));
    return fmt::format("{:.1f} MiB at {} tokens", bytes / (1 << 20), n_ctx);
  };
  std::string s = fmt::format("kv cache (f16): {} bytes per token", full);
  if (window > 0) s += fmt::format(" + windowed layers {} bytes per token of their {}-token window", window, w);
  const int64_t n_train = hp["n_ctx_train"].get<int64_t>();
  s += "; " + at(n_train);
  if (n_train != 32768) s += ", " + at(32768);
  if (hp.contains("state_bytes_per_sequence"))
    s += fmt::format("; recurrent layers: {:.2f} MiB of state per sequence, whatever its length",
                     double(hp["state_bytes_per_sequence"].get<uint64_t>()) / (1 << 20));
  return s;
}

int inspect(const std::string& path, bool as_json, bool full) {
  auto model = ModelFile::open(path);
  if (!model.ok()) {
    fmt::print(stderr, "hearth inspect: {}\n", model.error().message);
    return 1;
  }
  std::string hp_error;
  json hp = hparams_json(*model, &hp_error);
  const int64_t n_expert = hp.is_object() && hp.contains("n_expert") ? hp["n_expert"].get<int64_t>() : 0;
  const int64_t n_used = n_expert > 0 ? hp["n_expert_used"].get<int64_t>() : 0;
  const Totals tot = totals(*model, n_expert, n_used);

  if (as_json) {
    json out;
    out["path"] = path;
    out["format"] = model->format() == SourceFormat::kGguf ? "gguf" : "hf";
    out["gguf_version"] = model->gguf_version();
    out["architecture"] = model->architecture();
    out["hparams"] = hp;
    if (!hp_error.empty()) out["hparams_error"] = hp_error;
    out["tokenizer"] = tokenizer_summary(*model);
    json meta = json::object();
    for (const gguf::KeyValue& kv : model->metadata()) meta[kv.key] = value_to_json(kv.value, full);
    out["metadata"] = std::move(meta);
    json tensors = json::array();
    for (const ModelTensor& t : model->tensors()) {
      json shape = json::array();
      for (int d = 0; d < t.view.n_dims; ++d) shape.push_back(t.view.ne[d]);
      json jt{{"name", t.name},
              {"type", std::string(dtype_name(t.view.type))},
              {"type_id", static_cast<uint32_t>(t.view.type)},
              {"shape", shape},
              {"bytes", t.view.n_bytes}};
      if (t.source_name != t.name) jt["source_name"] = t.source_name;
      if (model->format() == SourceFormat::kGguf) jt["offset"] = t.offset;
      tensors.push_back(std::move(jt));
    }
    out["tensors"] = std::move(tensors);
    out["n_params"] = tot.n_params;
    out["n_bytes"] = tot.n_bytes;
    if (n_expert > 0) {
      out["active_params"] = static_cast<uint64_t>(tot.active_params);
      out["active_bytes"] = static_cast<uint64_t>(tot.active_bytes);
    }
    fmt::print("{}\n", out.dump(1, ' ', false, json::error_handler_t::replace));
    return 0;
  }

  fmt::print("{}  ({}{})\n", path, model->format() == SourceFormat::kGguf ? "GGUF v" : "Hugging Face",
             model->format() == SourceFormat::kGguf ? std::to_string(model->gguf_version()) : "");
  fmt::print("architecture: {}   name: {}\n", model->architecture(),
             model->get_string("general.name").value_or("-"));
  if (!hp.is_null()) {
    fmt::print("hyperparameters:");
    for (auto& [k, v] : hp.items())
      if (!std::string_view(k).starts_with("kv_")) fmt::print(" {}={}", k, v.dump());
    fmt::print("\n{}\n", kv_summary(hp));
  } else {
    fmt::print("hyperparameters: {}\n", hp_error);
  }
  json tok = tokenizer_summary(*model);
  fmt::print("tokenizer: model={} pre={} tokens={}", tok["model"].get<std::string>(),
             tok["pre"].get<std::string>(), tok["n_tokens"].get<size_t>());
  for (const char* id : {"bos_id", "eos_id", "eot_id", "padding_id"})
    if (tok.contains(id)) fmt::print(" {}={}", id, tok[id].get<int64_t>());
  if (tok.contains("error")) fmt::print(" error: {}", tok["error"].get<std::string>());
  fmt::print("\nchat template: {}\n",
             tok["has_chat_template"].get<bool>()
                 ? fmt::format("yes ({} bytes)", tok["chat_template_bytes"].get<size_t>())
                 : "no");
  fmt::print("\n{:<40} {:<8} {:>22} {:>12}\n", "tensor", "type", "shape", "bytes");
  for (const ModelTensor& t : model->tensors())
    fmt::print("{:<40} {:<8} {:>22} {:>12}\n", t.name, dtype_name(t.view.type),
               shape_string(t.view), t.view.n_bytes);
  fmt::print("\n{} tensors, {:.3f} M parameters, {} ({:.2f} bits per parameter)\n",
             model->tensors().size(), static_cast<double>(tot.n_params) / 1e6,
             human_bytes(tot.n_bytes),
             tot.n_params ? 8.0 * static_cast<double>(tot.n_bytes) / static_cast<double>(tot.n_params)
                          : 0.0);
  if (n_expert > 0)
    fmt::print("experts: {} per MoE layer, {} used per token: {:.3f} M active parameters per token ({})\n",
               n_expert, n_used, tot.active_params / 1e6, human_bytes(static_cast<uint64_t>(tot.active_bytes)));
  return 0;
}

}  // namespace

void add_inspect_command(CLI::App& app, int& exit_code) {
  auto path = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  auto full = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "inspect", "Show a model's architecture, hyperparameters, tokenizer and tensors");
  cmd->add_option("model", *path, "GGUF file or Hugging Face folder")->required();
  cmd->add_flag("--json", *as_json, "Machine-readable JSON output");
  cmd->add_flag("--full", *full, "With --json: include long arrays (vocabularies) entirely");
  cmd->callback([=, &exit_code] { exit_code = inspect(*path, *as_json, *full); });
}

}  // namespace hearth::cli
