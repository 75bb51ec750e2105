#include "engine/speculative.h"

#include <algorithm>
#include <cmath>

namespace hearth {

Result<std::vector<int32_t>> NgramDrafter::draft(std::span<const int32_t> history, int64_t max_tokens) {
  const auto len = static_cast<int64_t>(history.size());
  for (int64_t n = std::min(max_n_, len - 1); n >= min_n_ && max_tokens > 0; --n) {
    const auto tail = history.subspan(static_cast<size_t>(len - n));
    // The most recent earlier occurrence whose continuation is not the tail itself.
    for (int64_t i = len - n - 1; i >= 0; --i) {
      if (!std::equal(tail.begin(), tail.end(), history.begin() + i)) continue;
      const int64_t from = i + n, to = std::min(len, from + max_tokens);
      return std::vector<int32_t>(history.begin() + from, history.begin() + to);
    }
  }
  return std::vector<int32_t>{};
}

Result<std::vector<int32_t>> ModelDrafter::draft(std::span<const int32_t> history, int64_t max_tokens) {
  std::vector<int32_t> out;
  if (history.empty() || max_tokens <= 0) return out;
  // Roll the draft's cache back to what it shares with the sequence, keeping the last token to
  // run (its logits give the first draft); a window ring that cannot go back that far restarts.
  size_t common = std::mismatch(cached_.begin(), cached_.end(), history.begin(), history.end()).first - cached_.begin();
  common = std::min(common, history.size() - 1);
  if (!model_.truncate(static_cast<int64_t>(common)).ok()) {
    model_.reset();
    common = 0;
  }
  cached_.resize(common);
  const int64_t room = model_.n_ctx() - static_cast<int64_t>(history.size());
  if (room < 1) return out;  // the draft's context is full: no drafts (the target goes on alone)
  max_tokens = std::min(max_tokens, room);
  std::span<const int32_t> feed = history.subspan(common);
  const auto n_vocab = static_cast<size_t>(model_.hparams().n_vocab);
  for (;;) {
    HEARTH_RETURN_IF_ERROR(model_.forward(feed, false, logits_));
    cached_.insert(cached_.end(), feed.begin(), feed.end());
    // Greedy: the top token, and its probability under the draft's softmax.
    const float* row = logits_.data();
    const size_t best = static_cast<size_t>(std::max_element(row, row + n_vocab) - row);
    double sum = 0.0;
    for (size_t i = 0; i < n_vocab; ++i) sum += std::exp(double(row[i]) - double(row[best]));
    if (!(1.0 / sum >= p_min_) || static_cast<int64_t>(best) >= target_vocab_) break;  // NaN logits too
    out.push_back(static_cast<int32_t>(best));
    if (static_cast<int64_t>(out.size()) >= max_tokens) break;
    feed = std::span<const int32_t>(&out.back(), 1);
  }
  return out;
}

Status SpeculativeDecoder::step(std::vector<int32_t>& history, std::vector<int32_t>& emitted) {
  emitted.clear();
  if (history.empty()) return make_error("speculative step: no tokens");
  const int64_t n_past = target_.n_past();
  if (n_past + 1 != static_cast<int64_t>(history.size()))
    return make_error("speculative step: the target has run {} of {} tokens, not all but the last", n_past,
                      history.size());
  std::vector<int32_t> drafts;
  // A pass of 1 + drafts tokens must fit the context and one forward chunk.
  const int64_t max_draft = std::min({max_draft_, target_.n_ctx() - n_past - 1, target_.n_batch() - 1});
  if (drafter_ != nullptr && max_draft > 0) {
    HEARTH_TRY(drafts, drafter_->draft(history, max_draft));
    if (static_cast<int64_t>(drafts.size()) > max_draft) drafts.resize(static_cast<size_t>(max_draft));
  }
  batch_.assign(1, history.back());
  batch_.insert(batch_.end(), drafts.begin(), drafts.end());
  HEARTH_RETURN_IF_ERROR(target_.forward(batch_, true, logits_));
  ++stats_.passes;
  stats_.drafted += static_cast<int64_t>(drafts.size());
  const auto n_vocab = static_cast<size_t>(target_.hparams().n_vocab);
  for (size_t i = 0; i <= drafts.size(); ++i) {
    const int32_t next = sampler_.sample(std::span<const float>(logits_.data() + i * n_vocab, n_vocab), history);
    if (next < 0) break;
    history.push_back(next);
    emitted.push_back(next);
    if (i == drafts.size() || next != drafts[i]) break;
    ++stats_.accepted;
  }
  // The target keeps what was run and stood: the old last token and the accepted drafts.
  const int64_t kept = std::max<int64_t>(static_cast<int64_t>(emitted.size()), 1);
  return target_.truncate(n_past + kept);
}

}  // namespace hearth
