// hearth mkmodel: random-weight models of real architectures (see model/mkmodel.h).
#include <fmt/format.h>

#include "base/thread_pool.h"

#include "cli/commands.h"
#if __has_include("model/hf_writer.h")
#include "model/hf_writer.h"
#define HEARTH_HAVE_HF_WRITER 1
#endif
#include "model/mkmodel.h"
#include "model/quantize.h"

namespace hearth::cli {

void add_mkmodel_command(CLI::App& app, int& exit_code) {
  struct Args {
    MkModelOptions opt;
    std::string format = "gguf";
    std::string tokenizer_dir;
    bool list = false;
  };
  auto args = std::make_shared<Args>();
  args->opt.vocab_dir = std::string(HEARTH_DEFAULT_SHARED_DIR) + "/testdata/vocab";
  args->opt.chat_template_dir = std::string(HEARTH_DEFAULT_SHARED_DIR) + "/testdata/chat_templates";
  args->opt.n_threads = default_thread_count();

  std::string preset_names;
  for (const Preset& p : presets()) preset_names += (preset_names.empty() ? "" : ", ") + std::string(p.name);
  CLI::App* cmd = app.add_subcommand(
      "mkmodel", "Write a random-weight model of a real architecture (deterministic by seed)");
  cmd->add_option("--preset", args->opt.preset, "Model shape: " + preset_names);
  cmd->add_option("--type", args->opt.type, "Tensor type or recipe: " + recipe_names())
      ->capture_default_str();
  cmd->add_option("-o,--output", args->opt.output, "Output .gguf file (a folder with --format hf)");
  cmd->add_option("--seed", args->opt.seed, "Random seed")->capture_default_str();
  cmd->add_option("--vocab-dir", args->opt.vocab_dir, "Folder of vocab-only GGUF files")
      ->capture_default_str();
  cmd->add_option("--chat-template-dir", args->opt.chat_template_dir,
                  "Folder of .jinja chat templates ('' keeps the vocabulary's template)")
      ->capture_default_str();
  cmd->add_option("--format", args->format, "gguf, or hf for a Hugging Face folder")
      ->check(CLI::IsMember({"gguf", "hf"}))
      ->capture_default_str();
  cmd->add_option("--tokenizer-dir", args->tokenizer_dir,
                  "With --format hf: folder whose tokenizer.json/tokenizer_config.json are copied");
  cmd->add_option("-t,--threads", args->opt.n_threads, "Threads")->capture_default_str();
  cmd->add_option("--layers", args->opt.n_layer,
                  "Keep only the first N layers (a full-width model that fits this machine)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--experts", args->opt.n_expert,
                  "Keep only the first N routed experts of each MoE layer (DeepSeek V3 on a small machine; "
                  "at least the experts each token uses)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--legacy-kv-b", args->opt.legacy_kv_b,
               "DeepSeek in an older converter's layout: one attn_kv_b per layer (same weights), to test such files");
  cmd->add_flag("--list", args->list, "List the presets and exit");

  cmd->callback([args, &exit_code] {
    if (args->list) {
      for (const Preset& p : presets())
      {
        fmt::print("{:<20} {:<8} n_embd={} n_layer={} n_head={} n_head_kv={} head_dim={} n_ff={}",
                   p.name, p.arch, p.hp.n_embd, p.hp.n_layer, p.hp.n_head, p.hp.n_head_kv,
                   p.hp.head_dim, p.hp.n_ff);
        if (p.hp.n_expert > 0)
          fmt::print(" experts={} used={} n_ff_exp={}", p.hp.n_expert, p.hp.n_expert_used,
                     p.hp.n_ff_exp);
        fmt::print("\n");
      }
      exit_code = 0;
      return;
    }
    if (args->opt.preset.empty() || args->opt.output.empty()) {
      fmt::print(stderr, "hearth mkmodel: --preset and -o are required (see --help)\n");
      exit_code = 2;
      return;
    }
    MkModelOptions opt = args->opt;
    const bool hf = args->format == "hf";
    if (hf) opt.output = args->opt.output + ".tmp-mkmodel.gguf";
    auto report = make_random_model(opt);
    if (!report.ok()) {
      fmt::print(stderr, "hearth mkmodel: {}\n", report.error().message);
      exit_code = 1;
      return;
    }
    if (hf) {
      auto model = ModelFile::open(opt.output);
#ifdef HEARTH_HAVE_HF_WRITER
      Status st = model.ok() ? write_hf_folder(*model, args->opt.output, args->tokenizer_dir)
                             : Status(model.error());
#else
      Status st = make_error("--format hf is not available in this build");
#endif
      std::remove(opt.output.c_str());
      if (!st.ok()) {
        fmt::print(stderr, "hearth mkmodel: {}\n", st.message());
        exit_code = 1;
        return;
      }
    }
    fmt::print(stderr, "mkmodel: {} ({}) seed {} -> {}: {:.1f} M params, {:.1f} MiB, vocab {}\n",
               report->preset, report->arch, opt.seed, args->opt.output,
               static_cast<double>(report->stats.n_params) / 1e6,
               static_cast<double>(report->stats.n_bytes) / (1024.0 * 1024.0), report->n_vocab);
    exit_code = 0;
  });
}

}  // namespace hearth::cli
