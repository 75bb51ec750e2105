// quantize_recipe: llama-quantize's per-tensor mixes. Every expectation below is what llama.cpp
// de3ff81 itself chose (tests/peers/build/llama-harness quantize, then types) for a synthetic
// model of the same shape (tests/peers/lib.mjs writeSyntheticModel); the peer test
// tests/peers/quantize_recipe.test.mjs repeats the comparison end to end through `hearth quantize`.
// The 70B and eight-expert rules were checked on synthetic models with 80 layers (n_head 8,
// n_head_kv 1) and with 8 experts (ffn_*_exps stacks), for Q2_K..Q5_K_M, Q4_0, IQ4_XS, IQ3_M
// and MXFP4_MOE.
#include "model/quantize_recipe.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hearth {
namespace {

struct Shape {
  std::string arch = "llama";
  int n_layer = 16;
  int64_t n_embd = 256;
  int n_head = 8;
  int n_head_kv = 2;
  int64_t n_ff = 512;
  int64_t n_vocab = 64;
  bool tied = false;
};

TensorView matrix(int64_t ne0, int64_t ne1 = 1) {
  TensorView v;
  v.type = DType::F32;
  v.n_dims = ne1 > 1 ? 2 : 1;
  v.ne = {ne0, ne1, 1, 1};
  return v;
}

// The tensors of a llama-style model, in the file order mkmodel and converters use.
std::vector<RecipeTensor> model_tensors(const Shape& s) {
  const int64_t head_dim = s.n_embd / s.n_head;
  const int64_t q = s.n_head * head_dim;
  const int64_t kv = s.n_head_kv * head_dim;
  std::vector<RecipeTensor> t = {
      {"token_embd.weight", matrix(s.n_embd, s.n_vocab)},
      {"output_norm.weight", matrix(s.n_embd)},
  };
  if (!s.tied) t.push_back({"output.weight", matrix(s.n_embd, s.n_vocab)});
  for (int i = 0; i < s.n_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    t.push_back({p + "attn_norm.weight", matrix(s.n_embd)});
    t.push_back({p + "attn_q.weight", matrix(s.n_embd, q)});
    t.push_back({p + "attn_k.weight", matrix(s.n_embd, kv)});
    t.push_back({p + "attn_v.weight", matrix(s.n_embd, kv)});
    if (s.arch == "qwen2") t.push_back({p + "attn_q.bias", matrix(q)});
    t.push_back({p + "attn_output.weight", matrix(q, s.n_embd)});
    t.push_back({p + "ffn_norm.weight", matrix(s.n_embd)});
    t.push_back({p + "ffn_gate.weight", matrix(s.n_embd, s.n_ff)});
    t.push_back({p + "ffn_up.weight", matrix(s.n_embd, s.n_ff)});
    t.push_back({p + "ffn_down.weight", matrix(s.n_ff, s.n_embd)});
  }
  return t;
}

RecipeInput input_of(const Shape& s) {
  RecipeInput in;
  in.arch = s.arch;
  in.n_layer = s.n_layer;
  in.n_head = s.n_head;
  in.n_head_kv = s.n_head_kv;
  return in;
}

struct Plan {
  std::vector<RecipeTensor> tensors;
  std::vector<DType> types;

  std::string type_of(const std::string& name) const {
    for (size_t i = 0; i < tensors.size(); ++i)
      if (tensors[i].name == name) return std::string(dtype_name(types[i]));
    return "<missing>";
  }
  // "q6_K q4_K ..." for blk.{0..n-1}.<suffix>
  std::string per_layer(const std::string& suffix, int n_layer) const {
    std::string out;
    for (int i = 0; i < n_layer; ++i)
      out += (i ? " " : "") + type_of("blk." + std::to_string(i) + "." + suffix);
    return out;
  }
};

Plan plan(FileType ft, const Shape& s) {
  Plan p;
  p.tensors = model_tensors(s);
  Result<std::vector<DType>> types = plan_quantization(ft, input_of(s), p.tensors);
  EXPECT_TRUE(types.ok()) << (types.ok() ? "" : types.error().message);
  if (types.ok()) p.types = *types;
  return p;
}

TEST(QuantizeRecipe, FileTypeNamesAndGgufValues) {
  EXPECT_EQ(file_type_from_name("Q4_K_M"), FileType::Q4_K_M);
  EXPECT_EQ(file_type_from_name("q5_k_m"), FileType::Q5_K_M);
  EXPECT_EQ(file_type_from_name("Q4_K"), std::nullopt);
  EXPECT_EQ(file_type_name(FileType::MOSTLY_F16), "F16");
  // llama_ftype numbers, stored as general.file_type (llama.h).
  EXPECT_EQ(file_type_gguf_value(FileType::Q8_0), 7u);
  EXPECT_EQ(file_type_gguf_value(FileType::Q4_K_M), 15u);
  EXPECT_EQ(file_type_gguf_value(FileType::Q5_K_M), 17u);
  EXPECT_EQ(file_type_gguf_value(FileType::MOSTLY_BF16), 32u);
  for (FileType t : all_file_types()) EXPECT_EQ(file_type_from_name(file_type_name(t)), t);
  EXPECT_EQ(file_type_base_dtype(FileType::IQ2_S), DType::IQ2_XS);
  EXPECT_EQ(file_type_base_dtype(FileType::Q3_K_L), DType::Q3_K);
}

TEST(QuantizeRecipe, OnlyWeightMatricesAreQuantized) {
  EXPECT_FALSE(tensor_is_quantizable("blk.0.attn_norm.weight", matrix(256)));
  EXPECT_FALSE(tensor_is_quantizable("blk.0.attn_q.bias", matrix(256)));
  EXPECT_FALSE(tensor_is_quantizable("rope_freqs.weight", matrix(32)));
  // ggml_n_dims ignores trailing 1s: a [256, 1] matrix is 1-D.
  EXPECT_FALSE(tensor_is_quantizable("blk.0.attn_q.weight", matrix(256, 1)));
  EXPECT_FALSE(tensor_is_quantizable("blk.0.ffn_gate_inp.weight", matrix(256, 8)));
  EXPECT_FALSE(tensor_is_quantizable("blk.0.attn_q_norm.weight", matrix(64, 2)));
  EXPECT_FALSE(tensor_is_quantizable("position_embd.weight", matrix(256, 512)));
  EXPECT_TRUE(tensor_is_quantizable("blk.0.attn_q.weight", matrix(256, 256)));
  EXPECT_TRUE(tensor_is_quantizable("output.weight", matrix(256, 64)));

  RecipeState st;
  TensorView bias = matrix(256);
  Result<DType> t = choose_tensor_type(FileType::Q4_K_M, {}, "blk.0.attn_q.bias", bias, st);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, DType::F32);
}

// llama16_gqa4 (16 layers, n_embd 256, GQA 4, untied) under Q4_K_M / Q5_K_M: attn_v and ffn_down
// get Q6_K in the first and last eighth and every third layer between; output Q6_K.
TEST(QuantizeRecipe, MediumMixesUseMoreBitsOnSomeLayers) {
  const Shape s;
  const Plan q4 = plan(FileType::Q4_K_M, s);
  const std::string pattern4 = "q6_K q6_K q4_K q4_K q6_K q4_K q4_K q6_K q4_K q4_K q6_K q4_K q4_K q6_K q6_K q6_K";
  EXPECT_EQ(q4.per_layer("attn_v.weight", 16), pattern4);
  EXPECT_EQ(q4.per_layer("ffn_down.weight", 16), pattern4);
  EXPECT_EQ(q4.type_of("blk.5.attn_q.weight"), "q4_K");
  EXPECT_EQ(q4.type_of("blk.5.ffn_up.weight"), "q4_K");
  EXPECT_EQ(q4.type_of("output.weight"), "q6_K");
  EXPECT_EQ(q4.type_of("token_embd.weight"), "q4_K");
  EXPECT_EQ(q4.type_of("blk.3.attn_norm.weight"), "f32");

  const Plan q5 = plan(FileType::Q5_K_M, s);
  EXPECT_EQ(q5.per_layer("attn_v.weight", 16),
            "q6_K q6_K q5_K q5_K q6_K q5_K q5_K q6_K q5_K q5_K q6_K q5_K q5_K q6_K q6_K q6_K");
  EXPECT_EQ(q5.type_of("token_embd.weight"), "q5_K");

  // llama8_mha_untied: 8 layers, n_ff 768.
  Shape s8;
  s8.n_layer = 8;
  s8.n_head = 4;
  s8.n_head_kv = 4;
  s8.n_ff = 768;
  const Plan p8 = plan(FileType::Q4_K_M, s8);
  EXPECT_EQ(p8.per_layer("attn_v.weight", 8), "q6_K q4_K q4_K q6_K q4_K q4_K q6_K q6_K");
  EXPECT_EQ(p8.per_layer("ffn_down.weight", 8), "q6_K q4_K q4_K q6_K q4_K q4_K q6_K q6_K");
}

TEST(QuantizeRecipe, SmallAndThreeBitMixes) {
  const Shape s;
  const Plan ks = plan(FileType::Q4_K_S, s);
  EXPECT_EQ(ks.per_layer("attn_v.weight", 16),
            "q5_K q5_K q5_K q5_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K");
  EXPECT_EQ(ks.per_layer("ffn_down.weight", 16),
            "q5_K q5_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K");

  const Plan k3m = plan(FileType::Q3_K_M, s);
  EXPECT_EQ(k3m.per_layer("attn_v.weight", 16),
            "q5_K q5_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K");
  EXPECT_EQ(k3m.per_layer("ffn_down.weight", 16),
            "q5_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K");
  EXPECT_EQ(k3m.type_of("blk.7.attn_output.weight"), "q4_K");
  EXPECT_EQ(k3m.type_of("blk.7.attn_q.weight"), "q3_K");
  EXPECT_EQ(k3m.type_of("output.weight"), "q6_K");

  // Q2_K: GQA >= 4 lifts attn_v to Q4_K; ffn_down and attn_output get Q3_K.
  const Plan q2 = plan(FileType::Q2_K, s);
  EXPECT_EQ(q2.type_of("blk.9.attn_v.weight"), "q4_K");
  EXPECT_EQ(q2.type_of("blk.9.ffn_down.weight"), "q3_K");
  EXPECT_EQ(q2.type_of("blk.9.attn_output.weight"), "q3_K");
  EXPECT_EQ(q2.type_of("blk.9.ffn_up.weight"), "q2_K");
}

// Legacy types: everything in the base type except output.weight, which gets Q6_K (Q8_0 stays
// Q8_0). Checked on llama8_mha_untied.
TEST(QuantizeRecipe, LegacyTypesKeepOutputAtSixBits) {
  Shape s;
  s.n_layer = 8;
  const Plan q40 = plan(FileType::Q4_0, s);
  EXPECT_EQ(q40.type_of("output.weight"), "q6_K");
  EXPECT_EQ(q40.type_of("token_embd.weight"), "q4_0");
  EXPECT_EQ(q40.per_layer("ffn_down.weight", 8), "q4_0 q4_0 q4_0 q4_0 q4_0 q4_0 q4_0 q4_0");
  const Plan q80 = plan(FileType::Q8_0, s);
  EXPECT_EQ(q80.type_of("output.weight"), "q8_0");
  const Plan f16 = plan(FileType::MOSTLY_F16, s);
  EXPECT_EQ(f16.type_of("output.weight"), "f16");
  EXPECT_EQ(f16.type_of("blk.0.ffn_norm.weight"), "f32");
}

// qwen2_odd (11 layers, n_embd 96, n_ff 320, tied): rows of 96 and 320 do not hold whole 256-blocks,
// so Q4_K falls back to Q5_0 and Q6_K to Q8_0; the tied token_embd takes the output rule (Q8_0
// because 96 is not a multiple of 256).
TEST(QuantizeRecipe, ShapeFallbacks) {
  Shape s;
  s.arch = "qwen2";
  s.n_layer = 11;
  s.n_embd = 96;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.n_ff = 320;
  s.tied = true;
  const Plan p = plan(FileType::Q4_K_M, s);
  EXPECT_EQ(p.type_of("token_embd.weight"), "q8_0");
  EXPECT_EQ(p.per_layer("attn_v.weight", 11), "q8_0 q5_0 q5_0 q8_0 q5_0 q5_0 q8_0 q5_0 q5_0 q8_0 q8_0");
  EXPECT_EQ(p.per_layer("ffn_down.weight", 11), "q8_0 q5_0 q5_0 q8_0 q5_0 q5_0 q8_0 q5_0 q5_0 q8_0 q8_0");
  EXPECT_EQ(p.type_of("blk.4.ffn_up.weight"), "q5_0");
  const Plan k3s = plan(FileType::Q3_K_S, s);
  EXPECT_EQ(k3s.type_of("blk.4.ffn_up.weight"), "q4_0");  // Q3_K -> Q4_0
  EXPECT_EQ(k3s.type_of("token_embd.weight"), "q8_0");

  // llama_odd40: rows of 80 fit no quantized block at all -> F16 everywhere.
  Shape odd;
  odd.n_layer = 9;
  odd.n_embd = 80;
  odd.n_head = 4;
  odd.n_head_kv = 1;
  odd.n_ff = 200;
  odd.n_vocab = 40;
  const Plan f = plan(FileType::Q4_K_M, odd);
  EXPECT_EQ(f.type_of("output.weight"), "f16");
  EXPECT_EQ(f.type_of("blk.8.ffn_down.weight"), "f16");
  EXPECT_EQ(f.type_of("blk.8.attn_v.weight"), "f16");
}

TEST(QuantizeRecipe, FallbacksAreCounted) {
  RecipeState st;
  TensorView w = matrix(96, 64);
  Result<DType> t = choose_tensor_type(FileType::Q5_K_S, {}, "blk.0.attn_q.weight", w, st);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, DType::Q5_1);  // Q5_K -> Q5_1
  EXPECT_EQ(st.n_fallback, 1);
}

// llama.cpp walks tensors by block number (numerically), non-block tensors first, names sorted
// inside each group; the layer counters follow that order, not the file order.
TEST(QuantizeRecipe, LlamaTensorOrder) {
  const std::vector<std::string> names = {"blk.10.attn_v.weight", "token_embd.weight", "blk.2.ffn_up.weight",
                                          "blk.2.attn_v.weight", "output.weight"};
  const std::vector<size_t> order = llama_tensor_order(names);
  std::vector<std::string> sorted;
  for (size_t i : order) sorted.push_back(names[i]);
  EXPECT_EQ(sorted, (std::vector<std::string>{"output.weight", "token_embd.weight", "blk.2.attn_v.weight",
                                              "blk.2.ffn_up.weight", "blk.10.attn_v.weight"}));

  // A shuffled file gets the same types as an ordered one.
  const Shape s;
  const Plan ordered = plan(FileType::Q4_K_M, s);
  std::vector<RecipeTensor> shuffled(ordered.tensors.rbegin(), ordered.tensors.rend());
  Result<std::vector<DType>> types = plan_quantization(FileType::Q4_K_M, input_of(s), shuffled);
  ASSERT_TRUE(types.ok());
  for (size_t i = 0; i < shuffled.size(); ++i)
    EXPECT_EQ(dtype_name((*types)[i]), ordered.type_of(shuffled[i].name)) << shuffled[i].name;
}

TEST(QuantizeRecipe, SeventyBAndMixtralRules) {
  RecipeInput llama70;
  llama70.arch = "llama";
  llama70.n_layer = 80;
  llama70.n_head = 64;
  llama70.n_head_kv = 8;
  EXPECT_TRUE(llama70.is_70b_class());
  RecipeInput llama65 = llama70;
  llama65.n_head_kv = 64;  // LLaMA-1 65B: no GQA, not "70B"
  EXPECT_FALSE(llama65.is_70b_class());

  // Q3_K_S attn_v is Q3_K, bumped to Q5_K on 70B models.
  RecipeState st;
  st.n_attn_v = 80;
  st.n_ffn_layers = 80;
  TensorView v = matrix(8192, 1024);
  Result<DType> t = choose_tensor_type(FileType::Q3_K_S, llama70, "blk.0.attn_v.weight", v, st);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, DType::Q5_K);

  // Eight experts: attn_v and attn_k go to Q8_0; expert tensors take their layer from the name.
  RecipeInput mixtral;
  mixtral.arch = "llama";
  mixtral.n_layer = 32;
  mixtral.n_head = 32;
  mixtral.n_head_kv = 8;
  mixtral.n_expert = 8;
  RecipeState ms;
  ms.n_attn_v = 32;
  ms.n_ffn_layers = 32;
  TensorView kv = matrix(4096, 1024);
  EXPECT_EQ(*choose_tensor_type(FileType::Q4_K_M, mixtral, "blk.3.attn_v.weight", kv, ms), DType::Q8_0);
  EXPECT_EQ(*choose_tensor_type(FileType::Q4_K_M, mixtral, "blk.3.attn_k.weight", kv, ms), DType::Q8_0);
  TensorView experts = matrix(14336, 4096);
  experts.ne[2] = 8;
  experts.n_dims = 3;
  // Layer 31 of 32 is in the last eighth: Q6_K, whatever the counter says.
  EXPECT_EQ(*choose_tensor_type(FileType::Q4_K_M, mixtral, "blk.31.ffn_down_exps.weight", experts, ms),
            DType::Q6_K);
  EXPECT_EQ(*choose_tensor_type(FileType::Q4_K_M, mixtral, "blk.13.ffn_down_exps.weight", experts, ms),
            DType::Q4_K);
  Result<DType> bad = choose_tensor_type(FileType::Q4_K_M, mixtral, "ffn_down_exps.weight", experts, ms);
  EXPECT_FALSE(bad.ok());
}

TEST(QuantizeRecipe, ImatrixRequirement) {
  EXPECT_TRUE(type_requires_imatrix("blk.0.ffn_up.weight", DType::IQ2_XXS, FileType::IQ2_XXS));
  EXPECT_FALSE(type_requires_imatrix("token_embd.weight", DType::IQ2_XXS, FileType::IQ2_XXS));
  EXPECT_TRUE(type_requires_imatrix("blk.0.ffn_up.weight", DType::Q2_K, FileType::Q2_K_S));
  EXPECT_FALSE(type_requires_imatrix("blk.0.ffn_up.weight", DType::Q2_K, FileType::Q2_K));
  EXPECT_FALSE(type_requires_imatrix("blk.0.ffn_up.weight", DType::Q4_K, FileType::Q4_K_M));
}

}  // namespace
}  // namespace hearth
