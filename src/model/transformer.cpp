#include "model/transformer.h"

#include <algorithm>
#include <cmath>

#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "kernels/ref/moe.h"
#include "tensor/quant.h"

namespace hearth {
namespace {

TensorView optional_tensor(const ModelFile& m, const std::string& name) {
  const ModelTensor* t = m.find_tensor(name);
  return t ? t->view : TensorView{};
}

// Norms, biases and rope factors are used as f32 arrays directly.
Status require_f32(const ModelFile& m, const TensorView& v, const std::string& name) {
  if (v.data != nullptr && v.type != DType::F32)
    return make_error("{}: tensor '{}' is {}, expected f32 for a 1-D tensor", m.path(), name,
                      dtype_name(v.type));
  return {};
}

// Expert e of a stacked [ne0, ne1, n_expert] tensor, as a 2-D view of the same bytes (the shape
// was validated against the hyperparameters, so the slices lie inside the tensor).
std::vector<kernels::Matrix> expert_slices(const TensorView& stacked) {
  std::vector<kernels::Matrix> experts;
  const uint64_t bytes = *row_bytes(stacked.type, static_cast<uint64_t>(stacked.ne[0])) *
                         static_cast<uint64_t>(stacked.ne[1]);
  for (int64_t e = 0; e < stacked.ne[2]; ++e) {
    TensorView v = stacked;
    v.n_dims = 2;
    v.ne = {stacked.ne[0], stacked.ne[1], 1, 1};
    v.data = static_cast<const uint8_t*>(stacked.data) + static_cast<uint64_t>(e) * bytes;
    v.n_bytes = bytes;
    experts.emplace_back(v, ref::KSums::kSuperBlocks);  // llama.cpp's MUL_MAT_ID order (vec_dot.h)
  }
  return experts;
}

// Every weight matrix of a layer, dense or expert: what packing and type checks walk.
std::vector<kernels::Matrix*> layer_matrices(LayerWeights& l) {
  std::vector<kernels::Matrix*> all = {&l.wq, &l.wk, &l.wv, &l.wo};
  if (l.gate_exps.empty()) {
    all.insert(all.end(), {&l.gate, &l.up, &l.down});
  } else {
    for (auto* experts : {&l.gate_exps, &l.up_exps, &l.down_exps})
      for (kernels::Matrix& m : *experts) all.push_back(&m);
  }
  return all;
}

// The f32 view a non-matrix slot binds to (norms, biases, sinks, rope factors), or null for a
// matrix slot.
TensorView* view_slot(ModelWeights& w, LayerWeights* l, Slot slot) {
  switch (slot) {
    case Slot::kTokenEmbd: return &w.token_embd;
    case Slot::kOutputNorm: return &w.output_norm;
    case Slot::kRopeFreqs: return &w.rope_freqs;
    default: break;
  }
  if (l == nullptr) return nullptr;
  switch (slot) {
    case Slot::kAttnNorm: return &l->attn_norm;
    case Slot::kBq: return &l->bq;
    case Slot::kBk: return &l->bk;
    case Slot::kBv: return &l->bv;
    case Slot::kBo: return &l->bo;
    case Slot::kQNorm: return &l->q_norm;
    case Slot::kKNorm: return &l->k_norm;
    case Slot::kSinks: return &l->sinks;
    case Slot::kFfnNorm: return &l->ffn_norm;
    case Slot::kRouter: return &l->router;
    case Slot::kRouterBias: return &l->router_bias;
    case Slot::kGateExpsBias: return &l->gate_exps_bias;
    case Slot::kUpExpsBias: return &l->up_exps_bias;
    case Slot::kDownExpsBias: return &l->down_exps_bias;
    default: return nullptr;
  }
}

void bind_matrix(LayerWeights& l, Slot slot, const TensorView& v) {
  switch (slot) {
    case Slot::kWq: l.wq = kernels::Matrix(v); break;
    case Slot::kWk: l.wk = kernels::Matrix(v); break;
    case Slot::kWv: l.wv = kernels::Matrix(v); break;
    case Slot::kWo: l.wo = kernels::Matrix(v); break;
    case Slot::kGate: l.gate = kernels::Matrix(v); break;
    case Slot::kUp: l.up = kernels::Matrix(v); break;
    case Slot::kDown: l.down = kernels::Matrix(v); break;
    case Slot::kGateExps: l.gate_exps = expert_slices(v); break;
    case Slot::kUpExps: l.up_exps = expert_slices(v); break;
    case Slot::kDownExps: l.down_exps = expert_slices(v); break;
    default: break;
  }
}

// Binds every tensor of the family's table to its slot (the table was validated against the
// hyperparameters, so each present tensor has its slot's shape).
Result<ModelWeights> bind_weights(const ModelFile& m, const ArchSpec& arch, const HParams& hp) {
  ModelWeights w;
  for (const TensorSpec& spec : arch.globals) {
    const std::string name(spec.name);
    if (TensorView* v = view_slot(w, nullptr, spec.slot)) *v = optional_tensor(m, name);
    if (spec.slot == Slot::kOutput) w.output = kernels::Matrix(optional_tensor(m, name));
  }
  if (w.output.view().data == nullptr) w.output = kernels::Matrix(w.token_embd);  // tied embeddings
  HEARTH_RETURN_IF_ERROR(require_f32(m, w.output_norm, "output_norm.weight"));
  HEARTH_RETURN_IF_ERROR(require_f32(m, w.rope_freqs, "rope_freqs.weight"));
  for (int64_t i = 0; i < hp.n_layer; ++i) {
    LayerWeights l;
    l.config = layer_config(hp, i);
    for (const TensorSpec& spec : arch.per_layer) {
      if (!spec.in_layer(hp, i)) continue;
      const std::string name = layer_tensor_name(spec.name, i);
      const TensorView v = optional_tensor(m, name);
      if (TensorView* view = view_slot(w, &l, spec.slot)) {
        *view = v;
        // Only the router is a matrix among the views; everything else is used as f32 arrays.
        if (spec.slot != Slot::kRouter) HEARTH_RETURN_IF_ERROR(require_f32(m, v, name));
      } else {
        bind_matrix(l, spec.slot, v);
      }
    }
    if (l.config.ffn == FfnKind::kMoe && !dtype_info(l.router.type).can_dequantize)
      return make_error("{}: layer {} has a {} router, which hearth cannot compute with", m.path(), i,
                        dtype_name(l.router.type));
    for (const kernels::Matrix* v : layer_matrices(l))
      if (!dtype_info(v->view().type).can_dequantize)
        return make_error("{}: layer {} has a {} matrix, which hearth cannot compute with yet",
                          m.path(), i, dtype_name(v->view().type));
    w.layers.push_back(std::move(l));
  }
  return w;
}

const float* f32(const TensorView& v) { return static_cast<const float*>(v.data); }

void add_bias(float* y, const TensorView& bias, int64_t n_tokens, int64_t dim) {
  if (bias.data == nullptr) return;
  for (int64_t t = 0; t < n_tokens; ++t) ref::add_inplace(y + t * dim, f32(bias), dim);
}

// Expert e's row of a [dim, n_expert] bias (ggml_add_id), added to each of `rows` outputs.
void add_expert_bias(float* y, const TensorView& bias, int64_t e, int64_t rows) {
  if (bias.data == nullptr) return;
  const int64_t dim = bias.ne[0];
  for (int64_t r = 0; r < rows; ++r) ref::add_inplace(y + r * dim, f32(bias) + e * dim, dim);
}

// Sequence `seq`'s block table for layer `il`: its window table when the layer keeps a window.
std::span<const int32_t> layer_table(const Batch& batch, const KvCache& kv, int64_t il, int32_t seq) {
  return kv.group(il) == KvGroup::kWindow ? batch.window_tables[size_t(seq)] : batch.block_tables[size_t(seq)];
}

}  // namespace

std::vector<KvGroup> kv_layer_groups(const HParams& hp) {
  std::vector<KvGroup> groups;
  for (int64_t il = 0; il < hp.n_layer; ++il)
    groups.push_back(layer_config(hp, il).attention == AttentionKind::kSlidingWindow ? KvGroup::kWindow
                                                                                    : KvGroup::kFull);
  return groups;
}

int64_t kv_window(const HParams& hp) {
  int64_t window = 0;
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    const LayerConfig c = layer_config(hp, il);
    if (c.attention == AttentionKind::kSlidingWindow) window = std::max(window, c.window);
  }
  return window;
}

Result<std::unique_ptr<Transformer>> Transformer::create(const ModelFile& model,
                                                         const TransformerOptions& options) {
  const ArchSpec* arch = find_arch(model.architecture());
  if (arch == nullptr)
    return make_error("{}: architecture '{}' is not supported", model.path(), model.architecture());
  HEARTH_TRY(HParams hp, read_hparams(model));
  // Ollama's own gpt-oss converter ("gptoss") writes another tensor layout: gate and up experts
  // merged with interleaved rows, attn_out, ffn_norm. Say so rather than report a missing tensor.
  if (model.find_tensor("blk.0.ffn_gate_up_exps.weight") != nullptr)
    return make_error("{}: merged ffn_gate_up_exps experts (Ollama's gptoss layout) are not supported "
                      "yet; use a GGUF converted by llama.cpp", model.path());
  HEARTH_RETURN_IF_ERROR(validate_tensors(model, *arch, hp));
  HEARTH_TRY(ModelWeights w, bind_weights(model, *arch, hp));
  if (options.n_ctx < 0 || options.n_batch <= 0)
    return make_error("n_ctx and n_batch must be positive");
  std::optional<std::string> scaling = model.get_string(model.arch_key("rope.scaling.type"));
  if (scaling && *scaling != "none" && *scaling != "linear" && *scaling != "yarn")
    return make_error("{}: rope scaling '{}' is not supported", model.path(), *scaling);
  return std::unique_ptr<Transformer>(new Transformer(model, *arch, hp, std::move(w), options));
}

Transformer::Transformer(const ModelFile& model, const ArchSpec& arch, HParams hp, ModelWeights w,
                         const TransformerOptions& options)
    : arch_(arch),
      hp_(hp),
      w_(std::move(w)),
      n_ctx_(options.n_ctx > 0 ? options.n_ctx : hp.n_ctx_train),
      n_batch_(options.n_batch),
      kv_window_(kv_window(hp)),
      on_tensor_(options.on_tensor),
      pool_(options.n_threads) {
  rope_.n_rot = hp_.n_rot;
  rope_.freq_base = static_cast<float>(hp_.rope_freq_base);
  rope_.neox = arch_.rope_style == RopeStyle::kNeox;
  rope_.freq_factors = w_.rope_freqs.data ? f32(w_.rope_freqs) : nullptr;
  const std::string scaling = model.get_string(model.arch_key("rope.scaling.type")).value_or("none");
  const double factor = model.get_float(model.arch_key("rope.scaling.factor")).value_or(0.0);
  if ((scaling == "linear" || scaling == "yarn") && factor > 0) rope_.freq_scale = 1.0f / float(factor);
  if (scaling == "yarn") {
    rope_.ext_factor = 1.0f;
    // llama.cpp's context cancels YaRN's magnitude correction for the attention factor:
    // (1 + 0.1 ln s) / (1 + 0.1 ln s), which rounds to 1 or a neighbour of it.
    if (factor > 1) {
      const float ln = std::log(static_cast<float>(factor));
      rope_.attn_factor = std::fma(0.1f, ln, 1.0f) * (1.0f / std::fma(0.1f, ln, 1.0f));
    }
    rope_.n_ctx_orig =
        model.get_int(model.arch_key("rope.scaling.original_context_length")).value_or(hp_.n_ctx_train);
  }

  if (options.own_kv_cache) {
    const int64_t block = 16;
    const int64_t n_blocks = (n_ctx_ + block - 1) / block;
    // A chunk of n_batch tokens from position p reads window blocks from
    // window_first_position(p) / block through (p + n_batch - 1) / block: fewer than the ring, so
    // no block the chunk still reads is reused for a later one.
    const int64_t ring = kv_window_ > 0 ? std::min(n_blocks, (kv_window_ + 16 + n_batch_) / block + 3) : 0;
    own_kv_ = KvCache(kv_layer_groups(hp_), hp_.kv_dim(), block, n_blocks, ring);
    for (int64_t b = 0; b < n_blocks; ++b) {
      own_table_.push_back(static_cast<int32_t>(b));
      if (ring > 0) own_window_table_.push_back(static_cast<int32_t>(b % ring));
    }
  }
  const auto nb = static_cast<size_t>(n_batch_);
  x_.resize(nb * hp_.n_embd);
  cur_.resize(nb * hp_.n_embd);
  q_.resize(nb * hp_.q_dim());
  k_.resize(nb * hp_.kv_dim());
  v_.resize(nb * hp_.kv_dim());
  attn_.resize(nb * hp_.q_dim());
  proj_.resize(nb * hp_.n_embd);
  const int64_t n_ff_max = std::max(hp_.n_ff, hp_.n_expert > 0 ? hp_.n_ff_exp : 0);
  gate_.resize(nb * n_ff_max);
  up_.resize(nb * n_ff_max);
  if (hp_.n_expert > 0) {
    router_.resize(nb * hp_.n_expert);
    expert_ids_.resize(nb * hp_.n_expert_used);
    expert_weights_.resize(nb * hp_.n_expert_used);
    expert_rows_.resize(static_cast<size_t>(hp_.n_expert));
    expert_in_.resize(nb * hp_.n_embd);
    expert_down_.resize(nb * hp_.n_embd);
    expert_out_.resize(nb * hp_.n_expert_used * hp_.n_embd);
  }
  rope_cache_.resize(nb * hp_.n_rot);
  logit_rows_.reserve(nb);
  attn_scratch_.resize(static_cast<size_t>(pool_.size()));

  // Rearrange the matrices for this CPU's kernels where that pays (kernels/cpu/packed.h).
  // The file's pages of a packed matrix are then dropped from memory, so the weights are resident
  // once (packed), not twice; they stay mapped, for a tied embedding's row lookups.
  auto prepare = [&](kernels::Matrix& m) {
    m = kernels::Matrix::prepare(m.view(), pool_, m.sums());
    if (m.packed() != nullptr) model.release_pages(m.view());
  };
  // The output matrix first: it is the largest, and its file pages and packed copy then meet
  // while nothing else is packed yet (peak RSS ~ the weights + that matrix).
  prepare(w_.output);
  for (LayerWeights& l : w_.layers)
    for (kernels::Matrix* m : layer_matrices(l)) prepare(*m);
}

Status Transformer::forward(std::span<const int32_t> tokens, bool all_logits,
                            std::vector<float>& logits) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (own_kv_.n_blocks() == 0) return make_error("forward: this transformer has no cache of its own");
  if (n == 0) return make_error("forward: no tokens");
  if (n_past_ + n > n_ctx_)
    return make_error("context full: {} cached + {} new tokens exceed n_ctx {}", n_past_, n, n_ctx_);
  own_batch_.clear();
  own_batch_.block_tables.push_back(own_table_);
  if (own_kv_.has_window_group()) own_batch_.window_tables.push_back(own_window_table_);
  for (int64_t i = 0; i < n; ++i)
    own_batch_.add(tokens[size_t(i)], static_cast<int32_t>(n_past_ + i), 0, all_logits || i == n - 1);
  logits.resize(static_cast<size_t>((all_logits ? n : 1) * hp_.n_vocab));
  HEARTH_RETURN_IF_ERROR(forward_batch(own_batch_, own_kv_, logits.data()));
  n_past_ += n;
  return {};
}

Status Transformer::check_batch(const Batch& b, const KvCache& kv) const {
  if (b.size() == 0) return make_error("forward: no tokens");
  if (b.positions.size() != b.size() || b.seq.size() != b.size() || b.want_logits.size() != b.size())
    return make_error("forward: batch arrays differ in length");
  if (kv.n_layer() != hp_.n_layer || kv.kv_dim() != hp_.kv_dim())
    return make_error("forward: the KV cache has another shape than the model");
  const int64_t window = kv_window_;
  for (int64_t il = 0; il < hp_.n_layer; ++il)
    if (kv.group(il) == KvGroup::kWindow &&
        w_.layers[size_t(il)].config.attention != AttentionKind::kSlidingWindow)
      return make_error("forward: layer {} attends to every position but its cache keeps a window", il);
  if (kv.has_window_group() && b.window_tables.size() != b.block_tables.size())
    return make_error("forward: {} window tables for {} sequences", b.window_tables.size(), b.block_tables.size());
  for (size_t i = 0; i < b.size(); ++i) {
    const int32_t id = b.tokens[i], pos = b.positions[i], s = b.seq[i];
    if (id < 0 || id >= hp_.n_vocab)
      return make_error("token id {} is outside the vocabulary (0..{})", id, hp_.n_vocab - 1);
    if (s < 0 || static_cast<size_t>(s) >= b.block_tables.size())
      return make_error("forward: token {} names sequence {} of {}", i, s, b.block_tables.size());
    const std::span<const int32_t> table = b.block_tables[size_t(s)];
    if (pos < 0 || static_cast<size_t>(pos / kv.block_size()) >= table.size())
      return make_error("forward: position {} is beyond its sequence's {} blocks", pos, table.size());
    for (int64_t blk = 0; blk <= pos / kv.block_size(); ++blk)
      if (table[size_t(blk)] < 0 || table[size_t(blk)] >= kv.n_blocks())
        return make_error("forward: block {} is outside the cache ({} blocks)", table[size_t(blk)], kv.n_blocks());
    if (!kv.has_window_group()) continue;
    // The window group: the blocks this position's window reads.
    const std::span<const int32_t> wtable = b.window_tables[size_t(s)];
    if (static_cast<size_t>(pos / kv.block_size()) >= wtable.size())
      return make_error("forward: position {} is beyond its sequence's {} window blocks", pos, wtable.size());
    for (int64_t blk = window_first_position(pos, window, kv.block_size()) / kv.block_size();
         blk <= pos / kv.block_size(); ++blk)
      if (wtable[size_t(blk)] < 0 || wtable[size_t(blk)] >= kv.n_blocks(KvGroup::kWindow))
        return make_error("forward: window block {} is outside the cache ({} blocks)", wtable[size_t(blk)],
                          kv.n_blocks(KvGroup::kWindow));
  }
  return {};
}

Status Transformer::forward_batch(const Batch& batch, KvCache& kv, float* logits) {
  HEARTH_RETURN_IF_ERROR(check_batch(batch, kv));
  const int64_t n = static_cast<int64_t>(batch.size());
  for (int64_t begin = 0; begin < n; begin += n_batch_) {
    const int64_t len = std::min(n_batch_, n - begin);
    forward_chunk(batch, begin, len, kv, logits);
    for (int64_t i = begin; i < begin + len; ++i)
      if (batch.want_logits[size_t(i)]) logits += hp_.n_vocab;
  }
  return {};
}

void Transformer::forward_chunk(const Batch& batch, int64_t begin, int64_t n, KvCache& kv, float* logits) {
  const int64_t n_embd = hp_.n_embd, q_dim = hp_.q_dim(), kv_dim = hp_.kv_dim();
  const int64_t bs = kv.block_size();
  const float eps = static_cast<float>(hp_.rms_eps);
  const int32_t* tokens = batch.tokens.data() + begin;
  const int32_t* positions = batch.positions.data() + begin;
  ++passes_;

  for (int64_t t = 0; t < n; ++t) ref::get_row(w_.token_embd, tokens[t], x_.data() + t * n_embd);
  for (int64_t t = 0; t < n; ++t)
    ref::rope_cache(rope_, static_cast<float>(positions[t]), rope_cache_.data() + t * hp_.n_rot);

  for (int64_t il = 0; il < hp_.n_layer; ++il) {
    const LayerWeights& L = w_.layers[static_cast<size_t>(il)];
    // Attention block.
    for (int64_t t = 0; t < n; ++t)
      ref::rms_norm(x_.data() + t * n_embd, f32(L.attn_norm), cur_.data() + t * n_embd, n_embd, eps);
    trace("attn_norm", il, cur_, n * n_embd);
    kernels::matmul(L.wq, cur_.data(), n, q_.data(), pool_, matmul_scratch_);
    kernels::matmul(L.wk, cur_.data(), n, k_.data(), pool_, matmul_scratch_);
    kernels::matmul(L.wv, cur_.data(), n, v_.data(), pool_, matmul_scratch_);
    add_bias(q_.data(), L.bq, n, q_dim);
    add_bias(k_.data(), L.bk, n, kv_dim);
    add_bias(v_.data(), L.bv, n, kv_dim);
    for (int64_t t = 0; t < n; ++t) {
      float* q = q_.data() + t * q_dim;
      float* k = k_.data() + t * kv_dim;
      if (L.q_norm.data) {  // qwen3: RMSNorm over each head before rotating
        for (int64_t h = 0; h < hp_.n_head; ++h)
          ref::rms_norm(q + h * hp_.head_dim, f32(L.q_norm), q + h * hp_.head_dim, hp_.head_dim, eps);
        for (int64_t h = 0; h < hp_.n_head_kv; ++h)
          ref::rms_norm(k + h * hp_.head_dim, f32(L.k_norm), k + h * hp_.head_dim, hp_.head_dim, eps);
      }
      const float* cache = rope_cache_.data() + t * hp_.n_rot;
      kernels::rope_apply(rope_, cache, q, hp_.n_head, hp_.head_dim);
      kernels::rope_apply(rope_, cache, k, hp_.n_head_kv, hp_.head_dim);
      // Append to the f16 cache, at the token's slot of its sequence's block.
      const std::span<const int32_t> table = layer_table(batch, kv, il, batch.seq[size_t(begin + t)]);
      const int64_t pos = positions[t];
      const int64_t slot = (pos % bs) * kv_dim;
      uint16_t* kc = kv.k(il, table[size_t(pos / bs)]) + slot;
      uint16_t* vc = kv.v(il, table[size_t(pos / bs)]) + slot;
      const float* v = v_.data() + t * kv_dim;
      kernels::store_f16(k, kc, kv_dim);
      kernels::store_f16(v, vc, kv_dim);
    }
    trace("Qcur", il, q_, n * q_dim);
    trace("Kcur", il, k_, n * kv_dim);
    trace("Vcur", il, v_, n * kv_dim);
    attention(batch, begin, n, il, kv);
    trace("kqv_out", il, attn_, n * q_dim);
    kernels::matmul(L.wo, attn_.data(), n, proj_.data(), pool_, matmul_scratch_);
    add_bias(proj_.data(), L.bo, n, n_embd);
    trace("attn_out", il, proj_, n * n_embd);
    for (int64_t t = 0; t < n; ++t) ref::add_inplace(x_.data() + t * n_embd, proj_.data() + t * n_embd, n_embd);

    // Feed-forward block (SwiGLU, or a mixture of SwiGLU experts).
    for (int64_t t = 0; t < n; ++t)
      ref::rms_norm(x_.data() + t * n_embd, f32(L.ffn_norm), cur_.data() + t * n_embd, n_embd, eps);
    trace("ffn_inp", il, x_, n * n_embd);
    trace("ffn_norm", il, cur_, n * n_embd);
    if (!L.gate_exps.empty()) {
      moe_ffn(L, n, il);
      trace("ffn_moe_out", il, proj_, n * n_embd);
      for (int64_t t = 0; t < n; ++t) ref::add_inplace(x_.data() + t * n_embd, proj_.data() + t * n_embd, n_embd);
      trace("l_out", il, x_, n * n_embd);
      continue;
    }
    kernels::matmul_pair(L.gate, L.up, cur_.data(), n, gate_.data(), up_.data(), pool_, matmul_scratch_);
    trace("ffn_gate", il, gate_, n * hp_.n_ff);
    trace("ffn_up", il, up_, n * hp_.n_ff);
    glu(gate_.data(), up_.data(), n, hp_.n_ff);
    trace("ffn_swiglu", il, gate_, n * hp_.n_ff);
    kernels::matmul(L.down, gate_.data(), n, proj_.data(), pool_, matmul_scratch_);
    trace("ffn_out", il, proj_, n * n_embd);
    for (int64_t t = 0; t < n; ++t) ref::add_inplace(x_.data() + t * n_embd, proj_.data() + t * n_embd, n_embd);
    trace("l_out", il, x_, n * n_embd);
  }

  // Output head, only for the tokens whose logits are wanted.
  logit_rows_.clear();
  for (int64_t t = 0; t < n; ++t)
    if (batch.want_logits[size_t(begin + t)]) logit_rows_.push_back(t);
  const int64_t n_out = static_cast<int64_t>(logit_rows_.size());
  if (n_out == 0) return;
  for (int64_t r = 0; r < n_out; ++r)
    ref::rms_norm(x_.data() + logit_rows_[size_t(r)] * n_embd, f32(w_.output_norm), cur_.data() + r * n_embd,
                  n_embd, eps);
  trace("result_norm", -1, cur_, n_out * n_embd);
  kernels::matmul(w_.output, cur_.data(), n_out, logits, pool_, matmul_scratch_);
}

void Transformer::moe_ffn(const LayerWeights& L, int64_t n, int64_t il) {
  const int64_t n_embd = hp_.n_embd, n_expert = hp_.n_expert, k = hp_.n_expert_used, n_ff = hp_.n_ff_exp;
  // Route: router logits, softmax over all experts, the top k renormalised (qwen3moe, Mixtral).
  if (L.router.type == DType::F32) {
    pool_.parallel_for(n, [&](int64_t t0, int64_t t1, int) {
      kernels::matmul_f32_lanes16(f32(L.router), n_expert, n_embd, cur_.data() + t0 * n_embd, t1 - t0,
                                  router_.data() + t0 * n_expert);
    });
  } else {
    kernels::matmul(L.router, cur_.data(), n, router_.data(), pool_, matmul_scratch_);
  }
  trace("ffn_moe_logits", il, router_, n * n_expert);
  add_bias(router_.data(), L.router_bias, n, n_expert);
  for (auto& rows : expert_rows_) rows.clear();
  for (int64_t t = 0; t < n; ++t) {
    float* probs = router_.data() + t * n_expert;
    int32_t* ids = expert_ids_.data() + t * k;
    float* weights = expert_weights_.data() + t * k;
    if (arch_.gating == ExpertGating::kSoftmax) {
      ref::soft_max_row(probs, n_expert);
      ref::select_experts(probs, n_expert, k, /*normalize=*/true, ids, weights);
    } else {  // kSoftmaxWeight: the top k logits, then a softmax over those k
      ref::select_experts(probs, n_expert, k, /*normalize=*/false, ids, weights);
      ref::soft_max_row(weights, k);
    }
    for (int64_t s = 0; s < k; ++s) expert_rows_[size_t(ids[s])].push_back(static_cast<int32_t>(t * k + s));
  }
  trace("ffn_moe_probs", il, router_, n * n_expert);

  // Each expert once, over the tokens routed to it: gather, SwiGLU, scatter weighted outputs.
  for (int64_t e = 0; e < n_expert; ++e) {
    const std::vector<int32_t>& rows = expert_rows_[size_t(e)];
    const int64_t m = static_cast<int64_t>(rows.size());
    if (m == 0) continue;
    for (int64_t r = 0; r < m; ++r) {
      const float* src = cur_.data() + (rows[size_t(r)] / k) * n_embd;
      std::copy(src, src + n_embd, expert_in_.data() + r * n_embd);
    }
    kernels::matmul_pair(L.gate_exps[size_t(e)], L.up_exps[size_t(e)], expert_in_.data(), m, gate_.data(),
                         up_.data(), pool_, matmul_scratch_);
    add_expert_bias(gate_.data(), L.gate_exps_bias, e, m);
    add_expert_bias(up_.data(), L.up_exps_bias, e, m);
    glu(gate_.data(), up_.data(), m, n_ff);
    kernels::matmul(L.down_exps[size_t(e)], gate_.data(), m, expert_down_.data(), pool_, matmul_scratch_);
    add_expert_bias(expert_down_.data(), L.down_exps_bias, e, m);
    for (int64_t r = 0; r < m; ++r) {
      const int32_t slot = rows[size_t(r)];
      const float w = expert_weights_[size_t(slot)];
      const float* d = expert_down_.data() + r * n_embd;
      float* out = expert_out_.data() + int64_t{slot} * n_embd;
      for (int64_t i = 0; i < n_embd; ++i) out[i] = d[i] * w;
    }
  }
  // Sum each token's k weighted outputs in slot order (descending probability), as ggml adds them.
  for (int64_t t = 0; t < n; ++t) {
    float* out = proj_.data() + t * n_embd;
    const float* first = expert_out_.data() + t * k * n_embd;
    std::copy(first, first + n_embd, out);
    for (int64_t s = 1; s < k; ++s) ref::add_inplace(out, first + s * n_embd, n_embd);
  }
}

void Transformer::glu(float* gate, const float* up, int64_t rows, int64_t n_ff) const {
  for (int64_t r = 0; r < rows; ++r) {
    float* g = gate + r * n_ff;
    if (arch_.glu == GluKind::kSwiGLUOai) {
      ref::swiglu_oai(g, up + r * n_ff, g, n_ff);
    } else {
      kernels::silu_mul(g, up + r * n_ff, g, n_ff);
    }
  }
}

void Transformer::trace(const char* name, int64_t layer, const std::vector<float>& values, int64_t count) const {
  if (!on_tensor_) return;
  on_tensor_(layer < 0 ? std::string(name) : fmt::format("{}-{}", name, layer),
             std::span<const float>(values.data(), static_cast<size_t>(count)));
}

// Causal attention of each of the chunk's queries over its own sequence's cached positions
// 0 .. pos, one job per (token, KV head) so a GQA group shares its K/V loads (kernels/attention.h).
void Transformer::attention(const Batch& batch, int64_t begin, int64_t n, int64_t il, const KvCache& kv) {
  const int64_t hd = hp_.head_dim, q_dim = hp_.q_dim();
  const int64_t bs = kv.block_size();
  const int64_t group = hp_.n_head / hp_.n_head_kv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const LayerWeights& L = w_.layers[size_t(il)];
  // A sliding window starts its range at window_first_position: a block's first slot and a
  // multiple of 16 (kernels/attention.h: the masked rest of that range adds exact zeros).
  const int64_t window = L.config.attention == AttentionKind::kSlidingWindow ? L.config.window : 0;
  pool_.parallel_for(n * hp_.n_head_kv, [&](int64_t job_begin, int64_t job_end, int thread) {
    AttentionScratch& s = attn_scratch_[static_cast<size_t>(thread)];
    for (int64_t job = job_begin; job < job_end; ++job) {
      const int64_t t = job / hp_.n_head_kv, kvh = job % hp_.n_head_kv;
      const std::span<const int32_t> table = layer_table(batch, kv, il, batch.seq[size_t(begin + t)]);
      const int64_t pos = batch.positions[size_t(begin + t)];
      const int64_t visible = window > 0 ? std::max<int64_t>(0, pos + 1 - window) : 0;
      const int64_t first = window > 0 ? window_first_position(pos, window, bs) : 0;
      const int64_t n_kv = pos + 1 - first;
      const int64_t n_blocks = (n_kv + bs - 1) / bs;
      s.k_blocks.resize(static_cast<size_t>(n_blocks));
      s.v_blocks.resize(static_cast<size_t>(n_blocks));
      for (int64_t b = 0; b < n_blocks; ++b) {
        const int32_t block = table[size_t(first / bs + b)];
        s.k_blocks[size_t(b)] = kv.k(il, block) + kvh * hd;
        s.v_blocks[size_t(b)] = kv.v(il, block) + kvh * hd;
      }
      kernels::AttentionArgs a;
      a.q = q_.data() + t * q_dim + kvh * group * hd;
      a.group = group;
      a.head_dim = hd;
      a.k_blocks = s.k_blocks.data();
      a.v_blocks = s.v_blocks.data();
      a.block_size = bs;
      a.row_stride = hp_.kv_dim();
      a.n_kv = n_kv;
      a.n_masked = visible - first;
      a.sinks = L.sinks.data ? f32(L.sinks) + kvh * group : nullptr;
      a.scale = scale;
      a.out = attn_.data() + t * q_dim + kvh * group * hd;
      kernels::attention(a, s.kernel);
    }
  });
}

}  // namespace hearth
