// hearth run -m MODEL -p PROMPT: generates a continuation of a raw prompt (no chat template),
// streaming text as it is produced; timings on stderr at the end.
#include <fmt/format.h>

#include <chrono>
#include <cstdio>

#include "base/mapped_file.h"
#include "base/thread_pool.h"
#include "cli/commands.h"
#include "model/transformer.h"
#include "sampling/sampler.h"
#include "sampling/stop_filter.h"
#include "tokenizer/tokenizer.h"

namespace hearth::cli {
namespace {

struct RunArgs {
  std::string model, prompt, file;
  int64_t n_predict = 128;
  int64_t n_ctx = 4096;
  int n_threads = default_thread_count();
  std::vector<std::string> stop;
  bool ignore_eos = false;
  SamplingParams sampling;
};

int run_generation(const RunArgs& a) {
  using clock = std::chrono::steady_clock;
  std::string prompt = a.prompt;
  if (!a.file.empty()) {
    auto text = read_text_file(a.file, size_t{1} << 30);
    if (!text.ok()) {
      fmt::print(stderr, "hearth run: {}\n", text.error().message);
      return 1;
    }
    prompt = *text;
  }
  auto model = ModelFile::open(a.model);
  if (!model.ok()) {
    fmt::print(stderr, "hearth run: {}\n", model.error().message);
    return 1;
  }
  auto tok = tokenizer::Tokenizer::from_model(*model);
  if (!tok.ok()) {
    fmt::print(stderr, "hearth run: {}\n", tok.error().message);
    return 1;
  }
  TransformerOptions topt;
  topt.n_ctx = a.n_ctx;
  topt.n_threads = a.n_threads;
  auto tf = Transformer::create(*model, topt);
  if (!tf.ok()) {
    fmt::print(stderr, "hearth run: {}\n", tf.error().message);
    return 1;
  }
  Transformer& t = **tf;
  fmt::print(stderr, "run: {} ({}), n_ctx {}, KV cache {:.1f} MiB, {} threads\n", a.model,
             model->architecture(), t.n_ctx(), double(t.kv_cache_bytes()) / (1 << 20), a.n_threads);

  std::vector<int32_t> tokens = tok->encode(prompt, /*add_special=*/true, /*parse_special=*/true);
  if (tokens.empty()) {
    fmt::print(stderr, "hearth run: the prompt is empty\n");
    return 2;
  }
  if (int64_t(tokens.size()) >= t.n_ctx()) {
    fmt::print(stderr, "hearth run: the prompt has {} tokens, more than the context ({})\n",
               tokens.size(), t.n_ctx());
    return 1;
  }
  Sampler sampler(a.sampling, static_cast<int32_t>(t.hparams().n_vocab));
  tokenizer::StreamDecoder decoder(*tok);
  StopFilter filter(a.stop);
  std::vector<float> logits;
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  std::fflush(stdout);

  const auto t0 = clock::now();
  Status st = t.forward(tokens, false, logits);
  const auto t1 = clock::now();
  int64_t n_generated = 0;
  while (st.ok() && n_generated < a.n_predict) {
    const int32_t next = sampler.sample(logits, tokens);
    if (!a.ignore_eos && tok->is_eog(next)) break;
    tokens.push_back(next);
    ++n_generated;
    std::string text = filter.push(decoder.push(next));
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    if (filter.stopped() || t.n_past() >= t.n_ctx()) break;
    const int32_t one[1] = {next};
    st = t.forward(one, false, logits);
  }
  if (!filter.stopped()) {
    std::string tail = filter.push(decoder.flush());
    tail += filter.stopped() ? "" : filter.flush();
    std::fwrite(tail.data(), 1, tail.size(), stdout);
  }
  std::fputs("\n", stdout);
  const auto t2 = clock::now();
  if (!st.ok()) {
    fmt::print(stderr, "hearth run: {}\n", st.message());
    return 1;
  }
  const double prompt_s = std::chrono::duration<double>(t1 - t0).count();
  const double gen_s = std::chrono::duration<double>(t2 - t1).count();
  fmt::print(stderr, "prompt: {} tokens in {:.2f} s ({:.1f} tokens/s)\n", tokens.size() - n_generated,
             prompt_s, double(tokens.size() - n_generated) / prompt_s);
  fmt::print(stderr, "generated: {} tokens in {:.2f} s ({:.1f} tokens/s)\n", n_generated, gen_s,
             gen_s > 0 ? double(n_generated) / gen_s : 0.0);
  return 0;
}

}  // namespace

void add_run_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand("run", "Generate text from a raw prompt, streaming it");
  cmd->add_option("-m,--model", a->model, "GGUF file or Hugging Face folder")->required();
  CLI::Option* p = cmd->add_option("-p,--prompt", a->prompt, "Prompt text");
  cmd->add_option("-f,--file", a->file, "Read the prompt from this file")->excludes(p);
  cmd->add_option("-n,--n-predict", a->n_predict, "Tokens to generate at most")->capture_default_str();
  cmd->add_option("-c,--ctx-size", a->n_ctx, "Context (KV cache) size in tokens")->capture_default_str();
  cmd->add_option("-t,--threads", a->n_threads, "Threads")->capture_default_str();
  cmd->add_option("--temp", a->sampling.temperature, "Temperature (0: greedy)")->capture_default_str();
  cmd->add_option("--top-k", a->sampling.top_k, "Top-k (0: off)")->capture_default_str();
  cmd->add_option("--top-p", a->sampling.top_p, "Top-p (1: off)")->capture_default_str();
  cmd->add_option("--min-p", a->sampling.min_p, "Min-p (0: off)")->capture_default_str();
  cmd->add_option("--repeat-penalty", a->sampling.repeat_penalty, "Repetition penalty (1: off)")
      ->capture_default_str();
  cmd->add_option("--presence-penalty", a->sampling.presence_penalty)->capture_default_str();
  cmd->add_option("--frequency-penalty", a->sampling.frequency_penalty)->capture_default_str();
  cmd->add_option("--repeat-last-n", a->sampling.penalty_last_n, "Tokens the penalties look at")
      ->capture_default_str();
  cmd->add_option("-s,--seed", a->sampling.seed, "Sampling seed")->capture_default_str();
  cmd->add_option("--stop", a->stop, "Stop when this text appears (repeatable)");
  cmd->add_flag("--ignore-eos", a->ignore_eos, "Keep generating past end-of-generation tokens");
  cmd->callback([a, &exit_code] {
    if (a->prompt.empty() && a->file.empty()) {
      fmt::print(stderr, "hearth run: -p PROMPT or -f FILE is required\n");
      exit_code = 2;
      return;
    }
    exit_code = run_generation(*a);
  });
}

}  // namespace hearth::cli
