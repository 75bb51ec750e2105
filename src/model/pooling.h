// Embeddings from a sequence's final hidden states (after the output norm), pooled as llama.cpp
// pools them for the file's {arch}.pooling_type, and normalised as its tools and server do.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "model/arch.h"

namespace hearth {

// Pools one sequence. Rows arrive in position order (a prompt may be computed in chunks over
// several forward passes); reset() starts over (a preempted sequence is recomputed).
class Pooler {
 public:
  // rank_first: rank pooling reads the first token (BERT cross-encoders; HParams::rank_first).
  Pooler(Pooling pooling, int64_t n_embd, bool rank_first = false)
      : pooling_(pooling), rank_first_(rank_first), sum_(static_cast<size_t>(n_embd), 0.0) {}

  // Whether the pooling reads position `pos` of a sequence of n_tokens: every one (mean), the
  // first (cls, and rank for cross-encoders) or the last (last, and rank: the qwen3 rerankers').
  bool reads(int64_t pos, int64_t n_tokens) const {
    switch (pooling_) {
      case Pooling::kMean: return true;
      case Pooling::kCls: return pos == 0;
      case Pooling::kLast: return pos == n_tokens - 1;
      case Pooling::kRank: return pos == (rank_first_ ? 0 : n_tokens - 1);
      default: return false;
    }
  }
  void add(std::span<const float> row) {
    for (size_t i = 0; i < sum_.size() && i < row.size(); ++i) sum_[i] += row[i];
    ++rows_;
  }
  void reset() {
    std::fill(sum_.begin(), sum_.end(), 0.0);
    rows_ = 0;
  }
  int64_t rows() const { return rows_; }
  // The pooled vector: the mean of the rows read (one row for cls and last). Summed in double, so
  // the order the rows arrive in does not matter.
  std::vector<float> result() const {
    std::vector<float> out(sum_.size());
    for (size_t i = 0; i < sum_.size(); ++i) out[i] = rows_ > 0 ? static_cast<float>(sum_[i] / double(rows_)) : 0.0f;
    return out;
  }

 private:
  Pooling pooling_;
  bool rank_first_;
  std::vector<double> sum_;
  int64_t rows_ = 0;
};

// llama.cpp's embd_normalize: -1 none, 0 scaled so the largest |x| is 32760 (int16 range),
// 1 taxicab, 2 euclidean (the default, and OpenAI's: unit vectors), p > 2 the p-norm. A zero
// vector stays zero.
inline void normalize_embedding(std::span<float> v, int norm) {
  if (norm < 0) return;
  double sum = 0;
  for (float x : v) {
    const double a = std::abs(double(x));
    if (norm == 0) sum = std::max(sum, a);
    else if (norm == 1) sum += a;
    else if (norm == 2) sum += a * a;
    else sum += std::pow(a, norm);
  }
  if (norm == 0) sum /= 32760.0;
  else if (norm == 2) sum = std::sqrt(sum);
  else if (norm > 2) sum = std::pow(sum, 1.0 / norm);
  const double scale = sum > 0 ? 1.0 / sum : 0.0;
  for (float& x : v) x = static_cast<float>(x * scale);
}

}  // namespace hearth
