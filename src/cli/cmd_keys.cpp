// hearth keys create|list|revoke|update --db FILE: the named API keys `serve --db FILE` accepts,
// and hearth usage --db FILE: what they used. A running server sees key changes within a second.
#include <fmt/format.h>

#include <ctime>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "tenants/store.h"
#include "tenants/usage_report.h"

namespace hearth::cli {
namespace {

struct KeyArgs {
  std::string db;
  std::string name;
  std::optional<int64_t> rpm, tpm, tokens_per_day, max_concurrent;
  std::optional<std::vector<std::string>> models;
  std::optional<std::string> expires;
  bool json = false;
};

std::unique_ptr<tenants::Store> open_store(const std::string& db) {
  auto store = tenants::Store::open(db);
  if (!store) {
    fmt::print(stderr, "hearth keys: {}\n", store.error().message);
    return nullptr;
  }
  return std::move(*store);
}

// The options given, laid over `limits`. False (with a message) when one is invalid.
// The limits the flags give (a create starts from no limits; an update changes only these).
bool read_patch(const KeyArgs& a, tenants::KeyLimitsPatch& patch) {
  for (const auto& [flag, value, target] :
       {std::tuple{"--rpm", a.rpm, &patch.rpm}, std::tuple{"--tpm", a.tpm, &patch.tpm},
        std::tuple{"--tokens-per-day", a.tokens_per_day, &patch.tokens_per_day},
        std::tuple{"--max-concurrent", a.max_concurrent, &patch.max_concurrent}}) {
    if (!value) continue;
    if (*value < 0) {
      fmt::print(stderr, "hearth keys: {} must be >= 0 (0: no limit)\n", flag);
      return false;
    }
    *target = *value;
  }
  if (a.models) {
    patch.models.emplace();
    for (const std::string& m : *a.models)
      if (!m.empty()) patch.models->push_back(m);
  }
  if (a.expires) {
    if (*a.expires == "never") {
      patch.expires_at = 0;
    } else {
      const std::optional<int64_t> t = tenants::parse_utc_time(*a.expires);
      if (!t) {
        fmt::print(stderr, "hearth keys: --expires takes YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC), or never\n");
        return false;
      }
      patch.expires_at = *t;
    }
  }
  return true;
}

std::string limit_text(int64_t v) { return v ? std::to_string(v) : std::string("-"); }

int create(const KeyArgs& a) {
  tenants::KeyLimitsPatch given;
  if (!read_patch(a, given)) return 2;
  const tenants::KeyLimits limits = tenants::patched({}, given);
  auto store = open_store(a.db);
  if (!store) return 1;
  const tenants::NewSecret secret = tenants::make_secret();
  auto created = store->create_key(a.name, limits, secret, static_cast<int64_t>(std::time(nullptr)));
  if (!created) {
    fmt::print(stderr, "hearth keys: {}\n", created.error().message);
    return 1;
  }
  // The secret on stdout alone, so scripts can capture it; it is not stored and cannot be shown again.
  fmt::print("{}\n", secret.secret);
  fmt::print(stderr, "created key '{}' (the secret above is shown once)\n", a.name);
  return 0;
}

// The store's keys, or nullopt after saying why not.
std::optional<std::vector<tenants::KeyRecord>> read_keys(const std::string& db) {
  auto store = open_store(db);
  if (!store) return std::nullopt;
  auto keys = store->list_keys();
  if (!keys) {
    fmt::print(stderr, "hearth keys: {}\n", keys.error().message);
    return std::nullopt;
  }
  return std::move(*keys);
}

int list(const KeyArgs& a) {
  auto keys = read_keys(a.db);
  if (!keys) return 1;
  fmt::print("{:<24} {:<8} {:>8} {:>10} {:>12} {:>6} {:<20} {}\n", "NAME", "STATE", "RPM", "TPM", "TOKENS/DAY", "CONC",
             "EXPIRES", "MODELS");
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  for (const tenants::KeyRecord& k : *keys) {
    const char* state = k.revoked_at ? "revoked" : (k.limits.expires_at && now >= k.limits.expires_at) ? "expired" : "live";
    std::string models;
    for (const std::string& m : k.limits.models) models += (models.empty() ? "" : ",") + m;
    fmt::print("{:<24} {:<8} {:>8} {:>10} {:>12} {:>6} {:<20} {}\n", k.name, state, limit_text(k.limits.rpm),
               limit_text(k.limits.tpm), limit_text(k.limits.tokens_per_day), limit_text(k.limits.max_concurrent),
               k.limits.expires_at ? tenants::utc_time_text(k.limits.expires_at) : "-", models.empty() ? "*" : models);
  }
  return 0;
}

int revoke(const KeyArgs& a) {
  auto store = open_store(a.db);
  if (!store) return 1;
  if (Status st = store->revoke_key(a.name, static_cast<int64_t>(std::time(nullptr))); !st) {
    fmt::print(stderr, "hearth keys: {}\n", st.message());
    return 1;
  }
  fmt::print(stderr, "revoked key '{}'\n", a.name);
  return 0;
}

int update(const KeyArgs& a) {
  tenants::KeyLimitsPatch patch;
  if (!read_patch(a, patch)) return 2;
  auto store = open_store(a.db);
  if (!store) return 1;
  if (Status st = store->update_key(a.name, patch); !st) {
    fmt::print(stderr, "hearth keys: {}\n", st.message());
    return 1;
  }
  fmt::print(stderr, "updated key '{}'\n", a.name);
  return 0;
}

struct UsageArgs {
  std::string db;
  std::string key;
  std::string from, to;
  std::string format = "table";
};

int usage(const UsageArgs& a) {
  int64_t from = 0, to = int64_t{1} << 40;
  if (!a.from.empty()) {
    auto h = tenants::day_start_hour(a.from);
    if (!h) {
      fmt::print(stderr, "hearth usage: --from takes YYYY-MM-DD (UTC)\n");
      return 2;
    }
    from = *h;
  }
  if (!a.to.empty()) {
    auto h = tenants::day_start_hour(a.to);
    if (!h) {
      fmt::print(stderr, "hearth usage: --to takes YYYY-MM-DD (UTC)\n");
      return 2;
    }
    to = *h + 24;
  }
  auto store = open_store(a.db);
  if (!store) return 1;
  // What this reads is what the store holds: a running server adds its last window's counts
  // within --usage-flush-ms (GET /v1/usage and /admin/usage include them at once).
  auto rows = store->usage(a.key, from, to);
  if (!rows) {
    fmt::print(stderr, "hearth usage: {}\n", rows.error().message);
    return 1;
  }
  if (a.format == "json") {
    fmt::print("{}\n", tenants::usage_json(*rows).dump(2));
  } else if (a.format == "csv") {
    fmt::print("{}", tenants::usage_csv(*rows));
  } else {
    fmt::print("{:<20} {:<24} {:<24} {:>8} {:>12} {:>12} {:>12} {:>7}\n", "HOUR", "KEY", "MODEL", "REQUESTS", "PROMPT",
               "CACHED", "COMPLETION", "ERRORS");
    for (const tenants::UsageRow& r : *rows)
      fmt::print("{:<20} {:<24} {:<24} {:>8} {:>12} {:>12} {:>12} {:>7}\n", tenants::hour_text(r.hour), r.key_name, r.model,
                 r.counts.requests, r.counts.prompt_tokens, r.counts.cached_tokens, r.counts.completion_tokens,
                 r.counts.errors);
  }
  return 0;
}

void add_limit_options(CLI::App* cmd, KeyArgs& a) {
  cmd->add_option("--rpm", a.rpm, "Requests per minute (0: no limit)");
  cmd->add_option("--tpm", a.tpm, "Tokens (prompt + completion) per minute (0: no limit)");
  cmd->add_option("--tokens-per-day", a.tokens_per_day, "Tokens per UTC day (0: no limit)");
  cmd->add_option("--max-concurrent", a.max_concurrent, "Requests running at once (0: no limit)");
  cmd->add_option("--models", a.models, "Models this key may use, comma separated (empty: all)")->delimiter(',');
  cmd->add_option("--expires", a.expires, "When the key stops working: YYYY-MM-DD[THH:MM:SSZ] (UTC), or never");
}

}  // namespace

void add_keys_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<KeyArgs>();
  CLI::App* keys = app.add_subcommand("keys", "Named API keys with quotas, for `serve --db`");
  keys->require_subcommand(1);
  keys->fallthrough();  // --db before or after the action
  keys->add_option("--db", a->db, "The SQLite file `serve --db` uses (created if missing)")->required();

  CLI::App* c = keys->add_subcommand("create", "Create a key and print its secret (shown once)");
  c->add_option("--name", a->name, "The key's name: 1-64 of letters, digits, '.', '_', '-'")->required();
  add_limit_options(c, *a);
  c->callback([a, &exit_code] { exit_code = create(*a); });

  CLI::App* l = keys->add_subcommand("list", "List the keys and their limits (never their secrets)");
  l->callback([a, &exit_code] { exit_code = list(*a); });

  CLI::App* r = keys->add_subcommand("revoke", "Revoke a key (a running server refuses it within a second)");
  r->add_option("name", a->name, "The key's name")->required();
  r->callback([a, &exit_code] { exit_code = revoke(*a); });

  CLI::App* u = keys->add_subcommand("update", "Change a key's limits (the options given; the rest stay)");
  u->add_option("name", a->name, "The key's name")->required();
  add_limit_options(u, *a);
  u->callback([a, &exit_code] { exit_code = update(*a); });
}

void add_usage_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<UsageArgs>();
  CLI::App* cmd = app.add_subcommand("usage", "Metered usage per key, model and hour, from `serve --db`'s store");
  cmd->add_option("--db", a->db, "The SQLite file `serve --db` uses")->required();
  cmd->add_option("--key", a->key, "One key's usage (default: all keys)");
  cmd->add_option("--from", a->from, "First day, YYYY-MM-DD (UTC)");
  cmd->add_option("--to", a->to, "Last day, YYYY-MM-DD (UTC), included");
  cmd->add_option("--format", a->format, "table, json or csv")->check(CLI::IsMember({"table", "json", "csv"}))->capture_default_str();
  cmd->callback([a, &exit_code] { exit_code = usage(*a); });
}

}  // namespace hearth::cli
