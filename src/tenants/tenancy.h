// What `hearth serve --db` adds in front of the engine: named API keys from the store, their
// quotas, and the usage meter. The server asks three things of it: who is calling
// (authenticate), may this request run (admit, which hands back a Lease), and what was used.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "base/result.h"
#include "tenants/limiter.h"
#include "tenants/meter.h"
#include "tenants/store.h"

namespace hearth::tenants {

struct TenancyOptions {
  std::string db_path;
  std::chrono::milliseconds flush_window{200};
  std::string replica;  // this server among those sharing a store (default: the host name)
  std::function<void(const std::string&)> log;  // one line, no newline
};

// An authenticated caller.
struct Caller {
  std::string key_id;
  std::string key_name;
  KeyLimits limits;
};

// Why a key was not accepted (the 401's message).
struct Rejected {
  std::string message;
};

class Tenancy;

// One admitted request. It charges completion tokens as they come (the engine thread), sums the
// choices' usage as they finish, and when the last has finished (or the lease is dropped) it
// records one request with the meter and frees the key's concurrency slot.
class Lease {
 public:
  Lease(Tenancy& owner, Caller caller, std::string model, int choices);
  ~Lease();
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  // One completion token; false when the key's tokens for the day are spent.
  bool on_token();
  void finish_choice(int64_t prompt_tokens, int64_t cached_tokens, int64_t completion_tokens, bool error);
  // `n` of the request's choices never started (the engine refused one): the request counts as an
  // error, recorded, and its concurrency slot given back, once the started ones have finished.
  void unstarted(int n);

 private:
  void record_locked();
  Tenancy& owner_;
  const Caller caller_;
  const std::string model_;
  std::mutex mutex_;
  int choices_left_;
  bool recorded_ = false;
  UsageCounts counts_;
};

class Tenancy {
 public:
  static Result<std::unique_ptr<Tenancy>> open(TenancyOptions options);
  ~Tenancy();  // shutdown()

  // Looks a bearer secret up in the keys last read. Keys changed by another process (`hearth
  // keys`, another replica) are read again within about 100 ms, off the request path.
  std::variant<Caller, Rejected> authenticate(std::string_view secret);
  // May `caller` use `model`? (its allow-list)
  static bool allows_model(const Caller& caller, const std::string& model);
  // Admits a request of `prompt_tokens` (all choices together) or says why not.
  std::variant<std::shared_ptr<Lease>, Refusal> admit(const Caller& caller, const std::string& model,
                                                      int64_t prompt_tokens, int choices);
  RateHeaders headers(const Caller& caller);

  // Usage with from_hour <= hour < to_hour, of one key by name or of all (""): stored and pending.
  Result<std::vector<UsageRow>> usage(const std::string& key_name, int64_t from_hour, int64_t to_hour);
  MeterHealth health() { return meter_->health(); }
  // What each key used since this process started, for per-key Prometheus counters. The first
  // kMaxKeySeries keys get their own series and the rest share "_other", so a server with
  // thousands of keys keeps /metrics bounded.
  static constexpr size_t kMaxKeySeries = 500;
  std::vector<std::pair<std::string, UsageCounts>> key_totals();
  // Writes what is pending and marks the run cleanly stopped.
  void shutdown();

  Store& store() { return *store_; }
  // After changing keys through store(): this connection's own writes do not show as changes.
  void reload_keys();

 private:
  friend class Lease;
  Tenancy() = default;
  // Reads the keys again when the store says they changed elsewhere (or always, when forced).
  void refresh_keys(bool force);
  // Every 100 ms, off the request path: a revoked key is refused within a second.
  void refresh_loop();
  static double steady_s();

  TenancyOptions options_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Meter> meter_;
  Limiter limiter_;
  int64_t run_id_ = 0;
  bool shut_down_ = false;
  std::mutex keys_mutex_;
  std::unordered_map<std::string, KeyRecord> keys_;  // by id
  std::mutex refresh_serial_mutex_;  // refresh_keys, whole
  bool reread_ = false;              // the last read of the keys failed (under refresh_serial_mutex_)
  std::mutex refresh_mutex_;
  std::condition_variable refresh_wake_;
  bool stopping_ = false;
  std::thread refresher_;
  std::mutex totals_mutex_;
  std::map<std::string, UsageCounts> totals_;  // by key name, bounded as key_totals() says
};

}  // namespace hearth::tenants
