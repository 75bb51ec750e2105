// Model architectures as data: which tensors a family has, their shapes in terms of the
// hyperparameters, and the switches the generic forward pass reads. Adding a family is one entry
// in arch.cpp's table, nothing else.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/backend.h"
#include "base/result.h"
#include "model/model_file.h"

namespace hearth {

// How an embedding model turns a sequence's final hidden states (after the output norm) into
// one vector, numbered as llama.cpp numbers {arch}.pooling_type. kNone: a generator (no
// embeddings are served). kRank: a reranker; the last token's state (llama.cpp's rule for the
// qwen3 rerankers, the only family with a classification head here) goes through the head
// cls.output and a softmax, and the first class's probability is the relevance score.
enum class Pooling : uint8_t { kNone = 0, kMean = 1, kCls = 2, kLast = 3, kRank = 4 };
const char* pooling_name(Pooling p);

// Hyperparameters, read from "{arch}.*" GGUF keys (or mapped from config.json).
struct HParams {
  int64_t n_vocab = 0;       // rows of token_embd
  int64_t n_ctx_train = 0;   // {arch}.context_length
  int64_t n_embd = 0;        // {arch}.embedding_length
  int64_t n_layer = 0;       // {arch}.block_count
  int64_t n_head = 0;        // {arch}.attention.head_count
  int64_t n_head_kv = 0;     // {arch}.attention.head_count_kv (defaults to n_head)
  int64_t head_dim = 0;      // {arch}.attention.key_length (defaults to n_embd / n_head)
  int64_t n_ff = 0;          // {arch}.feed_forward_length (the widest, when it is one per layer)
  std::vector<int64_t> n_ff_arr;  // {arch}.feed_forward_length as an array [n_layer] (Gemma 4 E2B)
  int64_t n_rot = 0;         // {arch}.rope.dimension_count (defaults to head_dim)
  double rope_freq_base = 10000.0;
  double rope_freq_base_swa = 10000.0;  // {arch}.rope.freq_base_swa (families whose windowed layers rope apart)
  double rms_eps = 1e-5;
  double norm_eps = 1e-12;   // {arch}.attention.layer_norm_epsilon: LayerNorm families (BERT)
  double final_logit_softcap = 0.0;     // {arch}.final_logit_softcapping: logits = c tanh(logits / c) (0: none)
  double attn_logit_softcap = 0.0;      // {arch}.attn_logit_softcapping: attention scores likewise (0: none)
  // Mixture of Experts (0 experts: every layer has a dense FFN).
  int64_t n_expert = 0;            // {arch}.expert_count
  int64_t n_expert_used = 0;       // {arch}.expert_used_count: experts each token runs
  int64_t n_ff_exp = 0;            // {arch}.expert_feed_forward_length (defaults to n_ff)
  int64_t n_layer_dense_lead = 0;  // {arch}.leading_dense_block_count: dense layers before the MoE ones
  // Sliding-window attention (0: every layer attends to the whole sequence). A windowed layer's
  // token at position p sees positions p - n_swa + 1 .. p. Which layers are windowed:
  // {arch}.attention.sliding_window_pattern, an integer n (in each group of n layers all but the
  // last are windowed, as llama.cpp reads it) or one flag per layer; the family's default else.
  int64_t n_swa = 0;                // {arch}.attention.sliding_window
  std::vector<uint8_t> swa_layers;  // [n_layer] 1: windowed (empty when n_swa is 0)
  Pooling pooling = Pooling::kNone; // {arch}.pooling_type: embedding models (Qwen3-Embedding: last)
  // {arch}.attention.causal = false: an encoder (BERT), whose tokens attend to their whole
  // sequence, computed in one pass; it pools embeddings and generates nothing.
  bool causal = true;
  int64_t n_token_types = 0;        // tokenizer.ggml.token_type_count: rows of BERT's token_types
  // Rank pooling reads the first token ([CLS]) and the head's logits are the scores (BERT
  // cross-encoders, ArchSpec::rank_first); else the last token and a softmax over the classes.
  bool rank_first = false;
  int64_t n_cls_out = 1;            // classes of a reranker's head: {arch}.classifier.output_labels
  // Sentence-transformers Dense modules after the pooling (EmbeddingGemma): n_embd -> n_dense ->
  // n_embd ({arch}.dense_2_feat_out; 0: none).
  int64_t n_dense = 0;
  // Gemma 4: windowed layers with their own head size and rotated dimensions, and a KV head
  // count per layer. 0 / empty: as head_dim, n_rot and n_head_kv.
  int64_t head_dim_swa = 0;            // {arch}.attention.key_length_swa
  int64_t n_rot_swa = 0;               // {arch}.rope.dimension_count_swa
  std::vector<int64_t> n_head_kv_arr;  // {arch}.attention.head_count_kv as an array [n_layer]
  // Gemma 4 E2B/E4B. Per-layer embeddings: every token also looks up n_embd_per_layer numbers
  // per layer ({arch}.embedding_length_per_layer_input), mixed with a projection of its
  // embedding and fed to each layer after its FFN. Shared-KV layers: the last n_kv_shared layers
  // ({arch}.attention.shared_kv_layers) compute no keys or values and attend over an earlier
  // layer's cache (the last full or the last windowed layer that has one, as its own kind is).
  int64_t n_embd_per_layer = 0;
  int64_t n_kv_shared = 0;
  // Multi-head Latent Attention (deepseek2). Keys and values come from one latent per token:
  // n_lora_kv wide ({arch}.attention.kv_lora_rank), normed, plus n_rot roped dimensions shared by
  // every head. Queries go through a rank-n_lora_q path ({arch}.attention.q_lora_rank; 0: one
  // matrix). Per head, a query or key is head_dim_k_mla wide (key_length_mla: head_dim_k_mla -
  // n_rot "nope" dimensions, then n_rot roped) and a value head_dim_v_mla (value_length_mla).
  // The cache holds the latent only: one KV head of head_dim = n_lora_kv + n_rot (key_length),
  // whose first n_lora_kv columns are also the values (value_length).
  int64_t n_lora_q = 0, n_lora_kv = 0, head_dim_k_mla = 0, head_dim_v_mla = 0;
  // DeepSeekMoE: n_expert_shared experts every token runs beside the routed ones; the router's
  // gating ({arch}.expert_gating_func; else the family's), the chosen weights normalised to sum 1
  // ({arch}.expert_weights_norm) and scaled ({arch}.expert_weights_scale); group-limited routing
  // ({arch}.expert_group_count groups, expert_group_used_count of them chosen from).
  int64_t n_expert_shared = 0;
  // The shared experts' width when the file gives it ({arch}.expert_shared_feed_forward_length:
  // Qwen3.5-MoE's one shared expert); 0: n_expert_shared experts of n_ff_exp (DeepSeekMoE).
  int64_t n_ff_shexp = 0;
  int64_t ffn_shexp_width() const { return n_ff_shexp > 0 ? n_ff_shexp : n_ff_exp * n_expert_shared; }
  ExpertGating gating = ExpertGating::kSoftmax;
  bool expert_weights_norm = false;
  double expert_weights_scale = 1.0;
  int64_t n_expert_groups = 0, n_group_used = 0;
  // YaRN's attention scale for DeepSeek ({arch}.rope.scaling.yarn_log_multiplier, which the
  // converter writes as 0.1 * mscale_all_dim).
  double rope_yarn_log_mul = 0.0;
  int64_t n_layer_nextn = 0;  // {arch}.nextn_predict_layers: multi-token-prediction layers after the trunk (skipped)
  // Gated DeltaNet layers (qwen35): linear attention over a fixed-size state instead of a KV
  // cache. n_k_heads query/key heads ({arch}.ssm.group_count) and n_v_heads value heads
  // ({arch}.ssm.time_step_rank), all ssm_head_dim wide ({arch}.ssm.state_size; ssm.inner_size =
  // n_v_heads * ssm_head_dim); a short causal convolution of ssm_conv_kernel taps
  // ({arch}.ssm.conv_kernel) over the q, k and v channels. Which layers: {arch}.attention.
  // recurrent_layers (one flag per layer) or all but every full_attention_interval-th.
  int64_t ssm_conv_kernel = 0, ssm_n_k_heads = 0, ssm_n_v_heads = 0, ssm_head_dim = 0;
  std::vector<uint8_t> recurrent_layers;  // [n_layer] 1: a Gated DeltaNet layer (empty: none)
  // Multimodal rope sections ({arch}.rope.dimension_sections): for text every section sees the
  // token's position, so rope is the plain NeoX rotation (the file is checked for that).
  std::vector<int64_t> rope_sections;

  bool is_mla() const { return n_lora_kv > 0; }
  bool layer_is_recurrent(int64_t layer) const {
    return static_cast<size_t>(layer) < recurrent_layers.size() && recurrent_layers[size_t(layer)] != 0;
  }
  bool has_recurrent_layers() const {
    return std::find(recurrent_layers.begin(), recurrent_layers.end(), uint8_t{1}) != recurrent_layers.end();
  }
  int64_t ssm_value_dim() const { return ssm_n_v_heads * ssm_head_dim; }
  int64_t ssm_channels() const { return (2 * ssm_n_k_heads + ssm_n_v_heads) * ssm_head_dim; }
  // Floats of one recurrent layer's state per sequence: the convolution's window (kernel - 1
  // inputs per channel) and the delta rule's state (a head_dim x head_dim matrix per value head).
  int64_t ssm_conv_state() const { return (ssm_conv_kernel - 1) * ssm_channels(); }
  int64_t ssm_state() const { return ssm_n_v_heads * ssm_head_dim * ssm_head_dim; }
  int64_t head_dim_nope() const { return head_dim_k_mla - n_rot; }
  // The width of the values the KV cache stores: none for MLA (its values are the latent, the
  // leading columns of its keys' rows).
  int64_t layer_cache_v_width(int64_t layer) const { return is_mla() ? 0 : layer_kv_dim(layer); }

  int64_t q_dim() const { return n_head * head_dim; }      // rows of attn_q
  int64_t kv_dim() const { return n_head_kv * head_dim; }  // rows of attn_k / attn_v
  bool layer_is_moe(int64_t layer) const { return n_expert > 0 && layer >= n_layer_dense_lead; }
  bool layer_is_swa(int64_t layer) const {
    return n_swa > 0 && static_cast<size_t>(layer) < swa_layers.size() && swa_layers[size_t(layer)] != 0;
  }
  // Layer `layer`'s attention shape (every layer the same but in Gemma 4).
  int64_t layer_head_dim(int64_t layer) const {
    return head_dim_swa > 0 && layer_is_swa(layer) ? head_dim_swa : head_dim;
  }
  int64_t layer_n_rot(int64_t layer) const { return n_rot_swa > 0 && layer_is_swa(layer) ? n_rot_swa : n_rot; }
  int64_t layer_n_head_kv(int64_t layer) const {
    return static_cast<size_t>(layer) < n_head_kv_arr.size() ? n_head_kv_arr[size_t(layer)] : n_head_kv;
  }
  int64_t layer_q_dim(int64_t layer) const { return n_head * layer_head_dim(layer); }
  int64_t layer_n_ff(int64_t layer) const {
    return static_cast<size_t>(layer) < n_ff_arr.size() ? n_ff_arr[size_t(layer)] : n_ff;
  }
  // The layer whose keys and values layer `layer` attends over: itself, or for a shared-KV layer
  // the last layer before the shared ones of its own kind (llama.cpp's rule: the layer before
  // them for a full layer, the one before that for a windowed one).
  int64_t layer_kv_source(int64_t layer) const {
    const int64_t first_shared = n_layer - n_kv_shared;
    if (n_kv_shared == 0 || layer < first_shared) return layer;
    return first_shared - (layer_is_swa(layer) ? 2 : 1);
  }
  bool layer_has_kv(int64_t layer) const { return layer_kv_source(layer) == layer; }
  int64_t layer_kv_dim(int64_t layer) const { return layer_n_head_kv(layer) * layer_head_dim(layer); }
};

// The per-layer shape the forward pass loops over, built from the hyperparameters.
enum class AttentionKind { kFull, kSlidingWindow, kRecurrent };  // kRecurrent: Gated DeltaNet
enum class FfnKind { kDense, kMoe };
struct LayerConfig {
  AttentionKind attention = AttentionKind::kFull;
  int64_t window = 0;  // positions a sliding-window layer sees, its own included
  FfnKind ffn = FfnKind::kDense;
};
LayerConfig layer_config(const HParams& hp, int64_t layer);

// The flags llama.cpp derives from a pattern n: in each group of n layers all but the last are
// windowed (n = 0: all of them).
std::vector<uint8_t> swa_layers_from_pattern(int64_t n_layer, int64_t pattern);

// The most experts a file may declare: above every released model (DeepSeek V3 256, Qwen3-Next
// 512), low enough that per-expert bookkeeping stays small for a hostile file.
constexpr int64_t kMaxExperts = 512;

// A tensor dimension as a function of the hyperparameters.
enum class Dim { kOne, kEmbd, kVocab, kQ, kKV, kFF, kHeadDim, kRotHalf, kExpert, kFFExp, kHead,
                 kQKV,   // q_dim + 2 kv_dim: fused Q, K and V rows (Phi-3)
                 kFF2,   // 2 n_ff: fused gate and up rows (Phi-3)
                 kClsOut,    // n_cls_out: a reranker's classes
                 kCtxTrain,  // n_ctx_train: rows of learned position embeddings (BERT)
                 kTokenTypes,  // n_token_types
                 kDense,       // n_dense
                 kFFExp2,      // 2 n_ff_exp: fused expert gate and up rows (Gemma 4)
                 // MLA (deepseek2): the query rank, the latent, the latent with its roped part,
                 // all heads' queries, one head's unroped query part, one head's value, all values.
                 kLoraQ, kLoraKv, kKvAMqa, kQMla, kHeadNope, kHeadVMla, kVMla,
                 kFFShexp,   // the shared experts' width (HParams::ffn_shexp_width)
                 kQGate,     // 2 q_dim: each head's query and its output gate (Qwen3.5)
                 // Gated DeltaNet: the convolution's taps, its channels (q, k, v), the values, the
                 // value heads, one head's width.
                 kSsmConvKernel, kSsmChannels, kSsmValue, kSsmVHeads, kSsmHeadDim,
                 // Per-layer embeddings (Gemma 4 E2B): one layer's width, and every layer's.
                 kPle, kPleAll };

// What a tensor is for. The forward pass binds weights by slot, so a family that names a tensor
// differently (gpt-oss calls the FFN's input norm post_attention_norm) changes only its table.
enum class Slot {
  kTokenEmbd, kOutputNorm, kOutput, kRopeFreqs,
  kRopeLong, kRopeShort,  // Phi-3's LongRoPE factors: long above the original context, else short
  kWqkv, kGateUp,         // Phi-3's fused matrices, split at load into Wq/Wk/Wv and gate/up (views)
  kAttnNorm, kWq, kWk, kWv, kWo, kBq, kBk, kBv, kBo, kQNorm, kKNorm, kSinks,
  kFfnNorm, kGate, kUp, kDown,
  kAttnPostNorm, kFfnPostNorm,  // Gemma: RMSNorm of the attention and FFN outputs before the residual add
  kRouter, kRouterBias, kGateExps, kUpExps, kDownExps, kGateExpsBias, kUpExpsBias, kDownExpsBias,
  kClsOut, kClsOutBias,   // a reranker's classification head (Qwen3-Reranker: the "yes" and "no" rows)
  // BERT-family encoders: learned positions and token types added to the token embeddings, a
  // LayerNorm (weight and bias) over their sum, biases of the norms and of a plain (ungated)
  // FFN, and a cross-encoder's dense layer (cls) before its head.
  kPosEmbd, kTokenTypes, kTokenEmbdNorm, kTokenEmbdNormBias, kAttnNormBias, kFfnNormBias, kUpBias, kDownBias,
  kCls, kClsBias,
  kDense2, kDense3,  // EmbeddingGemma's Dense modules applied to the pooled vector
  kLayerOutScale,    // Gemma 4: one number each layer's output is multiplied by
  // Gemma 4's MoE layers: a dense FFN beside the experts, each with its own norms; the router
  // reads the RMS-normed input times a learned scale; experts' gate and up rows in one tensor
  // (gate rows first); a scale per expert on its down projection.
  kRouterScale, kFfnPreNorm2, kFfnPostNorm1, kFfnPostNorm2, kGateUpExps, kDownExpsScale,
  // MLA: the query's low-rank path and its norm, the latent's projection (with the roped part)
  // and norm, per-head key and value maps out of the latent [3-D: per head].
  kWqA, kQANorm, kWqB, kWkvA, kKvANorm, kWkB, kWvB,
  // DeepSeekMoE: the routing bias (choice only) and the shared experts' GLU.
  kExpProbsB, kGateShexp, kUpShexp, kDownShexp,
  kShexpGate,  // Qwen3.5-MoE: the shared expert's output gate [n_embd -> 1], through a sigmoid
  // Gated DeltaNet: the q, k, v projection (convolved), the output gate's projection (z), the
  // convolution's taps, the decay's bias and scale (dt, a = -exp(A_log)), the write strength's and
  // decay's projections (beta, alpha), the gated norm of each head's output, the output matrix.
  kSsmQkv, kSsmGate, kSsmConv, kSsmDt, kSsmA, kSsmBeta, kSsmAlpha, kSsmNorm, kSsmOut,
  // Per-layer embeddings (Gemma 4 E2B/E4B): the table [n_layer * n_pl per token], the projection
  // of the token's embedding to the same width and its norm (per layer's n_pl); in each layer the
  // gate [n_embd -> n_pl], the projection back [n_pl -> n_embd] and its norm.
  kPleTokEmbd, kPleModelProj, kPleProjNorm, kPleInpGate, kPleProj, kPlePostNorm,
};

// Which layers have a per-layer tensor: all, those with a dense FFN, or those with experts; or
// every layer of a file with (kQLora) or without (kNoQLora) MLA's low-rank query path.
// kRecurrent and kAttention: a hybrid model's Gated DeltaNet layers, or its attention layers.
// kOwnKv: the layers that compute their own keys (all but Gemma 4's shared-KV layers); kPle:
// every layer (or the file, for a global) of a model with per-layer embeddings.
enum class Layers { kAll, kDense, kMoe, kQLora, kNoQLora, kRecurrent, kAttention, kOwnKv, kPle };

struct TensorSpec {
  Slot slot;
  std::string_view name;  // GGUF name; "{i}" is the layer index for per-layer tensors
  Dim ne0;                // row length (innermost)
  Dim ne1;                // rows (kOne for 1-D tensors)
  bool required;
  Dim ne2 = Dim::kOne;    // experts, for 3-D expert tensors [ne0, ne1, n_expert]
  Layers layers = Layers::kAll;

  int n_dims() const { return ne2 != Dim::kOne ? 3 : ne1 != Dim::kOne ? 2 : 1; }
  bool in_layer(const HParams& hp, int64_t layer) const;
};

enum class RopeStyle { kNormal, kNeox };  // adjacent pairs (llama) vs halves (qwen, HF rotate_half)
enum class NormKind { kRms, kLayer };      // RMSNorm (decoders) or LayerNorm with a bias (BERT)

// ExpertGating and GluKind: backend/backend.h (the backend computes them).

struct ArchSpec {
  std::string_view name;              // general.architecture
  std::vector<TensorSpec> globals;    // token_embd, output_norm, output, rope_freqs
  std::vector<TensorSpec> per_layer;  // blk.{i}.*
  RopeStyle rope_style;
  bool qkv_bias;                      // qwen2
  bool qk_norm;                       // qwen3: RMSNorm on each head of Q and K
  bool requires_experts = false;      // qwen3moe: expert_count must be present
  ExpertGating gating = ExpertGating::kSoftmax;
  GluKind glu = GluKind::kSwiGLU;
  // Sliding windows: 0, none; else the family's window layer pattern when the file gives none,
  // and attention.sliding_window must be present.
  int64_t swa_pattern = 0;
  std::string_view alias = {};        // another spelling of `name` (Ollama's "gptoss")
  // Gemma: embeddings times sqrt(n_embd); queries times the attention scale before the product
  // (which then scales by 1); windowed layers rope with rope.freq_base_swa and no scaling; a
  // file without attention.sliding_window has no windowed layers.
  bool embd_scale = false;
  bool scale_q = false;
  bool swa_own_rope = false;
  bool swa_optional = false;
  // Gemma 2: a window of swa_default when the file gives none; soft-capping of attention scores
  // and logits by default; the query scale 1/sqrt(n_embd / n_head) instead of 1/sqrt(head_dim)
  // at q_scale_embd_layers layers (the 27B shapes; 0: never).
  int64_t swa_default = 0;
  double attn_softcap_default = 0.0;
  double final_softcap_default = 0.0;
  int64_t q_scale_embd_layers = 0;
  // Phi-3: attention.sliding_window is ignored, as llama.cpp ignores it (its converters write
  // windows the models were not run with).
  bool swa_ignored = false;
  // BERT-family encoders: LayerNorms; each layer norms after its residual adds (attn_norm follows
  // the attention's, ffn_norm the FFN's: post-norm) and the token embeddings are normed before
  // the first; learned absolute positions instead of rope (absolute_positions); no output head.
  // Whether attention is bidirectional is the file's {arch}.attention.causal (HParams::causal).
  NormKind norm = NormKind::kRms;
  bool post_norm = false;
  bool absolute_positions = false;
  bool rank_first = false;  // HParams::rank_first
  // EmbeddingGemma: attention is bidirectional whatever attention.causal says (llama.cpp's rule
  // for the family), and its sliding windows are then symmetric: |p - q| <= window / 2.
  bool bidirectional = false;
  // Gemma 4: Q and K are RMS-normed, so scores are not scaled (1, not 1/sqrt(head_dim)); V is
  // RMS-normed per head without a weight; a layer without attn_v uses its keys as values (taken
  // before K's norm and rope); rope_freqs (its "proportional" rope) applies to full layers only.
  bool unit_attention_scale = false;
  bool v_norm = false;
  bool rope_freqs_full_only = false;
  // Gemma 4's MoE layers: the dense FFN and the experts both run on the attention's output, each
  // normed before and after, and their sum is the FFN's output; the router reads that output
  // RMS-normed, scaled by 1/sqrt(n_embd) and by ffn_gate_inp.scale.
  bool moe_beside_dense = false;
  // Gemma 4 E2B/E4B: per-layer embeddings and shared-KV layers (HParams::n_embd_per_layer,
  // n_kv_shared) may be set; other families refuse files that set them.
  bool per_layer_inputs = false;
  // DeepSeek V2/V3 (deepseek2): Multi-head Latent Attention (HParams::is_mla, required), and
  // DeepSeekMoE: shared experts, and the router's gating, weight norm and scale and expert groups
  // read from the file (other families: `gating`, weights normalised under softmax gating).
  bool mla = false;
  // Qwen3.5 (qwen35): Gated DeltaNet layers among the attention layers (HParams::recurrent_layers),
  // and attention layers whose queries come with a per-head output gate (attn_q is twice q_dim:
  // each head's query, then its gate; the attention's output times sigmoid(gate)).
  bool delta_net = false;
  bool gated_attention = false;
};

const ArchSpec* find_arch(std::string_view name);
std::vector<std::string_view> known_archs();

// A dimension's value; for a layer's tensor (layer >= 0) with that layer's attention shape.
int64_t dim_value(Dim dim, const HParams& hp, int64_t layer = -1);
std::string layer_tensor_name(std::string_view pattern, int64_t layer);

// Reads and validates the hyperparameters of `model` (n_head divides n_embd unless head_dim is
// given, context > 0, ...). n_vocab comes from token_embd or the tokenizer.
Result<HParams> read_hparams(const ModelFile& model);

// Checks every required tensor exists with the shape the hyperparameters imply, and that no
// tensor has an unexpected shape. Errors name the tensor, the expected and the found shape.
Status validate_tensors(const ModelFile& model, const ArchSpec& arch, const HParams& hp);

}  // namespace hearth
