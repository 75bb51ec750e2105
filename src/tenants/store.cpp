#include "tenants/store.h"

#include "tenants/postgres_store.h"
#include "tenants/sqlite_store.h"

namespace hearth::tenants {

bool Store::is_postgres(const std::string& spec) {
  return spec.rfind("postgresql://", 0) == 0 || spec.rfind("postgres://", 0) == 0;
}

Result<std::unique_ptr<Store>> Store::open(const std::string& spec, int busy_timeout_ms) {
  return is_postgres(spec) ? open_postgres_store(spec) : open_sqlite_store(spec, busy_timeout_ms);
}

Status check_key_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return make_error("a key name has 1 to 64 characters (got {})", name.size());
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return make_error("a key name may hold only letters, digits, '.', '_' and '-'");
  return {};
}

Status check_limits(const KeyLimits& l) {
  if (l.rpm < 0 || l.tpm < 0 || l.tokens_per_day < 0 || l.max_concurrent < 0 || l.expires_at < 0)
    return make_error("limits must be 0 (none) or positive");
  for (const std::string& m : l.models)
    if (m.empty() || m.size() > 256 || m.find('\n') != std::string::npos)
      return make_error("model name '{}' is empty, longer than 256 bytes or holds a newline", m);
  return {};
}

KeyRecord new_key_record(const std::string& name, const KeyLimits& limits, const NewSecret& secret, int64_t now) {
  KeyRecord k;
  k.id = secret.id;
  k.name = name;
  k.salt = secret.salt;
  k.hash = secret.hash;
  k.limits = limits;
  k.created_at = now;
  return k;
}

KeyLimits patched(KeyLimits base, const KeyLimitsPatch& p) {
  if (p.rpm) base.rpm = *p.rpm;
  if (p.tpm) base.tpm = *p.tpm;
  if (p.tokens_per_day) base.tokens_per_day = *p.tokens_per_day;
  if (p.max_concurrent) base.max_concurrent = *p.max_concurrent;
  if (p.models) base.models = *p.models;
  if (p.expires_at) base.expires_at = *p.expires_at;
  return base;
}

std::vector<std::pair<const char*, std::string>> patch_columns(const KeyLimitsPatch& p) {
  std::vector<std::pair<const char*, std::string>> out;
  for (const auto& [column, value] : {std::pair{"rpm", p.rpm}, std::pair{"tpm", p.tpm},
                                      std::pair{"tokens_per_day", p.tokens_per_day},
                                      std::pair{"max_concurrent", p.max_concurrent}, std::pair{"expires_at", p.expires_at}})
    if (value) out.emplace_back(column, std::to_string(*value));
  if (p.models) out.emplace_back("models", join_models(*p.models));
  return out;
}

std::string join_models(const std::vector<std::string>& models) {
  std::string out;
  for (const std::string& m : models) out += (out.empty() ? "" : "\n") + m;
  return out;
}

std::vector<std::string> split_models(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace hearth::tenants
