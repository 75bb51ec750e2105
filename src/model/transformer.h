// The generic decoder forward pass for every llama-like family (llama, qwen2, qwen3), driven by
// the architecture's switches (model/arch.h), over weights used in place from the model file,
// with a KV cache for one sequence sized up front.
//
// Per layer (pre-norm):  h = x + Wo · attn(rope(Wq·norm(x)), rope(Wk·norm(x)), Wv·norm(x))
//                        x' = h + Wdown · (silu(Wgate·norm(h)) * Wup·norm(h))
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "kernels/ref/matmul.h"
#include "kernels/ref/ops.h"
#include "model/arch.h"
#include "model/model_file.h"

namespace hearth {

struct LayerWeights {
  TensorView attn_norm;               // [n_embd] f32
  TensorView wq, wk, wv, wo;          // [n_embd -> q_dim], [n_embd -> kv_dim] x2, [q_dim -> n_embd]
  TensorView bq, bk, bv;              // qkv biases (qwen2), data null when absent
  TensorView q_norm, k_norm;          // [head_dim] per-head RMSNorm (qwen3), null when absent
  TensorView ffn_norm;                // [n_embd]
  TensorView gate, up, down;          // [n_embd -> n_ff] x2, [n_ff -> n_embd]
};

struct ModelWeights {
  TensorView token_embd;   // [n_embd, n_vocab]
  TensorView output_norm;  // [n_embd]
  TensorView output;       // [n_embd, n_vocab] (token_embd when tied)
  TensorView rope_freqs;   // [n_rot/2] or null
  std::vector<LayerWeights> layers;
};

struct TransformerOptions {
  int64_t n_ctx = 0;        // KV cache capacity in tokens (0: the model's training context)
  int64_t n_batch = 512;    // most tokens per forward chunk (sizes the scratch buffers)
  int n_threads = 1;
};

class Transformer {
 public:
  static Result<std::unique_ptr<Transformer>> create(const ModelFile& model,
                                                     const TransformerOptions& options);

  const HParams& hparams() const { return hp_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t n_past() const { return n_past_; }
  uint64_t kv_cache_bytes() const { return (k_cache_.size() + v_cache_.size()) * sizeof(uint16_t); }

  // Runs `tokens` at positions n_past .. n_past + n - 1 and appends them to the cache. Writes
  // logits [n, n_vocab] for every token when all_logits, else [1, n_vocab] for the last one.
  Status forward(std::span<const int32_t> tokens, bool all_logits, std::vector<float>& logits);

  // Forgets the cached sequence (positions restart at 0).
  void reset() { n_past_ = 0; }

 private:
  Transformer(const ModelFile& model, const ArchSpec& arch, HParams hp, ModelWeights w,
              const TransformerOptions& options);
  void forward_chunk(const int32_t* tokens, int64_t n, bool all_logits, float* logits);
  void attention(int64_t layer, int64_t n);

  const ArchSpec& arch_;
  HParams hp_;
  ModelWeights w_;
  int64_t n_ctx_;
  int64_t n_batch_;
  int64_t n_past_ = 0;
  ref::RopeParams rope_;
  ThreadPool pool_;
  ref::MatmulScratch matmul_scratch_;

  // KV cache, f16 as llama.cpp keeps it by default: [n_layer, n_ctx, kv_dim].
  std::vector<uint16_t> k_cache_;
  std::vector<uint16_t> v_cache_;

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
  struct AttentionScratch {
    std::vector<float> scores;  // [n_ctx]
    std::vector<float> q16;     // [head_dim] q rounded through f16
    std::vector<double> acc;    // [head_dim]
  };
  std::vector<AttentionScratch> attn_scratch_;  // one per thread
};

}  // namespace hearth
