// The SQLite store: one file in WAL mode, one connection under a mutex (SQLITE_OPEN_FULLMUTEX as
// well), writes with synchronous=FULL (the meter writes a few times a second, so the fsyncs are
// cheap), and PRAGMA data_version to notice keys changed by another process.
#include "tenants/sqlite_store.h"

#include <sqlite3.h>

#include <cstring>
#include <mutex>

namespace hearth::tenants {
namespace {

// A prepared statement that finalises itself.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  bool ok() const { return rc_ == SQLITE_OK; }
  Stmt& bind(int i, int64_t v) {
    if (ok()) rc_ = sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& bind(int i, const std::string& v) {
    if (ok()) rc_ = sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind_blob(int i, const uint8_t* p, size_t n) {
    if (ok()) rc_ = sqlite3_bind_blob(s_, i, p, static_cast<int>(n), SQLITE_TRANSIENT);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return ok() ? sqlite3_step(s_) : rc_; }
  void reset() { sqlite3_reset(s_); }
  int64_t integer(int col) const { return sqlite3_column_int64(s_, col); }
  std::string text(int col) const {
    const unsigned char* t = sqlite3_column_text(s_, col);
    return t ? std::string(reinterpret_cast<const char*>(t), static_cast<size_t>(sqlite3_column_bytes(s_, col))) : std::string();
  }
  template <size_t N>
  bool blob(int col, std::array<uint8_t, N>& out) const {
    if (static_cast<size_t>(sqlite3_column_bytes(s_, col)) != N) return false;
    std::memcpy(out.data(), sqlite3_column_blob(s_, col), N);
    return true;
  }
  std::string error() const { return sqlite3_errmsg(db_); }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
  int rc_;
};

// Each entry brings the schema from version i to i + 1; append, never edit.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  salt BLOB NOT NULL,
  hash BLOB NOT NULL,
  rpm INTEGER NOT NULL DEFAULT 0,
  tpm INTEGER NOT NULL DEFAULT 0,
  tokens_per_day INTEGER NOT NULL DEFAULT 0,
  max_concurrent INTEGER NOT NULL DEFAULT 0,
  models TEXT NOT NULL DEFAULT '',
  expires_at INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE usage (
  key_id TEXT NOT NULL,
  model TEXT NOT NULL,
  hour INTEGER NOT NULL,
  requests INTEGER NOT NULL DEFAULT 0,
  prompt_tokens INTEGER NOT NULL DEFAULT 0,
  cached_tokens INTEGER NOT NULL DEFAULT 0,
  completion_tokens INTEGER NOT NULL DEFAULT 0,
  errors INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (key_id, model, hour)
);
CREATE TABLE runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  replica TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  last_flush_ms INTEGER NOT NULL DEFAULT 0,
  stopped_at INTEGER NOT NULL DEFAULT 0
);
)sql",
    // 2: the last usage batch each run wrote, so that a batch written again is applied once.
    "ALTER TABLE runs ADD COLUMN last_flush_seq INTEGER NOT NULL DEFAULT 0;",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

class SqliteStore final : public Store {
 public:
  ~SqliteStore() override { sqlite3_close_v2(db_); }
  Status open(const std::string& path, int busy_timeout_ms);

  int schema_version() const override { return schema_version_; }
  bool local() const override { return true; }
  Result<KeyRecord> create_key(const std::string& name, const KeyLimits& limits, const NewSecret& secret,
                               int64_t now) override;
  Result<std::vector<KeyRecord>> list_keys() override;
  Status revoke_key(const std::string& name, int64_t now) override;
  Status update_key(const std::string& name, const KeyLimitsPatch& patch) override;
  Status add_usage(const std::vector<UsageRow>& rows, int64_t run_id, int64_t flush_seq, int64_t now_ms) override;
  Result<std::vector<UsageRow>> usage(const std::string& key_name, int64_t from_hour, int64_t to_hour) override;
  Result<std::pair<int64_t, PreviousRun>> begin_run(int64_t now, const std::string& replica) override;
  Status end_run(int64_t run_id, int64_t now) override;
  bool changed_elsewhere() override;

 private:
  Status exec(const char* sql);
  Status commit();
  Status migrate();

  sqlite3* db_ = nullptr;
  std::mutex mutex_;
  int schema_version_ = 0;
  int64_t data_version_ = -1;
};

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path, int busy_timeout_ms) {
  auto s = std::make_unique<SqliteStore>();
  if (Status st = s->open(path, busy_timeout_ms); !st) return st.error();
  return std::unique_ptr<Store>(std::move(s));
}

Status SqliteStore::open(const std::string& path, int busy_timeout_ms) {
  SqliteStore* s = this;
  const int rc = sqlite3_open_v2(path.c_str(), &s->db_,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK)
    return make_error("--db {}: cannot open: {}", path, s->db_ ? sqlite3_errmsg(s->db_) : sqlite3_errstr(rc));
  sqlite3_busy_timeout(s->db_, busy_timeout_ms);  // another process (`hearth keys`) may hold the lock briefly
  if (Status st = s->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"); !st)
    return make_error("--db {}: {}", path, st.message());
  if (Status st = s->migrate(); !st) return make_error("--db {}: {}", path, st.message());
  return {};
}

Status SqliteStore::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) == SQLITE_OK) return {};
  std::string message = err ? err : sqlite3_errmsg(db_);
  sqlite3_free(err);
  return make_error("{}", message);
}

Status SqliteStore::migrate() {
  std::lock_guard lock(mutex_);
  if (Status st = exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"); !st) return st;
  int64_t version64 = 0;
  {
    Stmt q(db_, "SELECT MAX(version) FROM schema_version");
    if (q.step() == SQLITE_ROW) version64 = q.integer(0);
  }
  if (version64 < 0) return make_error("the database's schema version is {}: not a hearth store", version64);
  if (version64 > kSchemaVersion)
    return make_error("the database's schema is version {}, newer than this hearth's {}: upgrade hearth", version64,
                      kSchemaVersion);
  for (int v = static_cast<int>(version64); v < kSchemaVersion; ++v) {
    if (Status st = exec("BEGIN IMMEDIATE"); !st) return st;
    Status st = exec(kMigrations[v]);
    if (st) {
      Stmt ins(db_, "INSERT INTO schema_version (version) VALUES (?)");
      if (ins.bind(1, int64_t{v + 1}).step() != SQLITE_DONE) st = make_error("{}", ins.error());
    }
    if (!st) {
      (void)exec("ROLLBACK");
      return make_error("migration to schema version {} failed: {}", v + 1, st.message());
    }
    if (Status c = commit(); !c) return c;
  }
  schema_version_ = kSchemaVersion;
  return {};
}

Result<KeyRecord> SqliteStore::create_key(const std::string& name, const KeyLimits& limits, const NewSecret& secret,
                                    int64_t now) {
  if (Status st = check_key_name(name); !st) return st.error();
  if (Status st = check_limits(limits); !st) return st.error();
  std::lock_guard lock(mutex_);
  Stmt q(db_,
         "INSERT INTO keys (id, name, salt, hash, rpm, tpm, tokens_per_day, max_concurrent, models, expires_at, created_at) "
         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  q.bind(1, secret.id).bind(2, name).bind_blob(3, secret.salt.data(), secret.salt.size());
  q.bind_blob(4, secret.hash.data(), secret.hash.size()).bind(5, limits.rpm).bind(6, limits.tpm);
  q.bind(7, limits.tokens_per_day).bind(8, limits.max_concurrent).bind(9, join_models(limits.models));
  q.bind(10, limits.expires_at).bind(11, now);
  const int rc = q.step();
  if (rc == SQLITE_CONSTRAINT) return make_error("a key named '{}' exists already (names stay taken after a revoke)", name);
  if (rc != SQLITE_DONE) return make_error("cannot store the key: {}", q.error());
  return new_key_record(name, limits, secret, now);
}

Result<std::vector<KeyRecord>> SqliteStore::list_keys() {
  std::lock_guard lock(mutex_);
  Stmt q(db_,
         "SELECT id, name, salt, hash, rpm, tpm, tokens_per_day, max_concurrent, models, expires_at, created_at, revoked_at "
         "FROM keys ORDER BY created_at, name");
  std::vector<KeyRecord> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    KeyRecord r;
    r.id = q.text(0);
    r.name = q.text(1);
    if (!q.blob(2, r.salt) || !q.blob(3, r.hash)) continue;  // a damaged row can match no secret: skip it
    r.limits.rpm = q.integer(4);
    r.limits.tpm = q.integer(5);
    r.limits.tokens_per_day = q.integer(6);
    r.limits.max_concurrent = q.integer(7);
    r.limits.models = split_models(q.text(8));
    r.limits.expires_at = q.integer(9);
    r.created_at = q.integer(10);
    r.revoked_at = q.integer(11);
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return make_error("cannot read the keys: {}", q.error());
  return out;
}

Status SqliteStore::revoke_key(const std::string& name, int64_t now) {
  std::lock_guard lock(mutex_);
  Stmt q(db_, "UPDATE keys SET revoked_at = ? WHERE name = ? AND revoked_at = 0");
  if (q.bind(1, now).bind(2, name).step() != SQLITE_DONE) return make_error("cannot revoke: {}", q.error());
  if (sqlite3_changes(db_) == 0) return make_error("no live key named '{}'", name);
  return {};
}

Status SqliteStore::update_key(const std::string& name, const KeyLimitsPatch& patch) {
  if (Status st = check_limits(patched({}, patch)); !st) return st;
  const auto columns = patch_columns(patch);
  std::string sql = "UPDATE keys SET name = name";  // an empty patch still says whether the key exists
  for (const auto& [column, value] : columns) sql += fmt::format(", {} = ?", column);
  sql += " WHERE name = ?";
  std::lock_guard lock(mutex_);
  Stmt q(db_, sql.c_str());
  int i = 1;
  for (const auto& [column, value] : columns) {
    // Numbers go in as integers (SQLite would convert text too, but need not).
    if (std::string_view(column) == "models") q.bind(i++, value);
    else q.bind(i++, static_cast<int64_t>(std::stoll(value)));
  }
  q.bind(i, name);
  if (q.step() != SQLITE_DONE) return make_error("cannot update: {}", q.error());
  if (sqlite3_changes(db_) == 0) return make_error("no key named '{}'", name);
  return {};
}

Status SqliteStore::add_usage(const std::vector<UsageRow>& rows, int64_t run_id, int64_t flush_seq, int64_t now_ms) {
  std::lock_guard lock(mutex_);
  if (Status st = exec("BEGIN IMMEDIATE"); !st) return st;
  Status st;
  bool applied_before = false;
  {
    // The run's stamp first: no row changed means this batch was applied before.
    Stmt run(db_, "UPDATE runs SET last_flush_ms = ?, last_flush_seq = ? WHERE id = ? AND last_flush_seq < ?");
    if (run.bind(1, now_ms).bind(2, flush_seq).bind(3, run_id).bind(4, flush_seq).step() != SQLITE_DONE)
      st = make_error("cannot stamp the run: {}", run.error());
    else
      applied_before = sqlite3_changes(db_) == 0;
  }
  if (st && !applied_before) {
    Stmt q(db_,
           "INSERT INTO usage (key_id, model, hour, requests, prompt_tokens, cached_tokens, completion_tokens, errors) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key_id, model, hour) DO UPDATE SET "
           "requests = requests + excluded.requests, prompt_tokens = prompt_tokens + excluded.prompt_tokens, "
           "cached_tokens = cached_tokens + excluded.cached_tokens, "
           "completion_tokens = completion_tokens + excluded.completion_tokens, errors = errors + excluded.errors");
    for (const UsageRow& r : rows) {
      q.reset();
      q.bind(1, r.key_id).bind(2, r.model).bind(3, r.hour).bind(4, r.counts.requests).bind(5, r.counts.prompt_tokens);
      q.bind(6, r.counts.cached_tokens).bind(7, r.counts.completion_tokens).bind(8, r.counts.errors);
      if (q.step() != SQLITE_DONE) {
        st = make_error("cannot record usage: {}", q.error());
        break;
      }
    }
  }
  if (!st || applied_before) {
    (void)exec("ROLLBACK");
    return st;
  }
  return commit();
}

Status SqliteStore::commit() {
  // A COMMIT that fails (disk full, I/O error) may leave the transaction open, holding the write
  // lock and swallowing every later statement: end it, so the next write starts clean.
  Status st = exec("COMMIT");
  if (!st) (void)exec("ROLLBACK");
  return st;
}

Result<std::vector<UsageRow>> SqliteStore::usage(const std::string& key_name, int64_t from_hour, int64_t to_hour) {
  std::lock_guard lock(mutex_);
  Stmt q(db_,
         "SELECT u.key_id, COALESCE(k.name, ''), u.model, u.hour, u.requests, u.prompt_tokens, u.cached_tokens, "
         "u.completion_tokens, u.errors FROM usage u LEFT JOIN keys k ON k.id = u.key_id "
         "WHERE u.hour >= ? AND u.hour < ? AND (? = '' OR k.name = ?) ORDER BY u.hour, k.name, u.model");
  q.bind(1, from_hour).bind(2, to_hour).bind(3, key_name).bind(4, key_name);
  std::vector<UsageRow> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    UsageRow r;
    r.key_id = q.text(0);
    r.key_name = q.text(1);
    r.model = q.text(2);
    r.hour = q.integer(3);
    r.counts = {q.integer(4), q.integer(5), q.integer(6), q.integer(7), q.integer(8)};
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return make_error("cannot read usage: {}", q.error());
  return out;
}

Result<std::pair<int64_t, PreviousRun>> SqliteStore::begin_run(int64_t now, const std::string& replica) {
  std::lock_guard lock(mutex_);
  PreviousRun prev;
  {
    Stmt q(db_, "SELECT started_at, last_flush_ms, stopped_at FROM runs WHERE replica = ? ORDER BY id DESC LIMIT 1");
    if (q.bind(1, replica).step() == SQLITE_ROW) {
      prev.exists = true;
      prev.started_at = q.integer(0);
      prev.last_flush_ms = q.integer(1);
      prev.clean = q.integer(2) != 0;
    }
  }
  Stmt ins(db_, "INSERT INTO runs (replica, started_at) VALUES (?, ?)");
  if (ins.bind(1, replica).bind(2, now).step() != SQLITE_DONE) return make_error("cannot register this run: {}", ins.error());
  return std::make_pair(static_cast<int64_t>(sqlite3_last_insert_rowid(db_)), prev);
}

Status SqliteStore::end_run(int64_t run_id, int64_t now) {
  std::lock_guard lock(mutex_);
  Stmt q(db_, "UPDATE runs SET stopped_at = ? WHERE id = ?");
  if (q.bind(1, now).bind(2, run_id).step() != SQLITE_DONE) return make_error("cannot mark the run stopped: {}", q.error());
  return {};
}

bool SqliteStore::changed_elsewhere() {
  std::lock_guard lock(mutex_);
  Stmt q(db_, "PRAGMA data_version");
  if (q.step() != SQLITE_ROW) return true;  // cannot tell: assume it changed
  const int64_t v = q.integer(0);
  const bool changed = v != data_version_;
  data_version_ = v;
  return changed;
}

}  // namespace hearth::tenants
