#include "tenants/usage_report.h"

#include <gtest/gtest.h>

namespace hearth::tenants {
namespace {

TEST(TenantsUsageReport, DatesAreUtcDays) {
  EXPECT_EQ(day_start_hour("1970-01-01"), 0);
  EXPECT_EQ(day_start_hour("1970-01-02"), 24);
  EXPECT_EQ(day_start_hour("2000-03-01"), 11017 * 24);  // date -u -d 2000-03-01 +%s = 951868800
  EXPECT_EQ(day_start_hour("2024-02-29"), 19782 * 24);  // 1709164800
  for (const char* bad : {"", "2026-1-01", "2026-13-01", "2026-02-29", "2026-04-31", "1969-12-31", "2026-01-01x",
                          "2026/01/01", "２０２６-01-01"})
    EXPECT_FALSE(day_start_hour(bad)) << bad;
  EXPECT_EQ(parse_utc_time("2000-03-01"), 951868800);
  EXPECT_EQ(parse_utc_time("2000-03-01T01:02:03Z"), 951868800 + 3723);
  EXPECT_FALSE(parse_utc_time("2000-03-01T24:00:00Z"));
  EXPECT_FALSE(parse_utc_time("2000-03-01T01:02:03"));
  EXPECT_EQ(hour_text(951868800 / 3600 + 5), "2000-03-01T05:00:00Z");
  EXPECT_EQ(utc_time_text(951868800 + 3723), "2000-03-01T01:02:03Z");
}

TEST(TenantsUsageReport, JsonTotalsAndCsvQuoting) {
  const std::vector<UsageRow> rows = {{"id1", "team,a", "m\"x", 10, {1, 2, 3, 4, 5}}, {"id2", "b", "m", 11, {10, 20, 30, 40, 50}}};
  const nlohmann::json j = usage_json(rows);
  EXPECT_EQ(j["data"].size(), 2u);
  EXPECT_EQ(j["data"][0]["key"], "team,a");
  EXPECT_EQ(j["totals"]["completion_tokens"], 44);
  EXPECT_EQ(j["totals"]["requests"], 11);
  EXPECT_EQ(usage_csv(rows),
            "hour,key,model,requests,prompt_tokens,cached_tokens,completion_tokens,errors\n"
            "1970-01-01T10:00:00Z,\"team,a\",\"m\"\"x\",1,2,3,4,5\n"
            "1970-01-01T11:00:00Z,b,m,10,20,30,40,50\n");
}

}  // namespace
}  // namespace hearth::tenants
