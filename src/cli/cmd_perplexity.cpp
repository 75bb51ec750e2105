// hearth perplexity -m MODEL -f TEXT -c N_CTX: perplexity as llama-perplexity computes it (see
// model/perplexity.h), with its KL-divergence modes so the two tools can judge each other:
//   --kl-divergence-base FILE            save this model's log-probabilities (no --kl-divergence)
//   --kl-divergence-base FILE --kl-divergence   compare against a saved file (tokens come from it)
#include <fmt/format.h>

#include <cmath>

#include "base/mapped_file.h"
#include "base/thread_pool.h"
#include "cli/commands.h"
#include "model/perplexity.h"
#include "tokenizer/tokenizer.h"

namespace hearth::cli {
namespace {

struct PerplexityArgs {
  std::string model, file, kl_base;
  bool kl = false;
  int64_t n_ctx = 512;
  int64_t n_batch = 512;
  int64_t n_chunks = -1;
  int n_threads = default_thread_count();
};

void print_kl(const PerplexityResult& r) {
  const KlStats& k = r.kl;
  auto ppl = mean_and_uncertainty(k.sum_nll, k.sum_nll2, k.count);
  auto base = mean_and_uncertainty(k.sum_nll_base, k.sum_nll_base2, k.count);
  auto kld = mean_and_uncertainty(k.sum_kld, k.sum_kld2, k.count);
  const double same_top = k.count ? double(k.n_same_top) / double(k.count) : 0;
  fmt::print("====== Perplexity statistics ======\n");
  fmt::print("Mean PPL(Q)                   : {:10.6f} ± {:10.6f}\n", std::exp(ppl.first),
             std::exp(ppl.first) * ppl.second);
  fmt::print("Mean PPL(base)                : {:10.6f} ± {:10.6f}\n", std::exp(base.first),
             std::exp(base.first) * base.second);
  fmt::print("Mean PPL(Q)/PPL(base)         : {:10.6f}\n", std::exp(ppl.first - base.first));
  fmt::print("====== KL divergence statistics ======\n");
  fmt::print("Mean    KLD: {:10.6g} ± {:10.6g}\n", kld.first, kld.second);
  fmt::print("Maximum KLD: {:10.6g}\n", k.max_kld);
  fmt::print("====== Token probability statistics ======\n");
  fmt::print("Max  |Δp|  : {:8.4f}%\n", 100.0 * k.max_p_diff);
  fmt::print("Same top p : {:8.4f} ± {:.4f} %\n", 100.0 * same_top,
             k.count > 1 ? 100.0 * std::sqrt(same_top * (1 - same_top) / double(k.count - 1)) : 0.0);
}

int run_perplexity(const PerplexityArgs& a) {
  auto model = ModelFile::open(a.model);
  if (!model.ok()) {
    fmt::print(stderr, "hearth perplexity: {}\n", model.error().message);
    return 1;
  }
  auto tok = tokenizer::Tokenizer::from_model(*model);
  if (!tok.ok()) {
    fmt::print(stderr, "hearth perplexity: {}\n", tok.error().message);
    return 1;
  }
  TransformerOptions topt;
  topt.n_ctx = a.n_ctx;
  topt.n_batch = std::min(a.n_batch, a.n_ctx);
  topt.n_threads = a.n_threads;
  auto tf = Transformer::create(*model, topt);
  if (!tf.ok()) {
    fmt::print(stderr, "hearth perplexity: {}\n", tf.error().message);
    return 1;
  }
  PerplexityOptions popt;
  popt.n_ctx = a.n_ctx;
  popt.n_chunks = a.n_chunks;
  popt.add_bos = tok->add_bos();
  popt.bos = tok->bos();
  auto on_chunk = [](int64_t chunk, const PerplexityResult& r) {
    fmt::print("[{}]{:.4f},", chunk + 1, r.ppl);
    std::fflush(stdout);
  };
  Result<PerplexityResult> result = make_error("unreachable");
  if (a.kl) {
    if (a.kl_base.empty()) {
      fmt::print(stderr, "hearth perplexity: --kl-divergence needs --kl-divergence-base FILE\n");
      return 2;
    }
    result = compute_kl_divergence(**tf, a.kl_base, popt, on_chunk);
  } else {
    if (a.file.empty()) {
      fmt::print(stderr, "hearth perplexity: -f TEXT is required\n");
      return 2;
    }
    auto text = read_text_file(a.file, size_t{1} << 31);
    if (!text.ok()) {
      fmt::print(stderr, "hearth perplexity: {}\n", text.error().message);
      return 1;
    }
    // As llama-perplexity: its -f drops one trailing newline; BOS as the model adds it,
    // special-token text not parsed.
    std::string& body = *text;
    if (!body.empty() && body.back() == '\n') body.pop_back();
    std::vector<int32_t> tokens = tok->encode(body, /*add_special=*/true, /*parse_special=*/false);
    fmt::print(stderr, "perplexity: {} tokens, n_ctx {}, {} chunks\n", tokens.size(), a.n_ctx,
               tokens.size() / size_t(a.n_ctx));
    popt.save_base_path = a.kl_base;
    result = compute_perplexity(**tf, std::move(tokens), popt, on_chunk);
  }
  fmt::print("\n");
  if (!result.ok()) {
    fmt::print(stderr, "hearth perplexity: {}\n", result.error().message);
    return 1;
  }
  if (result->has_kl) print_kl(*result);
  fmt::print("Final estimate: PPL = {:.4f} +/- {:.5f}\n", result->ppl, result->ppl_err);
  return 0;
}

}  // namespace

void add_perplexity_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<PerplexityArgs>();
  CLI::App* cmd = app.add_subcommand("perplexity", "Perplexity of a text, as llama-perplexity computes it");
  cmd->add_option("-m,--model", a->model, "GGUF file or Hugging Face folder")->required();
  cmd->add_option("-f,--file", a->file, "Text file");
  cmd->add_option("-c,--ctx-size", a->n_ctx, "Tokens per chunk")->capture_default_str();
  cmd->add_option("-b,--batch-size", a->n_batch, "Tokens per forward chunk")->capture_default_str();
  cmd->add_option("--chunks", a->n_chunks, "Evaluate only this many chunks (-1: all)")->capture_default_str();
  cmd->add_option("-t,--threads", a->n_threads, "Threads")->capture_default_str();
  cmd->add_option("--kl-divergence-base", a->kl_base,
                  "llama-perplexity logits file: written, or read with --kl-divergence");
  cmd->add_flag("--kl-divergence", a->kl, "Compare with the --kl-divergence-base file");
  cmd->callback([a, &exit_code] { exit_code = run_perplexity(*a); });
}

}  // namespace hearth::cli
