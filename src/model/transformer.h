// The generic decoder forward pass for every llama-like family (llama, qwen2, qwen3), driven by
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
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kernels/ref/matmul.h"
#include "kernels/ref/ops.h"
#include "model/arch.h"
#include "model/kv_cache.h"
#include "model/model_file.h"

namespace hearth {

// One layer's weights, bound by slot (model/arch.h). Views whose data is null are absent.
struct LayerWeights {
  LayerConfig config;                 // attention window, dense or MoE FFN
  TensorView attn_norm;               // [n_embd] f32
  kernels::Matrix wq, wk, wv, wo;     // [n_embd -> q_dim], [n_embd -> kv_dim] x2, [q_dim -> n_embd]
  TensorView bq, bk, bv, bo;          // projection biases (qwen2: q, k, v; gpt-oss: all four)
  TensorView q_norm, k_norm;          // [head_dim] per-head RMSNorm (qwen3)
  TensorView sinks;                   // [n_head] attention sink logits (gpt-oss)
  TensorView ffn_norm;                // [n_embd]
  kernels::Matrix gate, up, down;     // [n_embd -> n_ff] x2, [n_ff -> n_embd]  (dense layers)
  // Mixture-of-Experts layers: the router and, per expert, its slice of the stacked 3-D tensors.
  TensorView router;                  // ffn_gate_inp [n_embd -> n_expert]
  TensorView router_bias;             // [n_expert] (gpt-oss)
  std::vector<kernels::Matrix> gate_exps, up_exps, down_exps;  // [n_expert] of n_ff_exp-wide GLUs
  TensorView gate_exps_bias, up_exps_bias, down_exps_bias;     // [n_ff_exp | n_embd, n_expert] (gpt-oss)
};

struct ModelWeights {
  TensorView token_embd;   // [n_embd, n_vocab]
  TensorView output_norm;  // [n_embd]
  kernels::Matrix output;  // [n_embd, n_vocab] (token_embd when tied)
  TensorView rope_freqs;   // [n_rot/2] or null
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
};

// The KV cache group of each layer (kv_cache.h): sliding-window layers in the window group.
std::vector<KvGroup> kv_layer_groups(const HParams& hp);
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

  // Forgets the cached sequence (positions restart at 0).
  void reset() { n_past_ = 0; }

  // Any sequences in a caller's paged cache. Writes [batch.n_logits(), n_vocab] to `logits`, one
  // row per token with want_logits, in batch order. Checks ids, positions and block tables.
  Status forward_batch(const Batch& batch, KvCache& kv, float* logits);

  // Weight passes run so far (one per forward chunk): what batching saves is counted in these.
  uint64_t passes() const { return passes_; }

 private:
  Transformer(const ModelFile& model, const ArchSpec& arch, HParams hp, ModelWeights w,
              const TransformerOptions& options);
  Status check_batch(const Batch& batch, const KvCache& kv) const;
  // Tokens [begin, begin + n) of the batch; logits rows for the wanted ones.
  void forward_chunk(const Batch& batch, int64_t begin, int64_t n, KvCache& kv, float* logits);
  void attention(const Batch& batch, int64_t begin, int64_t n, int64_t layer, const KvCache& kv);
  // out[r] = the arch's GLU of gate[r] and up[r], for rows of n_ff.
  void glu(float* gate, const float* up, int64_t rows, int64_t n_ff) const;
  // proj_ [n, n_embd] = the layer's expert mixture for the normed activations in cur_.
  void moe_ffn(const LayerWeights& L, int64_t n, int64_t layer);
  // options.on_tensor with the first `count` values of `values`, as "name-layer" (-1: no layer).
  void trace(const char* name, int64_t layer, const std::vector<float>& values, int64_t count) const;

  const ArchSpec& arch_;
  HParams hp_;
  ModelWeights w_;
  int64_t n_ctx_;
  int64_t n_batch_;
  int64_t kv_window_;  // kv_window(hp_): what the window group keeps
  std::function<void(const std::string&, std::span<const float>)> on_tensor_;
  int64_t n_past_ = 0;
  uint64_t passes_ = 0;
  ref::RopeParams rope_;
  ThreadPool pool_;
  ref::MatmulScratch matmul_scratch_;

  // The one-sequence cache of forward(): n_ctx positions in blocks, table 0, 1, 2, ...; the
  // window group (if any) a ring of blocks, enough for a window and a chunk: table b % ring.
  KvCache own_kv_;
  std::vector<int32_t> own_table_;
  std::vector<int32_t> own_window_table_;
  Batch own_batch_;

  // Activations for one chunk of up to n_batch tokens, allocated once.
  std::vector<float> x_;      // [n_batch, n_embd] residual stream
  std::vector<float> cur_;    // [n_batch, n_embd] normed input
  std::vector<float> q_;      // [n_batch, q_dim]
  std::vector<float> k_;      // [n_batch, kv_dim]
  std::vector<float> v_;      // [n_batch, kv_dim]
  std::vector<float> attn_;   // [n_batch, q_dim]
  std::vector<float> proj_;   // [n_batch, n_embd]
  std::vector<float> gate_;   // [n_batch, n_ff]
  std::vector<float> up_;     // [n_batch, n_ff]
  std::vector<float> rope_cache_;  // [n_batch, n_rot]
  // Mixture of Experts, for one chunk.
  std::vector<float> router_;           // [n_batch, n_expert] logits, then probabilities
  std::vector<int32_t> expert_ids_;     // [n_batch, n_expert_used]
  std::vector<float> expert_weights_;   // [n_batch, n_expert_used]
  std::vector<std::vector<int32_t>> expert_rows_;  // per expert: the (token * n_used + slot) routed to it
  std::vector<float> expert_in_;        // [n_batch, n_embd] the rows routed to one expert
  std::vector<float> expert_down_;      // [n_batch, n_embd] that expert's outputs
  std::vector<float> expert_out_;       // [n_batch, n_expert_used, n_embd] weighted expert outputs
  std::vector<int64_t> logit_rows_;  // batch-relative indices of the chunk's wanted tokens
  struct AttentionScratch {
    kernels::AttentionScratch kernel;
    std::vector<const uint16_t*> k_blocks, v_blocks;  // the sequence's blocks, offset to the KV head
  };
  std::vector<AttentionScratch> attn_scratch_;  // one per thread
};

}  // namespace hearth
