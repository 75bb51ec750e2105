// hearth serve -m MODEL: the OpenAI-compatible server. It listens first (so /health can say
// "loading" with a 503), then loads the model, its tokenizer and chat template, sizes the paged KV
// cache from --kv-cache-mb, starts the engine, and serves until SIGINT/SIGTERM. With several models
// (-m more than once, or --models-dir) the -m models load at start while they fit --memory-budget;
// the rest load on first use, and the least recently used idle model unloads to make room.
#include <fmt/format.h>

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
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
  std::string models_dir;    // every GGUF file and Hugging Face folder in it, loaded on first use
  int64_t memory_budget_mb = 0;
  server::KvEventPublisher::Options kv_events;
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

std::string host_name() {
  char buf[256] = {};
  return gethostname(buf, sizeof buf - 1) == 0 && buf[0] ? std::string(buf) : std::string("hearth");
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
  // KV-cache events: the publisher outlives every engine (each says "cleared" as it goes).
  std::unique_ptr<server::KvEventPublisher> kv_events;
  if (!a.kv_events.endpoint.empty()) {
    a.kv_events.pod = !a.replica.empty() ? a.replica : host_name();
    auto opened = server::KvEventPublisher::open(a.kv_events);
    if (!opened.ok()) {
      fmt::print(stderr, "hearth serve: {}\n", opened.error().message);
      return 1;
    }
    kv_events = std::move(*opened);
    a.model.kv_events = kv_events.get();
    a.server.kv_events = kv_events.get();
    fmt::print(stderr, "serve: KV-cache events on {} (topic {})\n", a.kv_events.endpoint, a.kv_events.topic);
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
  if (a.memory_budget_mb < 0 || a.memory_budget_mb > (int64_t{1} << 40)) {
    fmt::print(stderr, "hearth serve: --memory-budget must be 0 (none) to 2^40 MiB\n");
    return 2;
  }
  std::vector<ModelSource> sources;
  for (size_t i = 0; i < a.models.size(); ++i)
    sources.push_back({a.models[i], i < a.names.size() ? a.names[i] : std::string(), /*preload=*/true});
  if (!a.models_dir.empty()) {
    auto found = models_in_dir(a.models_dir);
    if (!found.ok()) {
      fmt::print(stderr, "hearth serve: {}\n", found.error().message);
      return 1;
    }
    // A file given with -m as well keeps its -m name and loads at start.
    const auto given = [&](const std::string& path) {
      std::error_code ec;
      for (const std::string& m : a.models)
        if (std::filesystem::equivalent(m, path, ec)) return true;
      return false;
    };
    for (std::string& path : *found)
      if (!given(path)) sources.push_back({std::move(path), std::string(), /*preload=*/false});
  }
  if (sources.empty()) {
    fmt::print(stderr, "hearth serve: no model: give --model or a --models-dir holding GGUF files or model folders\n");
    return 2;
  }
  fmt::print(stderr, "serve: listening on http://{}:{} ({} model{})\n", a.server.host, srv.port(), sources.size(),
             sources.size() == 1 ? "" : "s");
  auto pool = make_model_pool(sources, a.model, uint64_t(a.memory_budget_mb) << 20);
  if (!pool.ok()) {
    fmt::print(stderr, "hearth serve: {}\n", pool.error().message);
    return 2;
  }
  // The -m models load now, in order, while they fit the budget (the first always does, or the
  // server does not start); the rest wait for their first request.
  for (size_t i = 0; i < sources.size(); ++i) {
    if (!sources[i].preload) continue;
    if (i > 0 && !(*pool)->fits(i)) {
      fmt::print(stderr, "serve: '{}' will load on first use (--memory-budget)\n", (*pool)->entry(i).name);
      continue;
    }
    auto lease = (*pool)->acquire(i, std::chrono::steady_clock::now() + std::chrono::hours(1));
    if (!lease.ok()) {
      fmt::print(stderr, "hearth serve: {}\n", lease.error().message);
      return 1;
    }
  }
  srv.set_models(std::move(*pool));
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
                  "the request's \"model\")");
  cmd->add_option("--models-dir", a->models_dir,
                  "Also serve every GGUF file and Hugging Face folder in this directory (each loads on first use)");
  cmd->add_option("--memory-budget", a->memory_budget_mb,
                  "MiB the loaded models may take together (weights on disk + --kv-cache-mb each); the least "
                  "recently used idle model unloads to make room (0: no limit)")
      ->capture_default_str();
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
  cmd->add_option("--kv-events-endpoint", a->kv_events.endpoint,
                  "Publish KV-cache events (vLLM's format) on this ZeroMQ endpoint, e.g. tcp://*:5557, for "
                  "prefix-aware routers");
  cmd->add_option("--kv-events-topic", a->kv_events.topic, "The events' topic ({pod}: --replica or the host name, "
                  "{model}: the served name)")->capture_default_str();
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
