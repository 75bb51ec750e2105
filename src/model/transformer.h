// The generic forward pass for every family (llama, qwen2/3, MoE, gpt-oss, Gemma, Phi-3, BERT), driven by
// the architecture's switches (model/arch.h), over weights used in place from the model file.
// One pass runs a batch of tokens from any number of sequences over a paged KV cache
// (model/kv_cache.h): every weight matrix is read once per pass, whatever the batch holds. For
// the one-sequence tools (run, perplexity) the transformer can own a cache with a contiguous
// block table sized up front from n_ctx.
//
// A token's result does not depend on what else is in its batch: every matmul output is one dot
// product of a weight row with that token's activations, and attention is per token.
//
// Per layer (pre-norm):  h = x + Wo · attn(rope(Wq·norm(x)), rope(Wk·norm(x)), Wv·norm(x))
//                        x' = h + Wdown · (silu(Wgate·norm(h)) * Wup·norm(h))
// or, in a Mixture-of-Experts layer, x' = h + Σ_{e in top-k(softmax(Wrouter·norm(h)))} w_e · FFN_e(norm(h)),
// where each token's k experts and weights are chosen as llama.cpp chooses them (kernels/ref/moe.h)
// and every expert runs once per pass over the tokens routed to it. Per-layer variations come
// from the family's table and the layer's config: biases, attention sinks and sliding windows,
// the router's gating and the GLU (gpt-oss).
//
// BERT-family encoders (post-norm, ArchSpec::post_norm) run the same blocks in another order:
// x = LayerNorm(tok + type + pos embeddings); per layer x = LN(x + attn(x)), x = LN(x + FFN(x))
// with a GELU FFN. Their attention is bidirectional within each sequence, which a pass computes
// whole from the chunk's own f32 keys and values (no cache, as llama.cpp's encoder pass).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "backend/backend.h"
#include "kernels/ref/ops.h"
#include "model/arch.h"
#include "model/kv_cache.h"
#include "model/model_file.h"

namespace hearth {

// One layer's weights, bound by slot (model/arch.h) and made resident by the backend. Absent
// weights are not present().
struct LayerWeights {
  LayerConfig config;             // attention window, dense or MoE FFN
  Weight attn_norm, attn_norm_b;  // [n_embd] f32 (the bias: LayerNorm families)
  Weight wq, wk, wv, wo;          // [n_embd -> q_dim], [n_embd -> kv_dim] x2, [q_dim -> n_embd]
  Weight bq, bk, bv, bo;          // projection biases (qwen2: q, k, v; gpt-oss: all four)
  Weight q_norm, k_norm;          // [head_dim] per-head RMSNorm (qwen3)
  Weight sinks;                   // [n_head] attention sink logits (gpt-oss)
  Weight ffn_norm, ffn_norm_b;    // [n_embd]
  Weight attn_post_norm, ffn_post_norm;  // [n_embd] (Gemma)
  Weight out_scale;               // [1] the layer's output times this (Gemma 4)
  Weight router_scale;            // [n_embd] the router input's scale (Gemma 4)
  Weight ffn_pre_norm2, ffn_post_norm1, ffn_post_norm2;  // [n_embd] Gemma 4's MoE layers
  Weight down_exps_scale;         // [n_expert] each expert's down output times this (Gemma 4)
  float out_scale_value = 1.0f;   // its value, read at load
  Weight gate, up, down;          // [n_embd -> n_ff] x2, [n_ff -> n_embd]  (dense layers; no gate: GELU(up))
  Weight up_b, down_b;            // [n_ff], [n_embd] (BERT)
  // Mixture-of-Experts layers: the router and, per expert, its slice of the stacked 3-D tensors.
  Weight router;                  // ffn_gate_inp [n_embd -> n_expert]
  Weight router_bias;             // [n_expert] (gpt-oss)
  std::vector<Weight> gate_exps, up_exps, down_exps;  // [n_expert] of n_ff_exp-wide GLUs
  Weight gate_exps_bias, up_exps_bias, down_exps_bias;  // [n_ff_exp | n_embd, n_expert] (gpt-oss)
  // Multi-head Latent Attention (deepseek2): queries by wq or the low-rank wq_a, q_a_norm, wq_b;
  // the latent and its roped part by wkv_a, the latent normed by kv_a_norm; per head, wk_b maps
  // a query's unroped part into the latent space and wv_b the attended latent out to a value.
  Weight wq_a, q_a_norm, wq_b, wkv_a, kv_a_norm;
  std::vector<Weight> wk_b, wv_b;  // [n_head] of [nope -> n_lora_kv], [n_lora_kv -> head_dim_v_mla]
  // DeepSeekMoE: the routing bias (for the choice only) and the shared experts' GLU.
  Weight exp_probs_b;               // [n_expert]
  Weight gate_shexp, up_shexp, down_shexp;
  Weight shexp_gate;  // Qwen3.5-MoE: [n_embd -> 1], the shared expert's output times sigmoid of it
  // Gated DeltaNet (qwen35's recurrent layers): the q, k, v projection and the output gate's
  // (z), the convolution's taps [kernel, channels] f32, the decay's bias and scale, the strength
  // and decay projections, each head's output norm, the output matrix.
  Weight ssm_qkv, ssm_gate, ssm_conv, ssm_dt, ssm_a, ssm_beta, ssm_alpha, ssm_norm, ssm_out;
  // Per-layer embeddings (Gemma 4 E2B/E4B): after the FFN's residual add,
  // x += post_norm(ple_proj · (gelu(ple_gate · x) * this layer's per-layer input)).
  Weight ple_gate, ple_proj;  // [n_embd -> n_pl], [n_pl -> n_embd]
  Weight ple_post_norm;       // [n_embd]
};

struct ModelWeights {
  Weight token_embd;   // [n_embd, n_vocab]
  Weight output_norm;  // [n_embd]
  Weight output;       // [n_embd, n_vocab] (token_embd's bytes when tied)
  Weight rope_freqs;   // [n_rot/2] or absent (llama-3's, or Phi-3's long or short factors)
  Weight rope_long, rope_short;  // Phi-3's LongRoPE factors [n_rot/2], as the file has them
  Weight cls_out, cls_out_bias;  // a reranker's head [n_embd -> n_cls_out] and its bias
  Weight cls, cls_bias;          // a cross-encoder's dense layer before its head [n_embd -> n_embd] (BERT)
  Weight dense2, dense3;         // Dense modules after the pooling [n_embd -> n_dense -> n_embd] (EmbeddingGemma)
  Weight pos_embd, token_types;  // [n_embd, n_ctx_train], [n_embd, n_token_types] (BERT)
  Weight tok_norm, tok_norm_b;   // LayerNorm of the summed embeddings [n_embd] (BERT)
  // Per-layer embeddings (Gemma 4 E2B/E4B): each token's row of n_layer * n_pl, and the projection
  // of its scaled embedding to that width, normed per layer's n_pl.
  Weight ple_tok_embd, ple_model_proj, ple_proj_norm;
  std::vector<LayerWeights> layers;
};

struct TransformerOptions {
  int64_t n_ctx = 0;        // one-sequence KV cache capacity in tokens (0: the model's training context)
  int64_t n_batch = 512;    // most tokens per forward chunk (sizes the scratch buffers)
  int n_threads = 1;
  bool own_kv_cache = true; // false: only forward_batch with a caller's cache (the server)
  // Called with each intermediate activation of a forward chunk ([n_tokens, dim] f32), named as
  // llama.cpp's graph names them ("attn_norm-0", "Qcur-0" after rope, "kqv_out-0", ...), so
  // `hearth logits --dump` and `llama-harness logits --dump` show where two implementations
  // part. Empty (the default): nothing is traced.
  std::function<void(const std::string& name, std::span<const float> values)> on_tensor;
  // Called as the weights are made resident (packed for the CPU's kernels): `done` of `total`
  // steps (the output and head matrices, then each layer), for a progress bar.
  std::function<void(int64_t done, int64_t total)> on_load_progress;
};

// Each layer's place in the KV cache (kv_cache.h): sliding-window layers in the window group,
// K and V rows of n_head_kv heads.
std::vector<KvLayerShape> kv_layer_shapes(const HParams& hp);
// The widest window of the model's sliding-window layers (0: none): what the window group keeps.
int64_t kv_window(const HParams& hp);

class Transformer {
 public:
  static Result<std::unique_ptr<Transformer>> create(const ModelFile& model,
                                                     const TransformerOptions& options);

  const HParams& hparams() const { return hp_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t n_past() const { return n_past_; }
  uint64_t kv_cache_bytes() const { return own_kv_.bytes(); }
  int64_t n_batch() const { return n_batch_; }

  // One sequence in the transformer's own cache: runs `tokens` at positions n_past .. n_past + n - 1
  // and appends them. Writes logits [n, n_vocab] for every token when all_logits, else
  // [1, n_vocab] for the last one.
  Status forward(std::span<const int32_t> tokens, bool all_logits, std::vector<float>& logits);
  // The same, returning final hidden states (after the output norm: what embedding models pool)
  // [n or 1, n_embd] instead of logits.
  Status forward_hidden(std::span<const int32_t> tokens, bool all, std::vector<float>& hidden);

  // Forgets the cached sequence (positions restart at 0).
  void reset() { n_past_ = 0; }
  // Forgets the cached tokens from position n on (speculative decoding's rejected drafts): the
  // next forward continues at n. Their cells are simply overwritten; a sliding-window ring can
  // take back at most one chunk (n_batch tokens), since older tokens the window still needs
  // would have been overwritten by a longer run.
  Status truncate(int64_t n);

  // Any sequences in a caller's paged cache. Writes [batch.n_logits(), n_vocab] to `logits`, one
  // row per token whose output is kLogits, and [n_outputs(kHidden), n_embd] to `hidden`, one row
  // per token whose output is kHidden, each in batch order. Checks ids, positions and block tables.
  Status forward_batch(const Batch& batch, KvCache& kv, float* logits, float* hidden = nullptr);

  // A reranker's class probabilities for a pooled state [n_embd]: its head, its bias, then a
  // softmax in ggml's arithmetic (llama.cpp's qwen3 reranker); probs[0] is the relevance score.
  Status classify(std::span<const float> pooled, std::vector<float>& probs);
  // The model's Dense modules applied to a pooled vector [n_embd], in place (EmbeddingGemma's,
  // as llama.cpp applies them after the pooling); nothing for a model without them.
  void project_pooled(std::vector<float>& pooled);

  // Weight passes run so far (one per forward chunk): what batching saves is counted in these.
  uint64_t passes() const { return passes_; }

  // The backend the weights live on; a KV cache for forward_batch is allocated on it.
  Backend& backend() { return *backend_; }

 private:
  Transformer(const ModelFile& model, const ArchSpec& arch, HParams hp, ModelWeights w,
              const TransformerOptions& options);
  Status check_batch(const Batch& batch, const KvCache& kv) const;
  Status check_encoder_batch(const Batch& batch) const;
  Status check_state_batch(const Batch& batch, const KvCache& kv) const;
  Status forward_own(std::span<const int32_t> tokens, TokenOutput output, bool all, std::vector<float>& out);
  // Tokens [begin, begin + n) of the batch; logits and hidden rows for the tokens that want them.
  // Returns how many of each it wrote.
  std::pair<int64_t, int64_t> forward_chunk(const Batch& batch, int64_t begin, int64_t n, KvCache& kv,
                                            float* logits, float* hidden);
  // The rows of the chunk whose output is `kind`, gathered into proj_ and normed into cur_.
  int64_t final_norm_rows(const Batch& batch, int64_t begin, int64_t n, TokenOutput kind);
  // The family's norm (RMSNorm, or LayerNorm with `bias`) of n rows of x into out (may be x).
  void norm(const Buffer& x, int64_t n, const Weight& w, const Weight& bias, Buffer& out);
  // The rope factors of windowed layers: none where the family keeps them for full layers.
  const Weight& swa_rope_freqs() const { return arch_.rope_freqs_full_only ? no_weight_ : w_.rope_freqs; }
  // proj_ = Wo · attention of the chunk's tokens, their Q, K and V projected from `in`.
  void attention_block(const Batch& batch, int64_t begin, int64_t n, int64_t layer, KvCache& kv, const Buffer& in);
  // ple_ = each token's per-layer inputs [n, n_layer * n_pl] for the chunk (Gemma 4 E2B/E4B),
  // from its embedding in x_ (already scaled).
  void per_layer_inputs(std::span<const int32_t> tokens, int64_t n);
  // x_ += layer il's per-layer embedding block.
  void per_layer_block(const LayerWeights& L, int64_t n, int64_t il);
  // proj_ = the layer's FFN (a GLU, a GELU MLP, or experts) of cur_.
  void ffn_block(const LayerWeights& L, int64_t n, int64_t layer);
  void attention(const Batch& batch, int64_t begin, int64_t n, int64_t layer, KvCache& kv);
  // Multi-head Latent Attention in the absorbed form: queries mapped into the latent space, so
  // attention is MQA over the cached latent; proj_ = Wo · the attended latent mapped out per head.
  void mla_attention_block(const Batch& batch, int64_t begin, int64_t n, int64_t layer, KvCache& kv,
                           const Buffer& in);
  // The cache cells of the chunk's tokens and the positions each token's attention reads.
  void attention_ranges(const Batch& batch, int64_t begin, int64_t n, int64_t layer, KvCache& kv, int64_t window);
  // proj_ [n, n_embd] = the layer's expert mixture for the normed activations in cur_.
  void moe_ffn(const LayerWeights& L, int64_t n, int64_t layer);
  void moe_beside_dense_ffn(const LayerWeights& L, int64_t n, int64_t layer);
  ExpertWeights expert_weights(const LayerWeights& L) const;
  Routing routing(const LayerWeights& L) const;
  void dense_ffn(const LayerWeights& L, int64_t n, int64_t layer);
  // proj_ = a Gated DeltaNet layer of the chunk's tokens over their sequences' recurrent states.
  void delta_net_block(int64_t n, int64_t layer, KvCache& kv, const Buffer& in);
  // Each token's state slot, and the slots of sequences starting at position 0 cleared.
  void prepare_states(const Batch& batch, int64_t begin, int64_t n, KvCache& kv);
  // options.on_tensor with the first `rows` rows of `values`, as "name-layer" (-1: no layer).
  void trace(const char* name, int64_t layer, const Buffer& values, int64_t rows);

  const ArchSpec& arch_;
  HParams hp_;
  std::unique_ptr<Backend> backend_;
  ModelWeights w_;
  Weight no_weight_;  // absent: what swa_rope_freqs() returns when the factors are not theirs
  int64_t n_ctx_;
  int64_t n_batch_;
  int64_t kv_window_;  // kv_window(hp_): what the window group keeps
  std::function<void(const std::string&, std::span<const float>)> on_tensor_;
  int64_t n_past_ = 0;
  uint64_t passes_ = 0;
  ref::RopeParams rope_;
  ref::RopeParams rope_swa_;  // windowed layers' (arch.swa_own_rope: Gemma)
  float q_scale_ = 1.0f;      // the attention scale: on the queries (arch.scale_q) or in the product

  // The one-sequence cache of forward(): n_ctx positions in blocks, table 0, 1, 2, ...; the
  // window group (if any) a ring of blocks, enough for a window and a chunk: table b % ring.
  KvCache own_kv_;
  std::vector<int32_t> own_table_;
  std::vector<int32_t> own_window_table_;
  Batch own_batch_;

  // Activations for one chunk of up to n_batch tokens, on the backend, allocated once.
  std::unique_ptr<Buffer> x_;      // [n_batch, n_embd] residual stream
  std::unique_ptr<Buffer> cur_;    // [n_batch, n_embd] normed input
  // Queries, keys, values and attention output, one set per distinct layer shape (Gemma 4's
  // windowed and full layers differ); layer il uses attn_sets_[attn_set_of_[il]].
  struct AttentionBuffers {
    std::unique_ptr<Buffer> q;     // [n_batch, q_dim]
    std::unique_ptr<Buffer> k;     // [n_batch, kv_dim]
    std::unique_ptr<Buffer> v;     // [n_batch, kv_dim]
    std::unique_ptr<Buffer> out;   // [n_batch, q_dim]
  };
  std::vector<AttentionBuffers> attn_sets_;
  std::vector<size_t> attn_set_of_;
  std::unique_ptr<Buffer> proj_;   // [n_batch, n_embd]
  // A dense FFN's gate and up outputs [n_batch, n_ff], one pair per distinct width (Gemma 4 E2B's
  // shared-KV layers are twice as wide); layer il uses ffn_sets_[ffn_set_of_[il]].
  struct FfnBuffers {
    std::unique_ptr<Buffer> gate, up;
  };
  std::vector<FfnBuffers> ffn_sets_;
  std::vector<size_t> ffn_set_of_;
  // Per-layer embeddings: every layer's inputs [n_batch, n_layer * n_pl], the projection they are
  // mixed with (same shape), and one layer's gate and input [n_batch, n_pl].
  std::unique_ptr<Buffer> ple_, ple_mix_, ple_gate_, ple_layer_;
  std::unique_ptr<Buffer> rope_table_;  // [n_batch, n_rot]
  std::unique_ptr<Buffer> rope_table_swa_;  // [n_batch, n_rot_swa] windowed layers' (arch.swa_own_rope)
  std::unique_ptr<Buffer> router_;      // [n_batch, n_expert] logits, then probabilities (MoE)
  std::unique_ptr<Buffer> moe_buf_;     // [n_batch, n_embd] router input, then expert outputs (Gemma 4)
  std::unique_ptr<Buffer> shexp_gate_, shexp_up_;  // [n_batch, shared experts' width] (DeepSeekMoE, Qwen3.5-MoE)
  std::unique_ptr<Buffer> shexp_logit_;            // [n_batch, 1] the shared expert's gate (Qwen3.5-MoE)
  // MLA: the low-rank query, the queries, the latent with its roped part, the attended latent
  // [n_batch, n_head * n_lora_kv] and the values out of it [n_batch, n_head * head_dim_v_mla].
  std::unique_ptr<Buffer> mla_qa_, mla_q_, mla_kv_, mla_latent_out_, mla_out_;
  // Gated attention (Qwen3.5): the projected queries with their gates [n_batch, 2 q_dim], the
  // gates [n_batch, q_dim]. Gated DeltaNet: the projected and the convolved q, k, v channels,
  // the output gate z and the rule's output [n_batch, value dim], the decay and strength
  // projections [n_batch, value heads].
  std::unique_ptr<Buffer> q_gated_, attn_gate_;
  std::unique_ptr<Buffer> ssm_qkv_, ssm_conv_, ssm_z_, ssm_out_, ssm_alpha_, ssm_beta_;
  DeltaNetShape delta_shape_;
  std::vector<int32_t> token_slots_;      // per token of the chunk, its sequence's state slot
  std::vector<int32_t> token_snapshots_;  // and the slot that takes a snapshot after it (-1: none)
  std::unique_ptr<Buffer> cls_;         // [1, n_cls_out] a reranker's head output
  std::unique_ptr<Buffer> dense_;       // [1, n_dense] the first Dense module's output
  // Plain data of one chunk, on the host: what the backend is told.
  ExpertChoice experts_;
  std::vector<int64_t> output_rows_;  // batch-relative indices of the chunk's tokens of one output kind
  std::vector<int64_t> kv_cells_;    // per token, its cache cell (block * block_size + slot)
  std::vector<AttentionRange> ranges_;  // per token, the positions its attention reads
  std::vector<int32_t> seq_end_;     // an encoder's sequences' lengths in the chunk
  std::vector<RowSpan> spans_;       // per token of an encoder's chunk, the rows its attention reads
  std::vector<int32_t> zeros_;       // token type 0 for each token of the chunk (BERT)
  std::vector<float> trace_;         // a traced activation, read back to the host
};

}  // namespace hearth
