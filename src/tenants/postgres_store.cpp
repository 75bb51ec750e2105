// The PostgreSQL store: one libpq connection under a mutex (reconnected when the server went
// away), text parameters only (salts and hashes as hex), migrations under an advisory lock so
// that replicas starting together do not race, and a keys_version row bumped with every key
// change so each replica notices changes made by the others with one cheap query.
#include "tenants/postgres_store.h"

#include <libpq-fe.h>

#include <cstdlib>
#include <mutex>

namespace hearth::tenants {
namespace {

// Each entry brings the schema from version i to i + 1; append, never edit.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  salt TEXT NOT NULL,
  hash TEXT NOT NULL,
  rpm BIGINT NOT NULL DEFAULT 0,
  tpm BIGINT NOT NULL DEFAULT 0,
  tokens_per_day BIGINT NOT NULL DEFAULT 0,
  max_concurrent BIGINT NOT NULL DEFAULT 0,
  models TEXT NOT NULL DEFAULT '',
  expires_at BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE usage (
  key_id TEXT NOT NULL,
  model TEXT NOT NULL,
  hour BIGINT NOT NULL,
  requests BIGINT NOT NULL DEFAULT 0,
  prompt_tokens BIGINT NOT NULL DEFAULT 0,
  cached_tokens BIGINT NOT NULL DEFAULT 0,
  completion_tokens BIGINT NOT NULL DEFAULT 0,
  errors BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (key_id, model, hour)
);
CREATE TABLE runs (
  id BIGSERIAL PRIMARY KEY,
  replica TEXT NOT NULL,
  started_at BIGINT NOT NULL,
  last_flush_ms BIGINT NOT NULL DEFAULT 0,
  stopped_at BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE keys_version (version BIGINT NOT NULL);
INSERT INTO keys_version VALUES (0);
)sql",
    // 2: the last usage batch each run wrote, so that a batch written again (a COMMIT whose answer
    // was lost with the connection) is applied once.
    "ALTER TABLE runs ADD COLUMN last_flush_seq BIGINT NOT NULL DEFAULT 0;",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));
constexpr int64_t kMigrationLock = 0x6865617274680001;  // "hearth" and 1: an advisory lock id

// A query's result, cleared when it goes.
class PgResult {
 public:
  explicit PgResult(PGresult* r) : r_(r) {}
  ~PgResult() { PQclear(r_); }
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  bool ok() const {
    const ExecStatusType s = PQresultStatus(r_);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
  }
  std::string sqlstate() const {
    const char* s = PQresultErrorField(r_, PG_DIAG_SQLSTATE);
    return s ? s : "";
  }
  int rows() const { return PQntuples(r_); }
  std::string text(int row, int col) const { return PQgetvalue(r_, row, col); }
  int64_t integer(int row, int col) const { return std::strtoll(PQgetvalue(r_, row, col), nullptr, 10); }
  int64_t affected() const { return std::strtoll(PQcmdTuples(r_), nullptr, 10); }

 private:
  PGresult* r_;
};

std::string trimmed(const char* message) {
  std::string s = message ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool from_hex(const std::string& hex, uint8_t* out, size_t n) {
  if (hex.size() != 2 * n) return false;
  for (size_t i = 0; i < n; ++i) {
    const auto nibble = [](char c) -> int {
      return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    };
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return true;
}

class PostgresStore final : public Store {
 public:
  ~PostgresStore() override { PQfinish(conn_); }

  Status open(const std::string& uri) {
    // A server that does not answer should not hang the start: 5 s unless the URI says otherwise.
    std::string spec = uri;
    if (spec.find("connect_timeout=") == std::string::npos)
      spec += (spec.find('?') == std::string::npos ? "?" : "&") + std::string("connect_timeout=5");
    conn_ = PQconnectdb(spec.c_str());
    if (PQstatus(conn_) != CONNECTION_OK) return make_error("--db PostgreSQL: cannot connect: {}", trimmed(PQerrorMessage(conn_)));
    PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);  // "relation exists, skipping" and the like
    return migrate();
  }

  int schema_version() const override { return schema_version_; }
  bool local() const override { return false; }

  Result<KeyRecord> create_key(const std::string& name, const KeyLimits& limits, const NewSecret& secret,
                               int64_t now) override {
    if (Status st = check_key_name(name); !st) return st.error();
    if (Status st = check_limits(limits); !st) return st.error();
    std::lock_guard lock(mutex_);
    if (Status st = exec("BEGIN"); !st) return st.error();
    PgResult r = query(
        "INSERT INTO keys (id, name, salt, hash, rpm, tpm, tokens_per_day, max_concurrent, models, expires_at, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        {secret.id, name, to_hex(secret.salt.data(), secret.salt.size()), to_hex(secret.hash.data(), secret.hash.size()),
         std::to_string(limits.rpm), std::to_string(limits.tpm), std::to_string(limits.tokens_per_day),
         std::to_string(limits.max_concurrent), join_models(limits.models), std::to_string(limits.expires_at),
         std::to_string(now)});
    if (!r.ok()) {
      const bool exists = r.sqlstate() == "23505";
      const std::string why = error();
      (void)exec("ROLLBACK");
      if (exists) return make_error("a key named '{}' exists already (names stay taken after a revoke)", name);
      return make_error("cannot store the key: {}", why);
    }
    if (Status st = bump_and_commit(); !st) return st.error();
    return new_key_record(name, limits, secret, now);
  }

  Result<std::vector<KeyRecord>> list_keys() override {
    std::lock_guard lock(mutex_);
    PgResult r = query(
        "SELECT id, name, salt, hash, rpm, tpm, tokens_per_day, max_concurrent, models, expires_at, created_at, revoked_at "
        "FROM keys ORDER BY created_at, name",
        {});
    if (!r.ok()) return make_error("cannot read the keys: {}", error());
    std::vector<KeyRecord> out;
    for (int i = 0; i < r.rows(); ++i) {
      KeyRecord k;
      k.id = r.text(i, 0);
      k.name = r.text(i, 1);
      if (!from_hex(r.text(i, 2), k.salt.data(), k.salt.size()) || !from_hex(r.text(i, 3), k.hash.data(), k.hash.size()))
        continue;  // a damaged row can match no secret: skip it
      k.limits.rpm = r.integer(i, 4);
      k.limits.tpm = r.integer(i, 5);
      k.limits.tokens_per_day = r.integer(i, 6);
      k.limits.max_concurrent = r.integer(i, 7);
      k.limits.models = split_models(r.text(i, 8));
      k.limits.expires_at = r.integer(i, 9);
      k.created_at = r.integer(i, 10);
      k.revoked_at = r.integer(i, 11);
      out.push_back(std::move(k));
    }
    return out;
  }

  Status revoke_key(const std::string& name, int64_t now) override {
    std::lock_guard lock(mutex_);
    return change_key("UPDATE keys SET revoked_at = $1 WHERE name = $2 AND revoked_at = 0", {std::to_string(now), name},
                      fmt::format("no live key named '{}'", name));
  }

  Status update_key(const std::string& name, const KeyLimitsPatch& patch) override {
    if (Status st = check_limits(patched({}, patch)); !st) return st;
    std::string sql = "UPDATE keys SET name = name";  // an empty patch still says whether the key exists
    std::vector<std::string> params;
    for (auto& [column, value] : patch_columns(patch)) {
      params.push_back(std::move(value));
      sql += fmt::format(", {} = ${}", column, params.size());
    }
    params.push_back(name);
    sql += fmt::format(" WHERE name = ${}", params.size());
    std::lock_guard lock(mutex_);
    return change_key(sql.c_str(), params, fmt::format("no key named '{}'", name));
  }

  Status add_usage(const std::vector<UsageRow>& rows, int64_t run_id, int64_t flush_seq, int64_t now_ms) override {
    std::lock_guard lock(mutex_);
    if (Status st = exec("BEGIN"); !st) return st;
    // The run's stamp first: no row changed means this batch was applied before.
    PgResult run = query("UPDATE runs SET last_flush_ms = $1, last_flush_seq = $2 WHERE id = $3 AND last_flush_seq < $2",
                         {std::to_string(now_ms), std::to_string(flush_seq), std::to_string(run_id)});
    if (!run.ok()) return rollback("cannot stamp the run");
    if (run.affected() == 0) return exec("ROLLBACK");
    for (const UsageRow& u : rows) {
      PgResult r = query(
          "INSERT INTO usage (key_id, model, hour, requests, prompt_tokens, cached_tokens, completion_tokens, errors) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (key_id, model, hour) DO UPDATE SET "
          "requests = usage.requests + EXCLUDED.requests, prompt_tokens = usage.prompt_tokens + EXCLUDED.prompt_tokens, "
          "cached_tokens = usage.cached_tokens + EXCLUDED.cached_tokens, "
          "completion_tokens = usage.completion_tokens + EXCLUDED.completion_tokens, errors = usage.errors + EXCLUDED.errors",
          {u.key_id, u.model, std::to_string(u.hour), std::to_string(u.counts.requests), std::to_string(u.counts.prompt_tokens),
           std::to_string(u.counts.cached_tokens), std::to_string(u.counts.completion_tokens), std::to_string(u.counts.errors)});
      if (!r.ok()) return rollback("cannot record usage");
    }
    return exec("COMMIT");
  }

  Result<std::vector<UsageRow>> usage(const std::string& key_name, int64_t from_hour, int64_t to_hour) override {
    std::lock_guard lock(mutex_);
    PgResult r = query(
        "SELECT u.key_id, COALESCE(k.name, ''), u.model, u.hour, u.requests, u.prompt_tokens, u.cached_tokens, "
        "u.completion_tokens, u.errors FROM usage u LEFT JOIN keys k ON k.id = u.key_id "
        "WHERE u.hour >= $1 AND u.hour < $2 AND ($3 = '' OR k.name = $3) ORDER BY u.hour, k.name, u.model",
        {std::to_string(from_hour), std::to_string(to_hour), key_name});
    if (!r.ok()) return make_error("cannot read usage: {}", error());
    std::vector<UsageRow> out;
    for (int i = 0; i < r.rows(); ++i)
      out.push_back({r.text(i, 0), r.text(i, 1), r.text(i, 2), r.integer(i, 3),
                     {r.integer(i, 4), r.integer(i, 5), r.integer(i, 6), r.integer(i, 7), r.integer(i, 8)}});
    return out;
  }

  Result<std::pair<int64_t, PreviousRun>> begin_run(int64_t now, const std::string& replica) override {
    std::lock_guard lock(mutex_);
    PreviousRun prev;
    PgResult last = query("SELECT started_at, last_flush_ms, stopped_at FROM runs WHERE replica = $1 ORDER BY id DESC LIMIT 1",
                          {replica});
    if (!last.ok()) return make_error("cannot read the runs: {}", error());
    if (last.rows() == 1) {
      prev.exists = true;
      prev.started_at = last.integer(0, 0);
      prev.last_flush_ms = last.integer(0, 1);
      prev.clean = last.integer(0, 2) != 0;
    }
    PgResult ins = query("INSERT INTO runs (replica, started_at) VALUES ($1, $2) RETURNING id", {replica, std::to_string(now)});
    if (!ins.ok() || ins.rows() != 1) return make_error("cannot register this run: {}", error());
    return std::make_pair(ins.integer(0, 0), prev);
  }

  Status end_run(int64_t run_id, int64_t now) override {
    std::lock_guard lock(mutex_);
    PgResult r = query("UPDATE runs SET stopped_at = $1 WHERE id = $2", {std::to_string(now), std::to_string(run_id)});
    if (!r.ok()) return make_error("cannot mark the run stopped: {}", error());
    return {};
  }

  bool changed_elsewhere() override {
    std::lock_guard lock(mutex_);
    PgResult r = query("SELECT version FROM keys_version", {});
    if (!r.ok() || r.rows() != 1) return true;  // cannot tell: assume it changed
    const int64_t v = r.integer(0, 0);
    const bool changed = v != keys_version_;
    keys_version_ = v;
    return changed;
  }

 private:
  // A connection the server dropped (restart, failover) is re-made before the next query.
  void reconnect_if_needed() {
    if (PQstatus(conn_) != CONNECTION_OK) PQreset(conn_);
  }
  PgResult query(const char* sql, const std::vector<std::string>& params) {
    reconnect_if_needed();
    std::vector<const char*> values;
    for (const std::string& p : params) values.push_back(p.c_str());
    return PgResult(PQexecParams(conn_, sql, static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0));
  }
  Status exec(const char* sql) {
    reconnect_if_needed();
    PgResult r(PQexec(conn_, sql));
    if (!r.ok()) return make_error("{}", error());
    return {};
  }
  std::string error() const { return trimmed(PQerrorMessage(conn_)); }
  Status rollback(const char* what) {
    const std::string why = error();
    (void)exec("ROLLBACK");
    return make_error("{}: {}", what, why);
  }
  Status bump_and_commit() {
    PgResult r = query("UPDATE keys_version SET version = version + 1", {});
    if (!r.ok()) return rollback("cannot record the key change");
    return exec("COMMIT");
  }
  Status change_key(const char* sql, const std::vector<std::string>& params, std::string none) {
    if (Status st = exec("BEGIN"); !st) return st;
    PgResult r = query(sql, params);
    if (!r.ok()) return rollback("cannot change the key");
    if (r.affected() == 0) {
      (void)exec("ROLLBACK");
      return make_error("{}", none);
    }
    return bump_and_commit();
  }
  Status migrate() {
    std::lock_guard lock(mutex_);
    if (Status st = exec("BEGIN"); !st) return st;
    // DDL is transactional here: the lock makes replicas starting together migrate one at a time.
    PgResult lk = query("SELECT pg_advisory_xact_lock($1)", {std::to_string(kMigrationLock)});
    if (!lk.ok()) return rollback("cannot take the migration lock");
    PgResult ver = query("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", {});
    if (!ver.ok()) return rollback("cannot create schema_version");
    PgResult cur = query("SELECT COALESCE(MAX(version), 0) FROM schema_version", {});
    if (!cur.ok()) return rollback("cannot read schema_version");
    const int64_t version = cur.integer(0, 0);
    if (version < 0) {
      (void)exec("ROLLBACK");
      return make_error("the database's schema version is {}: not a hearth store", version);
    }
    if (version > kSchemaVersion) {
      (void)exec("ROLLBACK");
      return make_error("the database's schema is version {}, newer than this hearth's {}: upgrade hearth", version,
                        kSchemaVersion);
    }
    for (int v = static_cast<int>(version); v < kSchemaVersion; ++v) {
      if (Status st = exec(kMigrations[v]); !st) return rollback(fmt::format("migration to schema version {} failed", v + 1).c_str());
      PgResult ins = query("INSERT INTO schema_version (version) VALUES ($1)", {std::to_string(v + 1)});
      if (!ins.ok()) return rollback("cannot record the schema version");
    }
    if (Status st = exec("COMMIT"); !st) return st;
    schema_version_ = kSchemaVersion;
    return {};
  }

  PGconn* conn_ = nullptr;
  std::mutex mutex_;
  int schema_version_ = 0;
  int64_t keys_version_ = -1;
};

}  // namespace

Result<std::unique_ptr<Store>> open_postgres_store(const std::string& uri) {
  auto s = std::make_unique<PostgresStore>();
  if (Status st = s->open(uri); !st) return st.error();
  return std::unique_ptr<Store>(std::move(s));
}

}  // namespace hearth::tenants
