// hearth run -m MODEL -p PROMPT: generates a continuation of a raw prompt (no chat template),
// streaming text as it is produced; timings on stderr at the end.
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "base/mapped_file.h"
#include "base/thread_pool.h"
#include "cli/commands.h"
#include "engine/speculative.h"
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
  std::string spec;        // "", "ngram" or "draft"
  std::string draft_model;
  int64_t draft_max = 16;  // as llama.cpp's --draft-max
  float draft_p_min = 0.75f;
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
  // Speculative decoding: a draft model of the same vocabulary, or prompt lookup.
  std::unique_ptr<ModelFile> draft_file;
  std::unique_ptr<Transformer> draft_tf;
  std::unique_ptr<Drafter> drafter;
  const std::string spec = a.spec.empty() && !a.draft_model.empty() ? "draft" : a.spec;
  if (!spec.empty() && t.hparams().has_recurrent_layers()) {
    fmt::print(stderr, "hearth run: speculative decoding: {} has recurrent layers, whose state cannot take "
               "rejected drafts back\n", model->architecture());
    return 2;
  }
  if (spec == "ngram") {
    drafter = std::make_unique<NgramDrafter>();
  } else if (spec == "draft") {
    if (a.draft_model.empty()) {
      fmt::print(stderr, "hearth run: --spec draft needs --draft MODEL\n");
      return 2;
    }
    auto df = ModelFile::open(a.draft_model);
    if (!df.ok()) {
      fmt::print(stderr, "hearth run: {}\n", df.error().message);
      return 1;
    }
    draft_file = std::make_unique<ModelFile>(std::move(*df));
    auto dt = Transformer::create(*draft_file, topt);
    if (!dt.ok()) {
      fmt::print(stderr, "hearth run: draft model: {}\n", dt.error().message);
      return 1;
    }
    draft_tf = std::move(*dt);
    // As llama.cpp requires: the same tokens (its output rows may differ by padding, up to 128).
    auto draft_tok = tokenizer::Tokenizer::from_model(*draft_file);
    if (!draft_tok.ok()) {
      fmt::print(stderr, "hearth run: draft model: {}\n", draft_tok.error().message);
      return 1;
    }
    bool same_vocab = draft_tok->n_vocab() == tok->n_vocab() &&
                      std::abs(draft_tf->hparams().n_vocab - t.hparams().n_vocab) <= 128;
    for (int32_t id = 0; same_vocab && id < tok->n_vocab(); ++id)
      same_vocab = draft_tok->token_text(id) == tok->token_text(id);
    if (!same_vocab) {
      fmt::print(stderr, "hearth run: the draft model's vocabulary ({} tokens) is not the model's ({})\n",
                 draft_tok->n_vocab(), tok->n_vocab());
      return 1;
    }
    drafter = std::make_unique<ModelDrafter>(*draft_tf, a.draft_p_min, t.hparams().n_vocab);
    fmt::print(stderr, "run: draft {} ({}), up to {} tokens a pass, p_min {}\n", a.draft_model,
               draft_file->architecture(), a.draft_max, a.draft_p_min);
  }

  Sampler sampler(a.sampling, static_cast<int32_t>(t.hparams().n_vocab));
  SpeculativeDecoder speculative(t, sampler, drafter.get(), a.draft_max);
  tokenizer::StreamDecoder decoder(*tok);
  StopFilter filter(a.stop);
  std::vector<float> logits;
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  std::fflush(stdout);
  const auto t0 = clock::now();
  Status st = t.forward(tokens, false, logits);
  const auto t1 = clock::now();
  const int64_t n_prompt = static_cast<int64_t>(tokens.size());
  int64_t n_generated = 0;
  std::vector<int32_t> emitted;
  if (st.ok()) {
    const int32_t first = sampler.sample(logits, tokens);
    emitted.assign(1, first);
    tokens.push_back(first);
  }
  bool done = false;
  while (st.ok() && !done) {
    // The tokens decided by the last pass, one at a time, as plain decoding shows them.
    for (const int32_t next : emitted) {
      if (n_generated >= a.n_predict || (!a.ignore_eos && tok->is_eog(next))) {
        done = true;
        break;
      }
      ++n_generated;
      std::string text = filter.push(decoder.push(next));
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
      if (filter.stopped()) {
        done = true;
        break;
      }
    }
    if (done || n_generated >= a.n_predict || t.n_past() >= t.n_ctx()) break;
    st = speculative.step(tokens, emitted);
    if (emitted.empty()) break;
  }
  if (!filter.stopped()) {
    std::string tail = filter.push(decoder.flush());
    tail += filter.stopped() ? "" : filter.flush();
    std::fwrite(tail.data(), 1, tail.size(), stdout);
  }
  std::fputs("\n", stdout);
  std::fflush(stdout);  // before the report on stderr, so the two do not interleave
  const auto t2 = clock::now();
  if (!st.ok()) {
    fmt::print(stderr, "hearth run: {}\n", st.message());
    return 1;
  }
  const double prompt_s = std::chrono::duration<double>(t1 - t0).count();
  const double gen_s = std::chrono::duration<double>(t2 - t1).count();
  fmt::print(stderr, "prompt: {} tokens in {:.2f} s ({:.1f} tokens/s)\n", n_prompt, prompt_s,
             double(n_prompt) / prompt_s);
  fmt::print(stderr, "generated: {} tokens in {:.2f} s ({:.1f} tokens/s)\n", n_generated, gen_s,
             gen_s > 0 ? double(n_generated) / gen_s : 0.0);
  if (drafter) {
    const SpeculativeStats& ss = speculative.stats();
    fmt::print(stderr, "speculative ({}): {} passes, {} drafted, {} accepted ({:.1f}%), {:.2f} tokens a pass\n", spec,
               ss.passes, ss.drafted, ss.accepted, ss.drafted > 0 ? 100.0 * double(ss.accepted) / double(ss.drafted) : 0.0,
               ss.passes > 0 ? double(ss.passes + ss.accepted) / double(ss.passes) : 0.0);
  }
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
  cmd->add_option("--spec", a->spec, "Speculative decoding: ngram (prompt lookup) or draft (with --draft)")
      ->check(CLI::IsMember({"ngram", "draft"}));
  cmd->add_option("--draft,--model-draft", a->draft_model,
                  "Draft model (same vocabulary) for speculative decoding; output is unchanged");
  cmd->add_option("--draft-max,--spec-draft-n-max", a->draft_max, "Draft tokens per pass at most")
      ->check(CLI::Range(int64_t{1}, int64_t{256}))
      ->capture_default_str();
  cmd->add_option("--draft-p-min,--spec-draft-p-min", a->draft_p_min, "A draft model stops drafting below this top probability")
      ->check(CLI::Range(0.0f, 1.0f))
      ->capture_default_str();
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
