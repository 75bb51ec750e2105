// hearth quantize IN OUT TYPE: converts a GGUF file or HF folder into a quantized GGUF.
#include <fmt/format.h>

#include <map>
#include "base/thread_pool.h"

#include "cli/commands.h"
#include "model/quantize.h"

namespace hearth::cli {

void add_quantize_command(CLI::App& app, int& exit_code) {
  struct Args {
    std::string in, out, type;
    int n_threads = default_thread_count();
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "quantize", "Quantize a model (GGUF or HF folder) into a GGUF file, as llama-quantize does");
  cmd->add_option("input", args->in, "Input GGUF file or Hugging Face folder")->required();
  cmd->add_option("output", args->out, "Output .gguf file")->required();
  cmd->add_option("type", args->type, "Recipe or tensor type: " + recipe_names())->required();
  cmd->add_option("-t,--threads", args->n_threads, "Threads")->capture_default_str();
  cmd->callback([args, &exit_code] {
    exit_code = 1;
    auto recipe = parse_type_or_recipe(args->type);
    if (!recipe.ok()) {
      fmt::print(stderr, "hearth quantize: {}\n", recipe.error().message);
      exit_code = 2;
      return;
    }
    auto model = ModelFile::open(args->in);
    if (!model.ok()) {
      fmt::print(stderr, "hearth quantize: {}\n", model.error().message);
      return;
    }
    auto report = quantize_model(*model, args->out, *recipe, args->n_threads);
    if (!report.ok()) {
      fmt::print(stderr, "hearth quantize: {}\n", report.error().message);
      return;
    }
    std::map<std::string, int> per_type;
    for (const auto& [name, type] : report->tensor_types) per_type[std::string(dtype_name(type))]++;
    std::string mix;
    for (const auto& [type, n] : per_type) mix += fmt::format("{}{}: {}", mix.empty() ? "" : ", ", type, n);
    auto mib = [](uint64_t b) { return static_cast<double>(b) / (1024.0 * 1024.0); };
    auto bpw = [](const PipelineStats& s) {
      return s.n_params ? 8.0 * static_cast<double>(s.n_bytes) / static_cast<double>(s.n_params) : 0.0;
    };
    fmt::print(stderr,
               "quantize: {} -> {} ({})\n  tensors: {}\n  size: {:.2f} MiB ({:.2f} bpw) -> "
               "{:.2f} MiB ({:.2f} bpw)\n",
               args->in, args->out, recipe->name, mix, mib(report->in.n_bytes), bpw(report->in),
               mib(report->out.n_bytes), bpw(report->out));
    exit_code = 0;
  });
}

}  // namespace hearth::cli
