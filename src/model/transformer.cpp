#include "model/transformer.h"

#include <algorithm>
#include <cmath>

#include "backend/cpu_backend.h"
#include "tensor/quant.h"

namespace hearth {
namespace {

TensorView optional_tensor(const ModelFile& m, const std::string& name) {
  const ModelTensor* t = m.find_tensor(name);
  return t ? t->view : TensorView{};
}

// Norms, biases and rope factors are used as f32 arrays directly.
Status require_f32(const ModelFile& m, const Weight& v, const std::string& name) {
  if (v.present() && v.type() != DType::F32)
    return make_error("{}: tensor '{}' is {}, expected f32 for a 1-D tensor", m.path(), name,
                      dtype_name(v.type()));
  return {};
}

// Slice e of a stacked [ne0, ne1, n] tensor (an expert, or MLA's per-head maps), as a 2-D view of
// the same bytes (the shape was validated against the hyperparameters, so the slices lie inside).
std::vector<Weight> stacked_slices(const TensorView& stacked, WeightUse use) {
  std::vector<Weight> slices;
  const uint64_t bytes = *row_bytes(stacked.type, static_cast<uint64_t>(stacked.ne[0])) *
                         static_cast<uint64_t>(stacked.ne[1]);
  for (int64_t e = 0; e < stacked.ne[2]; ++e) {
    TensorView v = stacked;
    v.n_dims = 2;
    v.ne = {stacked.ne[0], stacked.ne[1], 1, 1};
    v.data = static_cast<const uint8_t*>(stacked.data) + static_cast<uint64_t>(e) * bytes;
    v.n_bytes = bytes;
    slices.emplace_back(v, use);
  }
  return slices;
}

std::vector<Weight> expert_slices(const TensorView& stacked) { return stacked_slices(stacked, WeightUse::kExpert); }

// Every weight matrix of a layer, dense or expert: what packing and type checks walk.
std::vector<Weight*> layer_matrices(LayerWeights& l) {
  std::vector<Weight*> all = {&l.wq,      &l.wk,       &l.wv,        &l.wo,      &l.wq_a,    &l.wq_b,
                              &l.wkv_a,   &l.ssm_qkv,  &l.ssm_gate,  &l.ssm_beta, &l.ssm_alpha, &l.ssm_out,
                              &l.ple_gate, &l.ple_proj};
  if (l.gate_exps.empty() || l.down.present()) all.insert(all.end(), {&l.gate, &l.up, &l.down});  // Gemma 4: both
  if (l.gate_shexp.present()) all.insert(all.end(), {&l.gate_shexp, &l.up_shexp, &l.down_shexp});
  for (auto* experts : {&l.gate_exps, &l.up_exps, &l.down_exps, &l.wk_b, &l.wv_b})
    for (Weight& m : *experts) all.push_back(&m);
  return all;
}

// The weight a non-matrix slot binds to (norms, biases, sinks, rope factors, the embeddings and
// the router), or null for a matrix slot.
Weight* view_slot(ModelWeights& w, LayerWeights* l, Slot slot) {
  switch (slot) {
    case Slot::kTokenEmbd: return &w.token_embd;
    case Slot::kOutputNorm: return &w.output_norm;
    case Slot::kRopeFreqs: return &w.rope_freqs;
    case Slot::kRopeLong: return &w.rope_long;
    case Slot::kRopeShort: return &w.rope_short;
    case Slot::kClsOutBias: return &w.cls_out_bias;
    case Slot::kClsBias: return &w.cls_bias;
    case Slot::kPosEmbd: return &w.pos_embd;
    case Slot::kTokenTypes: return &w.token_types;
    case Slot::kTokenEmbdNorm: return &w.tok_norm;
    case Slot::kTokenEmbdNormBias: return &w.tok_norm_b;
    case Slot::kPleTokEmbd: return &w.ple_tok_embd;
    case Slot::kPleProjNorm: return &w.ple_proj_norm;
    default: break;
  }
  if (l == nullptr) return nullptr;
  switch (slot) {
    case Slot::kAttnNorm: return &l->attn_norm;
    case Slot::kAttnNormBias: return &l->attn_norm_b;
    case Slot::kFfnNormBias: return &l->ffn_norm_b;
    case Slot::kUpBias: return &l->up_b;
    case Slot::kDownBias: return &l->down_b;
    case Slot::kBq: return &l->bq;
    case Slot::kBk: return &l->bk;
    case Slot::kBv: return &l->bv;
    case Slot::kBo: return &l->bo;
    case Slot::kQNorm: return &l->q_norm;
    case Slot::kKNorm: return &l->k_norm;
    case Slot::kSinks: return &l->sinks;
    case Slot::kFfnNorm: return &l->ffn_norm;
    case Slot::kAttnPostNorm: return &l->attn_post_norm;
    case Slot::kFfnPostNorm: return &l->ffn_post_norm;
    case Slot::kLayerOutScale: return &l->out_scale;
    case Slot::kRouterScale: return &l->router_scale;
    case Slot::kFfnPreNorm2: return &l->ffn_pre_norm2;
    case Slot::kFfnPostNorm1: return &l->ffn_post_norm1;
    case Slot::kFfnPostNorm2: return &l->ffn_post_norm2;
    case Slot::kDownExpsScale: return &l->down_exps_scale;
    case Slot::kQANorm: return &l->q_a_norm;
    case Slot::kKvANorm: return &l->kv_a_norm;
    case Slot::kExpProbsB: return &l->exp_probs_b;
    case Slot::kSsmConv: return &l->ssm_conv;
    case Slot::kSsmDt: return &l->ssm_dt;
    case Slot::kSsmA: return &l->ssm_a;
    case Slot::kSsmNorm: return &l->ssm_norm;
    case Slot::kPlePostNorm: return &l->ple_post_norm;
    case Slot::kRouter: return &l->router;
    case Slot::kShexpGate: return &l->shexp_gate;
    case Slot::kRouterBias: return &l->router_bias;
    case Slot::kGateExpsBias: return &l->gate_exps_bias;
    case Slot::kUpExpsBias: return &l->up_exps_bias;
    case Slot::kDownExpsBias: return &l->down_exps_bias;
    default: return nullptr;
  }
}

// How the backend keeps a non-matrix slot's weight.
WeightUse slot_use(Slot slot) {
  switch (slot) {
    case Slot::kTokenEmbd:
    case Slot::kPosEmbd:
    case Slot::kTokenTypes:
    case Slot::kPleTokEmbd: return WeightUse::kRows;
    case Slot::kRouter:
    case Slot::kShexpGate: return WeightUse::kRouter;  // a one-row f32 router (the CPU: vec_dot's order)
    case Slot::kSsmConv: return WeightUse::kConvTaps;
    default: return WeightUse::kVector;
  }
}

// Rows [first, first + n) of a 2-D tensor: a view of the same bytes.
TensorView row_slice(const TensorView& v, int64_t first, int64_t n) {
  const uint64_t bytes = *row_bytes(v.type, static_cast<uint64_t>(v.ne[0]));
  TensorView r = v;
  r.ne[1] = n;
  r.data = static_cast<const uint8_t*>(v.data) + static_cast<uint64_t>(first) * bytes;
  r.n_bytes = bytes * static_cast<uint64_t>(n);
  return r;
}

void bind_matrix(LayerWeights& l, Slot slot, const TensorView& v, const HParams& hp) {
  switch (slot) {
    // Fused matrices become views of their row ranges: each output is the same dot product of one
    // weight row either way, so the results equal the fused product's.
    case Slot::kWqkv:
      l.wq = Weight(row_slice(v, 0, hp.q_dim()), WeightUse::kMatrix);
      l.wk = Weight(row_slice(v, hp.q_dim(), hp.kv_dim()), WeightUse::kMatrix);
      l.wv = Weight(row_slice(v, hp.q_dim() + hp.kv_dim(), hp.kv_dim()), WeightUse::kMatrix);
      break;
    case Slot::kGateUp:  // gate rows first (ggml_swiglu's first half)
      l.gate = Weight(row_slice(v, 0, hp.n_ff), WeightUse::kMatrix);
      l.up = Weight(row_slice(v, hp.n_ff, hp.n_ff), WeightUse::kMatrix);
      break;
    case Slot::kWq: l.wq = Weight(v, WeightUse::kMatrix); break;
    case Slot::kWk: l.wk = Weight(v, WeightUse::kMatrix); break;
    case Slot::kWv: l.wv = Weight(v, WeightUse::kMatrix); break;
    case Slot::kWo: l.wo = Weight(v, WeightUse::kMatrix); break;
    case Slot::kGate: l.gate = Weight(v, WeightUse::kMatrix); break;
    case Slot::kUp: l.up = Weight(v, WeightUse::kMatrix); break;
    case Slot::kDown: l.down = Weight(v, WeightUse::kMatrix); break;
    case Slot::kGateExps:
      if (v.data != nullptr) l.gate_exps = expert_slices(v);  // absent: Gemma 4's fused tensor, if any
      break;
    case Slot::kGateUpExps:  // each expert's gate rows, then its up rows: views of the same bytes
      if (v.data == nullptr) break;
      l.gate_exps.clear();
      l.up_exps.clear();
      for (const Weight& e : expert_slices(v)) {
        l.gate_exps.emplace_back(row_slice(e.source(), 0, hp.n_ff_exp), WeightUse::kExpert);
        l.up_exps.emplace_back(row_slice(e.source(), hp.n_ff_exp, hp.n_ff_exp), WeightUse::kExpert);
      }
      break;
    case Slot::kUpExps:
      if (v.data != nullptr) l.up_exps = expert_slices(v);
      break;
    case Slot::kDownExps: l.down_exps = expert_slices(v); break;
    case Slot::kWqA: l.wq_a = Weight(v, WeightUse::kMatrix); break;
    case Slot::kWqB: l.wq_b = Weight(v, WeightUse::kMatrix); break;
    case Slot::kWkvA: l.wkv_a = Weight(v, WeightUse::kMatrix); break;
    case Slot::kWkB: l.wk_b = stacked_slices(v, WeightUse::kHeadMatrix); break;
    case Slot::kWvB: l.wv_b = stacked_slices(v, WeightUse::kHeadMatrix); break;
    case Slot::kGateShexp: l.gate_shexp = Weight(v, WeightUse::kMatrix); break;
    case Slot::kUpShexp: l.up_shexp = Weight(v, WeightUse::kMatrix); break;
    case Slot::kDownShexp: l.down_shexp = Weight(v, WeightUse::kMatrix); break;
    case Slot::kSsmQkv: l.ssm_qkv = Weight(v, WeightUse::kMatrix); break;
    case Slot::kSsmGate: l.ssm_gate = Weight(v, WeightUse::kMatrix); break;
    case Slot::kSsmBeta: l.ssm_beta = Weight(v, WeightUse::kMatrix); break;
    case Slot::kSsmAlpha: l.ssm_alpha = Weight(v, WeightUse::kMatrix); break;
    case Slot::kSsmOut: l.ssm_out = Weight(v, WeightUse::kMatrix); break;
    case Slot::kPleInpGate: l.ple_gate = Weight(v, WeightUse::kMatrix); break;
    case Slot::kPleProj: l.ple_proj = Weight(v, WeightUse::kMatrix); break;
    default: break;
  }
}

// Binds every tensor of the family's table to its slot (the table was validated against the
// hyperparameters, so each present tensor has its slot's shape).
Result<ModelWeights> bind_weights(const ModelFile& m, const ArchSpec& arch, const HParams& hp) {
  ModelWeights w;
  for (const TensorSpec& spec : arch.globals) {
    if (!spec.in_layer(hp, -1)) continue;
    const std::string name(spec.name);
    if (Weight* v = view_slot(w, nullptr, spec.slot)) *v = Weight(optional_tensor(m, name), slot_use(spec.slot));
    // An F32 projection (llama.cpp's quantizer keeps it as converted) is multiplied as llama.cpp's
    // tinyBLAS multiplies f32 matrices: 16 lanes per product, as f32 routers are (kRouter).
    if (spec.slot == Slot::kPleModelProj) {
      const TensorView v = optional_tensor(m, name);
      w.ple_model_proj = Weight(v, v.type == DType::F32 ? WeightUse::kRouter : WeightUse::kMatrix);
    }
    if (spec.slot == Slot::kOutput) w.output = Weight(optional_tensor(m, name), WeightUse::kMatrix);
    if (spec.slot == Slot::kClsOut) w.cls_out = Weight(optional_tensor(m, name), WeightUse::kMatrix);
    if (spec.slot == Slot::kCls) w.cls = Weight(optional_tensor(m, name), WeightUse::kMatrix);
    if (spec.slot == Slot::kDense2) w.dense2 = Weight(optional_tensor(m, name), WeightUse::kMatrix);
    if (spec.slot == Slot::kDense3) w.dense3 = Weight(optional_tensor(m, name), WeightUse::kMatrix);
    // Row tables may be quantized; the other views are used as f32 arrays.
    if (Weight* v = view_slot(w, nullptr, spec.slot); v && slot_use(spec.slot) == WeightUse::kVector)
      HEARTH_RETURN_IF_ERROR(require_f32(m, *v, name));
  }
  for (const auto& [head, name] : {std::pair{&w.cls_out, "cls.output.weight"}, std::pair{&w.cls, "cls.weight"},
                                   std::pair{&w.dense2, "dense_2.weight"}, std::pair{&w.dense3, "dense_3.weight"},
                                   std::pair{&w.ple_model_proj, "per_layer_model_proj.weight"},
                                   std::pair{&w.ple_tok_embd, "per_layer_token_embd.weight"}})
    if (head->present() && !dtype_info(head->type()).can_dequantize)
      return make_error("{}: {} is {}, which hearth cannot compute with", m.path(), name, dtype_name(head->type()));
  // Tied embeddings: the output head is token_embd's bytes. An encoder has no head at all.
  const bool has_head = std::any_of(arch.globals.begin(), arch.globals.end(),
                                    [](const TensorSpec& t) { return t.slot == Slot::kOutput; });
  if (!w.output.present() && has_head) w.output = Weight(w.token_embd.source(), WeightUse::kMatrix);
  for (int64_t i = 0; i < hp.n_layer; ++i) {
    LayerWeights l;
    l.config = layer_config(hp, i);
    for (const TensorSpec& spec : arch.per_layer) {
      if (!spec.in_layer(hp, i)) continue;
      const std::string name = layer_tensor_name(spec.name, i);
      const TensorView v = optional_tensor(m, name);
      if (Weight* view = view_slot(w, &l, spec.slot)) {
        *view = Weight(v, slot_use(spec.slot));
        // Only the router is a matrix among the views; everything else is used as f32 arrays.
        if (spec.slot != Slot::kRouter && spec.slot != Slot::kShexpGate)
          HEARTH_RETURN_IF_ERROR(require_f32(m, *view, name));
      } else {
        bind_matrix(l, spec.slot, v, hp);
      }
    }
    if (l.out_scale.present()) {
      l.out_scale_value = *static_cast<const float*>(l.out_scale.source().data);
      if (!std::isfinite(l.out_scale_value))
        return make_error("{}: layer {}'s layer_output_scale is not a finite number", m.path(), i);
    }
    if (l.config.ffn == FfnKind::kMoe &&
        (l.gate_exps.size() != size_t(hp.n_expert) || l.up_exps.size() != size_t(hp.n_expert)))
      return make_error("{}: layer {} needs ffn_gate_up_exps.weight, or ffn_gate_exps.weight and ffn_up_exps.weight",
                        m.path(), i);
    if (l.config.ffn == FfnKind::kMoe && !dtype_info(l.router.type()).can_dequantize)
      return make_error("{}: layer {} has a {} router, which hearth cannot compute with", m.path(), i,
                        dtype_name(l.router.type()));
    for (const Weight* v : layer_matrices(l))
      if (!dtype_info(v->type()).can_dequantize)
        return make_error("{}: layer {} has a {} matrix, which hearth cannot compute with yet",
                          m.path(), i, dtype_name(v->type()));
    w.layers.push_back(std::move(l));
  }
  return w;
}

// Sequence `seq`'s block table for layer `il`: its window table when the layer keeps a window.
std::span<const int32_t> layer_table(const Batch& batch, const KvCache& kv, int64_t il, int32_t seq) {
  return kv.group(il) == KvGroup::kWindow ? batch.window_tables[size_t(seq)] : batch.block_tables[size_t(seq)];
}

}  // namespace

std::vector<KvLayerShape> kv_layer_shapes(const HParams& hp) {
  std::vector<KvLayerShape> layers;
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    if (hp.layer_is_recurrent(il)) {  // no keys: a fixed-size state per sequence
      layers.push_back({KvGroup::kFull, 0, 0, hp.ssm_conv_state(), hp.ssm_state()});
      continue;
    }
    // An encoder writes no keys (it attends within each pass): no window group to keep.
    const bool window = hp.causal && layer_config(hp, il).attention == AttentionKind::kSlidingWindow;
    layers.push_back({window ? KvGroup::kWindow : KvGroup::kFull, hp.layer_kv_dim(il), hp.layer_cache_v_width(il)});
    if (!hp.layer_has_kv(il)) layers.back().shared_from = hp.layer_kv_source(il);  // no cache of its own
  }
  return layers;
}

int64_t kv_window(const HParams& hp) {
  int64_t window = 0;
  if (!hp.causal) return 0;  // an encoder keeps no keys
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
  const bool fused_experts = std::any_of(arch->per_layer.begin(), arch->per_layer.end(),
                                         [](const TensorSpec& t) { return t.slot == Slot::kGateUpExps; });
  if (!fused_experts && model.find_tensor("blk.0.ffn_gate_up_exps.weight") != nullptr)
    return make_error("{}: merged ffn_gate_up_exps experts (Ollama's gptoss layout) are not supported "
                      "yet; use a GGUF converted by llama.cpp", model.path());
  HEARTH_RETURN_IF_ERROR(validate_tensors(model, *arch, hp));
  HEARTH_TRY(ModelWeights w, bind_weights(model, *arch, hp));
  // A sequence's recurrent state is allocated per sequence: refuse a file whose state alone would
  // exceed any machine's memory (each layer's is bounded by read_hparams; this bounds the sum).
  if (const uint64_t state = KvCache::bytes_per_state_slot(kv_layer_shapes(hp)); state > (uint64_t{1} << 34))
    return make_error("{}: one sequence's recurrent state would take {:.1f} GiB", model.path(),
                      double(state) / double(uint64_t{1} << 30));
  if (options.n_ctx < 0 || options.n_batch <= 0)
    return make_error("n_ctx and n_batch must be positive");
  std::optional<std::string> scaling = model.get_string(model.arch_key("rope.scaling.type"));
  // "longrope" (Phi-3): the frequencies are scaled by the file's factor tensors, nothing else.
  if (scaling && *scaling != "none" && *scaling != "linear" && *scaling != "yarn" && *scaling != "longrope")
    return make_error("{}: rope scaling '{}' is not supported", model.path(), *scaling);
  return std::unique_ptr<Transformer>(new Transformer(model, *arch, hp, std::move(w), options));
}

Transformer::Transformer(const ModelFile& model, const ArchSpec& arch, HParams hp, ModelWeights w,
                         const TransformerOptions& options)
    : arch_(arch),
      hp_(hp),
      backend_(make_cpu_backend(options.n_threads)),
      w_(std::move(w)),
      n_ctx_(options.n_ctx > 0 ? options.n_ctx : hp.n_ctx_train),
      n_batch_(options.n_batch),
      kv_window_(kv_window(hp)),
      on_tensor_(options.on_tensor) {
  rope_.n_rot = hp_.n_rot;
  rope_.freq_base = static_cast<float>(hp_.rope_freq_base);
  rope_.neox = arch_.rope_style == RopeStyle::kNeox;
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
  // rope.scaling.attn_factor (Phi-3.5's LongRoPE magnitude) multiplies the cos/sin table, as
  // llama.cpp multiplies its attention factor by it.
  if (const std::optional<double> f = model.get_float(model.arch_key("rope.scaling.attn_factor")); f && *f > 0)
    rope_.attn_factor *= static_cast<float>(*f);
  // LongRoPE: the long factors when this context exceeds the original one, else the short ones
  // (llama.cpp's rule, by the context size asked for).
  if (!w_.rope_freqs.present() && (w_.rope_long.present() || w_.rope_short.present())) {
    const int64_t orig =
        model.get_int(model.arch_key("rope.scaling.original_context_length")).value_or(hp_.n_ctx_train);
    w_.rope_freqs = n_ctx_ > orig ? w_.rope_long : w_.rope_short;
  }

  rope_swa_ = rope_;
  if (arch_.swa_own_rope) {  // llama.cpp: rope.freq_base_swa, and the windowed layers are not scaled
    rope_swa_.freq_base = static_cast<float>(hp_.rope_freq_base_swa);
    rope_swa_.freq_scale = 1.0f;
    if (hp_.n_rot_swa > 0) rope_swa_.n_rot = hp_.n_rot_swa;  // Gemma 4
  }
  // Gemma scales the queries by 1/sqrt(head_dim), or 1/sqrt(n_embd / n_head) for its 27B shapes
  // (gemma_pytorch's query_pre_attn_scalar, as llama.cpp keys it on the layer count).
  const bool embd_scale = arch_.q_scale_embd_layers > 0 && hp_.n_layer == arch_.q_scale_embd_layers;
  q_scale_ = 1.0f / std::sqrt(static_cast<float>(embd_scale ? hp_.n_embd / hp_.n_head : hp_.head_dim));
  if (arch_.unit_attention_scale) q_scale_ = 1.0f;
  if (hp_.is_mla()) {
    // DeepSeek's YaRN, as llama.cpp computes it: with a yarn_log_multiplier the rope's own factor
    // is mscale(m) / mscale(m_all) = 1 (m = m_all for this family) over YaRN's correction, and the
    // scores are pre-scaled by the square of that correction times (1 + 0.1 m_all ln s); per-head
    // queries and keys are head_dim_k_mla wide (nope + rope), whatever the latent's width.
    if (scaling == "yarn" && factor > 1 && hp_.rope_yarn_log_mul != 0)
      rope_.attn_factor = 1.0f / std::fma(0.1f, std::log(static_cast<float>(factor)), 1.0f);
    const float ln = std::log(1.0f / rope_.freq_scale);
    const float attn_factor_org = rope_.attn_factor * std::fma(0.1f, ln, 1.0f);
    const float mscale = attn_factor_org * std::fma(0.1f * static_cast<float>(hp_.rope_yarn_log_mul), ln, 1.0f);
    q_scale_ = 1.0f * mscale * mscale / std::sqrt(static_cast<float>(hp_.head_dim_k_mla));
  }

  if (options.own_kv_cache) {
    const int64_t block = 16;
    const int64_t n_blocks = (n_ctx_ + block - 1) / block;
    // A chunk of n_batch tokens from position p reads window blocks from
    // window_first_position(p) / block through (p + n_batch - 1) / block: fewer than the ring, so
    // no block the chunk still reads is reused for a later one.
    const int64_t ring = kv_window_ > 0 ? std::min(n_blocks, (kv_window_ + 16 + n_batch_) / block + 3) : 0;
    own_kv_ = KvCache(kv_layer_shapes(hp_), block, n_blocks, ring, *backend_, hp_.has_recurrent_layers() ? 1 : 0);
    for (int64_t b = 0; b < n_blocks; ++b) {
      own_table_.push_back(static_cast<int32_t>(b));
      if (ring > 0) own_window_table_.push_back(static_cast<int32_t>(b % ring));
    }
  }
  Backend& be = *backend_;
  const int64_t nb = n_batch_;
  x_ = be.buffer(nb, hp_.n_embd);
  cur_ = be.buffer(nb, hp_.n_embd);
  std::vector<std::pair<int64_t, int64_t>> shapes;  // (q_dim, kv_dim) of each set
  for (int64_t il = 0; il < hp_.n_layer; ++il) {
    const std::pair<int64_t, int64_t> shape{hp_.layer_q_dim(il), hp_.layer_kv_dim(il)};
    auto it = std::find(shapes.begin(), shapes.end(), shape);
    if (it == shapes.end()) {
      shapes.push_back(shape);
      if (hp_.is_mla())  // only the queries (in the latent space); the latent has its own buffers
        attn_sets_.push_back({be.buffer(nb, shape.first), nullptr, nullptr, nullptr});
      else
        attn_sets_.push_back({be.buffer(nb, shape.first), be.buffer(nb, shape.second), be.buffer(nb, shape.second),
                              be.buffer(nb, shape.first)});
      it = shapes.end() - 1;
    }
    attn_set_of_.push_back(static_cast<size_t>(it - shapes.begin()));
  }
  if (hp_.is_mla()) {
    if (hp_.n_lora_q > 0) mla_qa_ = be.buffer(nb, hp_.n_lora_q);
    mla_q_ = be.buffer(nb, hp_.n_head * hp_.head_dim_k_mla);
    mla_kv_ = be.buffer(nb, hp_.n_lora_kv + hp_.n_rot);
    mla_latent_out_ = be.buffer(nb, hp_.n_head * hp_.n_lora_kv);
    mla_out_ = be.buffer(nb, hp_.n_head * hp_.head_dim_v_mla);
  }
  if (arch_.gated_attention) {
    q_gated_ = be.buffer(nb, 2 * hp_.q_dim());
    attn_gate_ = be.buffer(nb, hp_.q_dim());
  }
  if (arch_.delta_net) {
    delta_shape_ = {hp_.ssm_n_k_heads, hp_.ssm_n_v_heads, hp_.ssm_head_dim, hp_.ssm_conv_kernel,
                    static_cast<float>(hp_.rms_eps)};
    ssm_qkv_ = be.buffer(nb, hp_.ssm_channels());
    ssm_conv_ = be.buffer(nb, hp_.ssm_channels());
    ssm_z_ = be.buffer(nb, hp_.ssm_value_dim());
    ssm_out_ = be.buffer(nb, hp_.ssm_value_dim());
    ssm_alpha_ = be.buffer(nb, hp_.ssm_n_v_heads);
    ssm_beta_ = be.buffer(nb, hp_.ssm_n_v_heads);
  }
  if (hp_.n_expert_shared > 0) {
    shexp_gate_ = be.buffer(nb, hp_.ffn_shexp_width());
    shexp_up_ = be.buffer(nb, hp_.ffn_shexp_width());
    shexp_logit_ = be.buffer(nb, 1);
  }
  proj_ = be.buffer(nb, hp_.n_embd);
  std::vector<int64_t> ffn_widths;  // of each set
  for (int64_t il = 0; il < hp_.n_layer; ++il) {
    const int64_t width = hp_.layer_n_ff(il);
    auto it = std::find(ffn_widths.begin(), ffn_widths.end(), width);
    if (it == ffn_widths.end()) {
      ffn_widths.push_back(width);
      ffn_sets_.push_back({be.buffer(nb, width), be.buffer(nb, width)});
      it = ffn_widths.end() - 1;
    }
    ffn_set_of_.push_back(static_cast<size_t>(it - ffn_widths.begin()));
  }
  if (hp_.n_embd_per_layer > 0) {
    ple_ = be.buffer(nb, hp_.n_layer * hp_.n_embd_per_layer);
    ple_mix_ = be.buffer(nb, hp_.n_layer * hp_.n_embd_per_layer);
    ple_gate_ = be.buffer(nb, hp_.n_embd_per_layer);
    ple_layer_ = be.buffer(nb, hp_.n_embd_per_layer);
  }
  rope_table_ = be.buffer(nb, hp_.n_rot);
  if (arch_.swa_own_rope && hp_.n_swa > 0) rope_table_swa_ = be.buffer(nb, rope_swa_.n_rot);
  if (hp_.n_expert > 0) router_ = be.buffer(nb, hp_.n_expert);
  if (hp_.n_expert > 0 && (arch_.moe_beside_dense || hp_.n_expert_shared > 0)) moe_buf_ = be.buffer(nb, hp_.n_embd);
  if (w_.cls_out.present()) cls_ = be.buffer(1, hp_.n_cls_out);
  output_rows_.reserve(size_t(nb));
  kv_cells_.reserve(size_t(nb));
  ranges_.reserve(size_t(nb));

  // The backend makes each matrix resident (the CPU packs it for its kernels where that pays,
  // kernels/cpu/packed.h, and the file's pages of a packed matrix are then dropped, so the
  // weights are resident once, not twice; they stay mapped, for a tied embedding's row lookups).
  const auto release = [&model](const TensorView& v) { model.release_pages(v); };
  // The output matrix first: it is the largest, and its file pages and packed copy then meet
  // while nothing else is packed yet (peak RSS ~ the weights + that matrix).
  const int64_t steps = static_cast<int64_t>(w_.layers.size()) + 1;
  const auto progress = [&](int64_t done) {
    if (options.on_load_progress) options.on_load_progress(done, steps);
  };
  be.load(w_.output, release);
  for (Weight* head : {&w_.cls_out, &w_.cls, &w_.dense2, &w_.dense3, &w_.ple_model_proj})
    if (head->present()) be.load(*head, release);
  if (w_.dense2.present()) dense_ = be.buffer(1, hp_.n_dense);
  progress(1);
  for (size_t i = 0; i < w_.layers.size(); ++i) {
    for (Weight* m : layer_matrices(w_.layers[i])) be.load(*m, release);
    for (Weight* v : {&w_.layers[i].router, &w_.layers[i].shexp_gate, &w_.layers[i].ssm_conv}) be.load(*v, release);
    progress(static_cast<int64_t>(i) + 2);
  }
}

Status Transformer::forward(std::span<const int32_t> tokens, bool all_logits,
                            std::vector<float>& logits) {
  return forward_own(tokens, TokenOutput::kLogits, all_logits, logits);
}

Status Transformer::forward_hidden(std::span<const int32_t> tokens, bool all, std::vector<float>& hidden) {
  return forward_own(tokens, TokenOutput::kHidden, all, hidden);
}

Status Transformer::forward_own(std::span<const int32_t> tokens, TokenOutput output, bool all,
                                std::vector<float>& out) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (own_kv_.n_blocks() == 0) return make_error("forward: this transformer has no cache of its own");
  if (n == 0) return make_error("forward: no tokens");
  if (n_past_ + n > n_ctx_)
    return make_error("context full: {} cached + {} new tokens exceed n_ctx {}", n_past_, n, n_ctx_);
  own_batch_.clear();
  own_batch_.block_tables.push_back(own_table_);
  if (own_kv_.has_window_group()) own_batch_.window_tables.push_back(own_window_table_);
  if (own_kv_.n_state_slots() > 0) own_batch_.state_slots.push_back(0);
  for (int64_t i = 0; i < n; ++i)
    own_batch_.add(tokens[size_t(i)], static_cast<int32_t>(n_past_ + i), 0,
                   all || i == n - 1 ? output : TokenOutput::kNone);
  const int64_t width = output == TokenOutput::kLogits ? hp_.n_vocab : hp_.n_embd;
  out.resize(static_cast<size_t>((all ? n : 1) * width));
  const bool logits = output == TokenOutput::kLogits;
  HEARTH_RETURN_IF_ERROR(forward_batch(own_batch_, own_kv_, logits ? out.data() : nullptr,
                                       logits ? nullptr : out.data()));
  n_past_ += n;
  return {};
}

Status Transformer::truncate(int64_t n) {
  if (n < 0 || n > n_past_) return make_error("truncate: {} is outside 0..{} (the cached tokens)", n, n_past_);
  if (own_kv_.has_recurrent_layers() && n != 0 && n != n_past_)
    return make_error("truncate: a model with recurrent layers cannot take back tokens (its state has absorbed them)");
  if (own_kv_.has_window_group() && n_past_ - n > n_batch_)
    return make_error("truncate: {} tokens back is more than a sliding-window cache keeps ({})", n_past_ - n, n_batch_);
  n_past_ = n;
  return {};
}

Status Transformer::check_batch(const Batch& b, const KvCache& kv) const {
  if (b.size() == 0) return make_error("forward: no tokens");
  if (b.positions.size() != b.size() || b.seq.size() != b.size() || b.outputs.size() != b.size())
    return make_error("forward: batch arrays differ in length");
  if (kv.n_layer() != hp_.n_layer)
    return make_error("forward: the KV cache has {} layers, the model {}", kv.n_layer(), hp_.n_layer);
  const int64_t window = kv_window_;
  const std::vector<KvLayerShape> shapes = kv_layer_shapes(hp_);
  for (int64_t il = 0; il < hp_.n_layer; ++il) {
    if (kv.layer(il).k_width != shapes[size_t(il)].k_width || kv.layer(il).v_width != shapes[size_t(il)].v_width ||
        kv.layer(il).state_width != shapes[size_t(il)].state_width ||
        kv.layer(il).conv_width != shapes[size_t(il)].conv_width)
      return make_error("forward: the KV cache's layer {} has another width than the model's", il);
    if (kv.group(il) == KvGroup::kWindow &&
        w_.layers[size_t(il)].config.attention != AttentionKind::kSlidingWindow)
      return make_error("forward: layer {} attends to every position but its cache keeps a window", il);
  }
  if (kv.has_window_group() && b.window_tables.size() != b.block_tables.size())
    return make_error("forward: {} window tables for {} sequences", b.window_tables.size(), b.block_tables.size());
  HEARTH_RETURN_IF_ERROR(check_encoder_batch(b));
  HEARTH_RETURN_IF_ERROR(check_state_batch(b, kv));
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

// A recurrent layer's state has absorbed its sequence up to some position: each sequence of the
// batch has a slot of its own, and its tokens continue that position one by one (or restart the
// sequence at 0, which clears the slot).
Status Transformer::check_state_batch(const Batch& b, const KvCache& kv) const {
  if (!kv.has_recurrent_layers()) return {};
  if (b.state_slots.size() != b.block_tables.size())
    return make_error("forward: {} state slots for {} sequences", b.state_slots.size(), b.block_tables.size());
  const size_t n_seq = b.state_slots.size();
  for (const auto* v : {&b.resume_from, &b.snapshot_slots, &b.snapshot_at})
    if (!v->empty() && v->size() != n_seq)
      return make_error("forward: {} resume or snapshot entries for {} sequences", v->size(), n_seq);
  const auto slot_ok = [&](int32_t slot) { return slot >= 0 && slot < kv.n_state_slots(); };
  std::vector<int64_t> next(n_seq, -1);  // per sequence, the position its next token must have
  for (size_t s = 0; s < n_seq; ++s) {
    const int32_t slot = b.state_slots[s];
    if (!slot_ok(slot))
      return make_error("forward: state slot {} is outside the cache ({} slots)", slot, kv.n_state_slots());
    for (size_t o = 0; o < s; ++o)
      if (b.state_slots[o] == slot) return make_error("forward: sequences {} and {} share state slot {}", o, s, slot);
    const int32_t from = b.resume_from.empty() ? -1 : b.resume_from[s];
    const int32_t snap = b.snapshot_slots.empty() ? -1 : b.snapshot_slots[s];
    for (const int32_t extra : {from, snap}) {
      if (extra < 0) continue;
      if (!slot_ok(extra) || std::find(b.state_slots.begin(), b.state_slots.end(), extra) != b.state_slots.end())
        return make_error("forward: snapshot slot {} is outside the cache or a running sequence's", extra);
    }
    if (from >= 0) next[s] = kv.slot_next(from);
  }
  for (size_t i = 0; i < b.size(); ++i) {
    const int32_t s = b.seq[i], pos = b.positions[i];
    if (s < 0 || static_cast<size_t>(s) >= next.size()) continue;  // reported by check_batch
    int64_t& want = next[size_t(s)];
    if (want < 0) want = pos == 0 ? 0 : kv.slot_next(b.state_slots[size_t(s)]);
    if (pos != want)
      return make_error("forward: a recurrent model's sequence continues at position {}, not {} (its state cannot "
                        "skip or go back)", want, pos);
    ++want;
  }
  return {};
}

// A bidirectional encoder's sequence is computed whole in one pass: its tokens are contiguous in
// the batch at positions 0, 1, 2, ..., at most n_batch of them, and within the learned positions.
Status Transformer::check_encoder_batch(const Batch& b) const {
  if (hp_.causal && !arch_.absolute_positions) return {};
  if (arch_.absolute_positions)
    for (int32_t pos : b.positions)
      if (pos >= hp_.n_ctx_train)
        return make_error("forward: position {} is beyond the model's {} learned positions", pos, hp_.n_ctx_train);
  if (hp_.causal) return {};
  std::vector<uint8_t> seen(b.block_tables.size(), 0);
  int64_t run = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    const int32_t s = b.seq[i];
    if (s < 0 || static_cast<size_t>(s) >= seen.size()) continue;  // reported by check_batch
    const bool first = i == 0 || b.seq[i - 1] != s;
    if (first && seen[size_t(s)])
      return make_error("forward: an encoder's sequence {} is not contiguous in the batch", s);
    seen[size_t(s)] = 1;
    run = first ? 1 : run + 1;
    if (b.positions[i] != run - 1)
      return make_error("forward: an encoder's sequence is computed whole from position 0 (token {} is at {})", i,
                        b.positions[i]);
    if (run > n_batch_)
      return make_error("forward: an encoder's sequence of over {} tokens does not fit in one pass (n_batch)",
                        n_batch_);
  }
  return {};
}

Status Transformer::forward_batch(const Batch& batch, KvCache& kv, float* logits, float* hidden) {
  HEARTH_RETURN_IF_ERROR(check_batch(batch, kv));
  if ((logits == nullptr && batch.n_logits() > 0) || (hidden == nullptr && batch.n_outputs(TokenOutput::kHidden) > 0))
    return make_error("forward: the batch wants outputs that have nowhere to go");
  if (!w_.output.present() && batch.n_logits() > 0)
    return make_error("this model is an encoder: it computes embeddings, not logits");
  const int64_t n = static_cast<int64_t>(batch.size());
  for (size_t s = 0; s < batch.resume_from.size(); ++s) {  // sequences resuming from a snapshot
    const int32_t from = batch.resume_from[s], slot = batch.state_slots[s];
    if (from < 0) continue;
    backend_->state_copy(kv.states(), from, slot);
    kv.set_slot_next(slot, kv.slot_next(from));
  }
  for (int64_t begin = 0, len = 0; begin < n; begin += len) {
    len = std::min(n_batch_, n - begin);
    // An encoder's sequences are never split between chunks: the chunk ends where the last
    // sequence that fits whole ends (each fits: check_batch).
    if (!hp_.causal)
      while (begin + len < n && batch.seq[size_t(begin + len)] == batch.seq[size_t(begin + len - 1)]) --len;
    const auto [n_logits, n_hidden] = forward_chunk(batch, begin, len, kv, logits, hidden);
    if (n_logits > 0) logits += n_logits * hp_.n_vocab;
    if (n_hidden > 0) hidden += n_hidden * hp_.n_embd;
  }
  return {};
}

std::pair<int64_t, int64_t> Transformer::forward_chunk(const Batch& batch, int64_t begin, int64_t n, KvCache& kv,
                                                       float* logits, float* hidden) {
  Backend& be = *backend_;
  const std::span<const int32_t> tokens(batch.tokens.data() + begin, size_t(n));
  const std::span<const int32_t> positions(batch.positions.data() + begin, size_t(n));
  ++passes_;

  be.embed(w_.token_embd, tokens, *x_);
  if (arch_.embd_scale) {
    be.scale(*x_, n, std::sqrt(static_cast<float>(hp_.n_embd)));
    trace("inp_scaled", -1, *x_, n);
  }
  if (hp_.n_embd_per_layer > 0) per_layer_inputs(tokens, n);
  if (w_.token_types.present()) {  // every token is of type 0 ("sentence A"), as llama.cpp has it
    zeros_.assign(size_t(n), 0);
    be.embed(w_.token_types, zeros_, *proj_);
    be.add(*x_, *proj_, n);
  }
  if (arch_.absolute_positions) {
    be.embed(w_.pos_embd, positions, *proj_);
    be.add(*x_, *proj_, n);
    trace("inp_embd", -1, *x_, n);
  } else {
    be.rope_table(rope_, w_.rope_freqs, positions, *rope_table_);
    if (rope_table_swa_) be.rope_table(rope_swa_, swa_rope_freqs(), positions, *rope_table_swa_);
  }
  if (kv.has_recurrent_layers()) prepare_states(batch, begin, n, kv);
  if (w_.tok_norm.present()) {
    norm(*x_, n, w_.tok_norm, w_.tok_norm_b, *x_);
    trace("inp_norm", -1, *x_, n);
  }

  for (int64_t il = 0; il < hp_.n_layer; ++il) {
    const LayerWeights& L = w_.layers[static_cast<size_t>(il)];
    if (arch_.post_norm) {
      // x = norm(x + attention(x)); x = norm(x + FFN(x))   (BERT)
      attention_block(batch, begin, n, il, kv, *x_);
      be.add(*x_, *proj_, n);
      norm(*x_, n, L.attn_norm, L.attn_norm_b, *cur_);
      trace("ffn_inp", il, *cur_, n);
      ffn_block(L, n, il);
      be.add(*cur_, *proj_, n);
      norm(*cur_, n, L.ffn_norm, L.ffn_norm_b, *x_);
      trace("l_out", il, *x_, n);
      continue;
    }
    // x = x + [post-norm] attention(norm(x)); x = x + [post-norm] FFN(norm(x))
    norm(*x_, n, L.attn_norm, L.attn_norm_b, *cur_);
    trace("attn_norm", il, *cur_, n);
    if (L.config.attention == AttentionKind::kRecurrent)
      delta_net_block(n, il, kv, *cur_);
    else
      attention_block(batch, begin, n, il, kv, *cur_);
    if (L.attn_post_norm.present()) {
      norm(*proj_, n, L.attn_post_norm, {}, *proj_);
      trace("attn_post_norm", il, *proj_, n);
    }
    be.add(*x_, *proj_, n);
    norm(*x_, n, L.ffn_norm, L.ffn_norm_b, *cur_);
    trace("ffn_inp", il, *x_, n);
    trace("ffn_norm", il, *cur_, n);
    ffn_block(L, n, il);
    if (L.ffn_post_norm.present()) {
      norm(*proj_, n, L.ffn_post_norm, {}, *proj_);
      trace("ffn_post_norm", il, *proj_, n);
    }
    be.add(*x_, *proj_, n);
    if (L.ple_gate.present()) per_layer_block(L, n, il);
    if (L.out_scale.present()) {
      be.scale(*x_, n, L.out_scale_value);
      trace("out_scaled", il, *x_, n);
    }
    trace("l_out", il, *x_, n);
  }

  for (int64_t t = 0; t < int64_t(token_slots_.size()); ++t) {  // the states have absorbed the chunk
    kv.set_slot_next(token_slots_[size_t(t)], positions[size_t(t)] + 1);
    if (token_snapshots_[size_t(t)] >= 0) kv.set_slot_next(token_snapshots_[size_t(t)], positions[size_t(t)] + 1);
  }
  // The final norm, and the output head, only for the tokens whose outputs are wanted.
  const int64_t n_hidden = final_norm_rows(batch, begin, n, TokenOutput::kHidden);
  if (n_hidden > 0) be.read(*cur_, n_hidden, hidden);
  const int64_t n_out = final_norm_rows(batch, begin, n, TokenOutput::kLogits);
  if (n_out > 0) {
    be.matmul_to_host(w_.output, *cur_, n_out, logits);
    if (hp_.final_logit_softcap > 0) {  // as llama.cpp: scale by 1/c, tanh, scale by c
      const float c = static_cast<float>(hp_.final_logit_softcap), inv = 1.0f / c;
      for (int64_t i = 0; i < n_out * hp_.n_vocab; ++i) logits[i] = std::tanh(logits[i] * inv) * c;
    }
  }
  return {n_out, n_hidden};
}

void Transformer::norm(const Buffer& x, int64_t n, const Weight& w, const Weight& bias, Buffer& out) {
  if (arch_.norm == NormKind::kLayer)
    backend_->layer_norm(x, n, w, bias, static_cast<float>(hp_.norm_eps), out);
  else
    backend_->rms_norm(x, n, w, static_cast<float>(hp_.rms_eps), out);
}

void Transformer::attention_block(const Batch& batch, int64_t begin, int64_t n, int64_t il, KvCache& kv,
                                  const Buffer& in) {
  if (arch_.mla) return mla_attention_block(batch, begin, n, il, kv, in);
  Backend& be = *backend_;
  const LayerWeights& L = w_.layers[static_cast<size_t>(il)];
  AttentionBuffers& b = attn_sets_[attn_set_of_[size_t(il)]];
  const int64_t hd = hp_.layer_head_dim(il);
  if (arch_.gated_attention) {  // each head's query, then its gate
    be.matmul(L.wq, in, n, *q_gated_);
    be.copy_heads(*q_gated_, {2 * hd, 0}, n, hp_.n_head, hd, *b.q, {hd, 0});
    be.copy_heads(*q_gated_, {2 * hd, hd}, n, hp_.n_head, hd, *attn_gate_, {hd, 0});
  } else {
    be.matmul(L.wq, in, n, *b.q);
  }
  // A shared-KV layer (Gemma 4 E2B/E4B) computes queries only: it attends over the keys and
  // values an earlier layer of this pass has written.
  const bool own_kv = hp_.layer_has_kv(il);
  if (own_kv) {
    be.matmul(L.wk, in, n, *b.k);
    // Without attn_v the values are the keys as projected (Gemma 4's full layers): the same
    // product again rather than a copy, so the backend needs no copy operation.
    be.matmul(L.wv.present() ? L.wv : L.wk, in, n, *b.v);
    be.add_bias(*b.k, n, L.bk);
    be.add_bias(*b.v, n, L.bv);
  }
  be.add_bias(*b.q, n, L.bq);
  const float eps = static_cast<float>(hp_.rms_eps);
  if (L.q_norm.present()) be.head_rms_norm(*b.q, n, hd, L.q_norm, eps);  // qwen3: RMSNorm per head before rope
  if (L.k_norm.present() && own_kv) be.head_rms_norm(*b.k, n, hd, L.k_norm, eps);
  if (arch_.v_norm && own_kv) be.head_rms_norm(*b.v, n, hd, Weight(), eps);  // Gemma 4: no weight
  if (!arch_.absolute_positions) {
    const bool own_rope = rope_table_swa_ && L.config.attention == AttentionKind::kSlidingWindow;
    const ref::RopeParams& rope = own_rope ? rope_swa_ : rope_;
    const Buffer& rope_table = own_rope ? *rope_table_swa_ : *rope_table_;
    const Weight& freqs = own_rope ? swa_rope_freqs() : w_.rope_freqs;
    be.rope(rope, freqs, rope_table, *b.q, n, hp_.n_head, hd);
    if (own_kv) be.rope(rope, freqs, rope_table, *b.k, n, hp_.layer_n_head_kv(il), hd);
  }
  trace("Qcur", il, *b.q, n);
  if (own_kv) {
    trace("Kcur", il, *b.k, n);
    trace("Vcur", il, *b.v, n);
  }
  if (arch_.scale_q) be.scale(*b.q, n, q_scale_);
  attention(batch, begin, n, il, kv);
  trace("kqv_out", il, *b.out, n);
  if (arch_.gated_attention) be.sigmoid_mul(*b.out, *attn_gate_, n);
  be.matmul(L.wo, *b.out, n, *proj_);
  be.add_bias(*proj_, n, L.bo);
  trace("attn_out", il, *proj_, n);
}

void Transformer::prepare_states(const Batch& batch, int64_t begin, int64_t n, KvCache& kv) {
  token_slots_.resize(size_t(n));
  token_snapshots_.assign(size_t(n), -1);
  for (int64_t t = 0; t < n; ++t) {
    const size_t s = size_t(batch.seq[size_t(begin + t)]);
    const int32_t slot = batch.state_slots[s], pos = batch.positions[size_t(begin + t)];
    token_slots_[size_t(t)] = slot;
    if (pos == 0) backend_->state_clear(kv.states(), slot);
    if (!batch.snapshot_slots.empty() && batch.snapshot_slots[s] >= 0 && pos + 1 == batch.snapshot_at[s])
      token_snapshots_[size_t(t)] = batch.snapshot_slots[s];
  }
}

// As llama.cpp computes qwen35's linear attention: q, k and v channels and the output gate z
// projected; the channels through the short convolution and a SiLU; the delta rule per value
// head over the sequence's state; each head's output RMS-normed, times silu(z), projected out.
void Transformer::delta_net_block(int64_t n, int64_t il, KvCache& kv, const Buffer& in) {
  Backend& be = *backend_;
  const LayerWeights& L = w_.layers[static_cast<size_t>(il)];
  const int64_t layer = kv.index(il);
  be.matmul(L.ssm_qkv, in, n, *ssm_qkv_);
  be.matmul(L.ssm_gate, in, n, *ssm_z_);
  be.matmul(L.ssm_beta, in, n, *ssm_beta_);
  be.matmul(L.ssm_alpha, in, n, *ssm_alpha_);
  trace("linear_attn_qkv_mixed", il, *ssm_qkv_, n);
  const StateRoute route{token_slots_, token_snapshots_};
  be.delta_conv(*ssm_qkv_, n, L.ssm_conv, kv.states(), layer, route, delta_shape_, *ssm_conv_);
  trace("conv_output_silu", il, *ssm_conv_, n);
  be.delta_rule(*ssm_conv_, *ssm_alpha_, *ssm_beta_, L.ssm_dt, L.ssm_a, n, kv.states(), layer, route, delta_shape_,
                *ssm_out_);
  trace("attn_output", il, *ssm_out_, n);
  be.head_rms_norm(*ssm_out_, n, hp_.ssm_head_dim, L.ssm_norm, static_cast<float>(hp_.rms_eps));
  be.glu(GluKind::kSwiGLU, *ssm_z_, *ssm_out_, n);  // silu(z) * normed
  trace("final_output", il, *ssm_z_, n);
  be.matmul(L.ssm_out, *ssm_z_, n, *proj_);
  trace("linear_attn_out", il, *proj_, n);
}

// In llama.cpp's order: queries (through the low-rank path where the file has one) split per head
// into an unroped part, mapped into the latent space by attn_k_b, and a roped part; the latent,
// normed, and its own roped part are the key (cached: nothing else is); the values are the
// latent itself, mapped out per head by attn_v_b after attention.
void Transformer::mla_attention_block(const Batch& batch, int64_t begin, int64_t n, int64_t il, KvCache& kv,
                                      const Buffer& in) {
  Backend& be = *backend_;
  const LayerWeights& L = w_.layers[static_cast<size_t>(il)];
  const float eps = static_cast<float>(hp_.rms_eps);
  const int64_t nope = hp_.head_dim_nope(), rot = hp_.n_rot, latent = hp_.n_lora_kv, qk = hp_.head_dim_k_mla;
  const int64_t heads = hp_.n_head, key = latent + rot;
  Buffer& q = *attn_sets_[0].q;  // [n, heads * key]: each head's query in the latent space, then its roped part
  if (L.wq_a.present()) {
    be.matmul(L.wq_a, in, n, *mla_qa_);
    be.rms_norm(*mla_qa_, n, L.q_a_norm, eps, *mla_qa_);
    be.matmul(L.wq_b, *mla_qa_, n, *mla_q_);
  } else {
    be.matmul(L.wq, in, n, *mla_q_);
  }
  be.matmul(L.wkv_a, in, n, *mla_kv_);
  be.rope(rope_, w_.rope_freqs, *rope_table_, *mla_kv_, n, 1, key, latent);
  be.head_rms_norm(*mla_kv_, n, latent, L.kv_a_norm, eps, 1);
  be.rope(rope_, w_.rope_freqs, *rope_table_, *mla_q_, n, heads, qk, nope);
  be.matmul_heads(L.wk_b, *mla_q_, HeadSlice{qk, 0}, n, q, HeadSlice{key, 0});
  be.copy_heads(*mla_q_, HeadSlice{qk, nope}, n, heads, rot, q, HeadSlice{key, latent});
  trace("Qcur", il, q, n);
  trace("Kcur", il, *mla_kv_, n);
  attention_ranges(batch, begin, n, il, kv, 0);
  be.kv_store(*mla_kv_, *mla_kv_, kv.pool(il), kv.index(il), kv_cells_);
  AttentionShape shape;
  shape.n_head = heads;
  shape.n_head_kv = 1;
  shape.head_dim = key;
  shape.v_dim = latent;
  shape.scale = q_scale_;
  be.attention(q, kv.pool(il), kv.index(il), ranges_, shape, L.sinks, *mla_latent_out_);
  be.matmul_heads(L.wv_b, *mla_latent_out_, HeadSlice{latent, 0}, n, *mla_out_, HeadSlice{hp_.head_dim_v_mla, 0});
  trace("kqv_out", il, *mla_out_, n);
  be.matmul(L.wo, *mla_out_, n, *proj_);
  trace("attn_out", il, *proj_, n);
}

Routing Transformer::routing(const LayerWeights& L) const {
  Routing r;
  r.gating = hp_.gating;
  r.k = hp_.n_expert_used;
  r.normalize = hp_.expert_weights_norm;
  r.scale = static_cast<float>(hp_.expert_weights_scale);
  r.selection_bias = &L.exp_probs_b;
  r.n_groups = hp_.n_expert_groups;
  r.n_groups_used = hp_.n_group_used;
  return r;
}

void Transformer::ffn_block(const LayerWeights& L, int64_t n, int64_t il) {
  if (!L.gate_exps.empty() && arch_.moe_beside_dense) return moe_beside_dense_ffn(L, n, il);
  if (!L.gate_exps.empty()) {
    moe_ffn(L, n, il);
    return;
  }
  dense_ffn(L, n, il);
}

// As llama.cpp's gemma4 graph computes them: the token's rows of the table times sqrt(n_pl), plus
// the projection of its scaled embedding times 1/sqrt(n_embd), RMS-normed per layer; the sum
// times 1/sqrt(2).
void Transformer::per_layer_inputs(std::span<const int32_t> tokens, int64_t n) {
  Backend& be = *backend_;
  be.embed(w_.ple_tok_embd, tokens, *ple_);
  be.scale(*ple_, n, std::sqrt(static_cast<float>(hp_.n_embd_per_layer)));
  be.matmul(w_.ple_model_proj, *x_, n, *ple_mix_);
  be.scale(*ple_mix_, n, 1.0f / std::sqrt(static_cast<float>(hp_.n_embd)));
  be.head_rms_norm(*ple_mix_, n, hp_.n_embd_per_layer, w_.ple_proj_norm, static_cast<float>(hp_.rms_eps));
  be.add(*ple_, *ple_mix_, n);
  be.scale(*ple_, n, 1.0f / std::sqrt(2.0f));
  trace("inp_per_layer", -1, *ple_, n);
}

// x_ += post_norm(proj · (gelu(gate · x_) * layer il's inputs)). GeGLU is gelu(a) * b in one
// rounding, as ggml's gelu followed by its multiply.
void Transformer::per_layer_block(const LayerWeights& L, int64_t n, int64_t il) {
  Backend& be = *backend_;
  const int64_t width = hp_.n_embd_per_layer;
  be.matmul(L.ple_gate, *x_, n, *ple_gate_);
  be.copy_heads(*ple_, HeadSlice{0, il * width}, n, 1, width, *ple_layer_, HeadSlice{0, 0});
  be.glu(GluKind::kGeGLU, *ple_gate_, *ple_layer_, n);
  be.matmul(L.ple_proj, *ple_gate_, n, *proj_);
  norm(*proj_, n, L.ple_post_norm, {}, *proj_);
  trace("per_layer_embd_out", il, *proj_, n);
  be.add(*x_, *proj_, n);
}

// The dense FFN of cur_ into proj_.
void Transformer::dense_ffn(const LayerWeights& L, int64_t n, int64_t il) {
  Backend& be = *backend_;
  Buffer& gate = *ffn_sets_[ffn_set_of_[size_t(il)]].gate;
  Buffer& up = *ffn_sets_[ffn_set_of_[size_t(il)]].up;
  if (L.gate.present()) {  // a GLU
    be.matmul_pair(L.gate, L.up, *cur_, n, gate, up);
    trace("ffn_gate", il, gate, n);
    trace("ffn_up", il, up, n);
    be.glu(arch_.glu, gate, up, n);
    trace("ffn_swiglu", il, gate, n);
    be.matmul(L.down, gate, n, *proj_);
  } else {  // BERT: down(GELU(up x + b) + b)
    be.matmul(L.up, *cur_, n, up);
    be.add_bias(up, n, L.up_b);
    trace("ffn_up", il, up, n);
    be.gelu(up, n);
    be.matmul(L.down, up, n, *proj_);
    be.add_bias(*proj_, n, L.down_b);
  }
  trace("ffn_out", il, *proj_, n);
}

int64_t Transformer::final_norm_rows(const Batch& batch, int64_t begin, int64_t n, TokenOutput kind) {
  output_rows_.clear();
  for (int64_t t = 0; t < n; ++t)
    if (batch.outputs[size_t(begin + t)] == kind) output_rows_.push_back(t);
  const int64_t rows = static_cast<int64_t>(output_rows_.size());
  if (rows == 0) return 0;
  if (!w_.output_norm.present()) {  // a post-norm encoder: the last layer's output is the result
    backend_->gather(*x_, output_rows_, *cur_);
    return rows;
  }
  backend_->gather(*x_, output_rows_, *proj_);
  norm(*proj_, rows, w_.output_norm, {}, *cur_);
  trace("result_norm", -1, *cur_, rows);
  return rows;
}

void Transformer::project_pooled(std::vector<float>& pooled) {
  if (!w_.dense2.present() || static_cast<int64_t>(pooled.size()) != hp_.n_embd) return;
  Backend& be = *backend_;
  be.write(*cur_, pooled.data(), 1);
  be.matmul(w_.dense2, *cur_, 1, *dense_);
  if (w_.dense3.present()) {
    be.matmul(w_.dense3, *dense_, 1, *proj_);
    be.read(*proj_, 1, pooled.data());
  } else {
    pooled.resize(static_cast<size_t>(hp_.n_dense));
    be.read(*dense_, 1, pooled.data());
  }
}

Status Transformer::classify(std::span<const float> pooled, std::vector<float>& probs) {
  if (!cls_) return make_error("this model has no classification head (cls.output.weight)");
  if (static_cast<int64_t>(pooled.size()) != hp_.n_embd)
    return make_error("classify: {} values for a {}-wide state", pooled.size(), hp_.n_embd);
  Backend& be = *backend_;
  be.write(*cur_, pooled.data(), 1);
  if (w_.cls.present()) {  // a cross-encoder's pooler: tanh(cls x + b)
    be.matmul(w_.cls, *cur_, 1, *proj_);
    be.add_bias(*proj_, 1, w_.cls_bias);
    std::vector<float> dense(static_cast<size_t>(hp_.n_embd));
    be.read(*proj_, 1, dense.data());
    for (float& v : dense) v = std::tanh(v);
    be.write(*cur_, dense.data(), 1);
  }
  be.matmul(w_.cls_out, *cur_, 1, *cls_);
  be.add_bias(*cls_, 1, w_.cls_out_bias);
  probs.resize(static_cast<size_t>(hp_.n_cls_out));
  be.read(*cls_, 1, probs.data());
  if (hp_.rank_first) return {};  // a cross-encoder's scores are its head's logits, as llama.cpp gives them
  // ggml_soft_max on one row: exp of the differences from the maximum, summed in double, each
  // scaled by 1/sum rounded to float.
  float max = probs[0];
  for (float p : probs) max = std::max(max, p);
  double sum = 0;
  for (float& p : probs) {
    p = std::exp(p - max);
    sum += p;
  }
  const float scale = static_cast<float>(1.0 / sum);
  for (float& p : probs) p *= scale;
  return {};
}

void Transformer::moe_ffn(const LayerWeights& L, int64_t n, int64_t il) {
  Backend& be = *backend_;
  // Route: router logits, then the gating of the family (softmax over all experts and the top k
  // renormalised: qwen3moe, Mixtral; the top k of the biased logits, softmax over those: gpt-oss).
  be.matmul(L.router, *cur_, n, *router_);
  trace("ffn_moe_logits", il, *router_, n);
  be.add_bias(*router_, n, L.router_bias);
  be.select_experts(*router_, n, routing(L), experts_);
  trace("ffn_moe_probs", il, *router_, n);
  be.experts(expert_weights(L), *cur_, n, experts_, *proj_);
  trace("ffn_moe_out", il, *proj_, n);  // the routed experts' weighted sum (llama.cpp's name)
  if (L.gate_shexp.present()) {  // DeepSeekMoE's shared experts: a GLU every token runs, added
    be.matmul_pair(L.gate_shexp, L.up_shexp, *cur_, n, *shexp_gate_, *shexp_up_);
    be.glu(GluKind::kSwiGLU, *shexp_gate_, *shexp_up_, n);
    be.matmul(L.down_shexp, *shexp_gate_, n, *moe_buf_);
    trace("ffn_shexp", il, *moe_buf_, n);
    if (L.shexp_gate.present()) {  // Qwen3.5-MoE: times sigmoid of its gate's one logit per token
      be.matmul(L.shexp_gate, *cur_, n, *shexp_logit_);
      trace("shared_expert_gate", il, *shexp_logit_, n);
      be.sigmoid_mul(*moe_buf_, *shexp_logit_, n);
      trace("ffn_shexp_gated", il, *moe_buf_, n);
    }
    be.add(*proj_, *moe_buf_, n);
    trace("ffn_out", il, *proj_, n);
  }
}

// A MoE layer's experts as the backend takes them (absent biases and scales: none).
ExpertWeights Transformer::expert_weights(const LayerWeights& L) const {
  ExpertWeights ew;
  ew.gate = L.gate_exps;
  ew.up = L.up_exps;
  ew.down = L.down_exps;
  ew.gate_bias = &L.gate_exps_bias;
  ew.up_bias = &L.up_exps_bias;
  ew.down_bias = &L.down_exps_bias;
  ew.down_scale = &L.down_exps_scale;
  ew.glu = arch_.glu;
  return ew;
}

// Gemma 4's MoE layer on x = the attention's output (cur = ffn_norm(x)): the dense FFN, normed
// after (post_ffw_norm_1), plus the experts on pre_ffw_norm_2(x), normed after (post_ffw_norm_2),
// routed by rms_norm(x) / sqrt(n_embd) * ffn_gate_inp.scale, in llama.cpp's order of operations.
void Transformer::moe_beside_dense_ffn(const LayerWeights& L, int64_t n, int64_t il) {
  Backend& be = *backend_;
  dense_ffn(L, n, il);
  norm(*proj_, n, L.ffn_post_norm1, {}, *proj_);
  trace("ffn_mlp", il, *proj_, n);
  norm(*x_, n, L.ffn_pre_norm2, {}, *cur_);
  trace("ffn_norm_2", il, *cur_, n);
  be.rms_norm(*x_, n, Weight(), static_cast<float>(hp_.rms_eps), *moe_buf_);
  be.scale(*moe_buf_, n, 1.0f / std::sqrt(static_cast<float>(hp_.n_embd)));
  be.mul(*moe_buf_, n, L.router_scale);
  be.matmul(L.router, *moe_buf_, n, *router_);
  trace("ffn_moe_logits", il, *router_, n);
  be.select_experts(*router_, n, routing(L), experts_);
  be.experts(expert_weights(L), *cur_, n, experts_, *moe_buf_);
  norm(*moe_buf_, n, L.ffn_post_norm2, {}, *moe_buf_);
  trace("ffn_moe", il, *moe_buf_, n);
  be.add(*proj_, *moe_buf_, n);
  trace("ffn_moe_combined", il, *proj_, n);
}

void Transformer::trace(const char* name, int64_t layer, const Buffer& values, int64_t rows) {
  if (!on_tensor_) return;
  trace_.resize(static_cast<size_t>(rows * values.cols()));
  backend_->read(values, rows, trace_.data());
  on_tensor_(layer < 0 ? std::string(name) : fmt::format("{}-{}", name, layer), std::span<const float>(trace_));
}

// Appends the chunk's keys and values to the cache at each token's cell of its sequence's table,
// then runs causal attention of each query over its own sequence's cached positions 0 .. pos
// (a sliding window's range starts at window_first_position: a block's first slot and a multiple
// of 16, so the masked rest of that range adds exact zeros; kernels/attention.h).
void Transformer::attention(const Batch& batch, int64_t begin, int64_t n, int64_t il, KvCache& kv) {
  const LayerWeights& L = w_.layers[size_t(il)];
  AttentionBuffers& b = attn_sets_[attn_set_of_[size_t(il)]];
  const int64_t window = L.config.attention == AttentionKind::kSlidingWindow ? L.config.window : 0;
  AttentionShape shape;
  shape.n_head = hp_.n_head;
  shape.n_head_kv = hp_.layer_n_head_kv(il);
  shape.head_dim = hp_.layer_head_dim(il);
  shape.scale = arch_.scale_q ? 1.0f : q_scale_;
  shape.softcap = static_cast<float>(hp_.attn_logit_softcap);
  // A bidirectional encoder's token reads its whole sequence, all of which is in this chunk at
  // positions 0, 1, ... (check_encoder_batch, forward_batch): no cache is written or read.
  if (!hp_.causal) {
    seq_end_.assign(batch.block_tables.size(), 0);
    for (int64_t t = 0; t < n; ++t) {
      int32_t& end = seq_end_[size_t(batch.seq[size_t(begin + t)])];
      end = std::max(end, batch.positions[size_t(begin + t)] + 1);
    }
    spans_.clear();
    for (int64_t t = 0; t < n; ++t)
      spans_.push_back(RowSpan{t - batch.positions[size_t(begin + t)], seq_end_[size_t(batch.seq[size_t(begin + t)])]});
    shape.symmetric_window = window / 2;  // an encoder's window is centred on the token (llama.cpp's rule)
    backend_->self_attention(*b.q, *b.k, *b.v, spans_, shape, *b.out);
    return;
  }
  attention_ranges(batch, begin, n, il, kv, window);
  if (hp_.layer_has_kv(il)) backend_->kv_store(*b.k, *b.v, kv.pool(il), kv.index(il), kv_cells_);
  backend_->attention(*b.q, kv.pool(il), kv.index(il), ranges_, shape, L.sinks, *b.out);
}

void Transformer::attention_ranges(const Batch& batch, int64_t begin, int64_t n, int64_t il, KvCache& kv,
                                   int64_t window) {
  const int64_t bs = kv.block_size();
  kv_cells_.clear();
  ranges_.clear();
  for (int64_t t = 0; t < n; ++t) {
    const int32_t seq = batch.seq[size_t(begin + t)];
    const std::span<const int32_t> table = layer_table(batch, kv, il, seq);
    const int64_t pos = batch.positions[size_t(begin + t)];
    kv_cells_.push_back(int64_t{table[size_t(pos / bs)]} * bs + pos % bs);
    const int64_t visible = window > 0 ? std::max<int64_t>(0, pos + 1 - window) : 0;
    const int64_t first = window > 0 ? window_first_position(pos, window, bs) : 0;
    ranges_.push_back(AttentionRange{table, first, pos + 1 - first, visible - first});
  }
}

}  // namespace hearth
