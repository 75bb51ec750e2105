// The tenants' store: API keys (a salted hash of each secret, never the secret) and metered usage
// per key, model and hour, in an embedded SQLite database (WAL) or in PostgreSQL. The schema is
// versioned; a newer binary migrates an older store at open, an older binary refuses a newer one.
//
// The HTTP thread reads keys, the meter's thread writes usage, and `hearth keys` in another
// process (or another replica) may change keys at any time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "tenants/secret.h"

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

// The limits an update changes; the rest stay as stored, so that two updates of different limits
// made at once both land (each is one UPDATE of its own columns).
struct KeyLimitsPatch {
  std::optional<int64_t> rpm, tpm, tokens_per_day, max_concurrent;
  std::optional<std::vector<std::string>> models;
  std::optional<int64_t> expires_at;
};
KeyLimits patched(KeyLimits base, const KeyLimitsPatch& patch);

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

// The store's operations; SQLite (a file) and PostgreSQL (a server several replicas share)
// implement them. Each serialises its own use of its connection.
class Store {
 public:
  // `spec` is a file path (SQLite, WAL; created where missing) or a postgresql:// URI. The schema
  // is brought up to date. A SQLite write waits up to busy_timeout_ms for another process's lock.
  static Result<std::unique_ptr<Store>> open(const std::string& spec, int busy_timeout_ms = 5000);
  static bool is_postgres(const std::string& spec);
  virtual ~Store() = default;

  virtual int schema_version() const = 0;
  // A file on this machine (cheap to ask on the request path), not a server across a network.
  virtual bool local() const = 0;

  virtual Result<KeyRecord> create_key(const std::string& name, const KeyLimits& limits, const NewSecret& secret,
                                       int64_t now) = 0;
  virtual Result<std::vector<KeyRecord>> list_keys() = 0;
  virtual Status revoke_key(const std::string& name, int64_t now) = 0;
  // Changes the limits the patch names, in one statement.
  virtual Status update_key(const std::string& name, const KeyLimitsPatch& patch) = 0;

  // Adds each row's counts to what is stored, and stamps the run's last flush, in one transaction,
  // once per (run, flush_seq): a batch whose sequence number is not above the run's last one was
  // applied already (its COMMIT landed though the answer was lost) and is skipped, successfully.
  // A run's sequence numbers rise from 1.
  virtual Status add_usage(const std::vector<UsageRow>& rows, int64_t run_id, int64_t flush_seq, int64_t now_ms) = 0;
  // Rows with from_hour <= hour < to_hour, of one key (by name) or of all ("").
  virtual Result<std::vector<UsageRow>> usage(const std::string& key_name, int64_t from_hour, int64_t to_hour) = 0;

  // Registers this server run of `replica` and reports that replica's previous run; end_run
  // marks a clean stop. (Replicas sharing a PostgreSQL store each have their own runs.)
  virtual Result<std::pair<int64_t, PreviousRun>> begin_run(int64_t now, const std::string& replica) = 0;
  virtual Status end_run(int64_t run_id, int64_t now) = 0;

  // True when the keys may have changed elsewhere (another process, another replica) since the
  // last call. Never misses a change; may say true when nothing did.
  virtual bool changed_elsewhere() = 0;
};

// Shared by the stores: the checks a key's limits get, the record a created key reads back as,
// and the model list as stored ("a\nb").
Status check_limits(const KeyLimits& limits);
KeyRecord new_key_record(const std::string& name, const KeyLimits& limits, const NewSecret& secret, int64_t now);
std::string join_models(const std::vector<std::string>& models);
// The patch's columns and their values as text, in a fixed order; the stores write "col = ?"
// for each (the names are these constants, never input).
std::vector<std::pair<const char*, std::string>> patch_columns(const KeyLimitsPatch& patch);
std::vector<std::string> split_models(const std::string& text);

}  // namespace hearth::tenants
