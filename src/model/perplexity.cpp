#include "model/perplexity.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "base/checked_math.h"
#include "base/mapped_file.h"

namespace hearth {
namespace {

// Round to nearest, as llama-perplexity packs log-probabilities.
int nearest_int(float x) { return static_cast<int>(std::lrintf(x)); }

int64_t padded_vocab(int64_t n_vocab) { return 2 * ((n_vocab + 1) / 2) + 4; }

// -log p(tok) from raw logits, and the 16-bit packed log-probabilities of every token.
double pack_log_probs(int64_t n_vocab, const float* logits, int32_t tok, uint16_t* out) {
  float max_logit = logits[0], min_logit = logits[0];
  for (int64_t i = 1; i < n_vocab; ++i) {
    max_logit = std::max(max_logit, logits[i]);
    min_logit = std::min(min_logit, logits[i]);
  }
  min_logit = std::max(min_logit, max_logit - 16);
  double sum_exp = 0;
  for (int64_t i = 0; i < n_vocab; ++i) sum_exp += std::exp(logits[i] - max_logit);
  const float log_sum_exp = static_cast<float>(std::log(sum_exp));
  const float min_log_prob = min_logit - max_logit - log_sum_exp;
  const float scale = (max_logit - min_logit) / 65535.f;
  std::memcpy(out, &scale, 4);
  std::memcpy(out + 2, &min_log_prob, 4);
  uint16_t* q = out + 4;
  if (scale != 0) {
    const float inv = 1 / scale;
    for (int64_t i = 0; i < n_vocab; ++i)
      q[i] = logits[i] > min_logit ? static_cast<uint16_t>(nearest_int(inv * (logits[i] - min_logit))) : 0;
  } else {
    std::fill(q, q + n_vocab, uint16_t{0});
  }
  return max_logit + log_sum_exp - logits[tok];
}

double nll_of(int64_t n_vocab, const float* logits, int32_t tok) {
  float max_logit = *std::max_element(logits, logits + n_vocab);
  double sum_exp = 0;
  for (int64_t i = 0; i < n_vocab; ++i) sum_exp += std::exp(logits[i] - max_logit);
  return max_logit + std::log(sum_exp) - logits[tok];
}

// Compares one position's logits with the base's packed log-probabilities.
void accumulate_kl(int64_t n_vocab, const float* logits, const uint16_t* base, int32_t tok,
                   KlStats& s) {
  float max_logit = logits[0];
  int64_t imax = 0;
  for (int64_t i = 1; i < n_vocab; ++i)
    if (logits[i] > max_logit) {
      max_logit = logits[i];
      imax = i;
    }
  double sum_exp = 0;
  for (int64_t i = 0; i < n_vocab; ++i) sum_exp += std::exp(logits[i] - max_logit);
  const float log_sum_exp = static_cast<float>(std::log(sum_exp));
  float scale, min_log_prob;
  std::memcpy(&scale, base, 4);
  std::memcpy(&min_log_prob, base + 2, 4);
  const uint16_t* q = base + 4;
  const float nll = max_logit + log_sum_exp - logits[tok];
  const float nll_base = -(scale * q[tok] + min_log_prob);
  s.sum_nll += nll;
  s.sum_nll2 += double(nll) * nll;
  s.sum_nll_base += nll_base;
  s.sum_nll_base2 += double(nll_base) * nll_base;
  s.sum_nll_nll_base += double(nll) * nll_base;
  const float log_norm = max_logit + log_sum_exp;
  double kld = 0;
  int64_t imax_base = 0;
  float base_max = 0;
  for (int64_t i = 0; i < n_vocab; ++i) {
    const float lp_base = scale * q[i] + min_log_prob;
    if (i == 0 || lp_base > base_max) {
      base_max = lp_base;
      imax_base = i;
    }
    if (lp_base > -16.f) kld += std::exp(lp_base) * (lp_base - logits[i] + log_norm);
  }
  s.sum_kld += kld;
  s.sum_kld2 += kld * kld;
  s.max_kld = std::max(s.max_kld, kld);
  s.count++;
  if (imax == imax_base) s.n_same_top++;
  const float p_diff = std::exp(-nll) - std::exp(-nll_base);
  s.sum_p_diff += p_diff;
  s.sum_p_diff2 += double(p_diff) * p_diff;
  s.sum_p_diff4 += double(p_diff) * p_diff * p_diff * p_diff;
  s.max_p_diff = std::max(s.max_p_diff, std::fabs(p_diff));
}

// Evaluates one chunk from an empty cache; logits [n_ctx, n_vocab] for every position.
Status eval_chunk(Transformer& model, std::vector<int32_t> chunk, const PerplexityOptions& o,
                  std::vector<float>& logits) {
  if (o.add_bos) chunk[0] = o.bos;
  model.reset();
  return model.forward(chunk, true, logits);
}

void finish(PerplexityResult& r, double nll, double nll2, uint64_t count) {
  r.count = count;
  const double mean = nll / double(count);
  r.ppl = std::exp(mean);
  double var = nll2 / double(count) - mean * mean;
  r.ppl_err = var > 0 && count > 1 ? std::sqrt(var / double(count - 1)) * r.ppl : 0;
}

}  // namespace

std::pair<double, double> mean_and_uncertainty(double sum, double sum2, uint64_t n) {
  if (n == 0) return {0, 0};
  const double mean = sum / double(n);
  const double var = sum2 / double(n) - mean * mean;
  return {mean, n > 1 && var > 0 ? std::sqrt(var / double(n - 1)) : 0};
}

Result<PerplexityResult> compute_perplexity(Transformer& model, std::vector<int32_t> tokens,
                                            const PerplexityOptions& o, const ChunkCallback& on_chunk) {
  const int64_t n_ctx = o.n_ctx;
  if (n_ctx < 4) return make_error("context {} is too small", n_ctx);
  if (n_ctx > model.n_ctx()) return make_error("context {} exceeds the cache ({})", n_ctx, model.n_ctx());
  if (int64_t(tokens.size()) < 2 * n_ctx)
    return make_error("the text tokenizes to {} tokens; at least 2 * n_ctx = {} are needed",
                      tokens.size(), 2 * n_ctx);
  int64_t n_chunk = int64_t(tokens.size()) / n_ctx;
  if (o.n_chunks > 0) n_chunk = std::min(n_chunk, o.n_chunks);
  const int64_t n_vocab = model.hparams().n_vocab;
  const int64_t first = n_ctx / 2;
  const int64_t nv = padded_vocab(n_vocab);

  std::ofstream base;
  if (!o.save_base_path.empty()) {
    base.open(o.save_base_path, std::ios::binary);
    if (!base) return make_error("{}: cannot create", o.save_base_path);
    const int32_t header[3] = {int32_t(n_ctx), int32_t(n_vocab), int32_t(n_chunk)};
    base.write("_logits_", 8);
    base.write(reinterpret_cast<const char*>(header), sizeof header);
    base.write(reinterpret_cast<const char*>(tokens.data()), std::streamsize(n_chunk * n_ctx * 4));
  }
  std::vector<uint16_t> packed(static_cast<size_t>(nv));
  std::vector<float> logits;
  double nll = 0, nll2 = 0;
  uint64_t count = 0;
  PerplexityResult result;
  for (int64_t c = 0; c < n_chunk; ++c) {
    std::vector<int32_t> chunk(tokens.begin() + c * n_ctx, tokens.begin() + (c + 1) * n_ctx);
    HEARTH_RETURN_IF_ERROR(eval_chunk(model, chunk, o, logits));
    for (int64_t i = first; i < n_ctx - 1; ++i) {
      const int32_t next = chunk[size_t(i + 1)];
      const float* row = logits.data() + i * n_vocab;
      const double v = base.is_open() ? pack_log_probs(n_vocab, row, next, packed.data())
                                      : nll_of(n_vocab, row, next);
      if (base.is_open()) base.write(reinterpret_cast<const char*>(packed.data()), std::streamsize(nv * 2));
      nll += v;
      nll2 += v * v;
      ++count;
    }
    finish(result, nll, nll2, count);
    if (on_chunk) on_chunk(c, result);
  }
  if (base.is_open() && !base) return make_error("{}: write failed", o.save_base_path);
  return result;
}

Result<PerplexityResult> compute_kl_divergence(Transformer& model, const std::string& base_path,
                                               PerplexityOptions o, const ChunkCallback& on_chunk) {
  HEARTH_TRY(MappedFile file, MappedFile::open(base_path));
  const uint8_t* p = file.data();
  if (file.size() < 20 || std::memcmp(p, "_logits_", 8) != 0)
    return make_error("{}: not a llama-perplexity logits file (no _logits_ header)", base_path);
  int32_t header[3];
  std::memcpy(header, p + 8, sizeof header);
  const int64_t n_ctx = header[0], n_vocab = header[1], n_chunk = header[2];
  if (n_ctx < 4 || n_ctx > model.n_ctx())
    return make_error("{}: n_ctx {} is invalid or exceeds the cache ({})", base_path, n_ctx, model.n_ctx());
  if (n_vocab != model.hparams().n_vocab)
    return make_error("{}: vocabulary of {} tokens, the model has {}", base_path, n_vocab, model.hparams().n_vocab);
  if (n_chunk <= 0) return make_error("{}: n_chunk {} is invalid", base_path, n_chunk);
  const int64_t first = n_ctx / 2;
  const int64_t rows = n_ctx - 1 - first;
  const uint64_t nv = uint64_t(padded_vocab(n_vocab));
  uint64_t token_bytes = 0, chunk_bytes = 0, data_bytes = 0, total = 0;
  if (!checked_mul(uint64_t(n_chunk), uint64_t(n_ctx) * 4, &token_bytes) ||
      !checked_mul(uint64_t(rows) * nv, 2, &chunk_bytes) ||
      !checked_mul(chunk_bytes, uint64_t(n_chunk), &data_bytes) ||
      !checked_add(20 + token_bytes, data_bytes, &total) || total > file.size())
    return make_error("{}: file of {} bytes is too short for {} chunks of {} tokens", base_path,
                      file.size(), n_chunk, n_ctx);
  const auto* tokens = reinterpret_cast<const int32_t*>(p + 20);
  const auto* base = reinterpret_cast<const uint16_t*>(p + 20 + token_bytes);
  for (int64_t i = 0; i < n_chunk * n_ctx; ++i)
    if (tokens[i] < 0 || tokens[i] >= n_vocab)
      return make_error("{}: token {} at index {} is outside the vocabulary", base_path, tokens[i], i);

  o.n_ctx = n_ctx;
  const int64_t use_chunks = o.n_chunks > 0 ? std::min(o.n_chunks, n_chunk) : n_chunk;
  PerplexityResult result;
  result.has_kl = true;
  std::vector<float> logits;
  for (int64_t c = 0; c < use_chunks; ++c) {
    std::vector<int32_t> chunk(tokens + c * n_ctx, tokens + (c + 1) * n_ctx);
    HEARTH_RETURN_IF_ERROR(eval_chunk(model, chunk, o, logits));
    const uint16_t* chunk_base = base + uint64_t(c) * rows * nv;
    for (int64_t i = 0; i < rows; ++i)
      accumulate_kl(n_vocab, logits.data() + (first + i) * n_vocab, chunk_base + uint64_t(i) * nv,
                    chunk[size_t(first + i + 1)], result.kl);
    finish(result, result.kl.sum_nll, result.kl.sum_nll2, result.kl.count);
    if (on_chunk) on_chunk(c, result);
  }
  return result;
}

}  // namespace hearth
