// hearth serve -m MODEL: the OpenAI-compatible server. It listens first (so /health can say
// "loading" with a 503), then loads the model, its tokenizer and chat template, sizes the paged KV
// cache from --kv-cache-mb, starts the engine, and serves until SIGINT/SIGTERM.
#include <fmt/format.h>

#include <sys/resource.h>

#include <cstdlib>

#include "cli/commands.h"
#include "cli/served_model.h"
#include "server/http_server.h"

namespace hearth::cli {
namespace {

struct ServeArgs {
  ServingOptions model;
  server::ServerOptions server;
  uint64_t max_body_mb = 16;
};

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
  fmt::print(stderr, "serve: listening on http://{}:{} (loading {})\n", a.server.host, srv.port(), a.model.model);
  auto served = ServedModel::load(a.model, "serve");
  if (!served.ok()) {
    fmt::print(stderr, "hearth serve: {}\n", served.error().message);
    return 1;
  }
  srv.set_model((*served)->context(), &(*served)->engine());
  fmt::print(stderr, "serve: ready on http://{}:{}{}\n", a.server.host, srv.port(),
             a.server.web_ui ? " (chat in the browser at /, dashboard at /dashboard)" : "");
  const int code = srv.wait();
  fmt::print(stderr, "serve: stopped\n");
  return code;
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve a model over an OpenAI-compatible HTTP API");
  cmd->add_option("-m,--model", a->model.model, "GGUF file or Hugging Face folder")->required();
  cmd->add_option("--host", a->server.host, "Address to bind")->capture_default_str();
  cmd->add_option("--port", a->server.port, "Port (0: any free port)")->capture_default_str();
  cmd->add_option("--api-key", a->server.api_keys,
                  "Require 'Authorization: Bearer KEY' on the API (repeatable; also $HEARTH_API_KEY)");
  cmd->add_option("--cors-origin", a->server.cors_origins, "Allow browser requests from this origin ('*': any; repeatable)");
  add_serving_options(cmd, a->model);
  cmd->add_option("--max-body-mb", a->max_body_mb, "Largest request body")->capture_default_str();
  cmd->add_option("--request-timeout", a->server.request_timeout_s, "Seconds a request may run")->capture_default_str();
  cmd->add_option("--shutdown-grace", a->server.shutdown_grace_s, "Seconds in-flight requests get on SIGTERM")
      ->capture_default_str();
  cmd->add_flag("!--no-webui", a->server.web_ui, "Do not serve the web chat (/) and dashboard (/dashboard)");
  cmd->callback([a, &exit_code] { exit_code = serve(*a); });
}

}  // namespace hearth::cli
