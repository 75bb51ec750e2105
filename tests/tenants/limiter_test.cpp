#include "tenants/limiter.h"

#include <gtest/gtest.h>

namespace hearth::tenants {
namespace {

constexpr int64_t kDay = 86400;
constexpr int64_t kNoon = 20000 * kDay + kDay / 2;  // some UTC noon

TEST(Limiter, RequestsPerMinuteRefuseThenRefill) {
  Limiter l;
  KeyLimits k;
  k.rpm = 3;
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(l.admit("a", k, 1, 100.0, kNoon)) << i;
    l.release("a");
  }
  const auto refused = l.admit("a", k, 1, 100.0, kNoon);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->type, "requests");
  EXPECT_EQ(refused->retry_after, 20);  // one request comes back every 60/3 s
  EXPECT_TRUE(l.admit("a", k, 1, 119.0, kNoon));
  EXPECT_FALSE(l.admit("a", k, 1, 120.0, kNoon));
  // Another key has its own bucket.
  EXPECT_FALSE(l.admit("b", k, 1, 120.0, kNoon));
}

TEST(Limiter, TokensPerMinuteCountPromptAtAdmissionAndCompletionAsGenerated) {
  Limiter l;
  KeyLimits k;
  k.tpm = 100;
  EXPECT_FALSE(l.admit("a", k, 60, 0.0, kNoon));
  EXPECT_TRUE(l.charge("a", k, 30, 0.0, kNoon));  // no day limit: never stops the request
  const auto refused = l.admit("a", k, 20, 0.0, kNoon);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->type, "tokens");
  EXPECT_EQ(refused->retry_after, 6);  // 10 tokens short at 100/60 per second
  EXPECT_TRUE(l.admit("a", k, 20, 5.9, kNoon));
  EXPECT_FALSE(l.admit("a", k, 20, 6.0, kNoon));
  // The bucket may go below zero while a request runs; the next one then waits longer.
  EXPECT_TRUE(l.charge("a", k, 200, 6.0, kNoon));
  const auto deep = l.admit("a", k, 1, 6.0, kNoon);
  ASSERT_TRUE(deep);
  EXPECT_EQ(deep->retry_after, 121);  // 201 tokens short
}

TEST(Limiter, PromptLargerThanTheMinuteIsRefusedOutright) {
  Limiter l;
  KeyLimits k;
  k.tpm = 10;
  const auto refused = l.admit("a", k, 11, 0.0, kNoon);
  ASSERT_TRUE(refused);
  EXPECT_NE(refused->message.find("too large"), std::string::npos) << refused->message;
  EXPECT_EQ(l.running("a"), 0);
}

TEST(Limiter, TokensPerDayStopARunningRequestAndResetAtMidnightOnly) {
  Limiter l;
  KeyLimits k;
  k.tokens_per_day = 50;
  EXPECT_FALSE(l.admit("a", k, 30, 0.0, kNoon));
  EXPECT_TRUE(l.charge("a", k, 19, 0.0, kNoon));   // 49 used
  EXPECT_FALSE(l.charge("a", k, 1, 0.0, kNoon));   // 50: the running request stops here
  l.release("a");
  const auto refused = l.admit("a", k, 1, 0.0, kNoon);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->retry_after, kDay / 2);  // until the UTC day ends
  // A clock set back a day does not reopen the spent day.
  EXPECT_TRUE(l.admit("a", k, 1, 0.0, kNoon - kDay));
  // The next day does.
  EXPECT_FALSE(l.admit("a", k, 50, 0.0, kNoon + kDay / 2));
}

TEST(Limiter, UsageSeededFromTheStoreCountsTowardsTheDay) {
  Limiter l;
  KeyLimits k;
  k.tokens_per_day = 100;
  l.seed_day("a", kNoon / kDay, 95);
  EXPECT_TRUE(l.admit("a", k, 6, 0.0, kNoon));
  EXPECT_FALSE(l.admit("a", k, 5, 0.0, kNoon));
}

TEST(Limiter, ConcurrentRequestsAreCountedUntilReleased) {
  Limiter l;
  KeyLimits k;
  k.max_concurrent = 2;
  EXPECT_FALSE(l.admit("a", k, 1, 0.0, kNoon));
  EXPECT_FALSE(l.admit("a", k, 1, 0.0, kNoon));
  EXPECT_TRUE(l.admit("a", k, 1, 0.0, kNoon));
  EXPECT_EQ(l.running("a"), 2);
  l.release("a");
  EXPECT_FALSE(l.admit("a", k, 1, 0.0, kNoon));
}

TEST(Limiter, RefusedRequestsChargeNothing) {
  Limiter l;
  KeyLimits k;
  k.rpm = 10;
  k.tpm = 100;
  k.max_concurrent = 1;
  EXPECT_FALSE(l.admit("a", k, 10, 0.0, kNoon));
  EXPECT_TRUE(l.admit("a", k, 10, 0.0, kNoon));  // concurrency
  const RateHeaders h = l.headers("a", k, 0.0);
  EXPECT_EQ(h.remaining_requests, 9);
  EXPECT_EQ(h.remaining_tokens, 90);
}

TEST(Limiter, HeadersFollowOpenAIsNames) {
  Limiter l;
  KeyLimits k;
  k.rpm = 60;
  EXPECT_FALSE(l.admit("a", k, 5, 10.0, kNoon));
  const RateHeaders h = l.headers("a", k, 10.0);
  EXPECT_TRUE(h.has_requests);
  EXPECT_FALSE(h.has_tokens);
  EXPECT_EQ(h.limit_requests, 60);
  EXPECT_EQ(h.remaining_requests, 59);
  EXPECT_DOUBLE_EQ(h.reset_requests_s, 1.0);
  EXPECT_EQ(reset_text(h.reset_requests_s), "1s");
  EXPECT_EQ(reset_text(0.02), "20ms");
  EXPECT_EQ(reset_text(360), "6m0s");
  EXPECT_EQ(reset_text(61.5), "1m2s");
  EXPECT_EQ(reset_text(0), "0s");
}

}  // namespace
}  // namespace hearth::tenants
