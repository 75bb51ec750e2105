#include "model/transformer.h"

#include <algorithm>
#include <cmath>

#include "kernels/matmul.h"
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

Result<ModelWeights> bind_weights(const ModelFile& m, const HParams& hp) {
  ModelWeights w;
  w.token_embd = optional_tensor(m, "token_embd.weight");
  w.output_norm = optional_tensor(m, "output_norm.weight");
  w.output = optional_tensor(m, "output.weight");
  if (w.output.data == nullptr) w.output = w.token_embd;  // tied embeddings
  w.rope_freqs = optional_tensor(m, "rope_freqs.weight");
  HEARTH_RETURN_IF_ERROR(require_f32(m, w.output_norm, "output_norm.weight"));
  HEARTH_RETURN_IF_ERROR(require_f32(m, w.rope_freqs, "rope_freqs.weight"));
  for (int64_t i = 0; i < hp.n_layer; ++i) {
    auto t = [&](const char* pattern) { return optional_tensor(m, layer_tensor_name(pattern, i)); };
    LayerWeights l;
    l.attn_norm = t("blk.{i}.attn_norm.weight");
    l.wq = t("blk.{i}.attn_q.weight");
    l.wk = t("blk.{i}.attn_k.weight");
    l.wv = t("blk.{i}.attn_v.weight");
    l.wo = t("blk.{i}.attn_output.weight");
    l.bq = t("blk.{i}.attn_q.bias");
    l.bk = t("blk.{i}.attn_k.bias");
    l.bv = t("blk.{i}.attn_v.bias");
    l.q_norm = t("blk.{i}.attn_q_norm.weight");
    l.k_norm = t("blk.{i}.attn_k_norm.weight");
    l.ffn_norm = t("blk.{i}.ffn_norm.weight");
    l.gate = t("blk.{i}.ffn_gate.weight");
    l.up = t("blk.{i}.ffn_up.weight");
    l.down = t("blk.{i}.ffn_down.weight");
    for (const auto& [view, name] :
         {std::pair{&l.attn_norm, "attn_norm"}, {&l.bq, "attn_q.bias"}, {&l.bk, "attn_k.bias"},
          {&l.bv, "attn_v.bias"}, {&l.q_norm, "attn_q_norm"}, {&l.k_norm, "attn_k_norm"},
          {&l.ffn_norm, "ffn_norm"}})
      HEARTH_RETURN_IF_ERROR(require_f32(m, *view, fmt::format("blk.{}.{}", i, name)));
    for (const TensorView* v : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down})
      if (!dtype_info(v->type).can_dequantize)
        return make_error("{}: layer {} has a {} matrix, which hearth cannot compute with yet",
                          m.path(), i, dtype_name(v->type));
    w.layers.push_back(l);
  }
  return w;
}

const float* f32(const TensorView& v) { return static_cast<const float*>(v.data); }

void add_bias(float* y, const TensorView& bias, int64_t n_tokens, int64_t dim) {
  if (bias.data == nullptr) return;
  for (int64_t t = 0; t < n_tokens; ++t) ref::add_inplace(y + t * dim, f32(bias), dim);
}

}  // namespace

Result<std::unique_ptr<Transformer>> Transformer::create(const ModelFile& model,
                                                         const TransformerOptions& options) {
  const ArchSpec* arch = find_arch(model.architecture());
  if (arch == nullptr)
    return make_error("{}: architecture '{}' is not supported", model.path(), model.architecture());
  HEARTH_TRY(HParams hp, read_hparams(model));
  HEARTH_RETURN_IF_ERROR(validate_tensors(model, *arch, hp));
  HEARTH_TRY(ModelWeights w, bind_weights(model, hp));
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
    rope_.n_ctx_orig =
        model.get_int(model.arch_key("rope.scaling.original_context_length")).value_or(hp_.n_ctx_train);
  }

  const uint64_t kv_elems = static_cast<uint64_t>(hp_.n_layer * n_ctx_ * hp_.kv_dim());
  k_cache_.assign(kv_elems, 0);
  v_cache_.assign(kv_elems, 0);
  const auto nb = static_cast<size_t>(n_batch_);
  x_.resize(nb * hp_.n_embd);
  cur_.resize(nb * hp_.n_embd);
  q_.resize(nb * hp_.q_dim());
  k_.resize(nb * hp_.kv_dim());
  v_.resize(nb * hp_.kv_dim());
  attn_.resize(nb * hp_.q_dim());
  proj_.resize(nb * hp_.n_embd);
  gate_.resize(nb * hp_.n_ff);
  up_.resize(nb * hp_.n_ff);
  rope_cache_.resize(nb * hp_.n_rot);
  for (int i = 0; i < pool_.size(); ++i)
    attn_scratch_.push_back(AttentionScratch{std::vector<float>(static_cast<size_t>(n_ctx_)),
                                             std::vector<float>(static_cast<size_t>(hp_.head_dim)),
                                             std::vector<double>(static_cast<size_t>(hp_.head_dim))});
}

Status Transformer::forward(std::span<const int32_t> tokens, bool all_logits,
                            std::vector<float>& logits) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return make_error("forward: no tokens");
  if (n_past_ + n > n_ctx_)
    return make_error("context full: {} cached + {} new tokens exceed n_ctx {}", n_past_, n, n_ctx_);
  for (int32_t id : tokens)
    if (id < 0 || id >= hp_.n_vocab)
      return make_error("token id {} is outside the vocabulary (0..{})", id, hp_.n_vocab - 1);
  logits.resize(static_cast<size_t>((all_logits ? n : 1) * hp_.n_vocab));
  for (int64_t begin = 0; begin < n; begin += n_batch_) {
    const int64_t len = std::min(n_batch_, n - begin);
    const bool last_chunk = begin + len == n;
    float* out = all_logits ? logits.data() + begin * hp_.n_vocab : logits.data();
    forward_chunk(tokens.data() + begin, len, all_logits, all_logits || last_chunk ? out : nullptr);
  }
  return {};
}

void Transformer::forward_chunk(const int32_t* tokens, int64_t n, bool all_logits, float* logits) {
  const int64_t n_embd = hp_.n_embd, q_dim = hp_.q_dim(), kv_dim = hp_.kv_dim();
  const float eps = static_cast<float>(hp_.rms_eps);

  for (int64_t t = 0; t < n; ++t) ref::get_row(w_.token_embd, tokens[t], x_.data() + t * n_embd);
  for (int64_t t = 0; t < n; ++t)
    ref::rope_cache(rope_, static_cast<float>(n_past_ + t), rope_cache_.data() + t * hp_.n_rot);

  for (int64_t il = 0; il < hp_.n_layer; ++il) {
    const LayerWeights& L = w_.layers[static_cast<size_t>(il)];
    // Attention block.
    for (int64_t t = 0; t < n; ++t)
      ref::rms_norm(x_.data() + t * n_embd, f32(L.attn_norm), cur_.data() + t * n_embd, n_embd, eps);
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
      ref::rope_apply(rope_, cache, q, hp_.n_head, hp_.head_dim);
      ref::rope_apply(rope_, cache, k, hp_.n_head_kv, hp_.head_dim);
      // Append to the f16 cache.
      const uint64_t at = static_cast<uint64_t>((il * n_ctx_ + n_past_ + t) * kv_dim);
      for (int64_t i = 0; i < kv_dim; ++i) {
        k_cache_[at + i] = fp32_to_fp16(k[i]);
        v_cache_[at + i] = fp32_to_fp16(v_[static_cast<size_t>(t * kv_dim + i)]);
      }
    }
    attention(il, n);
    kernels::matmul(L.wo, attn_.data(), n, proj_.data(), pool_, matmul_scratch_);
    for (int64_t t = 0; t < n; ++t) ref::add_inplace(x_.data() + t * n_embd, proj_.data() + t * n_embd, n_embd);

    // Feed-forward block (SwiGLU).
    for (int64_t t = 0; t < n; ++t)
      ref::rms_norm(x_.data() + t * n_embd, f32(L.ffn_norm), cur_.data() + t * n_embd, n_embd, eps);
    kernels::matmul(L.gate, cur_.data(), n, gate_.data(), pool_, matmul_scratch_);
    kernels::matmul(L.up, cur_.data(), n, up_.data(), pool_, matmul_scratch_);
    ref::silu_mul(gate_.data(), up_.data(), gate_.data(), n * hp_.n_ff);
    kernels::matmul(L.down, gate_.data(), n, proj_.data(), pool_, matmul_scratch_);
    for (int64_t t = 0; t < n; ++t) ref::add_inplace(x_.data() + t * n_embd, proj_.data() + t * n_embd, n_embd);
  }
  n_past_ += n;
  if (logits == nullptr) return;

  // Output head, only for the tokens whose logits are wanted.
  const int64_t first = all_logits ? 0 : n - 1;
  const int64_t n_out = n - first;
  for (int64_t t = 0; t < n_out; ++t)
    ref::rms_norm(x_.data() + (first + t) * n_embd, f32(w_.output_norm), cur_.data() + t * n_embd,
                  n_embd, eps);
  kernels::matmul(w_.output, cur_.data(), n_out, logits, pool_, matmul_scratch_);
}

// Causal attention of the chunk's n queries over the cache (positions 0 .. n_past + t), with the
// roundings of llama.cpp's CPU path: q and the probabilities enter the f16 dot products as f16.
void Transformer::attention(int64_t il, int64_t n) {
  const int64_t hd = hp_.head_dim, q_dim = hp_.q_dim(), kv_dim = hp_.kv_dim();
  const int64_t group = hp_.n_head / hp_.n_head_kv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const uint16_t* kc = k_cache_.data() + static_cast<uint64_t>(il * n_ctx_ * kv_dim);
  const uint16_t* vc = v_cache_.data() + static_cast<uint64_t>(il * n_ctx_ * kv_dim);
  pool_.parallel_for(n * hp_.n_head, [&](int64_t begin, int64_t end, int thread) {
    AttentionScratch& s = attn_scratch_[static_cast<size_t>(thread)];
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / hp_.n_head, h = job % hp_.n_head;
      const int64_t kvh = h / group;
      const int64_t n_kv = n_past_ + t + 1;
      const float* q = q_.data() + t * q_dim + h * hd;
      for (int64_t i = 0; i < hd; ++i) s.q16[i] = fp16_to_fp32(fp32_to_fp16(q[i]));
      for (int64_t j = 0; j < n_kv; ++j) {
        const uint16_t* k = kc + j * kv_dim + kvh * hd;
        double dot = 0;
        for (int64_t i = 0; i < hd; ++i) dot += double(s.q16[i]) * double(fp16_to_fp32(k[i]));
        s.scores[j] = static_cast<float>(dot) * scale;
      }
      ref::softmax(s.scores.data(), n_kv);
      std::fill(s.acc.begin(), s.acc.end(), 0.0);
      for (int64_t j = 0; j < n_kv; ++j) {
        const double p = fp16_to_fp32(fp32_to_fp16(s.scores[j]));
        const uint16_t* v = vc + j * kv_dim + kvh * hd;
        for (int64_t i = 0; i < hd; ++i) s.acc[i] += p * double(fp16_to_fp32(v[i]));
      }
      float* out = attn_.data() + t * q_dim + h * hd;
      for (int64_t i = 0; i < hd; ++i) out[i] = static_cast<float>(s.acc[i]);
    }
  });
}

}  // namespace hearth
