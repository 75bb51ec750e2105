#include "sampling/sampler.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace hearth {

Sampler::Sampler(const SamplingParams& params, int32_t n_vocab)
    : params_(params), n_vocab_(n_vocab), rng_(static_cast<uint32_t>(params.seed)) {
  candidates_.reserve(static_cast<size_t>(n_vocab));
  counts_.assign(static_cast<size_t>(n_vocab), 0);
}

void Sampler::apply_penalties(std::span<const int32_t> history) {
  const bool any = params_.repeat_penalty != 1.0f || params_.presence_penalty != 0.0f ||
                   params_.frequency_penalty != 0.0f;
  if (!any || history.empty() || params_.penalty_last_n == 0) return;
  size_t n = history.size();
  if (params_.penalty_last_n > 0) n = std::min(n, static_cast<size_t>(params_.penalty_last_n));
  const std::span<const int32_t> window = history.subspan(history.size() - n);
  for (int32_t id : window)
    if (id >= 0 && id < n_vocab_) counts_[size_t(id)]++;
  for (Candidate& c : candidates_) {
    const int32_t count = counts_[size_t(c.id)];
    if (count == 0) continue;
    // As llama.cpp: the repetition penalty shrinks a logit toward zero from either side.
    c.logit = c.logit <= 0 ? c.logit * params_.repeat_penalty : c.logit / params_.repeat_penalty;
    c.logit -= float(count) * params_.frequency_penalty + params_.presence_penalty;
  }
  for (int32_t id : window)
    if (id >= 0 && id < n_vocab_) counts_[size_t(id)] = 0;
}

// Probabilities of the candidates in their current order. Sorting 150k candidates costs ~10 ms,
// more than a decode step of a small model, so only top-p sorts, and only as far as it must.
void Sampler::softmax() {
  float max = candidates_.front().logit;
  for (const Candidate& c : candidates_) max = std::max(max, c.logit);
  double sum = 0;
  for (Candidate& c : candidates_) {
    c.p = std::exp(c.logit - max);
    sum += c.p;
  }
  for (Candidate& c : candidates_) c.p = static_cast<float>(c.p / sum);
}

void Sampler::top_k(int32_t k) {
  if (k <= 0 || static_cast<size_t>(k) >= candidates_.size()) return;
  std::partial_sort(candidates_.begin(), candidates_.begin() + k, candidates_.end(),
                    [](const Candidate& a, const Candidate& b) { return a.logit > b.logit; });
  candidates_.resize(static_cast<size_t>(k));
}

void Sampler::top_p(float p) {
  if (p >= 1.0f) return;
  softmax();
  // The smallest set of most likely tokens whose mass reaches p: sort a growing head of the
  // candidates until its mass does (a peaked distribution needs a few dozen).
  auto by_p = [](const Candidate& a, const Candidate& b) { return a.p > b.p || (a.p == b.p && a.id < b.id); };
  size_t head = std::min<size_t>(64, candidates_.size());
  for (;;) {
    std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(head), candidates_.end(), by_p);
    double cum = 0;
    for (size_t i = 0; i < head; ++i) {
      cum += candidates_[i].p;
      if (cum >= p) {
        candidates_.resize(i + 1);
        return;
      }
    }
    if (head == candidates_.size()) return;
    head = std::min(candidates_.size(), head * 8);
  }
}

void Sampler::min_p(float p) {
  if (p <= 0.0f) return;
  float max = candidates_.front().logit;
  for (const Candidate& c : candidates_) max = std::max(max, c.logit);
  // p_i >= p * p_max  <=>  logit_i >= logit_max + log(p)
  const float floor = max + std::log(p);
  auto end = std::remove_if(candidates_.begin(), candidates_.end(),
                            [&](const Candidate& c) { return c.logit < floor; });
  candidates_.erase(end, candidates_.end());
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history,
                        std::span<const uint64_t> allowed) {
  candidates_.clear();
  if (allowed.empty()) {
    for (int32_t i = 0; i < n_vocab_; ++i) candidates_.push_back({i, logits[size_t(i)], 0.0f});
    for (const auto& [id, bias] : params_.logit_bias)
      if (id >= 0 && id < n_vocab_) candidates_[size_t(id)].logit += bias;
  } else {
    // Only the allowed tokens become candidates (a grammar allows few: a JSON key, a digit), so
    // the rest of the chain runs over them alone. Words past the mask's end allow nothing.
    const size_t n_words = std::min(allowed.size(), (size_t(n_vocab_) + 63) / 64);
    for (size_t w = 0; w < n_words; ++w)
      for (uint64_t bits = allowed[w]; bits != 0; bits &= bits - 1) {
        const int32_t i = static_cast<int32_t>(w * 64 + size_t(std::countr_zero(bits)));
        if (i < n_vocab_) candidates_.push_back({i, logits[size_t(i)], 0.0f});
      }
    if (candidates_.empty()) return -1;
    if (!params_.logit_bias.empty())
      for (Candidate& c : candidates_)
        if (auto it = params_.logit_bias.find(c.id); it != params_.logit_bias.end()) c.logit += it->second;
  }
  apply_penalties(history);

  if (params_.temperature <= 0.0f) {
    // Argmax; among equal logits the lowest id, as llama.cpp's greedy sampler.
    const Candidate* best = &candidates_.front();
    for (const Candidate& c : candidates_)
      if (c.logit > best->logit) best = &c;
    return best->id;
  }
  top_k(params_.top_k);
  top_p(params_.top_p);
  min_p(params_.min_p);
  for (Candidate& c : candidates_) c.logit /= params_.temperature;
  softmax();
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  double r = uniform(rng_), cum = 0;
  for (const Candidate& c : candidates_) {
    cum += c.p;
    if (r < cum) return c.id;
  }
  return candidates_.back().id;
}

}  // namespace hearth
