#include "model/arch.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <tuple>

namespace hearth {
namespace {

// Tensors every llama-like decoder has; families below add their extras.
std::vector<TensorSpec> llama_globals() {
  return {
      {Slot::kTokenEmbd, "token_embd.weight", Dim::kEmbd, Dim::kVocab, true},
      {Slot::kOutputNorm, "output_norm.weight", Dim::kEmbd, Dim::kOne, true},
      {Slot::kOutput, "output.weight", Dim::kEmbd, Dim::kVocab, false},  // absent when tied to token_embd
      {Slot::kRopeFreqs, "rope_freqs.weight", Dim::kRotHalf, Dim::kOne, false},  // llama-3 rope scaling factors
  };
}

// A reranker's classification head over the pooled state (present only in reranker files; the
// qwen3 rerankers' has no bias, and llama.cpp loads none for them).
std::vector<TensorSpec> classifier_head() {
  return {{Slot::kClsOut, "cls.output.weight", Dim::kEmbd, Dim::kClsOut, false}};
}

std::vector<TensorSpec> attention_layer() {
  return {
      {Slot::kAttnNorm, "blk.{i}.attn_norm.weight", Dim::kEmbd, Dim::kOne, true},
      {Slot::kWq, "blk.{i}.attn_q.weight", Dim::kEmbd, Dim::kQ, true},
      {Slot::kWk, "blk.{i}.attn_k.weight", Dim::kEmbd, Dim::kKV, true},
      {Slot::kWv, "blk.{i}.attn_v.weight", Dim::kEmbd, Dim::kKV, true},
      {Slot::kWo, "blk.{i}.attn_output.weight", Dim::kQ, Dim::kEmbd, true},
  };
}

// Mixture of Experts layers: a router and each expert's SwiGLU matrices stacked along a third
// dimension.
std::vector<TensorSpec> expert_ffn() {
  return {
      {Slot::kRouter, "blk.{i}.ffn_gate_inp.weight", Dim::kEmbd, Dim::kExpert, true, Dim::kOne, Layers::kMoe},
      {Slot::kGateExps, "blk.{i}.ffn_gate_exps.weight", Dim::kEmbd, Dim::kFFExp, true, Dim::kExpert, Layers::kMoe},
      {Slot::kDownExps, "blk.{i}.ffn_down_exps.weight", Dim::kFFExp, Dim::kEmbd, true, Dim::kExpert, Layers::kMoe},
      {Slot::kUpExps, "blk.{i}.ffn_up_exps.weight", Dim::kEmbd, Dim::kFFExp, true, Dim::kExpert, Layers::kMoe},
  };
}

std::vector<TensorSpec> with(std::vector<TensorSpec> base, std::vector<TensorSpec> extra) {
  base.insert(base.end(), extra.begin(), extra.end());
  return base;
}

// llama and its descendants: the FFN is dense, or experts (Mixtral under "llama", qwen3moe).
std::vector<TensorSpec> llama_layer() {
  return with(with(attention_layer(),
                   {
                       {Slot::kFfnNorm, "blk.{i}.ffn_norm.weight", Dim::kEmbd, Dim::kOne, true},
                       {Slot::kGate, "blk.{i}.ffn_gate.weight", Dim::kEmbd, Dim::kFF, true, Dim::kOne, Layers::kDense},
                       {Slot::kDown, "blk.{i}.ffn_down.weight", Dim::kFF, Dim::kEmbd, true, Dim::kOne, Layers::kDense},
                       {Slot::kUp, "blk.{i}.ffn_up.weight", Dim::kEmbd, Dim::kFF, true, Dim::kOne, Layers::kDense},
                   }),
              expert_ffn());
}

std::vector<TensorSpec> qkv_bias() {
  return {{Slot::kBq, "blk.{i}.attn_q.bias", Dim::kQ, Dim::kOne, true},
          {Slot::kBk, "blk.{i}.attn_k.bias", Dim::kKV, Dim::kOne, true},
          {Slot::kBv, "blk.{i}.attn_v.bias", Dim::kKV, Dim::kOne, true}};
}

std::vector<TensorSpec> qk_norm() {
  return {{Slot::kQNorm, "blk.{i}.attn_q_norm.weight", Dim::kHeadDim, Dim::kOne, true},
          {Slot::kKNorm, "blk.{i}.attn_k_norm.weight", Dim::kHeadDim, Dim::kOne, true}};
}

// gpt-oss: every layer is MoE; biases on every projection, router and expert; a learned sink
// logit per head; the FFN's input norm is named post_attention_norm.
std::vector<TensorSpec> gpt_oss_layer() {
  return with(with(attention_layer(), qkv_bias()),
              with(expert_ffn(),
                   {
                       {Slot::kBo, "blk.{i}.attn_output.bias", Dim::kEmbd, Dim::kOne, true},
                       {Slot::kSinks, "blk.{i}.attn_sinks.weight", Dim::kHead, Dim::kOne, true},
                       {Slot::kFfnNorm, "blk.{i}.post_attention_norm.weight", Dim::kEmbd, Dim::kOne, true},
                       {Slot::kRouterBias, "blk.{i}.ffn_gate_inp.bias", Dim::kExpert, Dim::kOne, true, Dim::kOne, Layers::kMoe},
                       {Slot::kGateExpsBias, "blk.{i}.ffn_gate_exps.bias", Dim::kFFExp, Dim::kExpert, true, Dim::kOne, Layers::kMoe},
                       {Slot::kDownExpsBias, "blk.{i}.ffn_down_exps.bias", Dim::kEmbd, Dim::kExpert, true, Dim::kOne, Layers::kMoe},
                       {Slot::kUpExpsBias, "blk.{i}.ffn_up_exps.bias", Dim::kFFExp, Dim::kExpert, true, Dim::kOne, Layers::kMoe},
                   }));
}

// Phi-3: Q, K and V in one matrix, gate and up in one (ffn_up, gate rows first).
std::vector<TensorSpec> phi3_layer() {
  return {
      {Slot::kAttnNorm, "blk.{i}.attn_norm.weight", Dim::kEmbd, Dim::kOne, true},
      {Slot::kWqkv, "blk.{i}.attn_qkv.weight", Dim::kEmbd, Dim::kQKV, true},
      {Slot::kWo, "blk.{i}.attn_output.weight", Dim::kQ, Dim::kEmbd, true},
      {Slot::kFfnNorm, "blk.{i}.ffn_norm.weight", Dim::kEmbd, Dim::kOne, true},
      {Slot::kGateUp, "blk.{i}.ffn_up.weight", Dim::kEmbd, Dim::kFF2, true},
      {Slot::kDown, "blk.{i}.ffn_down.weight", Dim::kFF, Dim::kEmbd, true},
  };
}

std::vector<TensorSpec> phi3_globals() {
  return with(llama_globals(), {
                                   {Slot::kRopeLong, "rope_factors_long.weight", Dim::kRotHalf, Dim::kOne, false},
                                   {Slot::kRopeShort, "rope_factors_short.weight", Dim::kRotHalf, Dim::kOne, false},
                               });
}

// Gemma 2: a dense GeGLU FFN, and RMSNorms on the attention and FFN outputs.
std::vector<TensorSpec> gemma2_layer() {
  return with(attention_layer(),
              {
                  {Slot::kAttnPostNorm, "blk.{i}.post_attention_norm.weight", Dim::kEmbd, Dim::kOne, true},
                  {Slot::kFfnNorm, "blk.{i}.ffn_norm.weight", Dim::kEmbd, Dim::kOne, true},
                  {Slot::kGate, "blk.{i}.ffn_gate.weight", Dim::kEmbd, Dim::kFF, true},
                  {Slot::kDown, "blk.{i}.ffn_down.weight", Dim::kFF, Dim::kEmbd, true},
                  {Slot::kUp, "blk.{i}.ffn_up.weight", Dim::kEmbd, Dim::kFF, true},
                  {Slot::kFfnPostNorm, "blk.{i}.post_ffw_norm.weight", Dim::kEmbd, Dim::kOne, true},
              });
}

// Gemma 3: Gemma 2's layer with QK-norm.
std::vector<TensorSpec> gemma3_layer() { return with(gemma2_layer(), qk_norm()); }

// Gemma 4: Gemma 3's layer, attn_v optional (full layers of the 31B use their keys as values),
// and a scale on the layer's output. Its MoE layers (26B-A4B) keep the dense FFN and add experts
// beside it: gate and up fused or apart (one of the two is checked at binding). E2B/E4B: no keys
// or values in the shared-KV layers (a file may still carry them: they are not read), and a
// per-layer embedding's gate, projection and norm in every layer.
std::vector<TensorSpec> gemma4_layer() {
  std::vector<TensorSpec> layer = gemma3_layer();
  for (TensorSpec& s : layer) {
    if (s.slot == Slot::kWv) s.required = false;
    if (s.slot == Slot::kWk || s.slot == Slot::kWv || s.slot == Slot::kKNorm) s.layers = Layers::kOwnKv;
  }
  layer.push_back({Slot::kLayerOutScale, "blk.{i}.layer_output_scale.weight", Dim::kOne, Dim::kOne, false});
  const Layers ple = Layers::kPle;
  layer.push_back({Slot::kPleInpGate, "blk.{i}.inp_gate.weight", Dim::kEmbd, Dim::kPle, true, Dim::kOne, ple});
  layer.push_back({Slot::kPleProj, "blk.{i}.proj.weight", Dim::kPle, Dim::kEmbd, true, Dim::kOne, ple});
  layer.push_back({Slot::kPlePostNorm, "blk.{i}.post_norm.weight", Dim::kEmbd, Dim::kOne, true, Dim::kOne, ple});
  const Layers moe = Layers::kMoe;
  for (TensorSpec s : std::vector<TensorSpec>{
           {Slot::kRouter, "blk.{i}.ffn_gate_inp.weight", Dim::kEmbd, Dim::kExpert, true, Dim::kOne, moe},
           {Slot::kRouterScale, "blk.{i}.ffn_gate_inp.scale", Dim::kEmbd, Dim::kOne, true, Dim::kOne, moe},
           {Slot::kFfnPreNorm2, "blk.{i}.pre_ffw_norm_2.weight", Dim::kEmbd, Dim::kOne, true, Dim::kOne, moe},
           {Slot::kFfnPostNorm1, "blk.{i}.post_ffw_norm_1.weight", Dim::kEmbd, Dim::kOne, true, Dim::kOne, moe},
           {Slot::kFfnPostNorm2, "blk.{i}.post_ffw_norm_2.weight", Dim::kEmbd, Dim::kOne, true, Dim::kOne, moe},
           {Slot::kGateUpExps, "blk.{i}.ffn_gate_up_exps.weight", Dim::kEmbd, Dim::kFFExp2, false, Dim::kExpert, moe},
           {Slot::kGateExps, "blk.{i}.ffn_gate_exps.weight", Dim::kEmbd, Dim::kFFExp, false, Dim::kExpert, moe},
           {Slot::kUpExps, "blk.{i}.ffn_up_exps.weight", Dim::kEmbd, Dim::kFFExp, false, Dim::kExpert, moe},
           {Slot::kDownExps, "blk.{i}.ffn_down_exps.weight", Dim::kFFExp, Dim::kEmbd, true, Dim::kExpert, moe},
           {Slot::kDownExpsScale, "blk.{i}.ffn_down_exps.scale", Dim::kExpert, Dim::kOne, false, Dim::kOne, moe}})
    layer.push_back(s);
  return layer;
}

// BERT: token, position and token-type embeddings, LayerNormed; a cross-encoder's head (cls:
// a dense layer and tanh, then cls.output) where the file is a reranker.
std::vector<TensorSpec> bert_globals() {
  return {
      {Slot::kTokenEmbd, "token_embd.weight", Dim::kEmbd, Dim::kVocab, true},
      {Slot::kTokenTypes, "token_types.weight", Dim::kEmbd, Dim::kTokenTypes, false},
      {Slot::kPosEmbd, "position_embd.weight", Dim::kEmbd, Dim::kCtxTrain, true},
      {Slot::kTokenEmbdNorm, "token_embd_norm.weight", Dim::kEmbd, Dim::kOne, true},
      {Slot::kTokenEmbdNormBias, "token_embd_norm.bias", Dim::kEmbd, Dim::kOne, true},
      {Slot::kCls, "cls.weight", Dim::kEmbd, Dim::kEmbd, false},
      {Slot::kClsBias, "cls.bias", Dim::kEmbd, Dim::kOne, false},
      {Slot::kClsOut, "cls.output.weight", Dim::kEmbd, Dim::kClsOut, false},
      {Slot::kClsOutBias, "cls.output.bias", Dim::kClsOut, Dim::kOne, false},
  };
}

// A BERT layer (post-norm): x = LayerNorm(x + attention(x)), then x = LayerNorm(x + FFN(x)) with
// a GELU FFN, biases everywhere.
std::vector<TensorSpec> bert_layer() {
  return {
      {Slot::kWq, "blk.{i}.attn_q.weight", Dim::kEmbd, Dim::kQ, true},
      {Slot::kBq, "blk.{i}.attn_q.bias", Dim::kQ, Dim::kOne, false},
      {Slot::kWk, "blk.{i}.attn_k.weight", Dim::kEmbd, Dim::kKV, true},
      {Slot::kBk, "blk.{i}.attn_k.bias", Dim::kKV, Dim::kOne, false},
      {Slot::kWv, "blk.{i}.attn_v.weight", Dim::kEmbd, Dim::kKV, true},
      {Slot::kBv, "blk.{i}.attn_v.bias", Dim::kKV, Dim::kOne, false},
      {Slot::kWo, "blk.{i}.attn_output.weight", Dim::kQ, Dim::kEmbd, true},
      {Slot::kBo, "blk.{i}.attn_output.bias", Dim::kEmbd, Dim::kOne, false},
      {Slot::kAttnNorm, "blk.{i}.attn_output_norm.weight", Dim::kEmbd, Dim::kOne, true},
      {Slot::kAttnNormBias, "blk.{i}.attn_output_norm.bias", Dim::kEmbd, Dim::kOne, true},
      {Slot::kUp, "blk.{i}.ffn_up.weight", Dim::kEmbd, Dim::kFF, true},
      {Slot::kUpBias, "blk.{i}.ffn_up.bias", Dim::kFF, Dim::kOne, false},
      {Slot::kDown, "blk.{i}.ffn_down.weight", Dim::kFF, Dim::kEmbd, true},
      {Slot::kDownBias, "blk.{i}.ffn_down.bias", Dim::kEmbd, Dim::kOne, false},
      {Slot::kFfnNorm, "blk.{i}.layer_output_norm.weight", Dim::kEmbd, Dim::kOne, true},
      {Slot::kFfnNormBias, "blk.{i}.layer_output_norm.bias", Dim::kEmbd, Dim::kOne, true},
  };
}

// nomic-bert (nomic-embed-text): BERT without learned positions (rope instead), Q, K and V fused,
// a SwiGLU FFN without biases.
std::vector<TensorSpec> nomic_bert_globals() {
  return {
      {Slot::kTokenEmbd, "token_embd.weight", Dim::kEmbd, Dim::kVocab, true},
      {Slot::kTokenTypes, "token_types.weight", Dim::kEmbd, Dim::kTokenTypes, false},
      {Slot::kTokenEmbdNorm, "token_embd_norm.weight", Dim::kEmbd, Dim::kOne, true},
      {Slot::kTokenEmbdNormBias, "token_embd_norm.bias", Dim::kEmbd, Dim::kOne, true},
  };
}

std::vector<TensorSpec> nomic_bert_layer() {
  return {
      {Slot::kWqkv, "blk.{i}.attn_qkv.weight", Dim::kEmbd, Dim::kQKV, true},
      {Slot::kWo, "blk.{i}.attn_output.weight", Dim::kQ, Dim::kEmbd, true},
      {Slot::kBo, "blk.{i}.attn_output.bias", Dim::kEmbd, Dim::kOne, false},
      {Slot::kAttnNorm, "blk.{i}.attn_output_norm.weight", Dim::kEmbd, Dim::kOne, true},
      {Slot::kAttnNormBias, "blk.{i}.attn_output_norm.bias", Dim::kEmbd, Dim::kOne, true},
      {Slot::kUp, "blk.{i}.ffn_up.weight", Dim::kEmbd, Dim::kFF, true},
      {Slot::kGate, "blk.{i}.ffn_gate.weight", Dim::kEmbd, Dim::kFF, true},
      {Slot::kDown, "blk.{i}.ffn_down.weight", Dim::kFF, Dim::kEmbd, true},
      {Slot::kFfnNorm, "blk.{i}.layer_output_norm.weight", Dim::kEmbd, Dim::kOne, true},
      {Slot::kFfnNormBias, "blk.{i}.layer_output_norm.bias", Dim::kEmbd, Dim::kOne, true},
  };
}

// Sentence-transformers Dense modules (EmbeddingGemma's, converted with
// --sentence-transformers-dense-modules): n_embd -> n_dense -> n_embd, after the pooling.
std::vector<TensorSpec> dense_modules() {
  return {{Slot::kDense2, "dense_2.weight", Dim::kEmbd, Dim::kDense, false},
          {Slot::kDense3, "dense_3.weight", Dim::kDense, Dim::kEmbd, false}};
}

// DeepSeek V2/V3: Multi-head Latent Attention (queries through a low-rank path or one matrix;
// keys and values out of one latent per token through per-head maps), and DeepSeekMoE (dense
// leading layers, then routed experts beside shared ones, a selection bias in V3 files). Files
// from older converters with the combined attn_kv_b are split when opened (mla_split.h).
std::vector<TensorSpec> deepseek2_layer() {
  const Layers moe = Layers::kMoe, dense = Layers::kDense;
  return with(
      {
          {Slot::kAttnNorm, "blk.{i}.attn_norm.weight", Dim::kEmbd, Dim::kOne, true},
          {Slot::kWq, "blk.{i}.attn_q.weight", Dim::kEmbd, Dim::kQMla, true, Dim::kOne, Layers::kNoQLora},
          {Slot::kWqA, "blk.{i}.attn_q_a.weight", Dim::kEmbd, Dim::kLoraQ, true, Dim::kOne, Layers::kQLora},
          {Slot::kQANorm, "blk.{i}.attn_q_a_norm.weight", Dim::kLoraQ, Dim::kOne, true, Dim::kOne, Layers::kQLora},
          {Slot::kWqB, "blk.{i}.attn_q_b.weight", Dim::kLoraQ, Dim::kQMla, true, Dim::kOne, Layers::kQLora},
          {Slot::kWkvA, "blk.{i}.attn_kv_a_mqa.weight", Dim::kEmbd, Dim::kKvAMqa, true},
          {Slot::kKvANorm, "blk.{i}.attn_kv_a_norm.weight", Dim::kLoraKv, Dim::kOne, true},
          {Slot::kWkB, "blk.{i}.attn_k_b.weight", Dim::kHeadNope, Dim::kLoraKv, true, Dim::kHead},
          {Slot::kWvB, "blk.{i}.attn_v_b.weight", Dim::kLoraKv, Dim::kHeadVMla, true, Dim::kHead},
          {Slot::kWo, "blk.{i}.attn_output.weight", Dim::kVMla, Dim::kEmbd, true},
          {Slot::kFfnNorm, "blk.{i}.ffn_norm.weight", Dim::kEmbd, Dim::kOne, true},
          {Slot::kGate, "blk.{i}.ffn_gate.weight", Dim::kEmbd, Dim::kFF, true, Dim::kOne, dense},
          {Slot::kDown, "blk.{i}.ffn_down.weight", Dim::kFF, Dim::kEmbd, true, Dim::kOne, dense},
          {Slot::kUp, "blk.{i}.ffn_up.weight", Dim::kEmbd, Dim::kFF, true, Dim::kOne, dense},
      },
      with(expert_ffn(),
           {
               {Slot::kExpProbsB, "blk.{i}.exp_probs_b.bias", Dim::kExpert, Dim::kOne, false, Dim::kOne, moe},
               {Slot::kGateShexp, "blk.{i}.ffn_gate_shexp.weight", Dim::kEmbd, Dim::kFFShexp, true, Dim::kOne, moe},
               {Slot::kDownShexp, "blk.{i}.ffn_down_shexp.weight", Dim::kFFShexp, Dim::kEmbd, true, Dim::kOne, moe},
               {Slot::kUpShexp, "blk.{i}.ffn_up_shexp.weight", Dim::kEmbd, Dim::kFFShexp, true, Dim::kOne, moe},
           }));
}

// Qwen3.5: three Gated DeltaNet layers to one attention layer (by default); the attention layers
// are qwen3's with an output gate beside each head's query; every layer norms the FFN's input
// with post_attention_norm and has a dense SwiGLU FFN.
std::vector<TensorSpec> qwen35_layer() {
  const Layers rec = Layers::kRecurrent, att = Layers::kAttention;
  return {
      {Slot::kAttnNorm, "blk.{i}.attn_norm.weight", Dim::kEmbd, Dim::kOne, true},
      {Slot::kWq, "blk.{i}.attn_q.weight", Dim::kEmbd, Dim::kQGate, true, Dim::kOne, att},
      {Slot::kWk, "blk.{i}.attn_k.weight", Dim::kEmbd, Dim::kKV, true, Dim::kOne, att},
      {Slot::kWv, "blk.{i}.attn_v.weight", Dim::kEmbd, Dim::kKV, true, Dim::kOne, att},
      {Slot::kWo, "blk.{i}.attn_output.weight", Dim::kQ, Dim::kEmbd, true, Dim::kOne, att},
      {Slot::kQNorm, "blk.{i}.attn_q_norm.weight", Dim::kHeadDim, Dim::kOne, true, Dim::kOne, att},
      {Slot::kKNorm, "blk.{i}.attn_k_norm.weight", Dim::kHeadDim, Dim::kOne, true, Dim::kOne, att},
      {Slot::kSsmQkv, "blk.{i}.attn_qkv.weight", Dim::kEmbd, Dim::kSsmChannels, true, Dim::kOne, rec},
      {Slot::kSsmGate, "blk.{i}.attn_gate.weight", Dim::kEmbd, Dim::kSsmValue, true, Dim::kOne, rec},
      {Slot::kSsmConv, "blk.{i}.ssm_conv1d.weight", Dim::kSsmConvKernel, Dim::kSsmChannels, true, Dim::kOne, rec},
      {Slot::kSsmDt, "blk.{i}.ssm_dt.bias", Dim::kSsmVHeads, Dim::kOne, true, Dim::kOne, rec},
      {Slot::kSsmA, "blk.{i}.ssm_a", Dim::kSsmVHeads, Dim::kOne, true, Dim::kOne, rec},
      {Slot::kSsmBeta, "blk.{i}.ssm_beta.weight", Dim::kEmbd, Dim::kSsmVHeads, true, Dim::kOne, rec},
      {Slot::kSsmAlpha, "blk.{i}.ssm_alpha.weight", Dim::kEmbd, Dim::kSsmVHeads, true, Dim::kOne, rec},
      {Slot::kSsmNorm, "blk.{i}.ssm_norm.weight", Dim::kSsmHeadDim, Dim::kOne, true, Dim::kOne, rec},
      {Slot::kSsmOut, "blk.{i}.ssm_out.weight", Dim::kSsmValue, Dim::kEmbd, true, Dim::kOne, rec},
      {Slot::kFfnNorm, "blk.{i}.post_attention_norm.weight", Dim::kEmbd, Dim::kOne, true},
      {Slot::kGate, "blk.{i}.ffn_gate.weight", Dim::kEmbd, Dim::kFF, true},
      {Slot::kDown, "blk.{i}.ffn_down.weight", Dim::kFF, Dim::kEmbd, true},
      {Slot::kUp, "blk.{i}.ffn_up.weight", Dim::kEmbd, Dim::kFF, true},
  };
}

// Qwen3.5-MoE: Qwen3.5's layers with routed experts and one shared expert, whose output is gated
// by a sigmoid of its own projection, in place of the dense FFN.
std::vector<TensorSpec> qwen35moe_layer() {
  std::vector<TensorSpec> layer;
  for (const TensorSpec& s : qwen35_layer())
    if (s.slot != Slot::kGate && s.slot != Slot::kUp && s.slot != Slot::kDown) layer.push_back(s);
  const Layers moe = Layers::kMoe;
  return with(with(layer, expert_ffn()),
              {
                  {Slot::kShexpGate, "blk.{i}.ffn_gate_inp_shexp.weight", Dim::kEmbd, Dim::kOne, true, Dim::kOne, moe},
                  {Slot::kGateShexp, "blk.{i}.ffn_gate_shexp.weight", Dim::kEmbd, Dim::kFFShexp, true, Dim::kOne, moe},
                  {Slot::kDownShexp, "blk.{i}.ffn_down_shexp.weight", Dim::kFFShexp, Dim::kEmbd, true, Dim::kOne, moe},
                  {Slot::kUpShexp, "blk.{i}.ffn_up_shexp.weight", Dim::kEmbd, Dim::kFFShexp, true, Dim::kOne, moe},
              });
}

// Gemma 4 E2B/E4B's per-layer embeddings: the table, and the projection of a token's embedding
// that is added to its rows.
std::vector<TensorSpec> gemma4_globals() {
  const Layers ple = Layers::kPle;
  return with(llama_globals(),
              {
                  {Slot::kPleTokEmbd, "per_layer_token_embd.weight", Dim::kPleAll, Dim::kVocab, true, Dim::kOne, ple},
                  {Slot::kPleModelProj, "per_layer_model_proj.weight", Dim::kEmbd, Dim::kPleAll, true, Dim::kOne, ple},
                  {Slot::kPleProjNorm, "per_layer_proj_norm.weight", Dim::kPle, Dim::kOne, true, Dim::kOne, ple},
              });
}

std::vector<TensorSpec> gpt_oss_globals() {
  std::vector<TensorSpec> g = llama_globals();
  g.pop_back();  // no rope_freqs: YaRN is computed
  return g;
}

const std::vector<ArchSpec>& arch_table() {
  static const std::vector<ArchSpec> table = {
      {"llama", llama_globals(), llama_layer(), RopeStyle::kNormal, false, false},
      {"qwen2", llama_globals(), with(llama_layer(), qkv_bias()), RopeStyle::kNeox, true, false},
      // qwen3 files may be embedding models (pooling last) or rerankers (rank, with a head).
      {"qwen3", with(llama_globals(), classifier_head()), with(llama_layer(), qk_norm()), RopeStyle::kNeox, false,
       true},
      {"qwen3moe", llama_globals(), with(llama_layer(), qk_norm()), RopeStyle::kNeox, false, true,
       /*requires_experts=*/true},
      {"gpt-oss", gpt_oss_globals(), gpt_oss_layer(), RopeStyle::kNeox, true, false,
       /*requires_experts=*/true, ExpertGating::kSoftmaxWeight, GluKind::kSwiGLUOai, /*swa_pattern=*/2,
       /*alias=*/"gptoss"},
      // Gemma 3: five windowed layers to one global (when the file sets a window), the windowed
      // ones with their own rope base.
      {.name = "gemma3", .globals = llama_globals(), .per_layer = gemma3_layer(), .rope_style = RopeStyle::kNeox,
       .qkv_bias = false, .qk_norm = true, .glu = GluKind::kGeGLU, .swa_pattern = 6, .embd_scale = true,
       .scale_q = true, .swa_own_rope = true, .swa_optional = true, .q_scale_embd_layers = 62},
      // Gemma 4 (dense): Gemma 3's shape with per-layer head sizes and KV head counts, the
      // window pattern as one flag per layer, unscaled scores over normed Q, K and V.
      {.name = "gemma4", .globals = gemma4_globals(), .per_layer = gemma4_layer(), .rope_style = RopeStyle::kNeox,
       .qkv_bias = false, .qk_norm = true, .glu = GluKind::kGeGLU, .swa_pattern = 6, .embd_scale = true,
       .swa_own_rope = true, .unit_attention_scale = true, .v_norm = true, .rope_freqs_full_only = true,
       .moe_beside_dense = true, .per_layer_inputs = true},
      // Gemma 2: a 4096-token window on every other layer, soft-capped attention scores (50) and
      // logits (30), the same rope on every layer.
      {.name = "gemma2", .globals = llama_globals(), .per_layer = gemma2_layer(), .rope_style = RopeStyle::kNeox,
       .qkv_bias = false, .qk_norm = false, .glu = GluKind::kGeGLU, .swa_pattern = 2, .embd_scale = true,
       .scale_q = true, .swa_default = 4096, .attn_softcap_default = 50.0, .final_softcap_default = 30.0,
       .q_scale_embd_layers = 46},
      // Phi-3 / Phi-3.5 / Phi-4 (mini and medium): fused QKV and gate/up, queries scaled before
      // the product, LongRoPE factors where the file has them.
      {.name = "phi3", .globals = phi3_globals(), .per_layer = phi3_layer(), .rope_style = RopeStyle::kNeox,
       .qkv_bias = false, .qk_norm = false, .scale_q = true, .swa_ignored = true},
      // BERT encoders (bge, MiniLM, e5, cross-encoder rerankers): embeddings, not text.
      {.name = "bert", .globals = bert_globals(), .per_layer = bert_layer(), .rope_style = RopeStyle::kNormal,
       .qkv_bias = false, .qk_norm = false, .norm = NormKind::kLayer, .post_norm = true,
       .absolute_positions = true, .rank_first = true},
      // EmbeddingGemma: Gemma 3's layers attending both ways (symmetric windows on the windowed
      // layers), the mean of the final states, then its Dense modules where the file has them.
      {.name = "gemma-embedding", .globals = with(llama_globals(), dense_modules()), .per_layer = gemma3_layer(),
       .rope_style = RopeStyle::kNeox, .qkv_bias = false, .qk_norm = true, .glu = GluKind::kGeGLU, .swa_pattern = 6,
       .embd_scale = true, .scale_q = true, .swa_own_rope = true, .swa_optional = true, .bidirectional = true},
      // DeepSeek V2, V2-Lite, V2.5, V3, V3.1, R1 (and Kimi-K2-style files of the same layout).
      {.name = "deepseek2", .globals = llama_globals(), .per_layer = deepseek2_layer(),
       .rope_style = RopeStyle::kNormal, .qkv_bias = false, .qk_norm = false, .requires_experts = true,
       .mla = true},
      // Qwen3.5 (dense): Gated DeltaNet layers among gated attention layers.
      {.name = "qwen35", .globals = llama_globals(), .per_layer = qwen35_layer(), .rope_style = RopeStyle::kNeox,
       .qkv_bias = false, .qk_norm = true, .delta_net = true, .gated_attention = true},
      {.name = "qwen35moe", .globals = llama_globals(), .per_layer = qwen35moe_layer(),
       .rope_style = RopeStyle::kNeox, .qkv_bias = false, .qk_norm = true, .requires_experts = true,
       .delta_net = true, .gated_attention = true},
      // nomic-embed-text v1 / v1.5: a BERT encoder with rope (NeoX) and SwiGLU.
      {.name = "nomic-bert", .globals = nomic_bert_globals(), .per_layer = nomic_bert_layer(),
       .rope_style = RopeStyle::kNeox, .qkv_bias = false, .qk_norm = false, .norm = NormKind::kLayer,
       .post_norm = true, .rank_first = true},
  };
  return table;
}

}  // namespace

const ArchSpec* find_arch(std::string_view name) {
  for (const ArchSpec& a : arch_table())
    if (a.name == name || (!a.alias.empty() && a.alias == name)) return &a;
  return nullptr;
}

std::vector<std::string_view> known_archs() {
  std::vector<std::string_view> names;
  for (const ArchSpec& a : arch_table()) names.push_back(a.name);
  return names;
}

int64_t dim_value(Dim dim, const HParams& hp, int64_t layer) {
  const bool in_layer = layer >= 0;
  switch (dim) {
    case Dim::kOne: return 1;
    case Dim::kEmbd: return hp.n_embd;
    case Dim::kVocab: return hp.n_vocab;
    case Dim::kQ: return in_layer ? hp.layer_q_dim(layer) : hp.q_dim();
    case Dim::kKV: return in_layer ? hp.layer_kv_dim(layer) : hp.kv_dim();
    case Dim::kFF: return in_layer ? hp.layer_n_ff(layer) : hp.n_ff;
    case Dim::kHeadDim: return in_layer ? hp.layer_head_dim(layer) : hp.head_dim;
    case Dim::kRotHalf: return hp.n_rot / 2;
    case Dim::kExpert: return hp.n_expert;
    case Dim::kFFExp: return hp.n_ff_exp;
    case Dim::kHead: return hp.n_head;
    case Dim::kQKV: return in_layer ? hp.layer_q_dim(layer) + 2 * hp.layer_kv_dim(layer) : hp.q_dim() + 2 * hp.kv_dim();
    case Dim::kFF2: return 2 * (in_layer ? hp.layer_n_ff(layer) : hp.n_ff);
    case Dim::kClsOut: return hp.n_cls_out;
    case Dim::kCtxTrain: return hp.n_ctx_train;
    case Dim::kTokenTypes: return hp.n_token_types;
    case Dim::kDense: return hp.n_dense;
    case Dim::kFFExp2: return 2 * hp.n_ff_exp;
    case Dim::kLoraQ: return hp.n_lora_q;
    case Dim::kLoraKv: return hp.n_lora_kv;
    case Dim::kKvAMqa: return hp.n_lora_kv + hp.n_rot;
    case Dim::kQMla: return hp.n_head * hp.head_dim_k_mla;
    case Dim::kHeadNope: return hp.head_dim_nope();
    case Dim::kHeadVMla: return hp.head_dim_v_mla;
    case Dim::kVMla: return hp.n_head * hp.head_dim_v_mla;
    case Dim::kFFShexp: return hp.ffn_shexp_width();
    case Dim::kQGate: return 2 * (in_layer ? hp.layer_q_dim(layer) : hp.q_dim());
    case Dim::kSsmConvKernel: return hp.ssm_conv_kernel;
    case Dim::kSsmChannels: return hp.ssm_channels();
    case Dim::kSsmValue: return hp.ssm_value_dim();
    case Dim::kSsmVHeads: return hp.ssm_n_v_heads;
    case Dim::kSsmHeadDim: return hp.ssm_head_dim;
    case Dim::kPle: return hp.n_embd_per_layer;
    case Dim::kPleAll: return hp.n_layer * hp.n_embd_per_layer;
  }
  return 0;
}

const char* pooling_name(Pooling p) {
  switch (p) {
    case Pooling::kNone: return "none";
    case Pooling::kMean: return "mean";
    case Pooling::kCls: return "cls";
    case Pooling::kLast: return "last";
    case Pooling::kRank: return "rank";
  }
  return "none";
}

std::vector<uint8_t> swa_layers_from_pattern(int64_t n_layer, int64_t pattern) {
  std::vector<uint8_t> flags(static_cast<size_t>(n_layer));
  for (int64_t il = 0; il < n_layer; ++il)
    flags[size_t(il)] = pattern == 0 || il % pattern < pattern - 1 ? 1 : 0;
  return flags;
}

LayerConfig layer_config(const HParams& hp, int64_t layer) {
  LayerConfig c;
  if (hp.layer_is_recurrent(layer)) {
    c.attention = AttentionKind::kRecurrent;
  } else if (hp.layer_is_swa(layer)) {
    c.attention = AttentionKind::kSlidingWindow;
    c.window = hp.n_swa;
  }
  c.ffn = hp.layer_is_moe(layer) ? FfnKind::kMoe : FfnKind::kDense;
  return c;
}

bool TensorSpec::in_layer(const HParams& hp, int64_t layer) const {
  switch (layers) {
    case Layers::kAll: return true;
    case Layers::kDense: return !hp.layer_is_moe(layer);
    case Layers::kMoe: return hp.layer_is_moe(layer);
    case Layers::kQLora: return hp.n_lora_q > 0;
    case Layers::kNoQLora: return hp.n_lora_q == 0;
    case Layers::kRecurrent: return hp.layer_is_recurrent(layer);
    case Layers::kAttention: return !hp.layer_is_recurrent(layer);
    case Layers::kOwnKv: return hp.layer_has_kv(layer);
    case Layers::kPle: return hp.n_embd_per_layer > 0;
  }
  return true;
}

std::string layer_tensor_name(std::string_view pattern, int64_t layer) {
  std::string name(pattern);
  size_t at = name.find("{i}");
  if (at != std::string::npos) name.replace(at, 3, std::to_string(layer));
  return name;
}

namespace {

// A non-negative integer key (0 allowed, unlike the positive counts read_hparams's get() takes).
Result<int64_t> get_count(const ModelFile& model, std::string_view suffix, int64_t fallback, int64_t max) {
  const std::string key = model.arch_key(suffix);
  const gguf::Value* v = model.find(key);
  if (v == nullptr) return fallback;
  const std::optional<int64_t> x = v->as_int();
  if (!x || *x < 0 || *x > max) return make_error("{}: {} must be an integer in 0..{}", model.path(), key, max);
  return *x;
}

// Multi-head Latent Attention's shape (deepseek2), as llama.cpp's converter writes it: one KV head
// of key_length = kv_lora_rank + rope.dimension_count and value_length = kv_lora_rank (the
// latent cache), and the per-head sizes key_length_mla and value_length_mla.
Status read_mla_hparams(const ModelFile& model, HParams& hp) {
  const std::string& path = model.path();
  if (model.find(model.arch_key("attention.key_length_mla")) == nullptr)
    return make_error("{}: {} is missing (the per-head key width of Multi-head Latent Attention)", path,
                      model.arch_key("attention.key_length_mla"));
  HEARTH_TRY(hp.n_lora_kv, get_count(model, "attention.kv_lora_rank", 0, hp.n_embd));
  if (hp.n_lora_kv == 0)
    return make_error("{}: {} must be in 1..{} (the embedding width)", path, model.arch_key("attention.kv_lora_rank"),
                      hp.n_embd);
  HEARTH_TRY(hp.n_lora_q, get_count(model, "attention.q_lora_rank", 0, hp.n_embd));
  HEARTH_TRY(hp.head_dim_k_mla, get_count(model, "attention.key_length_mla", 0, 1 << 12));
  HEARTH_TRY(hp.head_dim_v_mla, get_count(model, "attention.value_length_mla", 0, 1 << 12));
  HEARTH_TRY(hp.n_rot, get_count(model, "rope.dimension_count", 0, 1 << 12));
  if (hp.n_rot == 0 || hp.n_rot % 2 != 0 || hp.n_rot >= hp.head_dim_k_mla || hp.head_dim_v_mla == 0)
    return make_error("{}: rope.dimension_count {} must be even and below attention.key_length_mla {} (the head "
                      "width), and value_length_mla ({}) positive", path, hp.n_rot, hp.head_dim_k_mla,
                      hp.head_dim_v_mla);
  HEARTH_TRY(hp.head_dim, get_count(model, "attention.key_length", hp.n_lora_kv + hp.n_rot, 1 << 14));
  HEARTH_TRY(const int64_t value_length, get_count(model, "attention.value_length", hp.n_lora_kv, 1 << 14));
  if (hp.head_dim != hp.n_lora_kv + hp.n_rot || value_length != hp.n_lora_kv || hp.n_head_kv != 1)
    return make_error("{}: attention.key_length {}, value_length {} and head_count_kv {} must be kv_lora_rank + "
                      "rope.dimension_count ({}), kv_lora_rank ({}) and 1 (the latent cache)", path, hp.head_dim,
                      value_length, hp.n_head_kv, hp.n_lora_kv + hp.n_rot, hp.n_lora_kv);
  // The converter writes 0.1 * mscale_all_dim; llama.cpp divides the 0.1 back out.
  if (const std::optional<double> m = model.get_float(model.arch_key("rope.scaling.yarn_log_multiplier")))
    hp.rope_yarn_log_mul = static_cast<double>(static_cast<float>(*m) / 0.1f);
  if (!std::isfinite(hp.rope_yarn_log_mul))
    return make_error("{}: rope.scaling.yarn_log_multiplier is not finite", path);
  HEARTH_TRY(hp.n_layer_nextn, get_count(model, "nextn_predict_layers", 0, hp.n_layer - 1));
  hp.n_layer -= hp.n_layer_nextn;  // the multi-token-prediction layers follow the trunk: not run
  return {};
}

// The most taps a Gated DeltaNet convolution may have (released models: 4).
constexpr int64_t kMaxConvKernel = 16;

// Gated DeltaNet's shape (qwen35), as llama.cpp reads it, checked so that the state sizes agree
// with the head counts; which layers are recurrent; the multimodal rope sections.
Status read_delta_net_hparams(const ModelFile& model, HParams& hp) {
  const std::string& path = model.path();
  HEARTH_TRY(hp.n_layer_nextn, get_count(model, "nextn_predict_layers", 0, hp.n_layer - 1));
  const int64_t n_layer_all = hp.n_layer;
  hp.n_layer -= hp.n_layer_nextn;  // multi-token-prediction layers follow the trunk: not run
  HEARTH_TRY(hp.ssm_conv_kernel, get_count(model, "ssm.conv_kernel", 0, kMaxConvKernel));
  HEARTH_TRY(hp.ssm_head_dim, get_count(model, "ssm.state_size", 0, 1024));
  HEARTH_TRY(hp.ssm_n_k_heads, get_count(model, "ssm.group_count", 0, 4096));
  HEARTH_TRY(hp.ssm_n_v_heads, get_count(model, "ssm.time_step_rank", 0, 4096));
  HEARTH_TRY(const int64_t inner, get_count(model, "ssm.inner_size", 0, int64_t{1} << 22));
  if (hp.ssm_conv_kernel == 0)
    return make_error("{}: {} must be in 1..{} (the convolution's taps)", path, model.arch_key("ssm.conv_kernel"),
                      kMaxConvKernel);
  if (hp.ssm_head_dim == 0 || hp.ssm_n_k_heads == 0 || hp.ssm_n_v_heads == 0 ||
      hp.ssm_n_v_heads % hp.ssm_n_k_heads != 0 || inner != hp.ssm_n_v_heads * hp.ssm_head_dim)
    return make_error("{}: ssm.state_size {}, group_count {}, time_step_rank {} and inner_size {} disagree: the "
                      "value heads must be a multiple of the key heads, and inner_size value heads x state_size",
                      path, hp.ssm_head_dim, hp.ssm_n_k_heads, hp.ssm_n_v_heads, inner);
  // Each factor is bounded above, so these products cannot overflow; the state a sequence carries
  // per layer is then bounded too (Qwen3-Next: 2 M floats a layer; here at most 64 M).
  if (hp.ssm_state() > (int64_t{1} << 26) || hp.ssm_channels() > (int64_t{1} << 20))
    return make_error("{}: a Gated DeltaNet layer's state of {} value heads of {}x{} floats (or {} convolution "
                      "channels) is beyond any released model's", path, hp.ssm_n_v_heads, hp.ssm_head_dim,
                      hp.ssm_head_dim, hp.ssm_channels());
  hp.recurrent_layers.assign(size_t(hp.n_layer), 0);
  if (const gguf::Value* flags = model.find(model.arch_key("attention.recurrent_layers"))) {
    const gguf::Array* a = flags->as_array();
    if (a == nullptr || static_cast<int64_t>(a->items.size()) != n_layer_all)
      return make_error("{}: {} must hold one flag per layer ({})", path, model.arch_key("attention.recurrent_layers"),
                        n_layer_all);
    for (int64_t il = 0; il < hp.n_layer; ++il) {
      const std::optional<bool> b = a->items[size_t(il)].as_bool();
      if (!b) return make_error("{}: {} must hold booleans", path, model.arch_key("attention.recurrent_layers"));
      hp.recurrent_layers[size_t(il)] = *b ? 1 : 0;
    }
  } else {
    HEARTH_TRY(const int64_t interval, get_count(model, "full_attention_interval", 4, 4096));
    if (interval == 0)
      return make_error("{}: {} must be at least 1 (every n-th layer attends)", path,
                        model.arch_key("full_attention_interval"));
    for (int64_t il = 0; il < hp.n_layer; ++il) hp.recurrent_layers[size_t(il)] = (il + 1) % interval != 0 ? 1 : 0;
  }
  // Interleaved M-RoPE: rotated pair i takes the position of axis (i mod sections total) mod 3
  // while that axis has pairs left, else the fourth axis, which text tokens leave at 0 (no
  // rotation). hearth runs text: every pair must see the token's position.
  if (const gguf::Value* v = model.find(model.arch_key("rope.dimension_sections"))) {
    const gguf::Array* a = v->as_array();
    if (a == nullptr || a->items.size() > 4)
      return make_error("{}: {} must be an array of up to 4 counts", path, model.arch_key("rope.dimension_sections"));
    int64_t total = 0;
    hp.rope_sections.assign(4, 0);
    for (size_t i = 0; i < a->items.size(); ++i) {
      const std::optional<int64_t> x = a->items[i].as_int();
      if (!x || *x < 0 || *x > 4096)
        return make_error("{}: {} entries must be integers in 0..4096", path, model.arch_key("rope.dimension_sections"));
      hp.rope_sections[i] = *x;
      total += *x;
    }
    for (int64_t pair = 0; total > 0 && pair < hp.n_rot / 2; ++pair) {
      const int64_t sector = pair % total, axis = sector % 3;
      if (sector >= 3 * hp.rope_sections[size_t(axis)])
        return make_error("{}: {} leaves rotated pair {} to the image axes: not a text model's rope", path,
                          model.arch_key("rope.dimension_sections"), pair);
    }
  }
  return {};
}

// DeepSeekMoE's router and shared experts, checked so that every token can be routed.
Status read_deepseek_moe_hparams(const ModelFile& model, HParams& hp) {
  const std::string& path = model.path();
  HEARTH_TRY(hp.n_expert_shared, get_count(model, "expert_shared_count", 0, kMaxExperts));
  HEARTH_TRY(const int64_t gating, get_count(model, "expert_gating_func", 1, 16));
  if (gating != 1 && gating != 2)  // llama.cpp's numbering: 1 softmax, 2 sigmoid
    return make_error("{}: {} = {} is not a gating hearth knows for this family (1: softmax, 2: sigmoid)", path,
                      model.arch_key("expert_gating_func"), gating);
  hp.gating = gating == 2 ? ExpertGating::kSigmoid : ExpertGating::kSoftmax;
  hp.expert_weights_norm = false;
  if (const gguf::Value* norm = model.find(model.arch_key("expert_weights_norm"))) {
    const std::optional<bool> b = norm->as_bool();
    if (!b) return make_error("{}: {} must be a boolean", path, model.arch_key("expert_weights_norm"));
    hp.expert_weights_norm = *b;
  }
  hp.expert_weights_scale = model.get_float(model.arch_key("expert_weights_scale")).value_or(1.0);
  if (!std::isfinite(hp.expert_weights_scale) || !(hp.expert_weights_scale > 0) || hp.expert_weights_scale > 1e6)
    return make_error("{}: {} must be a positive finite number", path, model.arch_key("expert_weights_scale"));
  HEARTH_TRY(hp.n_expert_groups, get_count(model, "expert_group_count", 0, kMaxExperts));
  HEARTH_TRY(hp.n_group_used, get_count(model, "expert_group_used_count", 0, kMaxExperts));
  if (hp.n_expert_groups > 1) {
    const int64_t per_group = hp.n_expert / hp.n_expert_groups;
    if (hp.n_expert % hp.n_expert_groups != 0 || per_group < 2)
      return make_error("{}: expert_group_count {} must divide expert_count {} into groups of two or more", path,
                        hp.n_expert_groups, hp.n_expert);
    if (hp.n_group_used < 1 || hp.n_group_used > hp.n_expert_groups)
      return make_error("{}: expert_group_used_count {} must be in 1..{} (expert_group_count)", path,
                        hp.n_group_used, hp.n_expert_groups);
    if (hp.n_expert_used > hp.n_group_used * per_group)
      return make_error("{}: expert_used_count {} exceeds the {} experts of the {} groups used", path,
                        hp.n_expert_used, hp.n_group_used * per_group, hp.n_group_used);
  }
  return {};
}

// Gemma 4 E2B/E4B's per-layer embeddings and shared-KV layers (0 where the file has neither).
// A shared layer reads the cache of the last full or windowed layer before the shared ones, as
// its own kind is: that layer must exist and have the shared layer's shape.
Status read_per_layer_inputs(const ModelFile& model, const ArchSpec* arch, HParams& hp) {
  const std::string& path = model.path();
  for (const auto& [key, value, max] : {std::tuple{"embedding_length_per_layer_input", &hp.n_embd_per_layer,
                                                   int64_t{1} << 14},
                                        std::tuple{"attention.shared_kv_layers", &hp.n_kv_shared, hp.n_layer - 2}}) {
    const gguf::Value* v = model.find(model.arch_key(key));
    if (v == nullptr) continue;
    const std::optional<int64_t> x = v->as_int();
    if (!x || *x < 0 || *x > std::max<int64_t>(max, 0))
      return make_error("{}: {} must be an integer in 0..{}", path, model.arch_key(key), std::max<int64_t>(max, 0));
    if (*x > 0 && !(arch && arch->per_layer_inputs))
      return make_error("{}: {} is set: per-layer embeddings and shared-KV layers are supported for gemma4 only, "
                        "not {}", path, model.arch_key(key), model.architecture());
    *value = *x;
  }
  // The product the table's rows are made of must stay within what a tensor may hold.
  if (hp.n_embd_per_layer * hp.n_layer > (int64_t{1} << 20))
    return make_error("{}: per-layer embeddings of {} for {} layers are too wide", path, hp.n_embd_per_layer,
                      hp.n_layer);
  for (int64_t il = hp.n_layer - hp.n_kv_shared; il < hp.n_layer && hp.n_kv_shared > 0; ++il) {
    const int64_t src = hp.layer_kv_source(il);
    if (hp.layer_is_swa(src) != hp.layer_is_swa(il) || hp.layer_kv_dim(src) != hp.layer_kv_dim(il) ||
        hp.layer_head_dim(src) != hp.layer_head_dim(il))
      return make_error("{}: shared-KV layer {} ({}) would read layer {}'s cache, which is {} with another shape",
                        path, il, hp.layer_is_swa(il) ? "windowed" : "full", src,
                        hp.layer_is_swa(src) ? "windowed" : "full");
  }
  return {};
}

}  // namespace

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
  // feed_forward_length: one width, or one per layer (Gemma 4 E2B: double-wide shared-KV layers).
  const gguf::Value* ff = model.find(model.arch_key("feed_forward_length"));
  if (const gguf::Array* widths = ff ? ff->as_array() : nullptr) {
    if (static_cast<int64_t>(widths->items.size()) != hp.n_layer)
      return make_error("{}: feed_forward_length has {} entries for {} layers", model.path(), widths->items.size(),
                        hp.n_layer);
    for (const gguf::Value& w : widths->items) {
      const std::optional<int64_t> x = w.as_int();
      if (!x || *x <= 0 || *x > (int64_t{1} << 20))
        return make_error("{}: feed_forward_length entries must be integers in 1..{}", model.path(), int64_t{1} << 20);
      hp.n_ff_arr.push_back(*x);
    }
    hp.n_ff = *std::max_element(hp.n_ff_arr.begin(), hp.n_ff_arr.end());
  } else {
    HEARTH_TRY(hp.n_ff, get("feed_forward_length", true, 0, int64_t{1} << 20));
  }
  HEARTH_TRY(hp.n_head, get("attention.head_count", true, 0, 4096));
  // head_count_kv: one count, or one per layer (Gemma 4: fewer KV heads on its full layers).
  const gguf::Value* kv_heads = model.find(model.arch_key("attention.head_count_kv"));
  if (const gguf::Array* counts = kv_heads ? kv_heads->as_array() : nullptr) {
    if (static_cast<int64_t>(counts->items.size()) != hp.n_layer)
      return make_error("{}: attention.head_count_kv has {} entries for {} layers", model.path(),
                        counts->items.size(), hp.n_layer);
    for (const gguf::Value& c : counts->items) {
      const std::optional<int64_t> x = c.as_int();
      if (!x || *x <= 0 || *x > 4096)
        return make_error("{}: attention.head_count_kv entries must be integers in 1..4096", model.path());
      hp.n_head_kv_arr.push_back(*x);
    }
    hp.n_head_kv = *std::max_element(hp.n_head_kv_arr.begin(), hp.n_head_kv_arr.end());
  } else {
    HEARTH_TRY(hp.n_head_kv, get("attention.head_count_kv", false, hp.n_head, 4096));
  }
  for (int64_t il = 0; il < hp.n_layer; ++il)
    if (hp.n_head % hp.layer_n_head_kv(il) != 0)
      return make_error("{}: attention.head_count {} is not a multiple of head_count_kv {}",
                        model.path(), hp.n_head, hp.layer_n_head_kv(il));
  const bool has_key_length = model.find(model.arch_key("attention.key_length")) != nullptr;
  if (!has_key_length && hp.n_embd % hp.n_head != 0)
    return make_error("{}: embedding_length {} is not divisible by attention.head_count {}",
                      model.path(), hp.n_embd, hp.n_head);
  // A head's size (key_length; value_length must equal it) and rotated dimensions, for every
  // layer (suffix "") or for the windowed ones (suffix "_swa": Gemma 4, whose keys are required).
  const auto head_shape = [&](std::string_view sfx, bool required, int64_t fallback, int64_t& head,
                              int64_t& rot) -> Status {
    HEARTH_TRY(head, get(fmt::format("attention.key_length{}", sfx), required, fallback, 1 << 14));
    HEARTH_TRY(const int64_t value, get(fmt::format("attention.value_length{}", sfx), false, head, 1 << 14));
    if (value != head)
      return make_error("{}: attention.value_length{} {} differs from key_length{} {} (unsupported)",
                        model.path(), sfx, value, sfx, head);
    HEARTH_TRY(rot, get(fmt::format("rope.dimension_count{}", sfx), false, head, head));
    if (rot % 2 != 0) return make_error("{}: rope.dimension_count{} {} is odd", model.path(), sfx, rot);
    return Status::Ok();
  };
  const ArchSpec* arch_spec = find_arch(arch);
  if (arch_spec && arch_spec->mla) {
    HEARTH_RETURN_IF_ERROR(read_mla_hparams(model, hp));
  } else {
    HEARTH_RETURN_IF_ERROR(head_shape("", false, hp.n_embd / hp.n_head, hp.head_dim, hp.n_rot));
  }
  if (arch_spec && arch_spec->delta_net) HEARTH_RETURN_IF_ERROR(read_delta_net_hparams(model, hp));
  if (model.find(model.arch_key("attention.key_length_swa")) != nullptr)
    HEARTH_RETURN_IF_ERROR(head_shape("_swa", true, 0, hp.head_dim_swa, hp.n_rot_swa));
  hp.rope_freq_base = model.get_float(model.arch_key("rope.freq_base")).value_or(10000.0);
  hp.rms_eps = model.get_float(model.arch_key("attention.layer_norm_rms_epsilon")).value_or(1e-5);
  if (!(hp.rope_freq_base > 0) || !(hp.rms_eps > 0) || !(hp.rms_eps < 1))
    return make_error("{}: rope.freq_base / layer_norm_rms_epsilon out of range", model.path());
  hp.rope_freq_base_swa = model.get_float(model.arch_key("rope.freq_base_swa")).value_or(10000.0);
  hp.final_logit_softcap = model.get_float(model.arch_key("final_logit_softcapping"))
                               .value_or(arch_spec ? arch_spec->final_softcap_default : 0.0);
  hp.attn_logit_softcap = model.get_float(model.arch_key("attn_logit_softcapping"))
                              .value_or(arch_spec ? arch_spec->attn_softcap_default : 0.0);
  if (!(hp.rope_freq_base_swa > 0) || !(hp.final_logit_softcap >= 0) || !std::isfinite(hp.final_logit_softcap) ||
      !(hp.attn_logit_softcap >= 0) || !std::isfinite(hp.attn_logit_softcap))
    return make_error("{}: rope.freq_base_swa must be positive and final_logit_softcapping and "
                      "attn_logit_softcapping finite and not negative", model.path());

  // Experts: a count of 0 is refused by get() like every other zero; a MoE family must have one.
  const bool has_experts = model.find(model.arch_key("expert_count")) != nullptr;
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
    hp.gating = arch_spec ? arch_spec->gating : ExpertGating::kSoftmax;
    hp.expert_weights_norm = hp.gating == ExpertGating::kSoftmax;
    if (arch_spec && arch_spec->mla) HEARTH_RETURN_IF_ERROR(read_deepseek_moe_hparams(model, hp));
    if (arch_spec && arch_spec->delta_net) {  // Qwen3.5-MoE: one shared expert of its own width
      HEARTH_TRY(hp.n_ff_shexp, get("expert_shared_feed_forward_length", false, hp.n_ff, int64_t{1} << 20));
      hp.n_expert_shared = 1;
    }
    const gguf::Value* lead = model.find(model.arch_key("leading_dense_block_count"));
    if (lead != nullptr) {
      std::optional<int64_t> n = lead->as_int();
      if (!n || *n < 0 || *n > hp.n_layer)
        return make_error("{}: leading_dense_block_count must be an integer in 0..{} (block_count)",
                          model.path(), hp.n_layer);
      hp.n_layer_dense_lead = *n;
    }
  }

  // Sliding windows: a window of 0 would hide a token from itself, so it is refused like a zero.
  const bool has_swa = model.find(model.arch_key("attention.sliding_window")) != nullptr &&
                       !(arch_spec && arch_spec->swa_ignored);
  if (!has_swa && arch_spec && arch_spec->swa_default > 0) {
    hp.n_swa = arch_spec->swa_default;
    hp.swa_layers = swa_layers_from_pattern(hp.n_layer, arch_spec->swa_pattern);
  } else if (!has_swa && arch_spec && arch_spec->swa_pattern > 0 && !arch_spec->swa_optional)
    return make_error("{}: {} is missing ({} has sliding-window layers)", model.path(),
                      model.arch_key("attention.sliding_window"), arch);
  if (has_swa) {
    HEARTH_TRY(hp.n_swa, get("attention.sliding_window", true, 0, int64_t{1} << 24));
    const gguf::Value* pattern = model.find(model.arch_key("attention.sliding_window_pattern"));
    if (pattern == nullptr) {
      hp.swa_layers = swa_layers_from_pattern(hp.n_layer, arch_spec ? arch_spec->swa_pattern : 0);
    } else if (const gguf::Array* flags = pattern->as_array()) {
      if (static_cast<int64_t>(flags->items.size()) != hp.n_layer)
        return make_error("{}: attention.sliding_window_pattern has {} flags for {} layers", model.path(),
                          flags->items.size(), hp.n_layer);
      for (const gguf::Value& f : flags->items) {
        std::optional<bool> b = f.as_bool();
        if (!b) return make_error("{}: attention.sliding_window_pattern must hold booleans", model.path());
        hp.swa_layers.push_back(*b ? 1 : 0);
      }
    } else {
      std::optional<int64_t> n = pattern->as_int();
      if (!n || *n < 0 || *n > hp.n_layer)
        return make_error("{}: attention.sliding_window_pattern must be an integer in 0..{} or one flag "
                          "per layer", model.path(), hp.n_layer);
      hp.swa_layers = swa_layers_from_pattern(hp.n_layer, *n);
    }
  }

  HEARTH_RETURN_IF_ERROR(read_per_layer_inputs(model, arch_spec, hp));

  // Embedding models and rerankers. attention.causal = false: a bidirectional encoder, which
  // only a family built as one (BERT) runs; absent, attention is causal, as llama.cpp reads it.
  if (const gguf::Value* causal = model.find(model.arch_key("attention.causal"))) {
    std::optional<bool> b = causal->as_bool();
    if (!b) return make_error("{}: {} must be a boolean", model.path(), model.arch_key("attention.causal"));
    hp.causal = *b;
    if (!hp.causal && !(arch_spec && (arch_spec->post_norm || arch_spec->bidirectional)))
      return make_error("{}: {} = false (a bidirectional encoder) is supported for BERT-family encoders only, "
                        "not {}", model.path(), model.arch_key("attention.causal"), arch);
  }
  hp.rank_first = arch_spec && arch_spec->rank_first;
  if (arch_spec && arch_spec->bidirectional) hp.causal = false;
  // Dense modules: n_embd -> dense_2_feat_out = dense_3_feat_in -> n_embd (llama.cpp asserts the same).
  if (model.find(model.arch_key("dense_2_feat_out")) != nullptr) {
    HEARTH_TRY(hp.n_dense, get("dense_2_feat_out", true, 0, int64_t{1} << 17));
    HEARTH_TRY(const int64_t in2, get("dense_2_feat_in", false, hp.n_embd, int64_t{1} << 17));
    HEARTH_TRY(const int64_t in3, get("dense_3_feat_in", false, hp.n_dense, int64_t{1} << 17));
    HEARTH_TRY(const int64_t out3, get("dense_3_feat_out", false, hp.n_embd, int64_t{1} << 17));
    if (in2 != hp.n_embd || in3 != hp.n_dense || out3 != hp.n_embd)
      return make_error("{}: the Dense modules must map embedding_length {} to dense_2_feat_out and back "
                        "(dense_2 {} -> {}, dense_3 {} -> {})", model.path(), hp.n_embd, in2, hp.n_dense, in3, out3);
  }
  if (arch_spec && arch_spec->norm == NormKind::kLayer) {
    const std::optional<double> eps = model.get_float(model.arch_key("attention.layer_norm_epsilon"));
    if (!eps || !(*eps > 0) || !(*eps < 1))
      return make_error("{}: {} must be present and in (0, 1)", model.path(),
                        model.arch_key("attention.layer_norm_epsilon"));
    hp.norm_eps = *eps;
  }
  const bool has_token_types =
      arch_spec && std::any_of(arch_spec->globals.begin(), arch_spec->globals.end(),
                               [](const TensorSpec& t) { return t.slot == Slot::kTokenTypes; });
  if (has_token_types) {
    // Only a table of token types has rows to count; llama.cpp refuses a BERT file without it.
    const std::optional<int64_t> types = model.get_int("tokenizer.ggml.token_type_count");
    if (!types || *types < 1 || *types > 1024)
      return make_error("{}: tokenizer.ggml.token_type_count must be present and in 1..1024 ({} needs it)",
                        model.path(), arch);
    hp.n_token_types = *types;
  }
  if (const gguf::Value* pooling = model.find(model.arch_key("pooling_type"))) {
    std::optional<int64_t> p = pooling->as_int();
    if (!p || *p < -1 || *p > 4)
      return make_error("{}: {} must be an integer in -1..4 (llama.cpp's pooling types)", model.path(),
                        model.arch_key("pooling_type"));
    hp.pooling = *p < 0 ? Pooling::kNone : static_cast<Pooling>(*p);  // -1: unspecified (none)
  }
  if (const gguf::Value* labels = model.find(model.arch_key("classifier.output_labels"))) {
    const gguf::Array* a = labels->as_array();
    if (a == nullptr || a->items.empty() || a->items.size() > 1024)
      return make_error("{}: {} must be an array of 1..1024 labels", model.path(),
                        model.arch_key("classifier.output_labels"));
    hp.n_cls_out = static_cast<int64_t>(a->items.size());
  }
  if (hp.pooling == Pooling::kRank) {
    bool has_head = false;
    for (const TensorSpec& t : arch_spec ? arch_spec->globals : std::vector<TensorSpec>{})
      has_head |= t.slot == Slot::kClsOut;
    if (!has_head)
      return make_error("{}: {} = 4 (rank: a reranker) is supported for qwen3 and BERT rerankers only, not {}",
                        model.path(), model.arch_key("pooling_type"), arch);
    if (model.find_tensor("cls.output.weight") == nullptr)
      return make_error("{}: {} = 4 (rank) but the classification head cls.output.weight is missing",
                        model.path(), model.arch_key("pooling_type"));
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
    const int64_t ne0 = dim_value(spec.ne0, hp, layer);
    const int64_t ne1 = dim_value(spec.ne1, hp, layer);
    const int64_t ne2 = dim_value(spec.ne2, hp, layer);
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
  for (const TensorSpec& spec : arch.globals)
    if (spec.in_layer(hp, -1)) HEARTH_RETURN_IF_ERROR(check(spec, -1));
  for (int64_t i = 0; i < hp.n_layer; ++i)
    for (const TensorSpec& spec : arch.per_layer)
      if (spec.in_layer(hp, i)) HEARTH_RETURN_IF_ERROR(check(spec, i));
  return {};
}

}  // namespace hearth
