// The tenants' store: API keys (a salted hash of each secret, never the secret) and metered usage
// per key, model and hour, in an embedded SQLite database (WAL). The schema is versioned; a newer
// binary migrates an older file at open, an older binary refuses a newer file.
//
// One connection, used under a mutex: the HTTP thread reads keys, the meter's thread writes usage,
// and `hearth keys` in another process may change keys at any time (data_version tells).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "tenants/secret.h"

struct sqlite3;

namespace hearth::tenants {

// A key's limits; 0 means no limit. An empty model list allows every model.
struct KeyLimits {
  int64_t rpm = 0;             // requests per minute
  int64_t tpm = 0;             // tokens (prompt + completion) per minute
  int64_t tokens_per_day = 0;  // per UTC day
  int64_t max_concurrent = 0;  // requests running at once
  std::vector<std::string> models;
  int64_t expires_at = 0;  // unix seconds; 0: never
};

struct KeyRecord {
  std::string id;  // the 16 hex characters inside the secret
  std::string name;
  Salt salt{};
  Digest hash{};
  KeyLimits limits;
  int64_t created_at = 0;
  int64_t revoked_at = 0;  // 0: live
};

// What one key spent on one model in one hour (hour = unix seconds / 3600).
struct UsageCounts {
  int64_t requests = 0;
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t errors = 0;

  UsageCounts& operator+=(const UsageCounts& o) {
    requests += o.requests;
    prompt_tokens += o.prompt_tokens;
    cached_tokens += o.cached_tokens;
    completion_tokens += o.completion_tokens;
    errors += o.errors;
    return *this;
  }
  bool operator==(const UsageCounts&) const = default;
};

struct UsageRow {
  std::string key_id;
  std::string key_name;  // filled by usage(); "" when the key row is gone
  std::string model;
  int64_t hour = 0;
  UsageCounts counts;
};

// The run before this one, as the runs table remembers it.
struct PreviousRun {
  bool exists = false;
  bool clean = false;           // it recorded a clean stop
  int64_t started_at = 0;       // unix seconds
  int64_t last_flush_ms = 0;    // unix milliseconds of its last durable usage write (0: none)
};

// Names are what operators type: 1-64 of [A-Za-z0-9._-]. Anything else is refused with a reason.
Status check_key_name(const std::string& name);

class Store {
 public:
  // Opens (creating where missing) the database at `path` and brings its schema up to date.
  // A write waits up to busy_timeout_ms for another process's lock before it fails.
  static Result<std::unique_ptr<Store>> open(const std::string& path, int busy_timeout_ms = 5000);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  int schema_version() const { return schema_version_; }

  Result<KeyRecord> create_key(const std::string& name, const KeyLimits& limits, const NewSecret& secret, int64_t now);
  Result<std::vector<KeyRecord>> list_keys();
  Status revoke_key(const std::string& name, int64_t now);
  // Replaces the key's limits (callers read, change and write back).
  Status update_key(const std::string& name, const KeyLimits& limits);

  // Adds each row's counts to what is stored, and stamps the run's last flush, in one transaction.
  Status add_usage(const std::vector<UsageRow>& rows, int64_t run_id, int64_t now_ms);
  // Rows with from_hour <= hour < to_hour, of one key (by name) or of all ("").
  Result<std::vector<UsageRow>> usage(const std::string& key_name, int64_t from_hour, int64_t to_hour);

  // Registers this server run and reports the previous one; end_run marks a clean stop.
  Result<std::pair<int64_t, PreviousRun>> begin_run(int64_t now);
  Status end_run(int64_t run_id, int64_t now);

  // True when another connection (another process) changed the database since the last call.
  bool changed_elsewhere();

 private:
  Store() = default;
  Status exec(const char* sql);
  Status migrate();

  sqlite3* db_ = nullptr;
  std::mutex mutex_;
  int schema_version_ = 0;
  int64_t data_version_ = -1;
};

}  // namespace hearth::tenants
