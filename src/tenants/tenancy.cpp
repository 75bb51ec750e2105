#include "tenants/tenancy.h"

#include "tenants/usage_report.h"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <ctime>

namespace hearth::tenants {
namespace {

int64_t unix_now() { return static_cast<int64_t>(std::time(nullptr)); }

// utc_time_text with milliseconds: "2026-12-06T21:04:05.123Z".
std::string utc_text(int64_t unix_ms) {
  std::string s = utc_time_text(unix_ms / 1000);
  s.insert(s.size() - 1, fmt::format(".{:03d}", static_cast<int>(unix_ms % 1000)));
  return s;
}

}  // namespace

double Tenancy::steady_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Result<std::unique_ptr<Tenancy>> Tenancy::open(TenancyOptions options) {
  std::unique_ptr<Tenancy> t(new Tenancy());
  t->options_ = std::move(options);
  Result<std::unique_ptr<Store>> store = Store::open(t->options_.db_path);
  if (!store) return store.error();
  t->store_ = std::move(*store);
  if (t->options_.replica.empty()) {
    char host[256] = {};
    t->options_.replica = gethostname(host, sizeof host - 1) == 0 ? host : "hearth";
  }
  auto run = t->store_->begin_run(unix_now(), t->options_.replica);
  if (!run) return make_error("--db {}: {}", t->options_.db_path, run.error().message);
  t->run_id_ = run->first;
  const PreviousRun& prev = run->second;
  if (prev.exists && !prev.clean && t->options_.log)
    t->options_.log(fmt::format("metering: the previous run did not stop cleanly; usage counted after its last durable "
                                "write ({}) and within one flush window ({} ms) may be missing",
                                prev.last_flush_ms ? utc_text(prev.last_flush_ms) : std::string("none"),
                                t->options_.flush_window.count()));
  // Today's tokens per key, so a restart does not hand out a fresh daily quota.
  const int64_t day = unix_now() / 86400;
  Result<std::vector<UsageRow>> today = t->store_->usage("", day * 24, day * 24 + 24);
  if (!today) return make_error("--db {}: {}", t->options_.db_path, today.error().message);
  for (const UsageRow& r : *today) t->limiter_.seed_day(r.key_id, day, r.counts.prompt_tokens + r.counts.completion_tokens);
  t->refresh_keys(/*force=*/true);
  t->meter_ = std::make_unique<Meter>(*t->store_, t->run_id_, t->options_.flush_window, t->options_.log);
  t->refresher_ = std::thread([p = t.get()] { p->refresh_loop(); });
  return t;
}

Tenancy::~Tenancy() { shutdown(); }

void Tenancy::shutdown() {
  if (shut_down_ || !meter_) return;  // never opened: nothing to write or mark
  shut_down_ = true;
  {
    std::lock_guard lock(refresh_mutex_);
    stopping_ = true;
  }
  refresh_wake_.notify_all();
  if (refresher_.joinable()) refresher_.join();
  if (meter_) meter_->stop();
  const MeterHealth h = meter_ ? meter_->health() : MeterHealth{};
  if (h.pending_rows > 0) {
    if (options_.log)
      options_.log(fmt::format("metering: {} usage rows could not be written at shutdown: {}", h.pending_rows, h.last_error));
    return;  // not a clean stop: the next start says usage may be missing
  }
  if (Status st = store_->end_run(run_id_, unix_now()); !st && options_.log) options_.log("metering: " + st.message());
}

void Tenancy::refresh_keys(bool force) {
  // One refresh at a time: two interleaved ones could swap an older snapshot in after a newer one
  // (a key revoked through /admin/keys would be live again).
  std::lock_guard serial(refresh_serial_mutex_);
  const bool changed = store_->changed_elsewhere();  // asked even when forced: it records the version read
  if (!changed && !force && !reread_) return;
  Result<std::vector<KeyRecord>> keys = store_->list_keys();
  reread_ = !keys;  // the change is not read yet: try again next time, whatever the version says
  if (!keys) {
    if (options_.log) options_.log("keys: cannot read the keys (keeping the last ones read): " + keys.error().message);
    return;
  }
  std::unordered_map<std::string, KeyRecord> fresh;
  for (KeyRecord& k : *keys) fresh.emplace(k.id, std::move(k));
  std::lock_guard lock(keys_mutex_);
  keys_.swap(fresh);
}

void Tenancy::refresh_loop() {
  std::unique_lock lock(refresh_mutex_);
  while (!stopping_) {
    refresh_wake_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    refresh_keys(false);
    lock.lock();
  }
}

std::variant<Caller, Rejected> Tenancy::authenticate(std::string_view secret) {
  const std::optional<std::string> id = secret_key_id(secret);
  if (!id) return Rejected{"Incorrect API key provided."};
  // Only the cache is read here: the store is read by the background refresh, so a request never
  // waits on a disk or a network, and made-up keys cost a hash and a lookup.
  std::lock_guard lock(keys_mutex_);
  auto it = keys_.find(*id);
  // Hash even when the id is unknown, so that the answer takes as long either way.
  static const Salt kNoSalt{};
  const KeyRecord* k = it == keys_.end() ? nullptr : &it->second;
  const Digest given = hash_secret(k ? k->salt : kNoSalt, secret);
  if (!k || !digests_equal(given, k->hash)) return Rejected{"Incorrect API key provided."};
  if (k->revoked_at != 0) return Rejected{fmt::format("The API key '{}' was revoked.", k->name)};
  if (k->limits.expires_at != 0 && unix_now() >= k->limits.expires_at)
    return Rejected{fmt::format("The API key '{}' expired.", k->name)};
  return Caller{k->id, k->name, k->limits};
}

void Tenancy::reload_keys() { refresh_keys(/*force=*/true); }

bool Tenancy::allows_model(const Caller& caller, const std::string& model) {
  const auto& m = caller.limits.models;
  return m.empty() || std::find(m.begin(), m.end(), model) != m.end();
}

std::variant<std::shared_ptr<Lease>, Refusal> Tenancy::admit(const Caller& caller, const std::string& model,
                                                              int64_t prompt_tokens, int choices) {
  if (std::optional<Refusal> r = limiter_.admit(caller.key_id, caller.limits, prompt_tokens, steady_s(), unix_now()))
    return *r;
  return std::make_shared<Lease>(*this, caller, model, std::max(1, choices));
}

std::vector<std::pair<std::string, UsageCounts>> Tenancy::key_totals() {
  std::lock_guard lock(totals_mutex_);
  return {totals_.begin(), totals_.end()};
}

RateHeaders Tenancy::headers(const Caller& caller) { return limiter_.headers(caller.key_id, caller.limits, steady_s()); }

Result<std::vector<UsageRow>> Tenancy::usage(const std::string& key_name, int64_t from_hour, int64_t to_hour) {
  std::string key_id;
  std::unordered_map<std::string, std::string> names;
  {
    std::lock_guard lock(keys_mutex_);
    for (const auto& [id, k] : keys_) {
      names[id] = k.name;
      if (k.name == key_name) key_id = id;
    }
  }
  if (!key_name.empty() && key_id.empty()) return std::vector<UsageRow>{};
  Result<std::vector<UsageRow>> rows = meter_->usage(key_id, key_name, from_hour, to_hour);
  if (!rows) return rows;
  for (UsageRow& r : *rows)
    if (r.key_name.empty()) r.key_name = names.count(r.key_id) ? names[r.key_id] : std::string();
  std::sort(rows->begin(), rows->end(), [](const UsageRow& a, const UsageRow& b) {
    return std::tie(a.hour, a.key_name, a.model) < std::tie(b.hour, b.key_name, b.model);
  });
  return rows;
}

// --- Lease ---------------------------------------------------------------------------------------

Lease::Lease(Tenancy& owner, Caller caller, std::string model, int choices)
    : owner_(owner), caller_(std::move(caller)), model_(std::move(model)), choices_left_(choices) {}

Lease::~Lease() {
  std::lock_guard lock(mutex_);
  if (!recorded_) {
    if (choices_left_ > 0) counts_.errors = 1;  // some choice never finished: the request failed
    record_locked();
  }
}

bool Lease::on_token() {
  return owner_.limiter_.charge(caller_.key_id, caller_.limits, 1, Tenancy::steady_s(), unix_now());
}

void Lease::finish_choice(int64_t prompt_tokens, int64_t cached_tokens, int64_t completion_tokens, bool error) {
  std::lock_guard lock(mutex_);
  if (recorded_) return;
  counts_.prompt_tokens += prompt_tokens;
  counts_.cached_tokens += cached_tokens;
  counts_.completion_tokens += completion_tokens;
  if (error) counts_.errors = 1;
  if (--choices_left_ <= 0) record_locked();
}

void Lease::unstarted(int n) {
  std::lock_guard lock(mutex_);
  if (recorded_) return;
  counts_.errors = 1;
  choices_left_ -= n;
  if (choices_left_ <= 0) record_locked();
}

void Lease::record_locked() {
  recorded_ = true;
  counts_.requests = 1;
  owner_.meter_->record(caller_.key_id, model_, unix_now(), counts_);
  owner_.limiter_.release(caller_.key_id);
  std::lock_guard lock(owner_.totals_mutex_);
  auto& totals = owner_.totals_;
  const bool own = totals.count(caller_.key_name) || totals.size() < Tenancy::kMaxKeySeries;
  totals[own ? caller_.key_name : std::string("_other")] += counts_;
}

}  // namespace hearth::tenants
