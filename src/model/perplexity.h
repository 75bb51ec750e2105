// Perplexity and KL divergence computed the way llama-perplexity computes them by default, so the
// two tools can be held against each other on the same model and text:
//   - the tokens are cut into chunks of n_ctx; each chunk is evaluated from an empty cache, with
//     its first token replaced by BOS when the model adds one;
//   - only the second half of each chunk is scored (positions n_ctx/2 .. n_ctx-2 predict the next
//     token), so every scored token has at least n_ctx/2 tokens of context;
//   - the KL "base" file is llama-perplexity's --kl-divergence-base format: "_logits_", i32 n_ctx,
//     i32 n_vocab, i32 n_chunk, i32 tokens[n_chunk * n_ctx], then per chunk (n_ctx - 1 - n_ctx/2)
//     rows of nv = 2*((n_vocab+1)/2) + 4 u16: f32 scale, f32 min_log_prob, then each token's
//     log-probability quantized to 16 bits above min_log_prob (floor max_log_prob - 16).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "model/transformer.h"

namespace hearth {

struct PerplexityOptions {
  int64_t n_ctx = 512;
  int64_t n_chunks = -1;          // -1: all
  bool add_bos = true;            // replace each chunk's first token with `bos`
  int32_t bos = 0;
  std::string save_base_path;     // --kl-divergence-base when not comparing: write the base file
};

struct KlStats {
  double sum_nll = 0, sum_nll2 = 0, sum_nll_base = 0, sum_nll_base2 = 0, sum_nll_nll_base = 0;
  double sum_kld = 0, sum_kld2 = 0, sum_p_diff = 0, sum_p_diff2 = 0, sum_p_diff4 = 0;
  double max_kld = 0;
  float max_p_diff = 0;
  uint64_t n_same_top = 0;
  uint64_t count = 0;
};

struct PerplexityResult {
  double ppl = 0;
  double ppl_err = 0;
  uint64_t count = 0;
  bool has_kl = false;
  KlStats kl;
};

// Mean and standard error from sums of x and x^2 over n samples.
std::pair<double, double> mean_and_uncertainty(double sum, double sum2, uint64_t n);

// One chunk's progress, for printing as llama-perplexity does ("[1]12.3456,").
using ChunkCallback = std::function<void(int64_t chunk, const PerplexityResult& so_far)>;

// Plain perplexity over `tokens` (optionally saving the KL base file).
Result<PerplexityResult> compute_perplexity(Transformer& model, std::vector<int32_t> tokens,
                                            const PerplexityOptions& options,
                                            const ChunkCallback& on_chunk);

// Reads a KL base file; evaluates the same tokens with `model` and compares.
Result<PerplexityResult> compute_kl_divergence(Transformer& model, const std::string& base_path,
                                               PerplexityOptions options,
                                               const ChunkCallback& on_chunk);

}  // namespace hearth
