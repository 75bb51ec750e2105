// hearth serve -m MODEL: the OpenAI-compatible server. It listens first (so /health can say
// "loading" with a 503), then loads the model, its tokenizer and chat template, sizes the paged KV
// cache from --kv-cache-mb, starts the engine, and serves until SIGINT/SIGTERM.
#include <fmt/format.h>

#include <sys/resource.h>

#include <cstdlib>
#include <filesystem>

#include "base/mapped_file.h"
#include "base/thread_pool.h"
#include "cli/commands.h"
#include "engine/engine.h"
#include "model/transformer.h"
#include "server/http_server.h"
#include "tokenizer/tokenizer.h"

namespace hearth::cli {
namespace {

struct ServeArgs {
  std::string model;
  std::string served_name;
  std::string chat_template_file;
  server::ServerOptions server;
  int n_threads = default_thread_count();
  int64_t ctx_size = 0;
  int64_t kv_cache_mb = 1024;
  int64_t block_size = 16;
  int64_t max_running = 64;
  int64_t max_step_tokens = 256;
  int64_t max_waiting = 256;
  int64_t max_n = 16;
  uint64_t max_body_mb = 16;
  bool no_prefix_cache = false;
};

std::string default_name(const std::string& path) {
  std::filesystem::path p(path);
  while (!p.empty() && p.filename().empty()) p = p.parent_path();  // "dir/" -> "dir"
  std::string name = p.filename().string();
  if (name.size() > 5 && name.substr(name.size() - 5) == ".gguf") name.resize(name.size() - 5);
  return name.empty() ? "model" : name;
}

// Thousands of idle streaming connections need thousands of descriptors: lift the soft limit
// (often 1024) to the hard one.
void raise_open_file_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

int serve(ServeArgs a) {
  raise_open_file_limit();
  if (const char* key = std::getenv("HEARTH_API_KEY"); key && *key) a.server.api_keys.emplace_back(key);
  a.server.max_body_bytes = a.max_body_mb << 20;
  server::Server srv(a.server);
  if (Status st = srv.start(); !st.ok()) {
    fmt::print(stderr, "hearth serve: {}\n", st.message());
    return 1;
  }
  fmt::print(stderr, "serve: listening on http://{}:{} (loading {})\n", a.server.host, srv.port(), a.model);

  auto fail = [&](const std::string& message) {
    fmt::print(stderr, "hearth serve: {}\n", message);
    return 1;
  };
  auto model = ModelFile::open(a.model);
  if (!model.ok()) return fail(model.error().message);
  auto tok = tokenizer::Tokenizer::from_model(*model);
  if (!tok.ok()) return fail(tok.error().message);
  std::string template_source;
  if (!a.chat_template_file.empty()) {
    auto text = read_text_file(a.chat_template_file, size_t{16} << 20);
    if (!text.ok()) return fail(text.error().message);
    template_source = *text;
  } else {
    // GGUF metadata, else a Hugging Face folder's tokenizer_config.json, else ChatML.
    template_source = model->get_string("tokenizer.chat_template")
                          .value_or(tok->chat_template().empty() ? std::string(chat::kChatMlTemplate)
                                                                 : tok->chat_template());
  }
  auto tmpl = chat::Template::parse(template_source);
  if (!tmpl.ok()) return fail("chat template: " + tmpl.error().message);

  // An encoder computes each input whole in one step: the step holds the longest input it takes
  // (its context, or --ctx-size), as llama-server's batch must.
  auto file_hp = read_hparams(*model);
  if (!file_hp.ok()) return fail(file_hp.error().message);
  if (!file_hp->causal) {
    const int64_t longest = a.ctx_size > 0 ? std::min(a.ctx_size, file_hp->n_ctx_train) : file_hp->n_ctx_train;
    a.max_step_tokens = std::max(a.max_step_tokens, std::min<int64_t>(longest, 65536));
  }
  TransformerOptions topt;
  topt.n_threads = a.n_threads;
  topt.n_batch = std::max(a.max_step_tokens, a.max_running);
  topt.own_kv_cache = false;
  auto tf = Transformer::create(*model, topt);
  if (!tf.ok()) return fail(tf.error().message);
  const HParams& hp = (*tf)->hparams();

  engine::EngineOptions eopt;
  eopt.block_size = a.block_size;
  eopt.max_running = a.max_running;
  eopt.max_step_tokens = a.max_step_tokens;
  eopt.n_blocks = engine::blocks_for_budget(hp, eopt, uint64_t(a.kv_cache_mb) << 20);
  // An encoder writes no keys (each input attends within its own pass): its blocks are only the
  // scheduler's bookkeeping, never touched memory, and a step's worth is all it uses.
  if (!hp.causal)
    eopt.n_blocks = std::min(eopt.n_blocks, (a.max_step_tokens + a.block_size - 1) / a.block_size + a.max_running);
  eopt.max_waiting = a.max_waiting;
  eopt.max_context = a.ctx_size > 0 ? a.ctx_size : hp.n_ctx_train;
  eopt.prefix_caching = !a.no_prefix_cache;
  if (eopt.n_blocks < 2) return fail(fmt::format("--kv-cache-mb {} holds less than two KV blocks of this model", a.kv_cache_mb));
  engine::Engine eng(**tf, tok->eog_ids(), eopt);

  api::ModelContext ctx;
  ctx.name = a.served_name.empty() ? default_name(a.model) : a.served_name;
  ctx.aliases = {a.model};
  ctx.tokenizer = &*tok;
  ctx.chat_template = &*tmpl;
  if (tok->bos() != tokenizer::kNoToken) ctx.chat_defaults.bos_token = tok->token_to_piece(tok->bos(), true);
  if (tok->eos() != tokenizer::kNoToken) ctx.chat_defaults.eos_token = tok->token_to_piece(tok->eos(), true);
  ctx.max_context = eng.max_context();
  ctx.n_vocab = static_cast<int32_t>(hp.n_vocab);
  ctx.max_n = a.max_n;
  ctx.pooling = hp.pooling;
  ctx.generates = hp.causal;
  ctx.n_embd = hp.n_embd;
  ctx.rerank_template = model->get_string("tokenizer.chat_template.rerank").value_or("");
  if (hp.pooling == Pooling::kRank)
    fmt::print(stderr, "serve: a reranker ({} classes): /v1/rerank scores documents{}\n", hp.n_cls_out,
               ctx.rerank_template.empty() ? "" : " through its rerank template");
  else if (hp.pooling != Pooling::kNone)
    fmt::print(stderr, "serve: an embedding model ({} pooling): /v1/embeddings serves {}-wide vectors\n",
               pooling_name(hp.pooling), hp.n_embd);
  const std::string kv_line =
      !hp.causal ? std::string("no KV cache (an encoder)")
                 : fmt::format("KV cache {} blocks of {}{} ({:.0f} MiB, {} tokens)", eopt.n_blocks, eopt.block_size,
                               eng.window_blocks() > 0
                                   ? fmt::format(" + {} for the sliding-window layers", eng.window_blocks())
                                   : "",
                               double(eng.kv_bytes()) / (1 << 20), eng.capacity_tokens());
  fmt::print(stderr, "serve: {} ({}) as '{}': context {} tokens, {}, {} sequences per step, {} threads\n", a.model,
             model->architecture(), ctx.name, ctx.max_context, kv_line, eopt.max_running, a.n_threads);
  srv.set_model(std::move(ctx), &eng);
  fmt::print(stderr, "serve: ready on http://{}:{}\n", a.server.host, srv.port());
  const int code = srv.wait();
  fmt::print(stderr, "serve: stopped\n");
  return code;
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve a model over an OpenAI-compatible HTTP API");
  cmd->add_option("-m,--model", a->model, "GGUF file or Hugging Face folder")->required();
  cmd->add_option("--host", a->server.host, "Address to bind")->capture_default_str();
  cmd->add_option("--port", a->server.port, "Port (0: any free port)")->capture_default_str();
  cmd->add_option("--api-key", a->server.api_keys,
                  "Require 'Authorization: Bearer KEY' on the API (repeatable; also $HEARTH_API_KEY)");
  cmd->add_option("--cors-origin", a->server.cors_origins, "Allow browser requests from this origin ('*': any; repeatable)");
  cmd->add_option("--served-model-name", a->served_name, "The model id clients use (default: the file name)");
  cmd->add_option("--chat-template", a->chat_template_file, "Jinja chat template file overriding the model's");
  cmd->add_option("-t,--threads", a->n_threads, "Threads for the forward pass")->capture_default_str();
  cmd->add_option("-c,--ctx-size", a->ctx_size, "Most tokens per sequence, prompt + completion (0: the model's)")
      ->capture_default_str();
  cmd->add_option("--kv-cache-mb", a->kv_cache_mb, "KV cache memory, shared by all sequences")->capture_default_str();
  cmd->add_option("--block-size", a->block_size, "Tokens per KV block")->capture_default_str()->check(CLI::Range(1, 1024));
  cmd->add_option("--max-running", a->max_running, "Sequences decoded together at most")->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_option("--max-step-tokens", a->max_step_tokens, "Tokens per engine step (prefill chunk + decodes)")
      ->capture_default_str()->check(CLI::Range(1, 65536));
  cmd->add_option("--max-waiting", a->max_waiting, "Queued requests beyond which new ones get 503")->capture_default_str();
  cmd->add_option("--max-n", a->max_n, "Most choices (n) per request")->capture_default_str()->check(CLI::Range(1, 1024));
  cmd->add_option("--max-body-mb", a->max_body_mb, "Largest request body")->capture_default_str();
  cmd->add_option("--request-timeout", a->server.request_timeout_s, "Seconds a request may run")->capture_default_str();
  cmd->add_option("--shutdown-grace", a->server.shutdown_grace_s, "Seconds in-flight requests get on SIGTERM")
      ->capture_default_str();
  cmd->add_flag("--no-prefix-cache", a->no_prefix_cache, "Do not reuse KV blocks of shared prompt prefixes");
  cmd->callback([a, &exit_code] { exit_code = serve(*a); });
}

}  // namespace hearth::cli
