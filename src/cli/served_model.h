// A model made ready to serve: its file, tokenizer, chat template, forward pass and engine, sized
// from the serving options. `hearth serve` puts it behind the HTTP server; `hearth chat` does the
// same on a private port and talks to it as a client would.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "api/openai.h"
#include "base/result.h"
#include "chat/template.h"
#include "engine/engine.h"
#include "model/model_file.h"
#include "model/transformer.h"
#include "server/kv_events.h"
#include "server/model_pool.h"
#include "tokenizer/tokenizer.h"

namespace hearth::cli {

struct ServingOptions {
  std::string model;
  std::string served_name;
  std::string chat_template_file;
  int n_threads = 0;  // 0: default_thread_count()
  int64_t ctx_size = 0;
  int64_t kv_cache_mb = 1024;
  int64_t block_size = 16;
  int64_t max_running = 64;
  int64_t max_step_tokens = 256;
  int64_t max_waiting = 256;
  int64_t max_n = 16;
  bool no_prefix_cache = false;
  std::string spec;            // "ngram": speculative decoding by prompt lookup while few sequences decode
  int64_t draft_max = 16;
  server::KvEventPublisher* kv_events = nullptr;  // announce the prefix cache's blocks (serve --kv-events-endpoint)
};

// The options that size the model and engine, shared by `serve` and `chat` (`serve` names its
// several models itself: name_option false).
void add_serving_options(CLI::App* cmd, ServingOptions& o, bool name_option = true);

class ServedModel {
 public:
  // Loads and sizes everything, printing a line per stage with the time it took (prefixed
  // `log_prefix`) to stderr.
  static Result<std::unique_ptr<ServedModel>> load(ServingOptions o, const char* log_prefix);

  // What the API layer needs; valid while this object lives.
  const api::ModelContext& context() const { return context_; }
  engine::Engine& engine() { return *engine_; }
  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }

 private:
  ServedModel() = default;
  std::unique_ptr<ModelFile> file_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  std::unique_ptr<chat::Template> template_;
  std::unique_ptr<Transformer> transformer_;
  std::unique_ptr<engine::Engine> engine_;
  api::ModelContext context_;
};

// A model `hearth serve` answers for: its file or folder, the id clients use ("": from the file
// name), and whether it loads at start (-m) or on first use (--models-dir).
struct ModelSource {
  std::string path;
  std::string name;
  bool preload = true;
};

// The GGUF files and Hugging Face folders (those holding config.json) in `dir`, sorted by name.
Result<std::vector<std::string>> models_in_dir(const std::string& dir);

// What a model takes in memory by the pool's reckoning: its weights' size on disk (the GGUF file,
// or a folder's *.safetensors) plus its KV cache budget.
Result<uint64_t> model_memory_estimate(const std::string& path, const ServingOptions& o);

// The pool of `sources`, each loaded with `o` (its path and name set) when first needed; nothing is
// loaded yet.
Result<std::unique_ptr<server::ModelPool>> make_model_pool(const std::vector<ModelSource>& sources,
                                                           const ServingOptions& o, uint64_t budget_bytes);

}  // namespace hearth::cli
