// Attention of one token's query heads that share a KV head (a GQA group) over positions
// 0 .. n_kv-1 of its sequence in the paged f16 KV cache, with llama.cpp's batched arithmetic
// (flash attention off) to the bit: q and the probabilities enter the f16 products rounded to
// f16; each score q.k and each output sum_j p_j v_j is summed in 16 f32 lanes by fused
// multiply-adds (lane l takes terms l, l+16, ...) and reduced by halving, as tinyBLAS does on
// AVX-512 (kernels/ref/ggml_lanes.h); softmax is ref::softmax (ggml's polynomial expf). The order
// depends only on the position, never on the batch, so results stay batch-invariant.
// The SIMD kernels (kernels/cpu) load each cached K and V row once for the whole group; the
// reference (kernels/ref) is the obvious loop; all give the same bits.
#pragma once

#include <cstdint>
#include <vector>

namespace hearth::kernels {

struct AttentionArgs {
  const float* q = nullptr;                // [group, head_dim] f32
  int64_t group = 1;
  int64_t head_dim = 0;
  // Value (and output) width per head: 0 means head_dim. MLA's values are the first v_dim
  // elements of each key row (v_blocks = k_blocks), its keys head_dim wide.
  int64_t v_dim = 0;
  const uint16_t* const* k_blocks = nullptr;  // per block: its first row, offset to this KV head
  const uint16_t* const* v_blocks = nullptr;
  // Or f32 keys and values, position j's row at k_f32 + j * row_stride (offset to this KV head):
  // an encoder's own chunk, attended without a cache, as llama.cpp's cacheless F32 attention
  // computes it: the same lanes and tree, but nothing rounded to f16 (not q, K, V, nor the
  // probabilities).
  const float* k_f32 = nullptr;
  const float* v_f32 = nullptr;
  int64_t block_size = 0;
  int64_t row_stride = 0;                  // elements between positions in a block (kv_dim)
  int64_t n_kv = 0;
  // Sliding windows: the first n_masked of the n_kv positions score -inf (llama.cpp's mask), so
  // they add exact zeros. A caller skipping older positions passes a range starting at a multiple
  // of 16, which keeps every position in its lane and the results bit-identical to the full range.
  int64_t n_masked = 0;
  // And the last n_tail_masked score -inf too (an encoder's symmetric window, ahead of the query).
  int64_t n_tail_masked = 0;
  // attention_queries_f32 only: query t (at position first_query + t of its sequence) sees the
  // positions within this distance of it (0: all), the rest masked as above.
  int64_t symmetric_window = 0;
  int64_t first_query = 0;
  // Attention sinks (gpt-oss): per head of the group a learned logit that joins the softmax's
  // max and denominator but weighs no value; null when the model has none.
  const float* sinks = nullptr;
  float scale = 1.0f;
  // Gemma 2's logit soft-capping: each score becomes c * tanhf(score * (1 / c)) before the mask
  // and the softmax, as llama.cpp's scale, tanh, scale ops compute it (0: none).
  float softcap = 0.0f;
  float* out = nullptr;                    // [group, v_dim] f32
  int64_t value_dim() const { return v_dim > 0 ? v_dim : head_dim; }
};

// Per-thread buffers, grown when needed (no allocation once warm).
struct AttentionScratch {
  std::vector<float> scores;   // [group, n_kv]
  std::vector<float> q16;      // [group, head_dim] q rounded to f16
  std::vector<float> acc;      // [group, 16, v_dim] lane sums of the outputs
  std::vector<float> kt;       // [head_dim, n_kv rounded up to 16, + 16] f32 keys transposed (attention_queries_*)
  std::vector<float> vf;       // [n_kv, v_dim] the cache's values as f32 (attention_queries_cached)
};

void attention(const AttentionArgs& a, AttentionScratch& s);

// An encoder's attention: n_queries queries over the same f32 keys and values (a.k_f32, a.v_f32),
// query t's heads at a.q + t * q_stride and its output at a.out + t * out_stride. With AVX-512
// the keys are transposed once for all the queries and scored 16 positions at a time, each lane
// sum and halving tree computed vertically in the order attention() computes it horizontally;
// elsewhere it is attention() per query. Either way, attention()'s bits.
void attention_queries_f32(const AttentionArgs& a, int64_t n_queries, int64_t q_stride, int64_t out_stride,
                           AttentionScratch& s);

// A prompt's run over the cache: n_queries consecutive tokens of one sequence, query t seeing its
// first a.n_kv - (n_queries - 1 - t) positions (a describes the last query; nothing masked), its
// heads at a.q + t * q_stride and its output at a.out + t * out_stride. With AVX-512 the cached
// rows are converted once for all the queries (not once per query) and each query is scored 16
// positions at a time, as attention_queries_f32; elsewhere it is attention() per query. Either
// way, attention()'s bits.
void attention_queries_cached(const AttentionArgs& a, int64_t n_queries, int64_t q_stride, int64_t out_stride,
                              AttentionScratch& s);

// One query's attention split among threads so that the cache is read once in all, not once per
// thread (decoding one sequence of an MQA model: MLA's heads all share one latent): scores of
// positions [j0, j1) for every head of the group into scores [group, n_kv]; then the
// probabilities of heads [g0, g1), in place; then output columns [i0, i1) (multiples of 16) of
// every head into a.out. The same operations in the same order as attention(): the same bits.
// Only where attention_split_supported (AVX-512, an f16 cache, values in whole 16-wide chunks).
bool attention_split_supported(const AttentionArgs& a);
void attention_split_scores(const AttentionArgs& a, int64_t j0, int64_t j1, float* scores, AttentionScratch& s);
void attention_split_probabilities(const AttentionArgs& a, int64_t g0, int64_t g1, float* scores);
void attention_split_values(const AttentionArgs& a, const float* probs, int64_t i0, int64_t i1, AttentionScratch& s);

// One instruction-set build of the kernel (for tests): false, doing nothing, when the CPU lacks
// it or the head size does not fit it.
enum class AttentionIsa { kAvx2, kAvx512 };
bool attention_isa(AttentionIsa isa, const AttentionArgs& a, AttentionScratch& s);

// out[i] = fp32_to_fp16(x[i]) (the KV cache append), with F16C where the CPU has it.
void store_f16(const float* x, uint16_t* out, int64_t n);

// In place: x[i] = c * tanhf(x[i] * (1 / c)) for c > 0 (AttentionArgs::softcap); nothing for 0.
void softcap_scores(float* x, int64_t n, float c);

}  // namespace hearth::kernels

namespace hearth::ref {
// The reference: one head at a time, element by element.
void attention(const kernels::AttentionArgs& a, kernels::AttentionScratch& s);
}  // namespace hearth::ref
