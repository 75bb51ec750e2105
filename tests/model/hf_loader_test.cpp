// Hugging Face folders -> ModelFile (config mapping, names, Q/K permutation, llama3 rope_freqs)
// and back (write_hf_folder), on tiny models built here.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/hf_names.h"
#include "model/mkmodel.h"
#include "model/hf_qwen35.h"
#include "model/hf_writer.h"
#include "model/model_file.h"
#include "safetensors/safetensors.h"
#include "tensor/quant.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;

fs::path tmp_dir(const std::string& name) {
  fs::path dir = fs::path(HEARTH_TEST_TMP) / ("hf_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write_string(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string read_string(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A tensor of an HF checkpoint: row-major shape, F32 values or raw bytes of another dtype.
struct HfTensor {
  std::string name;
  std::vector<uint64_t> shape;
  safetensors::Dtype dtype = safetensors::Dtype::F32;
  std::vector<uint8_t> bytes;
};

HfTensor f32_tensor(const std::string& name, std::vector<uint64_t> shape, float seed) {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  std::vector<float> values(n);
  for (uint64_t i = 0; i < n; ++i) values[i] = seed + 0.001f * static_cast<float>(i);
  HfTensor t{name, std::move(shape), safetensors::Dtype::F32, {}};
  t.bytes.resize(n * 4);
  std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
  return t;
}

void write_safetensors(const fs::path& path, const std::vector<HfTensor>& tensors) {
  std::vector<safetensors::TensorToWrite> out;
  for (const HfTensor& t : tensors)
    out.push_back({t.name, t.dtype, t.shape, [&t](const safetensors::Emit& emit) {
                     return emit({t.bytes.data(), t.bytes.size()});
                   }});
  Status status = safetensors::write_file(path.string(), out, {{"format", "pt"}});
  ASSERT_TRUE(status.ok()) << status.message();
}

// Tiny llama-family checkpoint: n_embd 16, 4 heads of 4, kv heads 2, n_ff 24, vocab 10.
std::vector<HfTensor> tiny_tensors(int n_layer, bool bias, bool qk_norm, bool lm_head) {
  std::vector<HfTensor> ts;
  ts.push_back(f32_tensor("model.embed_tokens.weight", {10, 16}, 1));
  ts.push_back(f32_tensor("model.norm.weight", {16}, 2));
  if (lm_head) ts.push_back(f32_tensor("lm_head.weight", {10, 16}, 3));
  for (int i = 0; i < n_layer; ++i) {
    std::string p = "model.layers." + std::to_string(i) + ".";
    float s = 10.0f * static_cast<float>(i + 1);
    ts.push_back(f32_tensor(p + "input_layernorm.weight", {16}, s + 1));
    ts.push_back(f32_tensor(p + "self_attn.q_proj.weight", {16, 16}, s + 2));
    ts.push_back(f32_tensor(p + "self_attn.k_proj.weight", {8, 16}, s + 3));
    ts.push_back(f32_tensor(p + "self_attn.v_proj.weight", {8, 16}, s + 4));
    ts.push_back(f32_tensor(p + "self_attn.o_proj.weight", {16, 16}, s + 5));
    if (bias) {
      ts.push_back(f32_tensor(p + "self_attn.q_proj.bias", {16}, s + 6));
      ts.push_back(f32_tensor(p + "self_attn.k_proj.bias", {8}, s + 7));
      ts.push_back(f32_tensor(p + "self_attn.v_proj.bias", {8}, s + 8));
    }
    if (qk_norm) {
      ts.push_back(f32_tensor(p + "self_attn.q_norm.weight", {4}, s + 9));
      ts.push_back(f32_tensor(p + "self_attn.k_norm.weight", {4}, s + 9.5f));
    }
    ts.push_back(f32_tensor(p + "post_attention_layernorm.weight", {16}, s + 10));
    ts.push_back(f32_tensor(p + "mlp.gate_proj.weight", {24, 16}, s + 11));
    ts.push_back(f32_tensor(p + "mlp.up_proj.weight", {24, 16}, s + 12));
    ts.push_back(f32_tensor(p + "mlp.down_proj.weight", {16, 24}, s + 13));
  }
  return ts;
}

const char* kLlamaConfig = R"({
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128,
  "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "vocab_size": 10,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": [2, 3],
  "torch_dtype": "float32"})";

fs::path make_llama_folder(const std::string& name) {
  fs::path dir = tmp_dir(name);
  write_string(dir / "config.json", kLlamaConfig);
  write_string(dir / "tokenizer.json", R"({"model": {"type": "BPE"}})");
  write_string(dir / "tokenizer_config.json",
               R"({"chat_template": [{"name": "default", "template": "{{ messages }}"},
                                     {"name": "tool_use", "template": "{{ tools }}"}]})");
  write_string(dir / "generation_config.json", R"({"temperature": 0.6})");
  write_safetensors(dir / "model.safetensors", tiny_tensors(2, false, false, true));
  return dir;
}

// A random model of `preset` over shared/'s vocabularies, written to `path` and opened.
Result<ModelFile> preset_model(const std::string& preset, const fs::path& path) {
  MkModelOptions o;
  o.preset = preset;
  o.output = path.string();
  o.vocab_dir = std::string(HEARTH_SHARED_DIR) + "/testdata/vocab";
  o.chat_template_dir = "";
  HEARTH_RETURN_IF_ERROR(make_random_model(o));
  return ModelFile::open(o.output);
}

const ModelTensor& tensor(const ModelFile& m, const std::string& name) {
  const ModelTensor* t = m.find_tensor(name);
  EXPECT_NE(t, nullptr) << name;
  static ModelTensor missing;
  return t != nullptr ? *t : missing;
}

std::vector<uint8_t> bytes_of(const ModelTensor& t) {
  const auto* p = static_cast<const uint8_t*>(t.view.data);
  return std::vector<uint8_t>(p, p + t.view.n_bytes);
}

std::vector<uint8_t> permuted(const std::vector<uint8_t>& src, int64_t n_rows, int64_t n_head) {
  std::vector<uint8_t> out(src.size());
  permute_qk_rows(src.data(), out.data(), n_rows, src.size() / static_cast<uint64_t>(n_rows),
                  n_head, false);
  return out;
}

TEST(SafetensorsHfLoader, LlamaMetadataAndTensors) {
  fs::path dir = make_llama_folder("llama");
  auto model = ModelFile::open(dir.string());
  ASSERT_TRUE(model.ok()) << model.error().message;
  const ModelFile& m = *model;
  EXPECT_EQ(m.format(), SourceFormat::kHuggingFace);
  EXPECT_EQ(m.architecture(), "llama");
  EXPECT_EQ(m.get_string("general.name"), "hf_llama");
  EXPECT_EQ(m.get_int("llama.block_count"), 2);
  EXPECT_EQ(m.get_int("llama.embedding_length"), 16);
  EXPECT_EQ(m.get_int("llama.feed_forward_length"), 24);
  EXPECT_EQ(m.get_int("llama.attention.head_count"), 4);
  EXPECT_EQ(m.get_int("llama.attention.head_count_kv"), 2);
  EXPECT_EQ(m.get_int("llama.context_length"), 128);
  EXPECT_EQ(m.get_int("llama.vocab_size"), 10);
  EXPECT_EQ(m.get_int("llama.rope.dimension_count"), 4);
  EXPECT_FALSE(m.get_int("llama.attention.key_length").has_value());  // no head_dim in config
  EXPECT_FLOAT_EQ(static_cast<float>(*m.get_float("llama.rope.freq_base")), 500000.0f);
  EXPECT_FLOAT_EQ(static_cast<float>(*m.get_float("llama.attention.layer_norm_rms_epsilon")),
                  1e-5f);
  EXPECT_FALSE(m.find("llama.rope.scaling.type"));  // llama3 becomes rope_freqs, not a key
  EXPECT_EQ(m.get_int("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_EQ(m.get_int("tokenizer.ggml.eos_token_id"), 2);
  EXPECT_EQ(m.get_string("tokenizer.chat_template"), "{{ messages }}");
  EXPECT_EQ(m.get_string("tokenizer.chat_template.tool_use"), "{{ tools }}");
  EXPECT_EQ(m.hf_tokenizer_dir(), dir.string());
  // The value types llama.cpp's converter writes.
  EXPECT_EQ(m.find("llama.block_count")->type(), gguf::ValueType::UINT32);
  EXPECT_EQ(m.find("llama.rope.freq_base")->type(), gguf::ValueType::FLOAT32);

  // 2 layers x 9 tensors + embd, norm, output, rope_freqs.
  EXPECT_EQ(m.tensors().size(), 22u);
  const ModelTensor& rope = tensor(m, "rope_freqs.weight");
  ASSERT_EQ(rope.view.ne[0], 2);
  std::vector<float> expected = llama3_rope_factors(500000.0, 4, 8.0, 1.0, 4.0, 8192.0);
  EXPECT_EQ(std::memcmp(rope.view.data, expected.data(), 8), 0);

  const ModelTensor& embd = tensor(m, "token_embd.weight");
  EXPECT_EQ(embd.source_name, "model.embed_tokens.weight");
  EXPECT_EQ(embd.view.type, DType::F32);
  EXPECT_EQ(embd.view.n_dims, 2);
  EXPECT_EQ(embd.view.ne[0], 16);
  EXPECT_EQ(embd.view.ne[1], 10);
  EXPECT_EQ(tensor(m, "blk.1.ffn_down.weight").view.ne[0], 24);
  EXPECT_TRUE(m.find_tensor("output.weight"));

  // Q/K rows permuted (Q by n_head, K by n_head_kv); everything else byte-identical.
  auto source = safetensors::File::open((dir / "model.safetensors").string());
  ASSERT_TRUE(source.ok());
  auto src_bytes = [&](const std::string& name) {
    const safetensors::TensorInfo* t = source->find(name);
    return std::vector<uint8_t>(t->data, t->data + t->n_bytes());
  };
  EXPECT_EQ(bytes_of(tensor(m, "blk.0.attn_q.weight")),
            permuted(src_bytes("model.layers.0.self_attn.q_proj.weight"), 16, 4));
  EXPECT_EQ(bytes_of(tensor(m, "blk.1.attn_k.weight")),
            permuted(src_bytes("model.layers.1.self_attn.k_proj.weight"), 8, 2));
  EXPECT_NE(bytes_of(tensor(m, "blk.0.attn_q.weight")),
            src_bytes("model.layers.0.self_attn.q_proj.weight"));
  EXPECT_EQ(bytes_of(tensor(m, "blk.0.attn_v.weight")),
            src_bytes("model.layers.0.self_attn.v_proj.weight"));
}

TEST(SafetensorsHfLoader, TiedEmbeddingsDropOutput) {
  fs::path dir = tmp_dir("tied");
  std::string config = kLlamaConfig;
  config.replace(config.find("\"tie_word_embeddings\": false"), 28,
                 "\"tie_word_embeddings\": true ");
  write_string(dir / "config.json", config);
  write_safetensors(dir / "model.safetensors", tiny_tensors(2, false, false, true));
  auto model = ModelFile::open(dir.string());
  ASSERT_TRUE(model.ok()) << model.error().message;
  EXPECT_EQ(model->find_tensor("output.weight"), nullptr);
  EXPECT_EQ(model->hf_tokenizer_dir(), "");  // no tokenizer.json here
}

TEST(SafetensorsHfLoader, Qwen2KeepsLayoutAndMapsYarn) {
  fs::path dir = tmp_dir("qwen2");
  write_string(dir / "config.json", R"({
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
    "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 1,
    "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256,
    "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "vocab_size": 10,
    "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64,
                     "beta_fast": 24.0, "beta_slow": 2.0, "attn_factor": 0.5},
    "tie_word_embeddings": true, "head_dim": null})");
  write_safetensors(dir / "model.safetensors", tiny_tensors(1, true, false, false));
  auto model = ModelFile::open(dir.string());
  ASSERT_TRUE(model.ok()) << model.error().message;
  const ModelFile& m = *model;
  EXPECT_EQ(m.architecture(), "qwen2");
  EXPECT_EQ(m.get_string("qwen2.rope.scaling.type"), "yarn");
  EXPECT_FLOAT_EQ(static_cast<float>(*m.get_float("qwen2.rope.scaling.factor")), 4.0f);
  EXPECT_EQ(m.get_int("qwen2.rope.scaling.original_context_length"), 64);
  // YaRN's own keys as llama.cpp's converter writes them; "attn_factor" is an older spelling.
  EXPECT_FLOAT_EQ(static_cast<float>(*m.get_float("qwen2.rope.scaling.yarn_beta_fast")), 24.0f);
  EXPECT_FLOAT_EQ(static_cast<float>(*m.get_float("qwen2.rope.scaling.yarn_beta_slow")), 2.0f);
  EXPECT_FLOAT_EQ(static_cast<float>(*m.get_float("qwen2.rope.scaling.yarn_attn_factor")), 0.5f);
  EXPECT_FALSE(m.find("qwen2.rope.scaling.yarn_ext_factor"));
  EXPECT_EQ(m.get_int("qwen2.attention.head_count_kv"), 2);
  EXPECT_EQ(m.get_int("qwen2.context_length"), 256);
  EXPECT_FALSE(m.find("qwen2.vocab_size"));  // Qwen2Model does not write it
  EXPECT_EQ(m.find_tensor("rope_freqs.weight"), nullptr);
  EXPECT_NE(m.find_tensor("blk.0.attn_q.bias"), nullptr);
  auto source = safetensors::File::open((dir / "model.safetensors").string());
  ASSERT_TRUE(source.ok());
  const safetensors::TensorInfo* q = source->find("model.layers.0.self_attn.q_proj.weight");
  // Not permuted, and zero-copy: the view points into the mapping.
  EXPECT_EQ(std::memcmp(m.find_tensor("blk.0.attn_q.weight")->view.data, q->data, q->n_bytes()), 0);
}

struct ConfigCase {
  const char* label;
  std::string config;  // empty: do not write config.json
  std::vector<std::string> must_contain;
};

TEST(SafetensorsHfLoader, BadConfigsAndTensors) {
  auto base = [](const std::string& from, const std::string& to) {
    std::string c = kLlamaConfig;
    c.replace(c.find(from), from.size(), to);
    return c;
  };
  const std::vector<ConfigCase> cases = {
      {"no config", "", {"config.json", "cannot open"}},
      {"not json", "{", {"config.json", "invalid JSON"}},
      {"not object", "[]", {"config.json", "must be a JSON object"}},
      {"unknown arch",
       base("\"LlamaForCausalLM\"], \"model_type\": \"llama\"",
            "\"GPT2LMHeadModel\"], \"model_type\": \"gpt2\""),
       {"unsupported architecture", "GPT2LMHeadModel"}},
      {"string size",
       base("\"hidden_size\": 16", "\"hidden_size\": \"16\""),
       {"'hidden_size'", "non-negative integer"}},
      {"negative size",
       base("\"num_hidden_layers\": 2", "\"num_hidden_layers\": -2"),
       {"'num_hidden_layers'"}},
      {"missing layers",
       base("\"num_hidden_layers\": 2,", ""),
       {"missing required field 'num_hidden_layers'"}},
      {"kv heads",
       base("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3"),
       {"num_key_value_heads 3"}},
      {"eps type",
       base("\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": \"x\""),
       {"'rms_norm_eps'", "number"}},
      {"rope type",
       base("\"rope_type\": \"llama3\"", "\"rope_type\": \"longrope\""),
       {"rope_scaling", "longrope"}},
      {"duplicate key",
       base("\"vocab_size\": 10", "\"vocab_size\": 10, \"vocab_size\": 11"),
       {"duplicate key 'vocab_size'"}},
      {"too big",
       base("\"vocab_size\": 10", "\"vocab_size\": 10000000000"),
       {"vocab_size", "32 bits"}},
  };
  for (const ConfigCase& c : cases) {
    SCOPED_TRACE(c.label);
    fs::path dir = tmp_dir("bad_config");
    if (!c.config.empty()) write_string(dir / "config.json", c.config);
    write_safetensors(dir / "model.safetensors", tiny_tensors(2, false, false, true));
    auto model = open_hf_folder(dir.string());
    ASSERT_FALSE(model.ok());
    for (const std::string& needle : c.must_contain)
      EXPECT_NE(model.error().message.find(needle), std::string::npos)
          << "missing '" << needle << "' in: " << model.error().message;
  }

  // Tensor-level problems.
  fs::path dir = tmp_dir("bad_tensors");
  write_string(dir / "config.json", kLlamaConfig);
  auto ts = tiny_tensors(2, false, false, true);
  ts.push_back(f32_tensor("vision_tower.patch.weight", {2}, 0));
  write_safetensors(dir / "model.safetensors", ts);
  auto unknown = open_hf_folder(dir.string());
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("'vision_tower.patch.weight'"), std::string::npos);

  ts = tiny_tensors(2, false, false, true);
  ts[0].dtype = safetensors::Dtype::I32;  // same byte size as F32
  write_safetensors(dir / "model.safetensors", ts);
  auto int_weights = open_hf_folder(dir.string());
  ASSERT_FALSE(int_weights.ok());
  EXPECT_NE(int_weights.error().message.find("'model.embed_tokens.weight'"), std::string::npos);
  EXPECT_NE(int_weights.error().message.find("I32"), std::string::npos);

  ts = tiny_tensors(2, false, false, true);
  ts.push_back(f32_tensor("model.layers.0.self_attn.rotary_emb.inv_freq", {2}, 0));  // ignored
  for (HfTensor& t : ts)
    if (t.name == "model.layers.1.self_attn.k_proj.weight") t = f32_tensor(t.name, {6, 16}, 1);
  write_safetensors(dir / "model.safetensors", ts);
  auto odd_rows = open_hf_folder(dir.string());
  ASSERT_FALSE(odd_rows.ok());
  EXPECT_NE(odd_rows.error().message.find("'model.layers.1.self_attn.k_proj.weight'"),
            std::string::npos);
}

// Qwen3.5 configs that lie about the Gated DeltaNet layers are refused before any tensor is read.
TEST(SafetensorsHfLoader, Qwen35ConfigsThatLieAreRefused) {
  const std::string good = R"({"architectures": ["Qwen3_5ForCausalLM"], "model_type": "qwen3_5_text",
    "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 4, "num_attention_heads": 4,
    "num_key_value_heads": 2, "head_dim": 4, "rms_norm_eps": 1e-06, "vocab_size": 10,
    "linear_conv_kernel_dim": 4, "linear_key_head_dim": 4, "linear_num_key_heads": 2,
    "linear_num_value_heads": 4, "linear_value_head_dim": 4, "full_attention_interval": 4,
    "layer_types": ["linear_attention", "linear_attention", "linear_attention", "full_attention"],
    "rope_parameters": {"rope_type": "default", "rope_theta": 1e7, "partial_rotary_factor": 0.25,
                        "mrope_section": [1, 1, 0]}})";
  auto with = [&](const std::string& from, const std::string& to) {
    std::string c = good;
    c.replace(c.find(from), from.size(), to);
    return c;
  };
  const std::vector<ConfigCase> cases = {
      {"value heads", with("\"linear_num_value_heads\": 4", "\"linear_num_value_heads\": 5"),
       {"linear_num_value_heads 5", "multiple of linear_num_key_heads 2"}},
      {"no conv", with("\"linear_conv_kernel_dim\": 4", "\"linear_conv_kernel_dim\": 0"), {"linear_conv_kernel_dim"}},
      {"huge heads", with("\"linear_key_head_dim\": 4", "\"linear_key_head_dim\": 1000000000"), {"linear_key_head_dim"}},
      {"layer types", with("\"full_attention\"]", "\"full_attention\", \"full_attention\"]"),
       {"layer_types", "num_hidden_layers (4)"}},
      {"layer kind", with("\"full_attention\"]", "\"sliding_attention\"]"), {"layer_types entries"}},
      {"rotary share", with("\"partial_rotary_factor\": 0.25", "\"partial_rotary_factor\": 2"),
       {"partial_rotary_factor"}},
      {"sections", with("[1, 1, 0]", "[1, 1, 0, 0, 1]"), {"mrope_section"}},
      {"missing sizes", with("\"linear_value_head_dim\": 4,", ""), {"missing required field 'linear_value_head_dim'"}},
  };
  for (const ConfigCase& c : cases) {
    SCOPED_TRACE(c.label);
    fs::path dir = tmp_dir("bad_qwen35");
    write_string(dir / "config.json", c.config);
    auto model = open_hf_folder(dir.string());
    ASSERT_FALSE(model.ok());
    for (const std::string& needle : c.must_contain)
      EXPECT_NE(model.error().message.find(needle), std::string::npos)
          << "missing '" << needle << "' in: " << model.error().message;
  }
}

// Mixtral checkpoint: the tiny llama's attention, 4 experts of n_ff 24 per layer, 2 used.
std::vector<HfTensor> tiny_mixtral_tensors() {
  std::vector<HfTensor> ts;
  for (HfTensor& t : tiny_tensors(2, false, false, true))
    if (t.name.find(".mlp.") == std::string::npos) ts.push_back(std::move(t));
  for (int i = 0; i < 2; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".block_sparse_moe.";
    ts.push_back(f32_tensor(p + "gate.weight", {4, 16}, 50.0f + i));
    for (int e = 0; e < 4; ++e) {
      const std::string x = p + "experts." + std::to_string(e) + ".";
      const float s = 100.0f * static_cast<float>(i + 1) + 10.0f * static_cast<float>(e);
      ts.push_back(f32_tensor(x + "w1.weight", {24, 16}, s + 1));
      ts.push_back(f32_tensor(x + "w2.weight", {16, 24}, s + 2));
      ts.push_back(f32_tensor(x + "w3.weight", {24, 16}, s + 3));
    }
  }
  return ts;
}

std::string mixtral_config(const std::string& extra = "") {
  std::string c = kLlamaConfig;
  const std::string from = "\"LlamaForCausalLM\"], \"model_type\": \"llama\"";
  c.replace(c.find(from), from.size(),
            "\"MixtralForCausalLM\"], \"model_type\": \"mixtral\", \"num_local_experts\": 4, "
            "\"num_experts_per_tok\": 2" + extra);
  return c;
}

TEST(SafetensorsHfLoader, MixtralExpertsAreStackedInExpertOrder) {
  fs::path dir = tmp_dir("mixtral");
  write_string(dir / "config.json", mixtral_config());
  const std::vector<HfTensor> ts = tiny_mixtral_tensors();
  write_safetensors(dir / "model.safetensors", ts);
  auto model = open_hf_folder(dir.string());
  ASSERT_TRUE(model.ok()) << model.error().message;
  EXPECT_EQ(model->get_int("llama.expert_count"), 4);
  EXPECT_EQ(model->get_int("llama.expert_used_count"), 2);
  EXPECT_EQ(tensor(*model, "blk.1.ffn_gate_inp.weight").view.ne[1], 4);
  const ModelTensor& down = tensor(*model, "blk.1.ffn_down_exps.weight");
  EXPECT_EQ(down.view.n_dims, 3);
  EXPECT_EQ(down.view.ne[0], 24);
  EXPECT_EQ(down.view.ne[1], 16);
  EXPECT_EQ(down.view.ne[2], 4);
  std::vector<uint8_t> want;
  for (int e = 0; e < 4; ++e)
    for (const HfTensor& t : ts)
      if (t.name == "model.layers.1.block_sparse_moe.experts." + std::to_string(e) + ".w2.weight")
        want.insert(want.end(), t.bytes.begin(), t.bytes.end());
  EXPECT_EQ(bytes_of(down), want);

  // Experts written out of order still stack in expert order (through a copy).
  std::vector<HfTensor> shuffled = ts;
  std::reverse(shuffled.begin(), shuffled.end());
  write_safetensors(dir / "model.safetensors", shuffled);
  auto reordered = open_hf_folder(dir.string());
  ASSERT_TRUE(reordered.ok()) << reordered.error().message;
  EXPECT_EQ(bytes_of(tensor(*reordered, "blk.1.ffn_down_exps.weight")), want);
}

// DeepSeek's kv_b_proj [n_head * (nope + v), kv_lora] becomes, as llama.cpp's DeepseekV2Model
// converter splits it (view [n_head, nope + v, kv_lora], split at nope, k transposed):
// attn_k_b[h][r][c] = kv_b[h][c][r] (GGUF ne {nope, kv_lora, n_head}) and attn_v_b[h][c][r] =
// kv_b[h][nope + c][r] (ne {kv_lora, v, n_head}); the config's MLA keys become the cache's one
// latent head; a multi-token-prediction layer's tensors are dropped.
TEST(SafetensorsHfLoader, DeepSeekKvBIsSplitPerHeadAsLlamaCppConvertsIt) {
  fs::path dir = tmp_dir("deepseek");
  write_string(dir / "config.json", R"({"architectures": ["DeepseekV2ForCausalLM"], "model_type": "deepseek_v2",
    "num_hidden_layers": 1, "hidden_size": 32, "intermediate_size": 64, "moe_intermediate_size": 16,
    "num_attention_heads": 2, "num_key_value_heads": 2, "kv_lora_rank": 8, "q_lora_rank": null,
    "qk_nope_head_dim": 4, "qk_rope_head_dim": 2, "v_head_dim": 3, "n_routed_experts": 4, "num_experts_per_tok": 2,
    "n_shared_experts": 1, "first_k_dense_replace": 1, "norm_topk_prob": false, "scoring_func": "softmax",
    "rms_norm_eps": 1e-6, "max_position_embeddings": 64, "vocab_size": 10, "rope_theta": 10000.0,
    "rope_scaling": {"type": "yarn", "factor": 4, "original_max_position_embeddings": 16, "mscale_all_dim": 0.707}})");
  const int64_t h = 2, nope = 4, v = 3, lora = 8;
  std::vector<HfTensor> ts = {f32_tensor("model.layers.0.self_attn.kv_b_proj.weight",
                                         {uint64_t(h * (nope + v)), uint64_t(lora)}, 1.0f),
                              f32_tensor("model.layers.1.self_attn.kv_b_proj.weight", {1, 1}, 0.0f)};  // MTP layer
  write_safetensors(dir / "model.safetensors", ts);
  auto model = open_hf_folder(dir.string());
  ASSERT_TRUE(model.ok()) << model.error().message;
  EXPECT_EQ(model->get_int("deepseek2.attention.key_length"), lora + 2);
  EXPECT_EQ(model->get_int("deepseek2.attention.value_length"), lora);
  EXPECT_EQ(model->get_int("deepseek2.attention.key_length_mla"), nope + 2);
  EXPECT_EQ(model->get_int("deepseek2.attention.head_count_kv"), 1);
  EXPECT_EQ(model->find("deepseek2.attention.q_lora_rank"), nullptr);
  EXPECT_NEAR(*model->get_float("deepseek2.rope.scaling.yarn_log_multiplier"), 0.0707, 1e-7);
  EXPECT_EQ(model->find_tensor("blk.1.attn_k_b.weight"), nullptr);
  const float* kv_b = reinterpret_cast<const float*>(ts[0].bytes.data());
  const ModelTensor& k_b = tensor(*model, "blk.0.attn_k_b.weight");
  const ModelTensor& v_b = tensor(*model, "blk.0.attn_v_b.weight");
  ASSERT_EQ(k_b.view.ne, (std::array<int64_t, 4>{nope, lora, h, 1}));
  ASSERT_EQ(v_b.view.ne, (std::array<int64_t, 4>{lora, v, h, 1}));
  const float* k = static_cast<const float*>(k_b.view.data);
  const float* vv = static_cast<const float*>(v_b.view.data);
  for (int64_t head = 0; head < h; ++head)
    for (int64_t r = 0; r < lora; ++r) {
      for (int64_t c = 0; c < nope; ++c)
        ASSERT_EQ(k[(head * lora + r) * nope + c], kv_b[(head * (nope + v) + c) * lora + r]);
      for (int64_t c = 0; c < v; ++c)
        ASSERT_EQ(vv[(head * v + c) * lora + r], kv_b[(head * (nope + v) + nope + c) * lora + r]);
    }
}

TEST(SafetensorsHfLoader, MixtureOfExpertsFilesThatLieAreRefused) {
  struct Case {
    std::string label, config;
    std::function<void(std::vector<HfTensor>&)> edit;
    std::string expect;
  };
  auto drop = [](const std::string& name) {
    return [name](std::vector<HfTensor>& ts) {
      ts.erase(std::remove_if(ts.begin(), ts.end(), [&](const HfTensor& t) { return t.name == name; }), ts.end());
    };
  };
  auto none = [](std::vector<HfTensor>&) {};
  const std::vector<Case> cases = {
      {"expert missing", mixtral_config(), drop("model.layers.0.block_sparse_moe.experts.3.w1.weight"),
       "expert 3 of 'blk.0.ffn_gate_exps.weight' is missing"},
      {"expert beyond count", mixtral_config(),
       [](std::vector<HfTensor>& ts) {
         ts.push_back(f32_tensor("model.layers.0.block_sparse_moe.experts.4.w1.weight", {24, 16}, 1));
       },
       "names expert 4 of 4"},
      {"expert of another shape", mixtral_config(),
       [](std::vector<HfTensor>& ts) {
         for (HfTensor& t : ts)
           if (t.name == "model.layers.0.block_sparse_moe.experts.2.w3.weight") t = f32_tensor(t.name, {16, 16}, 1);
       },
       "differs in type or shape from expert 0"},
      {"used above count", mixtral_config().replace(mixtral_config().find("\"num_experts_per_tok\": 2"), 24,
                                                    "\"num_experts_per_tok\": 5"),
       none, "must satisfy 1 <= used <= count"},
      {"unnormalised weights", mixtral_config(", \"norm_topk_prob\": false"), none, "norm_topk_prob false"},
      {"sparse step", mixtral_config(", \"decoder_sparse_step\": 2"), none, "decoder_sparse_step"},
      {"experts in a dense model", kLlamaConfig,
       [](std::vector<HfTensor>& ts) {
         ts.push_back(f32_tensor("model.layers.0.mlp.experts.0.gate_proj.weight", {24, 16}, 1));
       },
       "is an expert of a Mixture-of-Experts model"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    fs::path dir = tmp_dir("bad_moe");
    write_string(dir / "config.json", c.config);
    std::vector<HfTensor> ts = c.config == kLlamaConfig ? tiny_tensors(2, false, false, true) : tiny_mixtral_tensors();
    c.edit(ts);
    write_safetensors(dir / "model.safetensors", ts);
    auto model = open_hf_folder(dir.string());
    ASSERT_FALSE(model.ok());
    EXPECT_NE(model.error().message.find(c.expect), std::string::npos) << model.error().message;
  }
}

void expect_same_tensors(const ModelFile& a, const ModelFile& b) {
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (const ModelTensor& ta : a.tensors()) {
    const ModelTensor* tb = b.find_tensor(ta.name);
    ASSERT_NE(tb, nullptr) << ta.name;
    EXPECT_EQ(ta.view.type, tb->view.type) << ta.name;
    EXPECT_EQ(std::max(1, ta.view.n_dims), std::max(1, tb->view.n_dims)) << ta.name;
    EXPECT_EQ(ta.view.ne, tb->view.ne) << ta.name;
    ASSERT_EQ(ta.view.n_bytes, tb->view.n_bytes) << ta.name;
    EXPECT_EQ(std::memcmp(ta.view.data, tb->view.data, ta.view.n_bytes), 0) << ta.name;
  }
}

// llama.cpp's converter widens 1-D tensors and norms to F32 (its other code reads them as F32),
// so a BF16 checkpoint's norms are F32 here too, with the same values.
TEST(SafetensorsHfLoader, HalfPrecisionNormsAreWidenedToF32) {
  fs::path dir = make_llama_folder("bf16_norm");
  std::vector<HfTensor> ts = tiny_tensors(2, false, false, true);
  std::vector<float> expected;
  for (HfTensor& t : ts) {
    if (t.name != "model.norm.weight") continue;
    std::vector<uint8_t> half;
    for (size_t i = 0; i < t.bytes.size(); i += 4) {
      float x;
      std::memcpy(&x, t.bytes.data() + i, 4);
      const uint16_t h = fp32_to_bf16(x);
      expected.push_back(bf16_to_fp32(h));
      half.push_back(uint8_t(h & 0xFF));
      half.push_back(uint8_t(h >> 8));
    }
    t.dtype = safetensors::Dtype::BF16;
    t.bytes = half;
  }
  write_safetensors(dir / "model.safetensors", ts);
  auto model = open_hf_folder(dir.string());
  ASSERT_TRUE(model.ok()) << model.error().message;
  const ModelTensor& norm = tensor(*model, "output_norm.weight");
  ASSERT_EQ(norm.view.type, DType::F32);
  ASSERT_EQ(norm.view.n_bytes, expected.size() * 4);
  EXPECT_EQ(std::memcmp(norm.view.data, expected.data(), norm.view.n_bytes), 0);
}

// Qwen3.5's value heads, HF's grouping by key head -> GGUF's tiling and back, as the converter's
// _reorder_v_heads does it: view the axis as [n_k][n_v / n_k][head_dim], swap the first two. With
// 2 key heads and 6 value heads (3 per key head) of one element: tiled = [0, 3, 1, 4, 2, 5].
TEST(SafetensorsHfLoader, Qwen35ValueHeadsMoveAsTheConverterReordersThem) {
  const Qwen35Heads heads{2, 6, 4, 1};
  const std::vector<int64_t> to_tiled = {0, 3, 1, 4, 2, 5}, to_grouped = {0, 2, 4, 1, 3, 5};
  for (int64_t p = 0; p < 6; ++p) {
    EXPECT_EQ(qwen35_v_head_source(p, heads, 1, true), to_tiled[size_t(p)]) << p;
    EXPECT_EQ(qwen35_v_head_source(p, heads, 1, false), to_grouped[size_t(p)]) << p;
  }
  // Heads of two: whole heads move, their elements in order.
  EXPECT_EQ(qwen35_v_head_source(2, heads, 2, true), 6);
  EXPECT_EQ(qwen35_v_head_source(3, heads, 2, true), 7);
  // attn_qkv keeps its q and k rows (2 * n_k * head_k = 16) and moves the value rows after them;
  // out_proj moves columns; a layer's other tensors stay.
  const std::optional<VHeadMove> qkv = qwen35_v_head_move("blk.0.attn_qkv.weight", heads);
  ASSERT_TRUE(qkv.has_value());
  EXPECT_EQ(qkv->first_row, 16);
  EXPECT_FALSE(qkv->columns);
  ASSERT_TRUE(qwen35_v_head_move("blk.3.ssm_out.weight", heads).has_value());
  EXPECT_TRUE(qwen35_v_head_move("blk.3.ssm_out.weight", heads)->columns);
  EXPECT_FALSE(qwen35_v_head_move("blk.0.ffn_up.weight", heads).has_value());
  EXPECT_FALSE(qwen35_v_head_move("blk.0.attn_qkv.weight", Qwen35Heads{4, 4, 4, 1}).has_value());  // n_k = n_v
  // Rows of a [8][1] tensor from row 2 on, and back.
  const std::vector<uint8_t> src = {10, 11, 0, 1, 2, 3, 4, 5};
  std::vector<uint8_t> tiled(8), back(8);
  qwen35_move_v_heads(VHeadMove{false, 2, 1}, heads, src.data(), tiled.data(), 8, 1, 1, true);
  EXPECT_EQ(tiled, (std::vector<uint8_t>{10, 11, 0, 3, 1, 4, 2, 5}));
  qwen35_move_v_heads(VHeadMove{false, 2, 1}, heads, tiled.data(), back.data(), 8, 1, 1, false);
  EXPECT_EQ(back, src);
  // The value changes, by HF name.
  EXPECT_EQ(qwen35_value_change("model.layers.0.linear_attn.A_log"), Qwen35Value::kNegExp);
  EXPECT_EQ(qwen35_value_change("model.layers.0.input_layernorm.weight"), Qwen35Value::kPlusOne);
  EXPECT_EQ(qwen35_value_change("model.layers.3.self_attn.q_norm.weight"), Qwen35Value::kPlusOne);
  EXPECT_EQ(qwen35_value_change("model.norm.weight"), Qwen35Value::kPlusOne);
  EXPECT_EQ(qwen35_value_change("model.layers.0.linear_attn.norm.weight"), Qwen35Value::kNone);
  EXPECT_EQ(qwen35_value_change("model.layers.0.linear_attn.dt_bias"), Qwen35Value::kNone);
}

TEST(SafetensorsHfRoundTrip, HfToModelToHfIsLossless) {
  fs::path src = make_llama_folder("rt_src");
  auto first = ModelFile::open(src.string());
  ASSERT_TRUE(first.ok()) << first.error().message;
  fs::path out = tmp_dir("rt_out");
  Status status = write_hf_folder(*first, out.string(), first->hf_tokenizer_dir());
  ASSERT_TRUE(status.ok()) << status.message();
  for (const char* file : {"config.json", "model.safetensors", "tokenizer.json",
                           "tokenizer_config.json", "generation_config.json"})
    EXPECT_TRUE(fs::exists(out / file)) << file;
  EXPECT_EQ(read_string(out / "tokenizer.json"), read_string(src / "tokenizer.json"));

  auto second = ModelFile::open(out.string());
  ASSERT_TRUE(second.ok()) << second.error().message;
  expect_same_tensors(*first, *second);
  // Same metadata, key for key (general.name follows the folder name).
  ASSERT_EQ(first->metadata().size(), second->metadata().size());
  for (const gguf::KeyValue& kv : first->metadata()) {
    if (kv.key == "general.name") continue;
    const gguf::Value* v = second->find(kv.key);
    ASSERT_NE(v, nullptr) << kv.key;
    EXPECT_EQ(v->type(), kv.value.type()) << kv.key;
    EXPECT_EQ(v->as_int(), kv.value.as_int()) << kv.key;
    EXPECT_EQ(v->as_float(), kv.value.as_float()) << kv.key;
    if (kv.value.as_string()) {
      EXPECT_EQ(*v->as_string(), *kv.value.as_string()) << kv.key;
    }
  }
  // The written Q/K are back in HF's layout: byte-identical to the original checkpoint.
  auto a = safetensors::File::open((src / "model.safetensors").string());
  auto b = safetensors::File::open((out / "model.safetensors").string());
  ASSERT_TRUE(a.ok() && b.ok());
  for (const char* name :
       {"model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.k_proj.weight",
        "model.layers.1.mlp.up_proj.weight"}) {
    const safetensors::TensorInfo* ta = a->find(name);
    const safetensors::TensorInfo* tb = b->find(name);
    ASSERT_TRUE(ta && tb) << name;
    EXPECT_EQ(ta->shape, tb->shape) << name;
    ASSERT_EQ(ta->n_bytes(), tb->n_bytes()) << name;
    EXPECT_EQ(std::memcmp(ta->data, tb->data, ta->n_bytes()), 0) << name;
  }
  EXPECT_EQ(b->metadata().at("format"), "pt");
}

// A GGUF-style ModelFile (built from parts, F16/BF16 tensors, qwen3 with QK-norm and no output)
// written as HF and read back gives the same tensors.
TEST(SafetensorsHfRoundTrip, ModelFileFromPartsRoundTrips) {
  std::vector<std::vector<uint8_t>> storage;
  ModelFile::Parts parts;
  parts.path = "parts";
  auto kv_u32 = [&](std::string key, uint32_t v) {
    parts.metadata.push_back({std::move(key), gguf::Value{v}});
  };
  auto kv_f32 = [&](std::string key, float v) {
    parts.metadata.push_back({std::move(key), gguf::Value{v}});
  };
  parts.metadata.push_back({"general.architecture", gguf::Value{std::string("qwen3")}});
  kv_u32("qwen3.block_count", 1);
  kv_u32("qwen3.context_length", 64);
  kv_u32("qwen3.embedding_length", 16);
  kv_u32("qwen3.feed_forward_length", 24);
  kv_u32("qwen3.attention.head_count", 4);
  kv_u32("qwen3.attention.head_count_kv", 2);
  kv_u32("qwen3.attention.key_length", 4);
  kv_u32("qwen3.attention.value_length", 4);
  kv_f32("qwen3.rope.freq_base", 1000000.0f);
  kv_f32("qwen3.attention.layer_norm_rms_epsilon", 1e-6f);
  parts.metadata.push_back({"tokenizer.chat_template", gguf::Value{std::string("{{ x }}")}});
  auto add = [&](const std::string& name, DType type, std::vector<int64_t> ne) {
    TensorView v;
    v.type = type;
    v.n_dims = static_cast<int>(ne.size());
    for (size_t i = 0; i < ne.size(); ++i) v.ne[i] = ne[i];
    v.n_bytes = static_cast<uint64_t>(v.n_elements()) * (type == DType::F32 ? 4 : 2);
    storage.emplace_back(v.n_bytes);
    for (size_t i = 0; i < v.n_bytes; ++i)
      storage.back()[i] = static_cast<uint8_t>(i * 31 + name.size());
    v.data = storage.back().data();
    parts.tensors.push_back(ModelTensor{name, name, v});
  };
  add("token_embd.weight", DType::BF16, {16, 10});
  add("output_norm.weight", DType::F32, {16});
  add("blk.0.attn_norm.weight", DType::F32, {16});
  add("blk.0.attn_q.weight", DType::F16, {16, 16});
  add("blk.0.attn_k.weight", DType::F16, {16, 8});
  add("blk.0.attn_v.weight", DType::F16, {16, 8});
  add("blk.0.attn_output.weight", DType::F16, {16, 16});
  add("blk.0.attn_q_norm.weight", DType::F32, {4});
  add("blk.0.attn_k_norm.weight", DType::F32, {4});
  add("blk.0.ffn_norm.weight", DType::F32, {16});
  add("blk.0.ffn_gate.weight", DType::F16, {16, 24});
  add("blk.0.ffn_up.weight", DType::F16, {16, 24});
  add("blk.0.ffn_down.weight", DType::F16, {24, 16});
  ModelFile model(std::move(parts));

  fs::path out = tmp_dir("rt_parts");
  Status status = write_hf_folder(model, out.string(), "");
  ASSERT_TRUE(status.ok()) << status.message();
  auto back = ModelFile::open(out.string());
  ASSERT_TRUE(back.ok()) << back.error().message;
  expect_same_tensors(model, *back);
  EXPECT_EQ(back->architecture(), "qwen3");
  EXPECT_EQ(back->get_int("qwen3.attention.key_length"), 4);
  EXPECT_EQ(back->get_int("qwen3.context_length"), 64);
  EXPECT_EQ(back->get_string("tokenizer.chat_template"), "{{ x }}");  // via tokenizer_config.json
  std::string config = read_string(out / "config.json");
  EXPECT_NE(config.find("\"tie_word_embeddings\": true"), std::string::npos) << config;
  EXPECT_NE(config.find("\"rms_norm_eps\": 1e-06"), std::string::npos) << config;
  EXPECT_NE(config.find("\"torch_dtype\": \"bfloat16\""), std::string::npos) << config;
}

// A model file without what a family's config needs is an error from the writer, never an
// exception or a division by zero: Phi-3 without a context length or with no heads.
TEST(SafetensorsHfRoundTrip, Phi3FilesMissingHyperparametersAreRefused) {
  for (const uint32_t heads : {4u, 0u}) {
    ModelFile::Parts parts;
    parts.path = "phi3";
    parts.metadata.push_back({"general.architecture", gguf::Value{std::string("phi3")}});
    for (const auto& [key, v] : {std::pair{"phi3.block_count", 1u}, std::pair{"phi3.embedding_length", 16u},
                                 std::pair{"phi3.feed_forward_length", 24u}, std::pair{"phi3.attention.head_count", heads}})
      parts.metadata.push_back({key, gguf::Value{v}});  // no context_length
    std::vector<uint8_t> bytes(16 * 10 * 2);
    TensorView v;
    v.type = DType::F16;
    v.n_dims = 2;
    v.ne[0] = 16;
    v.ne[1] = 10;
    v.n_bytes = bytes.size();
    v.data = bytes.data();
    parts.tensors.push_back(ModelTensor{"token_embd.weight", "token_embd.weight", v});
    ModelFile model(std::move(parts));
    Status status = write_hf_folder(model, tmp_dir("phi3_missing").string(), "");
    if (heads == 0) {
      ASSERT_FALSE(status.ok());
      EXPECT_NE(status.message().find("head_count"), std::string::npos) << status.message();
    } else {
      EXPECT_TRUE(status.ok()) << status.message();  // the original context falls back to 0
    }
  }
}

TEST(SafetensorsHfRoundTrip, QuantizedTensorsAreRefused) {
  std::vector<uint8_t> block(34);
  ModelFile::Parts parts;
  parts.path = "quantized.gguf";
  parts.metadata.push_back({"general.architecture", gguf::Value{std::string("llama")}});
  for (const char* key : {"llama.block_count", "llama.embedding_length",
                          "llama.feed_forward_length", "llama.attention.head_count"})
    parts.metadata.push_back({key, gguf::Value{uint32_t{32}}});
  TensorView v;
  v.type = DType::Q8_0;
  v.n_dims = 2;
  v.ne = {32, 1, 1, 1};
  v.data = block.data();
  v.n_bytes = 34;
  parts.tensors.push_back(ModelTensor{"token_embd.weight", "token_embd.weight", v});
  ModelFile model(std::move(parts));
  fs::path out = tmp_dir("quantized");
  Status status = write_hf_folder(model, (out / "o").string(), "");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'token_embd.weight'"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("q8_0"), std::string::npos) << status.message();
  EXPECT_FALSE(fs::exists(out / "o" / "model.safetensors"));
}

// Phi-3.5's LongRoPE through a folder and back: the long and short factors of config.json become
// rope_factors_long/short tensors (with the attention factor and the original context), and a
// model holding them is written as a folder whose rope_scaling reads back to the same model.
TEST(SafetensorsHfRoundTrip, Phi3LongRopeRoundTrips) {
  const fs::path dir = tmp_dir("phi3_longrope");
  auto gguf_model = preset_model("phi-3-mini-tiny", dir / "phi3.gguf");
  ASSERT_TRUE(gguf_model.ok()) << gguf_model.error().message;
  const fs::path first = dir / "first", second = dir / "second";
  ASSERT_TRUE(write_hf_folder(*gguf_model, first.string(), "").ok());
  auto config = nlohmann::json::parse(read_string(first / "config.json"));
  const int64_t half = config["hidden_size"].get<int64_t>() / config["num_attention_heads"].get<int64_t>() / 2;
  config["max_position_embeddings"] = 32 * config["original_max_position_embeddings"].get<int64_t>();
  config["rope_scaling"] = {{"type", "longrope"}, {"long_factor", nlohmann::json::array()},
                            {"short_factor", nlohmann::json::array()}};
  for (int64_t i = 0; i < half; ++i) {
    config["rope_scaling"]["long_factor"].push_back(1.0 + 0.37 * double(i));
    config["rope_scaling"]["short_factor"].push_back(1.0 + 0.0125 * double(i));
  }
  std::ofstream(first / "config.json") << config.dump(2);
  auto a = ModelFile::open(first.string());
  ASSERT_TRUE(a.ok()) << a.error().message;
  const ModelTensor& long_f = tensor(*a, "rope_factors_long.weight");
  ASSERT_EQ(long_f.view.ne[0], half);
  EXPECT_FLOAT_EQ(static_cast<const float*>(long_f.view.data)[2], 1.74f);
  // sqrt(1 + ln(32) / ln(original context)), as the converter computes it.
  const double orig = double(config["original_max_position_embeddings"].get<int64_t>());
  EXPECT_FLOAT_EQ(float(*a->get_float("phi3.rope.scaling.attn_factor")),
                  float(std::sqrt(1 + std::log(32.0) / std::log(orig))));
  ASSERT_TRUE(write_hf_folder(*a, second.string(), "").ok());
  auto b = ModelFile::open(second.string());
  ASSERT_TRUE(b.ok()) << b.error().message;
  expect_same_tensors(*a, *b);
  for (const char* key : {"phi3.rope.scaling.attn_factor", "phi3.rope.scaling.original_context_length",
                          "phi3.context_length", "phi3.rope.dimension_count"}) {
    ASSERT_NE(b->find(key), nullptr) << key;
    EXPECT_EQ(b->find(key)->as_float(), a->find(key)->as_float()) << key;
  }
}

// Gemma 4's multimodal checkpoints (Gemma4ForConditionalGeneration): the text model's config in
// text_config, its tensors under model.language_model., the vision and audio towers beside them.
// The folder reads as the text-only one does, tower left out.
TEST(SafetensorsHfLoader, Gemma4MultimodalCheckpointReadsAsItsTextModel) {
  const fs::path dir = tmp_dir("gemma4_multimodal");
  auto gguf_model = preset_model("gemma-4-e2b-tiny", dir / "e2b.gguf");
  ASSERT_TRUE(gguf_model.ok()) << gguf_model.error().message;
  const fs::path text = dir / "text", mm = dir / "multimodal";
  ASSERT_TRUE(write_hf_folder(*gguf_model, text.string(), "").ok());
  fs::create_directories(mm);
  const auto text_config = nlohmann::json::parse(read_string(text / "config.json"));
  nlohmann::json config = {{"architectures", {"Gemma4ForConditionalGeneration"}}, {"model_type", "gemma4"},
                           {"text_config", text_config}, {"vision_config", {{"hidden_size", 8}}}};
  config["text_config"]["model_type"] = "gemma4_text";
  write_string(mm / "config.json", config.dump(2));
  auto st = safetensors::File::open((text / "model.safetensors").string());
  ASSERT_TRUE(st.ok());
  std::vector<HfTensor> renamed;
  for (const safetensors::TensorInfo& t : st->tensors()) {
    HfTensor r{"model.language_model." + t.name.substr(std::string_view("model.").size()), t.shape, t.dtype,
               std::vector<uint8_t>(t.data, t.data + t.n_bytes())};
    renamed.push_back(std::move(r));
  }
  renamed.push_back(HfTensor{"model.vision_tower.encoder.layers.0.self_attn.q_proj.weight", {4, 4},
                             safetensors::Dtype::F32, std::vector<uint8_t>(64, 0)});
  renamed.push_back(HfTensor{"model.embed_audio.embedding_projection.weight", {4, 4}, safetensors::Dtype::F32,
                             std::vector<uint8_t>(64, 0)});
  write_safetensors(mm / "model.safetensors", renamed);
  auto a = ModelFile::open(text.string());
  auto b = ModelFile::open(mm.string());
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_TRUE(b.ok()) << b.error().message;
  expect_same_tensors(*a, *b);
  EXPECT_EQ(b->get_int("gemma4.attention.shared_kv_layers"), 5);
  EXPECT_EQ(b->get_int("gemma4.embedding_length_per_layer_input"), 32);
}

// Gemma 4's MoE folders (26B-A4B) read back as the model they were written from; a config whose
// experts do not add up is refused by name.
TEST(SafetensorsHfLoader, Gemma4MoeFoldersRoundTripAndLiesAreRefused) {
  const fs::path dir = tmp_dir("gemma4_moe");
  auto gguf_model = preset_model("gemma-4-a4b-tiny", dir / "a4b.gguf");
  ASSERT_TRUE(gguf_model.ok()) << gguf_model.error().message;
  const fs::path folder = dir / "hf";
  ASSERT_TRUE(write_hf_folder(*gguf_model, folder.string(), "").ok());
  auto back = ModelFile::open(folder.string());
  ASSERT_TRUE(back.ok()) << back.error().message;
  expect_same_tensors(*gguf_model, *back);
  EXPECT_EQ(back->get_int("gemma4.expert_count"), 16);
  EXPECT_EQ(back->get_int("gemma4.expert_used_count"), 4);
  EXPECT_EQ(back->get_int("gemma4.expert_feed_forward_length"), 128);
  const auto config = nlohmann::json::parse(read_string(folder / "config.json"));
  for (const nlohmann::json& change :
       {nlohmann::json{{"num_experts", nullptr}}, nlohmann::json{{"top_k_experts", 17}},
        nlohmann::json{{"top_k_experts", 0}}, nlohmann::json{{"moe_intermediate_size", nullptr}},
        nlohmann::json{{"num_experts", 100000}}, nlohmann::json{{"enable_moe_block", false}}}) {
    nlohmann::json lie = config;
    lie.update(change);
    write_string(folder / "config.json", lie.dump());
    auto r = open_hf_folder(folder.string());
    ASSERT_FALSE(r.ok()) << change.dump();
    EXPECT_TRUE(r.error().message.find("enable_moe_block") != std::string::npos) << r.error().message;
  }
}

// A BERT folder's WordPiece vocabulary that lies is refused by name: another model type, an id
// given twice or out of range, an added token that is not the vocabulary's.
TEST(SafetensorsHfLoader, BertVocabulariesThatLieAreRefused) {
  const fs::path dir = tmp_dir("bert_vocab");
  write_string(dir / "config.json", R"({"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 16,
    "num_hidden_layers": 1, "intermediate_size": 32, "num_attention_heads": 2, "max_position_embeddings": 8,
    "layer_norm_eps": 1e-12, "type_vocab_size": 2, "vocab_size": 3})");
  write_safetensors(dir / "model.safetensors", {});
  const auto refused = [&](const std::string& tokenizer, const std::string& expect) {
    write_string(dir / "tokenizer.json", tokenizer);
    auto m = open_hf_folder(dir.string());
    ASSERT_FALSE(m.ok()) << tokenizer;
    EXPECT_NE(m.error().message.find(expect), std::string::npos) << m.error().message;
  };
  refused(R"({"model": {"type": "BPE", "vocab": {"a": 0}}})", "model.type must be \"WordPiece\"");
  refused(R"({"model": {"type": "WordPiece", "vocab": {"a": 0, "b": 0, "c": 2}}})", "ids must be 0..2, each once");
  refused(R"({"model": {"type": "WordPiece", "vocab": {"a": 0, "b": 7, "c": 2}}})", "ids must be 0..2, each once");
  refused(R"({"model": {"type": "WordPiece", "vocab": {"a": 0, "b": 1, "c": 2}},
              "added_tokens": [{"id": 1, "content": "[CLS]", "special": true}]})", "added token '[CLS]'");
  fs::remove(dir / "tokenizer.json");
  auto m = open_hf_folder(dir.string());
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("needs its tokenizer.json"), std::string::npos) << m.error().message;
}

// nomic-bert's config.json in GPT-2's names reads as the converter reads it (the trained context,
// not n_positions; the tokenizer padded to vocab_size with unused tokens), and what hearth does not
// run is refused by name: nomic-bert-moe, another activation, biases, xPos, unknown contexts.
TEST(SafetensorsHfLoader, NomicConfigsAreReadOrRefusedByName) {
  const fs::path dir = tmp_dir("nomic_config");
  const nlohmann::json base = {{"architectures", {"NomicBertModel"}}, {"model_type", "nomic_bert"}, {"n_embd", 16},
                               {"n_layer", 1}, {"n_head", 2}, {"n_inner", 32}, {"n_positions", 8192},
                               {"max_trained_positions", 2048}, {"layer_norm_epsilon", 1e-12}, {"rotary_emb_base", 1000},
                               {"activation_function", "swiglu"}, {"causal", false}, {"qkv_proj_bias", false},
                               {"mlp_fc1_bias", false}, {"mlp_fc2_bias", false}, {"prenorm", false},
                               {"rotary_emb_fraction", 1.0}, {"rotary_emb_interleaved", false},
                               {"rotary_emb_scale_base", nullptr}, {"type_vocab_size", 2}, {"vocab_size", 5}};
  write_string(dir / "tokenizer.json", R"({"model": {"type": "WordPiece", "vocab": {"[CLS]": 0, "a": 1, "##b": 2}},
    "added_tokens": [{"id": 0, "content": "[CLS]", "special": true}]})");
  write_safetensors(dir / "model.safetensors", {});
  write_string(dir / "config.json", base.dump());
  auto m = open_hf_folder(dir.string());
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->get_int("nomic-bert.context_length"), 2048);
  EXPECT_EQ(m->get_int("nomic-bert.embedding_length"), 16);
  EXPECT_EQ(m->get_int("nomic-bert.feed_forward_length"), 32);
  EXPECT_EQ(m->get_float("nomic-bert.rope.freq_base"), 1000.0);
  const gguf::Value* tokens = m->find("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  ASSERT_EQ(tokens->as_array()->items.size(), 5u);
  EXPECT_EQ(*tokens->as_array()->items[1].as_string(), "\u2581a");
  EXPECT_EQ(*tokens->as_array()->items[2].as_string(), "b");
  EXPECT_EQ(*tokens->as_array()->items[4].as_string(), "\u2581[PAD4]");
  EXPECT_EQ(m->find("tokenizer.ggml.token_type")->as_array()->items[4].as_int(), 5);  // unused

  const auto refused = [&](const nlohmann::json& change, const std::string& expect) {
    nlohmann::json config = base;
    config.update(change);
    write_string(dir / "config.json", config.dump());
    auto r = open_hf_folder(dir.string());
    ASSERT_FALSE(r.ok()) << change.dump();
    EXPECT_NE(r.error().message.find(expect), std::string::npos) << r.error().message;
  };
  refused({{"moe_every_n_layers", 2}}, "nomic-bert-moe");
  refused({{"activation_function", "gelu"}}, "'activation_function'");
  refused({{"qkv_proj_bias", true}}, "'qkv_proj_bias'");
  refused({{"prenorm", true}}, "'prenorm'");
  refused({{"rotary_emb_fraction", 0.5}}, "'rotary_emb_fraction'");
  refused({{"rotary_emb_scale_base", 512}}, "xPos");
  refused({{"n_positions", 4096}}, "not a known nomic-bert");
  refused({{"vocab_size", 2}}, "must hold the tokenizer's 3 tokens");
}

// A BERT cross-encoder scores with one logit: its label is carried, and a classifier of several
// labels (no relevance score) is refused; other families' classification heads are refused too,
// not read as their base model with the head dropped.
TEST(SafetensorsHfLoader, CrossEncodersHaveOneLabel) {
  const fs::path dir = tmp_dir("cross_encoder");
  const nlohmann::json base = {{"architectures", {"BertForSequenceClassification"}}, {"model_type", "bert"},
                               {"hidden_size", 16}, {"num_hidden_layers", 1}, {"intermediate_size", 32},
                               {"num_attention_heads", 2}, {"max_position_embeddings", 8}, {"layer_norm_eps", 1e-12},
                               {"type_vocab_size", 2}, {"id2label", {{"0", "relevance"}}}};
  write_string(dir / "tokenizer.json", R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})");
  write_safetensors(dir / "model.safetensors", {});
  write_string(dir / "config.json", base.dump());
  auto m = open_hf_folder(dir.string());
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->get_int("bert.pooling_type"), 4);
  const gguf::Value* labels = m->find("bert.classifier.output_labels");
  ASSERT_NE(labels, nullptr);
  ASSERT_EQ(labels->as_array()->items.size(), 1u);
  EXPECT_EQ(*labels->as_array()->items[0].as_string(), "relevance");
  for (const nlohmann::json& change :
       {nlohmann::json{{"id2label", {{"0", "LABEL_0"}, {"1", "LABEL_1"}}}},
        nlohmann::json{{"id2label", nullptr}, {"num_labels", 3}}, nlohmann::json{{"id2label", {{"1", "x"}}}}}) {
    nlohmann::json config = base;
    config.update(change);
    write_string(dir / "config.json", config.dump());
    auto r = open_hf_folder(dir.string());
    ASSERT_FALSE(r.ok()) << change.dump();
    EXPECT_NE(r.error().message.find("one logit"), std::string::npos) << r.error().message;
  }
  nlohmann::json config = base;
  config["architectures"] = {"Qwen2ForSequenceClassification"};
  config["model_type"] = "qwen2";
  write_string(dir / "config.json", config.dump());
  auto r = open_hf_folder(dir.string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("Qwen2ForSequenceClassification is not supported"), std::string::npos)
      << r.error().message;
}

// A Qwen3-Reranker is known by its README's title (or its name), as llama.cpp's converter knows
// it; its head is the rows of "yes" and "no", found in tokenizer.json, which it must have.
TEST(SafetensorsHfLoader, Qwen3RerankersNeedTheirClassTokens) {
  const fs::path dir = tmp_dir("qwen3_reranker");
  write_string(dir / "config.json", R"({"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
    "hidden_size": 8, "num_hidden_layers": 1, "intermediate_size": 16, "num_attention_heads": 2,
    "num_key_value_heads": 1, "head_dim": 4, "rms_norm_eps": 1e-6, "vocab_size": 4, "tie_word_embeddings": false})");
  write_safetensors(dir / "model.safetensors", {f32_tensor("lm_head.weight", {4, 8}, 1.0f)});
  auto plain = open_hf_folder(dir.string());
  ASSERT_TRUE(plain.ok()) << plain.error().message;  // no README: a generator
  EXPECT_NE(plain->find_tensor("output.weight"), nullptr);

  write_string(dir / "README.md", "---\nlicense: apache-2.0\n---\n# Qwen3-Reranker-0.6B\n");
  auto no_tokenizer = open_hf_folder(dir.string());
  ASSERT_FALSE(no_tokenizer.ok());
  EXPECT_NE(no_tokenizer.error().message.find("needs its tokenizer.json"), std::string::npos)
      << no_tokenizer.error().message;
  write_string(dir / "tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0, "yes": 1}}})");
  auto no_class = open_hf_folder(dir.string());
  ASSERT_FALSE(no_class.ok());
  EXPECT_NE(no_class.error().message.find("class token 'no'"), std::string::npos) << no_class.error().message;
  write_string(dir / "tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0, "yes": 3}},
    "added_tokens": [{"id": 9, "content": "no"}]})");
  auto beyond = open_hf_folder(dir.string());
  ASSERT_FALSE(beyond.ok());
  EXPECT_NE(beyond.error().message.find("beyond the LM head's 4 rows"), std::string::npos) << beyond.error().message;

  write_string(dir / "tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0, "yes": 3}},
    "added_tokens": [{"id": 1, "content": "no"}]})");
  auto m = open_hf_folder(dir.string());
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->get_int("qwen3.pooling_type"), 4);
  EXPECT_EQ(m->find_tensor("output.weight"), nullptr);  // the untied head is kept only as its rows
  const ModelTensor& head = tensor(*m, "cls.output.weight");
  ASSERT_EQ(head.view.ne[1], 2);
  const auto* rows = static_cast<const float*>(head.view.data);
  const HfTensor lm_head = f32_tensor("lm_head.weight", {4, 8}, 1.0f);
  const auto* source = reinterpret_cast<const float*>(lm_head.bytes.data());
  EXPECT_EQ(std::memcmp(rows, source + 3 * 8, 8 * sizeof(float)), 0);  // "yes" first
  EXPECT_EQ(std::memcmp(rows + 8, source + 1 * 8, 8 * sizeof(float)), 0);
  EXPECT_TRUE(m->get_string("tokenizer.chat_template.rerank").has_value());
}

// sentence-transformers module paths stay inside the folder: a pooling or Dense module named by a
// path that climbs out (or is absolute) is refused, not read.
TEST(SafetensorsHfLoader, ModulePathsOutsideTheFolderAreRefused) {
  for (const char* path : {"../outside", "/etc", "a/../../b"}) {
    fs::path dir = make_llama_folder("modules_escape");
    write_string(dir / "modules.json",
                 std::string(R"([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                                 {"idx": 1, "name": "1", "path": ")") + path +
                     R"(", "type": "sentence_transformers.models.Pooling"}])");
    auto m = open_hf_folder(dir.string());
    ASSERT_FALSE(m.ok()) << path;
    EXPECT_NE(m.error().message.find("must be a folder inside the model folder"), std::string::npos)
        << m.error().message;
  }
}

}  // namespace
}  // namespace hearth
