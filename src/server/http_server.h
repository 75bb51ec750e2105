// The HTTP front of `hearth serve`: Boost.Beast on one Asio thread with C++20 coroutines, so an
// idle or streaming connection costs a coroutine frame and a socket, not a thread. The engine runs
// on its own thread; its per-token callbacks hand text to the waiting connection through a
// small queue and a timer used as a wake-up signal.
//
// Routes: /health, /metrics, /v1/models, /v1/chat/completions, /v1/completions, /tokenize,
// /detokenize, /apply-template, /v1/usage and /admin/{keys,usage} (with --db), and the embedded
// web chat (/) and dashboard (/dashboard). Requests are bounded (header and body size, nesting depth, timeouts); a client
// that goes away has its sequences cancelled at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "engine/engine.h"
#include "api/openai.h"
#include "server/kv_events.h"
#include "server/model_pool.h"

namespace hearth::tenants {
class Tenancy;
}

namespace hearth::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::vector<std::string> api_keys;      // empty: no authentication (unless tenancy is set)
  // `serve --db`: named keys with quotas, and usage metering. Outlives the server.
  tenants::Tenancy* tenancy = nullptr;
  const KvEventPublisher* kv_events = nullptr;  // its counts go to /metrics
  std::vector<std::string> admin_keys;    // guard /admin/*; empty: those routes are off
  std::vector<std::string> cors_origins;  // empty: CORS off; "*" allows any origin
  uint64_t max_body_bytes = 16u << 20;
  double request_timeout_s = 600;
  double shutdown_grace_s = 10;
  bool log_requests = false;  // a JSON line per API request on stderr
  bool web_ui = true;          // the chat page at / and the dashboard at /dashboard
  bool handle_signals = true;  // SIGINT/SIGTERM shut down (off when embedded, as in `hearth chat`)
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts serving on a background thread (/health answers 503 until set_model).
  Status start();
  int port() const;

  // The model is loaded: generation routes open and /health turns 200.
  void set_model(api::ModelContext model, engine::Engine* engine);
  // Several models: a request's "model" field picks one (none given: the first), which loads on
  // first use within the pool's memory budget (model_pool.h); /v1/models lists them all and
  // /metrics has a series per loaded model. Call once, with the models that should be loaded
  // before /health turns 200 already acquired.
  void set_models(std::unique_ptr<ModelPool> pool);

  // Blocks until SIGINT/SIGTERM has been handled: stop accepting, let in-flight requests finish
  // within the grace period, cancel the rest. Returns the process exit code.
  int wait();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hearth::server
