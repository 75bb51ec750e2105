#include "tenants/usage_report.h"

#include <fmt/format.h>

#include <ctime>

namespace hearth::tenants {
namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil): no
// dependence on the process's time zone, unlike mktime.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool digits(const std::string& s, size_t at, size_t n, int64_t& out) {
  if (at + n > s.size()) return false;
  out = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

std::optional<int64_t> parse_day(const std::string& s) {
  int64_t y, m, d;
  if (s.size() < 10 || !digits(s, 0, 4, y) || s[4] != '-' || !digits(s, 5, 2, m) || s[7] != '-' || !digits(s, 8, 2, d))
    return std::nullopt;
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1970 || m < 1 || m > 12 || d < 1 || d > kDays[m - 1]) return std::nullopt;
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (m == 2 && d == 29 && !leap) return std::nullopt;
  return days_from_civil(y, unsigned(m), unsigned(d));
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

std::optional<int64_t> day_start_hour(const std::string& date) {
  if (date.size() != 10) return std::nullopt;
  const std::optional<int64_t> day = parse_day(date);
  if (!day) return std::nullopt;
  return *day * 24;
}

std::optional<int64_t> parse_utc_time(const std::string& text) {
  const std::optional<int64_t> day = parse_day(text);
  if (!day) return std::nullopt;
  if (text.size() == 10) return *day * 86400;
  int64_t h, mi, se;
  if (text.size() != 20 || text[10] != 'T' || !digits(text, 11, 2, h) || text[13] != ':' || !digits(text, 14, 2, mi) ||
      text[16] != ':' || !digits(text, 17, 2, se) || text[19] != 'Z' || h > 23 || mi > 59 || se > 59)
    return std::nullopt;
  return *day * 86400 + h * 3600 + mi * 60 + se;
}

std::string utc_time_text(int64_t unix_s) {
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string hour_text(int64_t hour) { return utc_time_text(hour * 3600); }

nlohmann::json usage_json(const std::vector<UsageRow>& rows) {
  nlohmann::json data = nlohmann::json::array();
  UsageCounts total;
  for (const UsageRow& r : rows) {
    data.push_back({{"key", r.key_name},
                    {"model", r.model},
                    {"hour", hour_text(r.hour)},
                    {"requests", r.counts.requests},
                    {"prompt_tokens", r.counts.prompt_tokens},
                    {"cached_tokens", r.counts.cached_tokens},
                    {"completion_tokens", r.counts.completion_tokens},
                    {"errors", r.counts.errors}});
    total += r.counts;
  }
  return {{"object", "list"},
          {"data", data},
          {"totals",
           {{"requests", total.requests},
            {"prompt_tokens", total.prompt_tokens},
            {"cached_tokens", total.cached_tokens},
            {"completion_tokens", total.completion_tokens},
            {"errors", total.errors}}}};
}

std::string usage_csv(const std::vector<UsageRow>& rows) {
  std::string out = "hour,key,model,requests,prompt_tokens,cached_tokens,completion_tokens,errors\n";
  for (const UsageRow& r : rows)
    out += fmt::format("{},{},{},{},{},{},{},{}\n", hour_text(r.hour), csv_field(r.key_name), csv_field(r.model),
                       r.counts.requests, r.counts.prompt_tokens, r.counts.cached_tokens, r.counts.completion_tokens,
                       r.counts.errors);
  return out;
}

}  // namespace hearth::tenants
