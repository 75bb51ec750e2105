// The operations a forward pass is made of, over buffers the model never looks inside. model/
// says what to compute (which weights, which rows, which cache cells, which experts); a backend
// says where and how. The CPU backend (cpu_backend.h, over kernels/) is the first implementation;
// a CUDA backend implements the same class with device memory behind the same handles.
//
// Handles:
//  - Buffer: an activation buffer, [rows, cols] f32, on the backend's device.
//  - Weight: one tensor of the model file as the backend keeps it resident (the CPU reads the
//    mapped file in place or a packed copy; a GPU would upload it). The model sees its shape.
//  - KvPool: paged f16 key/value storage, [layers, blocks, block_size, k_width] for K and
//    [layers, blocks, block_size, v_width] for V (MLA's latent cache: v_width 0, values read
//    from the keys' leading columns).
// Plain data crosses the interface on the host: token ids, positions, the cache cells to write,
// each token's attention range, each token's chosen experts. Logits come back to the host.
//
// CPU guarantees, which the tests hold it to: every result row depends only on its own token
// (batch invariance: the same bits whatever else is in the batch and however many threads run),
// and the dense and MoE families give llama.cpp's logits to the bit where kernels/ says so. A
// device backend must be batch-invariant too; bit-equality with llama.cpp is not asked of it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kernels/ref/ops.h"
#include "tensor/tensor_view.h"

namespace hearth {

// The gated activation of an FFN: act(gate) * up.
enum class GluKind {
  kSwiGLU,     // silu(g) * u
  kSwiGLUOai,  // gpt-oss: g' = min(g, 7), u' = clamp(u, -7, 7), g' * sigmoid(1.702 g') * (u' + 1)
  kGeGLU,      // Gemma: gelu(g) * u, GELU's tanh form (ggml's f16 table: ref::geglu)
};

// How a Mixture-of-Experts router turns its logits into the chosen experts' weights.
enum class ExpertGating {
  kSoftmax,        // softmax over all experts, then the top k (qwen3moe, Mixtral, DeepSeek V2)
  kSoftmaxWeight,  // top k of the (biased) logits, softmax over those k (gpt-oss)
  kSigmoid,        // a sigmoid of each logit, then the top k (DeepSeek V3)
};

// What a weight is used for, which decides how a backend keeps it.
enum class WeightUse : uint8_t {
  kVector,  // f32 norms, biases, sinks, rope factors: read as they are
  kRows,    // looked up by row (token embeddings)
  kMatrix,  // multiplied: y = x · wᵀ
  kExpert,  // an expert's matrix (one slice of a stacked 3-D tensor): llama.cpp's MUL_MAT_ID order
  kRouter,  // an MoE router: f32 routers sum in llama.cpp's 16 lanes (kernels/elementwise.h)
  kHeadMatrix,  // one head's slice of a 3-D tensor (MLA's attn_k_b, attn_v_b): llama.cpp multiplies
                // these unrepacked (tinyBLAS, vec_dot), so the CPU keeps the file's layout
  kConvTaps,    // a short convolution's f32 taps [kernel, channels] (Gated DeltaNet's ssm_conv1d): the
                // CPU keeps them tap-major, so that one token's channels are one vector
};

class Weight {
 public:
  Weight() = default;
  Weight(const TensorView& source, WeightUse use) : source_(source), use_(use) {}

  bool present() const { return source_.data != nullptr; }
  DType type() const { return source_.type; }
  int64_t ne(int i) const { return source_.ne[size_t(i)]; }
  WeightUse use() const { return use_; }

  // For backends only: the file's bytes, and what the backend made of them at load.
  const TensorView& source() const { return source_; }
  const std::shared_ptr<const void>& resident() const { return resident_; }
  void set_resident(std::shared_ptr<const void> r) { resident_ = std::move(r); }

 private:
  TensorView source_;
  WeightUse use_ = WeightUse::kVector;
  std::shared_ptr<const void> resident_;
};

class Buffer {
 public:
  virtual ~Buffer() = default;
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }

 protected:
  Buffer(int64_t rows, int64_t cols) : rows_(rows), cols_(cols) {}

 private:
  int64_t rows_, cols_;
};

class KvPool {
 public:
  virtual ~KvPool() = default;
  int64_t n_layers() const { return n_layers_; }
  int64_t n_blocks() const { return n_blocks_; }
  int64_t block_size() const { return block_size_; }
  int64_t k_width() const { return k_width_; }
  int64_t v_width() const { return v_width_; }
  uint64_t bytes() const {
    return sizeof(uint16_t) * uint64_t(n_layers_ * n_blocks_ * block_size_ * (k_width_ + v_width_));
  }

 protected:
  KvPool(int64_t n_layers, int64_t n_blocks, int64_t block_size, int64_t k_width, int64_t v_width)
      : n_layers_(n_layers), n_blocks_(n_blocks), block_size_(block_size), k_width_(k_width), v_width_(v_width) {}

 private:
  int64_t n_layers_, n_blocks_, block_size_, k_width_, v_width_;
};

// The recurrent state of linear-attention layers (Gated DeltaNet), per layer and slot (a slot is a
// sequence's): the short convolution's window of earlier inputs [conv_width] and the delta
// rule's per-head state [state_width], f32. Unlike KV blocks it is overwritten at every token.
class StatePool {
 public:
  virtual ~StatePool() = default;
  int64_t n_layers() const { return n_layers_; }
  int64_t n_slots() const { return n_slots_; }
  int64_t conv_width() const { return conv_width_; }
  int64_t state_width() const { return state_width_; }
  uint64_t bytes() const { return sizeof(float) * uint64_t(n_layers_ * n_slots_ * (conv_width_ + state_width_)); }

 protected:
  StatePool(int64_t n_layers, int64_t n_slots, int64_t conv_width, int64_t state_width)
      : n_layers_(n_layers), n_slots_(n_slots), conv_width_(conv_width), state_width_(state_width) {}

 private:
  int64_t n_layers_, n_slots_, conv_width_, state_width_;
};

// A Gated DeltaNet layer's shape: n_k_heads query/key heads and n_v_heads value heads (value head
// h reads key head h % n_k_heads, as llama.cpp broadcasts them), each head_dim wide; the
// convolution's kernel width and channels (2 n_k_heads + n_v_heads heads: q, k, v columns).
struct DeltaNetShape {
  int64_t n_k_heads = 0, n_v_heads = 0, head_dim = 0;
  int64_t conv_kernel = 0;
  float eps = 0.0f;  // of the l2 norms of q and k (the model's RMS norm epsilon)
  int64_t channels() const { return (2 * n_k_heads + n_v_heads) * head_dim; }
};

// Where each token of a chunk keeps its recurrent state: its sequence's slot, and a slot that
// takes a copy of the state as it stands just after the token (a snapshot for prefix reuse; -1:
// none). Empty snapshots: none at all.
struct StateRoute {
  std::span<const int32_t> slots;
  std::span<const int32_t> snapshots;
  int32_t snapshot(size_t t) const { return t < snapshots.size() ? snapshots[t] : -1; }
};

// One query token's attention: the cache positions [first, first + n_kv) of its sequence, found
// through `table` (position p is in slot p % block_size of block table[p / block_size]), of which
// the first n_masked score -inf (a sliding window's lead-in; kernels/attention.h).
struct AttentionRange {
  std::span<const int32_t> table;
  int64_t first = 0;
  int64_t n_kv = 0;
  int64_t n_masked = 0;
};

// An encoder token's attention span: rows [first, first + n) of the chunk's own K and V.
struct RowSpan {
  int64_t first = 0;
  int64_t n = 0;
};

// Columns [h * stride + offset, ...) of a row: head h's slice of a wider per-head layout.
struct HeadSlice {
  int64_t stride = 0;
  int64_t offset = 0;
};

struct AttentionShape {
  int64_t n_head = 0, n_head_kv = 0, head_dim = 0;
  float scale = 1.0f;
  float softcap = 0.0f;  // Gemma 2: score = c tanh(score / c) before the softmax (0: none)
  // self_attention only: an encoder's sliding window, centred: a token at p sees positions q
  // with |p - q| <= symmetric_window (0: its whole sequence).
  int64_t symmetric_window = 0;
  // Values narrower than keys: each value row is the first v_dim elements of its key row (MLA's
  // latent; the pool has no values), the output v_dim per head. 0: head_dim, from the values.
  int64_t v_dim = 0;
};

// How a router's logits become each token's k experts and their weights, as llama.cpp's
// build_moe_ffn does it: gating; a selection bias added to the probabilities for choosing only
// (DeepSeek V3's exp_probs_b); group-limited choice (the experts in n_groups equal groups, each
// group scored by the sum of its two best, only the n_groups_used best groups chosen from); then
// the chosen probabilities as weights, divided by their sum when `normalize`, times `scale`.
struct Routing {
  ExpertGating gating = ExpertGating::kSoftmax;
  int64_t k = 0;
  bool normalize = false;
  float scale = 1.0f;
  const Weight* selection_bias = nullptr;  // [n_expert] f32, or null
  int64_t n_groups = 0, n_groups_used = 0;  // 0 or 1 group: no group limit
};

// The experts each token of a chunk goes to, as a router chose them: k (id, weight) pairs per
// token in descending order of probability, and per expert the (token * k + slot) routed to it,
// so each expert runs once over its tokens.
struct ExpertChoice {
  int64_t k = 0;
  std::vector<int32_t> ids;                   // [n_tokens, k]
  std::vector<float> weights;                 // [n_tokens, k]
  std::vector<std::vector<int32_t>> per_expert;
};

// One MoE layer's experts: matrices per expert, biases [dim, n_expert] (absent when the family has none).
struct ExpertWeights {
  std::span<const Weight> gate, up, down;
  const Weight* gate_bias = nullptr;
  const Weight* up_bias = nullptr;
  const Weight* down_bias = nullptr;
  const Weight* down_scale = nullptr;  // [n_expert]: expert e's down output times [e] (Gemma 4)
  GluKind glu = GluKind::kSwiGLU;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // Makes `w` resident as its use asks. `release` is called with the file's view of a weight the
  // backend has copied, so the file's pages can be dropped (weights resident once).
  virtual void load(Weight& w, const std::function<void(const TensorView&)>& release) = 0;
  virtual std::unique_ptr<Buffer> buffer(int64_t rows, int64_t cols) = 0;
  virtual std::unique_ptr<KvPool> kv_pool(int64_t n_layers, int64_t n_blocks, int64_t block_size,
                                          int64_t k_width, int64_t v_width) = 0;
  virtual std::unique_ptr<StatePool> state_pool(int64_t n_layers, int64_t n_slots, int64_t conv_width,
                                                int64_t state_width) = 0;
  // The first `rows` rows of `b` into host memory (traces, tests), and back.
  virtual void read(const Buffer& b, int64_t rows, float* host) = 0;
  virtual void write(Buffer& b, const float* host, int64_t rows) = 0;

  // out[t] = row ids[t] of `table`.
  virtual void embed(const Weight& table, std::span<const int32_t> ids, Buffer& out) = 0;
  // out[r] = x[rows[r]].
  virtual void gather(const Buffer& x, std::span<const int64_t> rows, Buffer& out) = 0;
  // out[t] = rms_norm(x[t]) * w, for t < n (out may be x).
  virtual void rms_norm(const Buffer& x, int64_t n, const Weight& w, float eps, Buffer& out) = 0;
  // out[t] = (x[t] - mean) / sqrt(var + eps) * w + b, for t < n (out may be x; b may be absent).
  virtual void layer_norm(const Buffer& x, int64_t n, const Weight& w, const Weight& b, float eps, Buffer& out) = 0;
  // The same over each head_dim-wide head of x[t], in place (qwen3's q/k norms): the first n_heads
  // heads (0: every whole head of the row; MLA norms the latent ahead of the roped part).
  virtual void head_rms_norm(Buffer& x, int64_t n, int64_t head_dim, const Weight& w, float eps,
                             int64_t n_heads = 0) = 0;
  // Per head h < w.size(): columns xs of x[t] through w[h] into columns ys of y[t], for t < n
  // (MLA's per-head products: queries into the latent space, the latent back out to values).
  virtual void matmul_heads(std::span<const Weight> w, const Buffer& x, HeadSlice xs, int64_t n, Buffer& y,
                            HeadSlice ys) = 0;
  // Columns xs of x[t] copied to columns ys of y[t], n_heads heads of `width`, for t < n.
  virtual void copy_heads(const Buffer& x, HeadSlice xs, int64_t n, int64_t n_heads, int64_t width, Buffer& y,
                          HeadSlice ys) = 0;
  // y[t] = w · x[t]; matmul_pair: two matrices over the same x (an FFN's gate and up).
  virtual void matmul(const Weight& w, const Buffer& x, int64_t n, Buffer& y) = 0;
  virtual void matmul_pair(const Weight& a, const Weight& b, const Buffer& x, int64_t n, Buffer& ya,
                           Buffer& yb) = 0;
  // The output head: logits for n rows, straight into host memory [n, w.ne(1)].
  virtual void matmul_to_host(const Weight& w, const Buffer& x, int64_t n, float* host) = 0;
  // x[t] *= s (Gemma's embedding and query scales).
  virtual void scale(Buffer& x, int64_t n, float s) = 0;
  // x[t][i] *= w[i], elementwise by an f32 vector (Gemma 4's router input scale).
  virtual void mul(Buffer& x, int64_t n, const Weight& w) = 0;
  // y[t] += bias (absent: nothing); x[t] += y[t].
  virtual void add_bias(Buffer& y, int64_t n, const Weight& bias) = 0;
  virtual void add(Buffer& x, const Buffer& y, int64_t n) = 0;
  // x[t] = gelu(x[t]), GELU's tanh form as ggml computes it (ref::gelu): BERT's FFN.
  virtual void gelu(Buffer& x, int64_t n) = 0;
  // gate[t] = glu(gate[t], up[t]).
  virtual void glu(GluKind kind, Buffer& gate, const Buffer& up, int64_t n) = 0;
  // The rotation table of each position, then x[t]'s n_heads heads rotated with row t of it.
  // p.freq_factors is taken from `freq_factors` (absent: none).
  virtual void rope_table(const ref::RopeParams& p, const Weight& freq_factors, std::span<const int32_t> positions,
                          Buffer& table) = 0;
  // Each head is head_dim wide; its p.n_rot dimensions from `offset` rotate (MLA ropes the tail).
  virtual void rope(const ref::RopeParams& p, const Weight& freq_factors, const Buffer& table, Buffer& x, int64_t n,
                    int64_t n_heads, int64_t head_dim, int64_t offset = 0) = 0;
  // Rows t < cells.size() of k and v into layer `layer` of the pool, at cell block * block_size + slot
  // (a pool without values, v_width 0, stores k only: v is not read).
  virtual void kv_store(const Buffer& k, const Buffer& v, KvPool& pool, int64_t layer,
                        std::span<const int64_t> cells) = 0;
  // out[t] = causal attention of q[t] over ranges[t] of layer `layer`, heads grouped GQA-wise;
  // sinks [n_head] (gpt-oss) join each softmax's denominator (absent: none). K and V rows are
  // n_head_kv heads of head_dim (the pool's widths).
  virtual void attention(const Buffer& q, const KvPool& pool, int64_t layer, std::span<const AttentionRange> ranges,
                         const AttentionShape& shape, const Weight& sinks, Buffer& out) = 0;
  // An encoder's attention, with no cache: out[t] = attention of q[t] over rows spans[t] of the
  // chunk's f32 k and v, nothing rounded to f16 (llama.cpp's cacheless attention; kernels/attention.h).
  virtual void self_attention(const Buffer& q, const Buffer& k, const Buffer& v, std::span<const RowSpan> spans,
                              const AttentionShape& shape, Buffer& out) = 0;
  // x[t] *= sigmoid(gate[t]) elementwise (Qwen3.5's gated attention output), or by one number per
  // row when gate has one column (Qwen3.5-MoE's shared expert).
  virtual void sigmoid_mul(Buffer& x, const Buffer& gate, int64_t n) = 0;
  // Every layer's state of slot `slot` set to zero (a sequence starting at position 0), or copied
  // from slot `from` (a sequence resuming from a snapshot).
  virtual void state_clear(StatePool& pool, int64_t slot) = 0;
  virtual void state_copy(StatePool& pool, int64_t from, int64_t slot) = 0;
  // Gated DeltaNet's convolution: x [n, channels] (q, k, v columns) through layer `layer`'s short
  // causal convolution w [channels, kernel] and a SiLU into out; token t continues the window of
  // slot route.slots[t] (a slot's tokens in order), which keeps the last kernel - 1 inputs.
  virtual void delta_conv(const Buffer& x, int64_t n, const Weight& w, StatePool& pool, int64_t layer,
                          const StateRoute& route, const DeltaNetShape& shape, Buffer& out) = 0;
  // The delta rule over the convolved qkv [n, channels] (its q and k heads l2-normed in place):
  // each head's decay g = softplus(alpha + dt_bias) * a and strength sigmoid(beta) from alpha and
  // beta [n, n_v_heads], the slot's state updated token by token (kernels/ref/delta_net.h), out
  // [n, n_v_heads * head_dim].
  virtual void delta_rule(Buffer& qkv, const Buffer& alpha, const Buffer& beta, const Weight& dt_bias,
                          const Weight& a, int64_t n, StatePool& pool, int64_t layer, const StateRoute& route,
                          const DeltaNetShape& shape, Buffer& out) = 0;
  // Router: `logits` [n, n_expert] become probabilities as `routing` says, and the choice is made.
  virtual void select_experts(Buffer& logits, int64_t n, const Routing& routing, ExpertChoice& choice) = 0;
  // out[t] = sum over slot s of weight(t, s) · expert_{id(t, s)}(x[t]), each expert once over its tokens.
  virtual void experts(const ExpertWeights& w, const Buffer& x, int64_t n, const ExpertChoice& choice,
                       Buffer& out) = 0;
};

}  // namespace hearth
