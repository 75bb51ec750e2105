// Speculative decoding of one sequence in a Transformer's own cache (`hearth run --spec ...`):
// a drafter proposes the next tokens, the target checks them all in one batched forward pass,
// and the tokens emitted are exactly those plain decoding emits. hearth's forward pass gives each
// position the same bits whatever else shares the batch (kernels/matmul.h), so the verifying
// pass's logits are those one-token decoding computes; each emitted token is drawn from them by
// the same sampler, in the same order, with the same history. Greedy or seeded output is
// therefore identical token for token, and any sampler's output is distributed as without
// drafts: a draft token stands when the target's own draw equals it, which for a deterministic
// draft is exactly the rejection rule of speculative sampling (accept with probability p(d),
// else draw from p without d).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "model/transformer.h"
#include "sampling/sampler.h"

namespace hearth {

class Drafter {
 public:
  virtual ~Drafter() = default;
  // Up to `max_tokens` tokens to follow `history` (the whole sequence; its last token is the one
  // the target runs next). May return none.
  virtual Result<std::vector<int32_t>> draft(std::span<const int32_t> history, int64_t max_tokens) = 0;
};

// Prompt lookup: the tokens that followed the most recent earlier occurrence of the sequence's
// last n tokens, for n from max_n down to min_n (text that repeats its input: code edits,
// quoting, summaries). Costs no model.
class NgramDrafter final : public Drafter {
 public:
  NgramDrafter(int64_t min_n = 2, int64_t max_n = 4) : min_n_(min_n), max_n_(max_n) {}
  Result<std::vector<int32_t>> draft(std::span<const int32_t> history, int64_t max_tokens) override;

 private:
  int64_t min_n_, max_n_;
};

// A smaller model over the same vocabulary, decoding greedily in its own cache, which follows
// the sequence (rolled back to what the two share, then the rest run as one chunk). Drafting
// stops where its top probability falls below p_min, as llama.cpp's --draft-p-min, or at a token
// the target's vocabulary (`target_vocab` ids) does not have.
class ModelDrafter final : public Drafter {
 public:
  ModelDrafter(Transformer& model, float p_min, int64_t target_vocab)
      : model_(model), p_min_(p_min), target_vocab_(target_vocab) {}
  Result<std::vector<int32_t>> draft(std::span<const int32_t> history, int64_t max_tokens) override;

 private:
  Transformer& model_;
  float p_min_;
  int64_t target_vocab_;
  std::vector<int32_t> cached_;  // the tokens in model_'s cache
  std::vector<float> logits_;
};

struct SpeculativeStats {
  int64_t passes = 0;    // target forward passes
  int64_t drafted = 0;   // draft tokens checked
  int64_t accepted = 0;  // draft tokens that stood
};

class SpeculativeDecoder {
 public:
  // `drafter` may be null (plain decoding, one token per pass). max_draft bounds a pass's drafts.
  SpeculativeDecoder(Transformer& target, Sampler& sampler, Drafter* drafter, int64_t max_draft)
      : target_(target), sampler_(sampler), drafter_(drafter), max_draft_(max_draft) {}

  // One target pass. `history` is the whole sequence; the target has run all of it but its last
  // token. Appends the tokens this pass decides (1 .. drafts + 1) to `history` and to `emitted`
  // (cleared first); the target then again has run all of history but its new last token. A
  // sampler that allows no token (-1) ends the pass with what was emitted before it.
  Status step(std::vector<int32_t>& history, std::vector<int32_t>& emitted);

  const SpeculativeStats& stats() const { return stats_; }

 private:
  Transformer& target_;
  Sampler& sampler_;
  Drafter* drafter_;
  int64_t max_draft_;
  SpeculativeStats stats_;
  std::vector<int32_t> batch_;
  std::vector<float> logits_;
};

}  // namespace hearth
