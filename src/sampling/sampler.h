// Token sampling from logits, in llama.cpp's default chain order so the same settings mean the
// same thing in both tools: logit bias -> repetition/presence/frequency penalties -> top-k ->
// top-p -> min-p -> temperature -> draw (or argmax when temperature <= 0).
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <unordered_map>
#include <vector>

namespace hearth {

struct SamplingParams {
  float temperature = 0.8f;       // <= 0: greedy
  int32_t top_k = 40;             // <= 0: off
  float top_p = 0.95f;            // >= 1: off
  float min_p = 0.05f;            // <= 0: off
  float repeat_penalty = 1.0f;    // 1: off (divides positive logits, multiplies negative ones)
  float presence_penalty = 0.0f;  // subtracted once from every token seen
  float frequency_penalty = 0.0f; // subtracted per occurrence
  int32_t penalty_last_n = 64;    // how many recent tokens the penalties look at (-1: all)
  uint64_t seed = 0xFFFFFFFF;     // same seed, same draws
  std::unordered_map<int32_t, float> logit_bias;  // added to the logit; -inf bans a token
};

class Sampler {
 public:
  Sampler(const SamplingParams& params, int32_t n_vocab);

  // Picks the next token from `logits` [n_vocab]; `history` is the sequence so far (prompt and
  // generated), for the penalties. `allowed`, when not empty, is a bitset over the vocabulary
  // (bit i of word i/64: token i may be drawn; a grammar's mask): only those tokens are
  // candidates. Returns -1 when no token is allowed. Does not allocate after the first call.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history,
                 std::span<const uint64_t> allowed = {});

  // The distribution after the chain (probabilities of the candidates), for logprobs.
  struct Candidate {
    int32_t id;
    float logit;
    float p;
  };
  const std::vector<Candidate>& last_candidates() const { return candidates_; }

 private:
  void apply_penalties(std::span<const int32_t> history);
  void top_k(int32_t k);
  void top_p(float p);
  void min_p(float p);
  void softmax();

  SamplingParams params_;
  int32_t n_vocab_;
  std::mt19937 rng_;
  std::vector<Candidate> candidates_;
  std::vector<int32_t> counts_;  // [n_vocab] occurrences in the penalty window, zero outside it
};

}  // namespace hearth
