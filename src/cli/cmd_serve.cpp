// hearth serve -m MODEL: the OpenAI-compatible server. It listens first (so /health can say
// "loading" with a 503), then loads the model, its tokenizer and chat template, sizes the paged KV
// cache from --kv-cache-mb, starts the engine, and serves until SIGINT/SIGTERM.
#include <fmt/format.h>

#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <utility>
#include <vector>

#include <fmt/ranges.h>

#include "cli/commands.h"
#include "cli/served_model.h"
#include "server/http_server.h"
#include "tenants/tenancy.h"

namespace hearth::cli {
namespace {

struct ServeArgs {
  ServingOptions model;              // the sizing options; each model's path and name below
  std::vector<std::string> models;
  std::vector<std::string> names;
  server::ServerOptions server;
  uint64_t max_body_mb = 16;
  std::string db;            // keys and usage (SQLite file or postgresql:// URI)
  std::string replica;       // this server's name in a shared store's runs
  int64_t usage_flush_ms = 200;
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
  if (const char* key = std::getenv("HEARTH_ADMIN_KEY"); key && *key) a.server.admin_keys.emplace_back(key);
  a.server.max_body_bytes = a.max_body_mb << 20;
  // The store opens before the port: a server that cannot meter does not start taking requests.
  std::unique_ptr<tenants::Tenancy> tenancy;
  if (!a.db.empty()) {
    if (a.usage_flush_ms < 1 || a.usage_flush_ms > 60000) {
      fmt::print(stderr, "hearth serve: --usage-flush-ms must be 1 to 60000\n");
      return 2;
    }
    tenants::TenancyOptions to;
    to.db_path = a.db;
    to.replica = a.replica;
    to.flush_window = std::chrono::milliseconds(a.usage_flush_ms);
    to.log = [](const std::string& line) { fmt::print(stderr, "serve: {}\n", line); };
    auto opened = tenants::Tenancy::open(std::move(to));
    if (!opened) {
      fmt::print(stderr, "hearth serve: {}\n", opened.error().message);
      return 1;
    }
    tenancy = std::move(*opened);
    a.server.tenancy = tenancy.get();
    fmt::print(stderr, "serve: keys and usage in {} (usage written every {} ms)\n",
               tenants::Store::is_postgres(a.db) ? std::string("PostgreSQL") : a.db, a.usage_flush_ms);
  }
  server::Server srv(a.server);
  if (Status st = srv.start(); !st.ok()) {
    fmt::print(stderr, "hearth serve: {}\n", st.message());
    return 1;
  }
  if (a.names.size() > a.models.size()) {
    fmt::print(stderr, "hearth serve: {} --served-model-name for {} --model\n", a.names.size(), a.models.size());
    return 2;
  }
  fmt::print(stderr, "serve: listening on http://{}:{} (loading {})\n", a.server.host, srv.port(), fmt::join(a.models, ", "));
  // Every model is loaded now, each with its own engine and KV cache of --kv-cache-mb.
  std::vector<std::unique_ptr<ServedModel>> loaded;
  std::vector<std::pair<api::ModelContext, engine::Engine*>> served;
  for (size_t i = 0; i < a.models.size(); ++i) {
    ServingOptions o = a.model;
    o.model = a.models[i];
    o.served_name = i < a.names.size() ? a.names[i] : std::string();
    auto m = ServedModel::load(o, "serve");
    if (!m.ok()) {
      fmt::print(stderr, "hearth serve: {}\n", m.error().message);
      return 1;
    }
    for (const auto& [ctx, e] : served)
      if (ctx.name == (*m)->context().name) {
        fmt::print(stderr, "hearth serve: two models are named '{}': give each a --served-model-name\n", ctx.name);
        return 2;
      }
    served.emplace_back((*m)->context(), &(*m)->engine());
    loaded.push_back(std::move(*m));
  }
  srv.set_models(std::move(served));
  fmt::print(stderr, "serve: ready on http://{}:{}{}\n", a.server.host, srv.port(),
             a.server.web_ui ? " (chat in the browser at /, dashboard at /dashboard)" : "");
  const int code = srv.wait();
  if (tenancy) tenancy->shutdown();  // the last usage written, the run marked clean
  fmt::print(stderr, "serve: stopped\n");
  return code;
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve a model over an OpenAI-compatible HTTP API");
  cmd->add_option("-m,--model", a->models, "GGUF file or Hugging Face folder (repeatable: several models, picked by "
                  "the request's \"model\")")->required();
  cmd->add_option("--served-model-name", a->names,
                  "The model id clients use (default: the file name; repeatable, one per --model in order)");
  cmd->add_option("--host", a->server.host, "Address to bind")->capture_default_str();
  cmd->add_option("--port", a->server.port, "Port (0: any free port)")->capture_default_str();
  cmd->add_option("--api-key", a->server.api_keys,
                  "Require 'Authorization: Bearer KEY' on the API (repeatable; also $HEARTH_API_KEY)");
  cmd->add_option("--db", a->db, "Keys, quotas and usage: a SQLite file (created on first start) or a postgresql:// "
                  "URI that replicas share (see `hearth keys`)");
  cmd->add_option("--replica", a->replica, "This server's name among replicas sharing --db (default: the host name)");
  cmd->add_option("--admin-key", a->server.admin_keys,
                  "The key that opens /admin/keys and /admin/usage (repeatable; also $HEARTH_ADMIN_KEY)");
  cmd->add_option("--usage-flush-ms", a->usage_flush_ms,
                  "Usage is written to --db this often (a crash loses at most this window)")->capture_default_str();
  cmd->add_option("--cors-origin", a->server.cors_origins, "Allow browser requests from this origin ('*': any; repeatable)");
  add_serving_options(cmd, a->model, /*name_option=*/false);
  cmd->add_option("--max-body-mb", a->max_body_mb, "Largest request body")->capture_default_str();
  cmd->add_option("--request-timeout", a->server.request_timeout_s, "Seconds a request may run")->capture_default_str();
  cmd->add_option("--shutdown-grace", a->server.shutdown_grace_s, "Seconds in-flight requests get on SIGTERM")
      ->capture_default_str();
  cmd->add_flag("--log-requests", a->server.log_requests,
                "A JSON line per API request on stderr: id, route, key, model, status, tokens, TTFT, duration");
  cmd->add_flag("!--no-webui", a->server.web_ui, "Do not serve the web chat (/) and dashboard (/dashboard)");
  cmd->callback([a, &exit_code] { exit_code = serve(*a); });
}

}  // namespace hearth::cli
