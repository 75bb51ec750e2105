// hearth logits: runs token ids through the model and writes the logits of every position, for
// comparing the forward pass with another implementation (tests/peers holds it against
// llama.cpp). Output: f32 [n_tokens, n_vocab], little-endian, row per position. --dump DIR also
// writes the intermediate activations under llama.cpp's tensor names, to set beside
// `llama-harness logits --dump` and find the first op where the two differ.
#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "base/thread_pool.h"
#include "cli/commands.h"
#include "model/transformer.h"

namespace hearth::cli {

std::optional<std::vector<int32_t>> parse_token_list(const std::string& list) {
  std::string text = list;
  for (char& c : text) if (c == ',') c = ' ';
  std::istringstream in(text);
  std::vector<int32_t> ids;
  long long id;
  while (in >> id) {
    if (id < INT32_MIN || id > INT32_MAX) return std::nullopt;
    ids.push_back(static_cast<int32_t>(id));
  }
  if (!in.eof()) return std::nullopt;
  return ids;
}

void add_logits_command(CLI::App& app, int& exit_code) {
  struct Args {
    std::string model, tokens, output, dump;
    int n_threads = default_thread_count();
    int64_t n_batch = 512;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "logits", "Write the logits of every position for given token ids (for comparisons)");
  cmd->add_option("-m,--model", args->model, "GGUF file or Hugging Face folder")->required();
  cmd->add_option("--tokens", args->tokens, "Token ids, space or comma separated")->required();
  cmd->add_option("-o,--output", args->output, "Output file: f32 [n_tokens, n_vocab]")->required();
  cmd->add_option("-t,--threads", args->n_threads, "Threads")->capture_default_str();
  cmd->add_option("-b,--batch-size", args->n_batch, "Tokens per forward chunk")->capture_default_str();
  cmd->add_option("--dump", args->dump,
                  "Also write each intermediate activation to DIR/NAME.f32 (llama.cpp's tensor names; "
                  "a later chunk overwrites an earlier one's)");
  cmd->callback([args, &exit_code] {
    exit_code = 1;
    const std::optional<std::vector<int32_t>> parsed = parse_token_list(args->tokens);
    if (!parsed || parsed->empty()) {
      fmt::print(stderr, "hearth logits: --tokens must be a list of integers\n");
      exit_code = 2;
      return;
    }
    const std::vector<int32_t>& ids = *parsed;
    auto model = ModelFile::open(args->model);
    if (!model.ok()) {
      fmt::print(stderr, "hearth logits: {}\n", model.error().message);
      return;
    }
    TransformerOptions opt;
    opt.n_ctx = static_cast<int64_t>(ids.size());
    opt.n_batch = args->n_batch;
    opt.n_threads = args->n_threads;
    bool dump_failed = false;
    if (!args->dump.empty())
      opt.on_tensor = [dir = args->dump, &dump_failed](const std::string& name, std::span<const float> values) {
        std::ofstream f(dir + "/" + name + ".f32", std::ios::binary);
        f.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size_bytes()));
        if (!f) dump_failed = true;
      };
    auto tf = Transformer::create(*model, opt);
    if (!tf.ok()) {
      fmt::print(stderr, "hearth logits: {}\n", tf.error().message);
      return;
    }
    std::vector<float> logits;
    Status st = (*tf)->forward(ids, true, logits);
    if (!st.ok()) {
      fmt::print(stderr, "hearth logits: {}\n", st.message());
      return;
    }
    if (dump_failed) {
      fmt::print(stderr, "hearth logits: cannot write into {}\n", args->dump);
      return;
    }
    std::ofstream out(args->output, std::ios::binary);
    out.write(reinterpret_cast<const char*>(logits.data()),
              static_cast<std::streamsize>(logits.size() * sizeof(float)));
    if (!out) {
      fmt::print(stderr, "hearth logits: cannot write {}\n", args->output);
      return;
    }
    fmt::print(stderr, "logits: {} tokens x {} vocab -> {}\n", ids.size(),
               (*tf)->hparams().n_vocab, args->output);
    exit_code = 0;
  });
}

}  // namespace hearth::cli
