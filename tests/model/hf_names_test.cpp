// The HF <-> GGUF tables and the conversion quirks (Q/K row permutation, llama3 rope factors).
#include "model/hf_names.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

namespace hearth {
namespace {

const ArchSpec& spec(std::string_view gguf_arch) {
  const ArchSpec* a = find_arch(gguf_arch);
  EXPECT_NE(a, nullptr) << gguf_arch;
  return *a;
}

// Every row applies to some supported architecture, and every name it gives maps back.
TEST(SafetensorsHfNames, EveryTableRowMapsBothWays) {
  for (const HfNamePair& pair : hf_name_table()) {
    int used = 0;
    for (const HfArch& a : hf_arch_table()) {
      for (const char* layer : {"0", "7", "123"}) {
        std::string hf(pair.hf);
        if (auto at = hf.find("{i}"); at != std::string::npos) hf.replace(at, 3, layer);
        const std::optional<std::string> gguf = hf_to_gguf_name(hf, spec(a.gguf_arch), a.names());
        if (!gguf) continue;
        ++used;
        EXPECT_EQ(gguf_to_hf_name(*gguf, spec(a.gguf_arch), a.names()).value_or("?"), hf) << *gguf;
      }
    }
    EXPECT_GT(used, 0) << pair.hf << " applies to no architecture";
  }
}

TEST(SafetensorsHfNames, ExpertTensorsMapToTheirStackedTensorAndBack) {
  for (const HfExpertPair& pair : hf_expert_table()) {
    const HfArch* a = find_hf_arch("", pair.model_type);  // the text model's row
    ASSERT_NE(a, nullptr) << pair.model_type;
    std::string hf(pair.hf);
    hf.replace(hf.find("{i}"), 3, "12");
    hf.replace(hf.find("{e}"), 3, "127");
    auto name = hf_expert_name(hf, spec(a->gguf_arch), a->model_type);
    ASSERT_TRUE(name.has_value()) << hf;
    EXPECT_EQ(name->expert, 127);
    EXPECT_EQ(gguf_expert_to_hf_name(name->gguf, 127, spec(a->gguf_arch), a->model_type).value_or("?"), hf);
  }
  const ArchSpec& qwen3moe = spec("qwen3moe");
  const ArchSpec& llama = spec("llama");
  EXPECT_EQ(hf_expert_name("model.layers.4.mlp.experts.9.down_proj.weight", qwen3moe, "qwen3_moe")->gguf,
            "blk.4.ffn_down_exps.weight");
  EXPECT_EQ(hf_expert_name("model.layers.4.block_sparse_moe.experts.9.w3.weight", llama, "mixtral")->gguf,
            "blk.4.ffn_up_exps.weight");
  EXPECT_EQ(hf_to_gguf_name("model.layers.2.mlp.gate.weight", qwen3moe, "qwen3_moe"), "blk.2.ffn_gate_inp.weight");
  EXPECT_EQ(gguf_to_hf_name("blk.2.ffn_gate_inp.weight", llama, "mixtral"),
            "model.layers.2.block_sparse_moe.gate.weight");
  // A dialect's names are its own: Qwen3-MoE's router name is not Mixtral's.
  EXPECT_FALSE(hf_to_gguf_name("model.layers.2.mlp.gate.weight", llama, "mixtral"));
  EXPECT_FALSE(hf_expert_name("model.layers.2.mlp.experts.7.gate_proj.weight", llama, "mixtral"));
  EXPECT_FALSE(hf_expert_name("model.layers.2.mlp.experts.07.gate_proj.weight", qwen3moe, "qwen3_moe"));  // one spelling per index
  EXPECT_FALSE(hf_expert_name("model.layers.2.mlp.experts.x.gate_proj.weight", qwen3moe, "qwen3_moe"));
  EXPECT_FALSE(hf_expert_name("model.layers.2.mlp.experts..gate_proj.weight", qwen3moe, "qwen3_moe"));
  EXPECT_FALSE(hf_expert_name("model.layers.2.mlp.experts.12345678.gate_proj.weight", qwen3moe, "qwen3_moe"));
  EXPECT_EQ(find_hf_arch_for_gguf("llama", true)->hf_class, "MixtralForCausalLM");
  EXPECT_EQ(find_hf_arch_for_gguf("llama")->hf_class, "LlamaForCausalLM");
}

// The names llama.cpp's converter writes (gguf-py tensor_mapping.py).
TEST(SafetensorsHfNames, KnownPairs) {
  const ArchSpec& llama = spec("llama");
  const ArchSpec& qwen2 = spec("qwen2");
  const ArchSpec& qwen3 = spec("qwen3");
  EXPECT_EQ(hf_to_gguf_name("model.embed_tokens.weight", llama, "llama"), "token_embd.weight");
  EXPECT_EQ(hf_to_gguf_name("lm_head.weight", llama, "llama"), "output.weight");
  EXPECT_EQ(hf_to_gguf_name("model.norm.weight", qwen2, "qwen2"), "output_norm.weight");
  EXPECT_EQ(hf_to_gguf_name("model.layers.3.self_attn.o_proj.weight", llama, "mistral"), "blk.3.attn_output.weight");
  EXPECT_EQ(hf_to_gguf_name("model.layers.11.post_attention_layernorm.weight", qwen3, "qwen3"),
            "blk.11.ffn_norm.weight");
  EXPECT_EQ(hf_to_gguf_name("model.layers.0.self_attn.k_norm.weight", qwen3, "qwen3"), "blk.0.attn_k_norm.weight");
  EXPECT_EQ(hf_to_gguf_name("model.layers.2.self_attn.v_proj.bias", qwen2, "qwen2"), "blk.2.attn_v.bias");
  EXPECT_EQ(gguf_to_hf_name("blk.5.ffn_gate.weight", llama, "llama"), "model.layers.5.mlp.gate_proj.weight");
  EXPECT_EQ(gguf_to_hf_name("blk.5.attn_norm.weight", qwen2, "qwen2"), "model.layers.5.input_layernorm.weight");
  // Tensors an architecture has no slot for have no name in it.
  EXPECT_FALSE(hf_to_gguf_name("model.layers.2.self_attn.v_proj.bias", llama, "llama"));
  EXPECT_FALSE(hf_to_gguf_name("model.layers.0.self_attn.k_norm.weight", qwen2, "qwen2"));
}

TEST(SafetensorsHfNames, RejectsNearMisses) {
  const ArchSpec& llama = spec("llama");
  for (const char* name :
       {"model.layers.x.mlp.up_proj.weight", "model.layers.01.mlp.up_proj.weight",
        "model.layers..mlp.up_proj.weight", "model.layers.-1.mlp.up_proj.weight",
        "model.layers.1234567.mlp.up_proj.weight", "model.layers.1.mlp.up_proj",
        "model.embed_tokens.weight.extra", "rope_freqs.weight", ""})
    EXPECT_FALSE(hf_to_gguf_name(name, llama, "llama").has_value()) << name;
  EXPECT_FALSE(gguf_to_hf_name("blk.1.ffn_up", llama, "llama").has_value());
  EXPECT_FALSE(gguf_to_hf_name("rope_freqs.weight", llama, "llama").has_value());
  EXPECT_TRUE(hf_name_is_ignored("model.layers.0.self_attn.rotary_emb.inv_freq"));
  EXPECT_FALSE(hf_name_is_ignored("model.layers.0.self_attn.q_proj.weight"));
}

TEST(SafetensorsHfNames, ArchTable) {
  EXPECT_EQ(find_hf_arch("LlamaForCausalLM", "")->gguf_arch, "llama");
  EXPECT_EQ(find_hf_arch("MistralForCausalLM", "mistral")->gguf_arch, "llama");
  EXPECT_EQ(find_hf_arch("", "qwen2")->gguf_arch, "qwen2");
  EXPECT_EQ(find_hf_arch("Qwen3ForCausalLM", "qwen3")->gguf_arch, "qwen3");
  EXPECT_EQ(find_hf_arch("GPT2LMHeadModel", "gpt2"), nullptr);
  EXPECT_TRUE(find_hf_arch_for_gguf("llama")->permute_qk);
  EXPECT_FALSE(find_hf_arch_for_gguf("qwen2")->permute_qk);
  EXPECT_EQ(find_hf_arch_for_gguf("llama")->hf_class, "LlamaForCausalLM");
  EXPECT_EQ(find_hf_arch_for_gguf("gemma"), nullptr);
}

// The permutation written the way llama.cpp's converter spells it: reshape the rows to
// [n_head][2][half], swap the last two axes, flatten. out[(h, j, s)] = in[(h, s, j)].
std::vector<int> reference_permute(const std::vector<int>& rows, int n_head) {
  const int half = static_cast<int>(rows.size()) / n_head / 2;
  std::vector<int> out;
  for (int h = 0; h < n_head; ++h)
    for (int j = 0; j < half; ++j)
      for (int s = 0; s < 2; ++s) out.push_back(rows[static_cast<size_t>((h * 2 + s) * half + j)]);
  return out;
}

TEST(SafetensorsHfPermute, MatchesConverterAndInverts) {
  for (int n_head : {1, 2, 4}) {
    for (int head_dim : {2, 4, 8}) {
      const int n_rows = n_head * head_dim;
      const uint64_t row_bytes = 3;  // rows are opaque bytes
      std::vector<int> ids(static_cast<size_t>(n_rows));
      std::iota(ids.begin(), ids.end(), 0);
      std::vector<uint8_t> src(static_cast<size_t>(n_rows) * row_bytes);
      for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>(i / row_bytes);

      std::vector<uint8_t> fwd(src.size()), back(src.size());
      permute_qk_rows(src.data(), fwd.data(), n_rows, row_bytes, n_head, false);
      std::vector<int> expected = reference_permute(ids, n_head);
      for (int r = 0; r < n_rows; ++r)
        for (uint64_t b = 0; b < row_bytes; ++b)
          ASSERT_EQ(fwd[static_cast<size_t>(r) * row_bytes + b], expected[static_cast<size_t>(r)])
              << "n_head " << n_head << " head_dim " << head_dim << " row " << r;
      permute_qk_rows(fwd.data(), back.data(), n_rows, row_bytes, n_head, true);
      EXPECT_EQ(back, src);
    }
  }
  // One head of 4 rows: HF pairs (0,2),(1,3) become adjacent: [0, 2, 1, 3].
  std::vector<uint8_t> src = {0, 1, 2, 3}, dst(4);
  permute_qk_rows(src.data(), dst.data(), 4, 1, 1, false);
  EXPECT_EQ(dst, (std::vector<uint8_t>{0, 2, 1, 3}));
}

TEST(SafetensorsHfPermute, Llama3RopeFactors) {
  // Llama 3.1 8B: rope_theta 500000, head_dim 128, factor 8, low 1, high 4, original 8192.
  std::vector<float> f = llama3_rope_factors(500000.0, 128, 8.0, 1.0, 4.0, 8192.0);
  ASSERT_EQ(f.size(), 64u);
  EXPECT_EQ(f.front(), 1.0f);  // highest frequency untouched
  EXPECT_EQ(f.back(), 8.0f);   // lowest frequency divided by factor
  for (size_t i = 1; i < f.size(); ++i) EXPECT_GE(f[i], f[i - 1]);  // monotone
  // Independent double-precision evaluation of the same formula.
  for (size_t i = 0; i < f.size(); ++i) {
    double freq = 1.0 / std::pow(500000.0, static_cast<double>(2 * i) / 128.0);
    double wavelen = 2 * M_PI / freq;
    double expected = 0;
    if (wavelen < 8192.0 / 4.0)
      expected = 1;
    else if (wavelen > 8192.0)
      expected = 8;
    else {
      double smooth = (8192.0 / wavelen - 1.0) / (4.0 - 1.0);
      expected = 1.0 / ((1 - smooth) / 8.0 + smooth);
    }
    EXPECT_NEAR(f[i], expected, 1e-4 * expected) << i;
  }
}

}  // namespace
}  // namespace hearth
