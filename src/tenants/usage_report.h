// Usage rows as people read them: JSON (GET /v1/usage, /admin/usage, `hearth usage`) and CSV,
// and the dates that bound a query ("2026-12-06" is that UTC day's 24 hours).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tenants/store.h"

namespace hearth::tenants {

// {"object": "list", "data": [{key, model, hour, requests, ...}], "totals": {...}}
nlohmann::json usage_json(const std::vector<UsageRow>& rows);
// A header line and a line per row; key and model names are quoted where they need it.
std::string usage_csv(const std::vector<UsageRow>& rows);

// "YYYY-MM-DD" as the first hour (unix seconds / 3600) of that UTC day; nullopt if not a date.
std::optional<int64_t> day_start_hour(const std::string& date);
// "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ" as unix seconds; nullopt if neither.
std::optional<int64_t> parse_utc_time(const std::string& text);
// "2026-12-06T21:00:00Z"
std::string hour_text(int64_t hour);
// Unix seconds as "2026-12-06T21:04:05Z".
std::string utc_time_text(int64_t unix_s);

}  // namespace hearth::tenants
