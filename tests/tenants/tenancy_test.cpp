#include "tenants/tenancy.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

namespace hearth::tenants {
namespace {

std::string fresh_db(const std::string& name) {
  const std::string path = std::string(HEARTH_TEST_TMP) + "/tenancy_" + name + "_" + std::to_string(getpid()) + ".db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  return path;
}

std::unique_ptr<Tenancy> open_tenancy(const std::string& path, std::vector<std::string>* log = nullptr,
                                      int flush_ms = 50) {
  TenancyOptions o;
  o.db_path = path;
  o.flush_window = std::chrono::milliseconds(flush_ms);
  if (log) o.log = [log](const std::string& line) { log->push_back(line); };
  auto t = Tenancy::open(o);
  EXPECT_TRUE(t) << t.error().message;
  return t ? std::move(*t) : nullptr;
}

std::string create(const std::string& path, const std::string& name, const KeyLimits& limits = {}) {
  auto store = Store::open(path);  // its own connection, as `hearth keys` in another process
  EXPECT_TRUE(store);
  const NewSecret s = make_secret();
  EXPECT_TRUE((*store)->create_key(name, limits, s, 1));
  return s.secret;
}

UsageCounts total(const std::vector<UsageRow>& rows) {
  UsageCounts t;
  for (const UsageRow& r : rows) t += r.counts;
  return t;
}

TEST(Tenancy, KeysAreCheckedByHashAndRevocationIsSeenWithinASecond) {
  const std::string path = fresh_db("auth");
  const std::string secret = create(path, "alice");
  auto t = open_tenancy(path);
  ASSERT_TRUE(t);
  auto ok = t->authenticate(secret);
  ASSERT_TRUE(std::holds_alternative<Caller>(ok));
  EXPECT_EQ(std::get<Caller>(ok).key_name, "alice");
  std::string wrong = secret;
  wrong.back() = wrong.back() == 'a' ? 'b' : 'a';
  EXPECT_TRUE(std::holds_alternative<Rejected>(t->authenticate(wrong)));
  EXPECT_TRUE(std::holds_alternative<Rejected>(t->authenticate("sk-not-ours")));
  EXPECT_TRUE(std::holds_alternative<Rejected>(t->authenticate("")));

  // A key created and one revoked by another process, seen by the running server.
  const std::string bob = create(path, "bob");
  {
    auto store = Store::open(path);
    ASSERT_TRUE((*store)->revoke_key("alice", 2));
  }
  const auto start = std::chrono::steady_clock::now();
  bool revoked = false, bob_in = false;
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(1) && !(revoked && bob_in)) {
    auto r = t->authenticate(secret);
    revoked = std::holds_alternative<Rejected>(r) && std::get<Rejected>(r).message.find("revoked") != std::string::npos;
    bob_in = std::holds_alternative<Caller>(t->authenticate(bob));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(revoked);
  EXPECT_TRUE(bob_in);
}

TEST(Tenancy, ExpiredKeysAndModelAllowLists) {
  const std::string path = fresh_db("expiry");
  KeyLimits old;
  old.expires_at = 1000;
  const std::string expired = create(path, "old", old);
  KeyLimits one;
  one.models = {"tiny"};
  const std::string limited = create(path, "limited", one);
  auto t = open_tenancy(path);
  auto r = t->authenticate(expired);
  ASSERT_TRUE(std::holds_alternative<Rejected>(r));
  EXPECT_NE(std::get<Rejected>(r).message.find("expired"), std::string::npos);
  auto c = t->authenticate(limited);
  ASSERT_TRUE(std::holds_alternative<Caller>(c));
  EXPECT_TRUE(Tenancy::allows_model(std::get<Caller>(c), "tiny"));
  EXPECT_FALSE(Tenancy::allows_model(std::get<Caller>(c), "other"));
}

TEST(Tenancy, LeasesMeterExactlyAndACleanStopLosesNothing) {
  const std::string path = fresh_db("meter");
  const std::string secret = create(path, "alice");
  std::vector<std::string> log;
  {
    auto t = open_tenancy(path, &log, /*flush_ms=*/60000);  // nothing flushes by itself in this test
    const Caller who = std::get<Caller>(t->authenticate(secret));
    for (int i = 0; i < 5; ++i) {
      auto admitted = t->admit(who, "m", 10, 2);
      ASSERT_TRUE(std::holds_alternative<std::shared_ptr<Lease>>(admitted));
      auto lease = std::get<std::shared_ptr<Lease>>(admitted);
      EXPECT_TRUE(lease->on_token());
      lease->finish_choice(5, 1, 3, false);
      lease->finish_choice(5, 0, 4, i == 4);
    }
    {
      auto lease = std::get<std::shared_ptr<Lease>>(t->admit(who, "m", 7, 1));
      // Dropped before its choice finished: one failed request with what it had.
    }
    // Read back before any flush: the pending counts are included.
    auto rows = t->usage("alice", 0, int64_t{1} << 40);
    ASSERT_TRUE(rows);
    EXPECT_EQ(total(*rows), (UsageCounts{6, 50, 5, 35, 2}));
    const auto totals = t->key_totals();
    ASSERT_EQ(totals.size(), 1u);
    EXPECT_EQ(totals[0].first, "alice");
    EXPECT_EQ(totals[0].second, (UsageCounts{6, 50, 5, 35, 2}));
    auto nobody = t->usage("nobody", 0, int64_t{1} << 40);
    ASSERT_TRUE(nobody);
    EXPECT_TRUE(nobody->empty());
  }  // destroyed: flushes and marks the run clean
  auto store = Store::open(path);
  auto rows = (*store)->usage("alice", 0, int64_t{1} << 40);
  ASSERT_TRUE(rows);
  EXPECT_EQ(total(*rows), (UsageCounts{6, 50, 5, 35, 2}));
  log.clear();
  auto t = open_tenancy(path, &log);
  for (const std::string& line : log) EXPECT_EQ(line.find("did not stop cleanly"), std::string::npos) << line;
}

TEST(Tenancy, ChoicesThatNeverStartedLeaveTheSlotHeldUntilTheStartedOnesFinish) {
  // An n = 3 request whose third choice the engine refused: the two started ones are cancelled and
  // wind down; until they have, the key's one concurrent slot stays taken, and what they generated
  // is metered.
  const std::string path = fresh_db("unstarted");
  KeyLimits limits;
  limits.max_concurrent = 1;
  const std::string secret = create(path, "bob", limits);
  auto t = open_tenancy(path, nullptr, 60000);
  const Caller who = std::get<Caller>(t->authenticate(secret));
  auto lease = std::get<std::shared_ptr<Lease>>(t->admit(who, "m", 30, 3));
  lease->unstarted(1);
  EXPECT_TRUE(std::holds_alternative<Refusal>(t->admit(who, "m", 1, 1)));  // still running
  lease->finish_choice(10, 0, 2, false);
  lease->finish_choice(10, 0, 1, false);
  auto next = t->admit(who, "m", 1, 1);
  EXPECT_TRUE(std::holds_alternative<std::shared_ptr<Lease>>(next));
  auto rows = t->usage("bob", 0, int64_t{1} << 40);
  ASSERT_TRUE(rows);
  EXPECT_EQ(total(*rows), (UsageCounts{1, 20, 0, 3, 1}));
}

TEST(Tenancy, TheDaysUsageSurvivesARestart) {
  const std::string path = fresh_db("day");
  KeyLimits limits;
  limits.tokens_per_day = 100;
  const std::string secret = create(path, "alice", limits);
  {
    auto t = open_tenancy(path);
    const Caller who = std::get<Caller>(t->authenticate(secret));
    auto lease = std::get<std::shared_ptr<Lease>>(t->admit(who, "m", 60, 1));
    for (int i = 0; i < 30; ++i) EXPECT_TRUE(lease->on_token());
    lease->finish_choice(60, 0, 30, false);
  }
  auto t = open_tenancy(path);
  const Caller who = std::get<Caller>(t->authenticate(secret));
  EXPECT_TRUE(std::holds_alternative<Refusal>(t->admit(who, "m", 11, 1)));
  EXPECT_TRUE(std::holds_alternative<std::shared_ptr<Lease>>(t->admit(who, "m", 10, 1)));
}

TEST(Tenancy, AnUnwritableStoreDegradesMeteringAndCatchesUpLater) {
  const std::string path = fresh_db("degraded");
  const std::string secret = create(path, "alice");
  std::vector<std::string> log;
  auto t = open_tenancy(path, &log, /*flush_ms=*/20);
  const Caller who = std::get<Caller>(t->authenticate(secret));
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  {
    auto lease = std::get<std::shared_ptr<Lease>>(t->admit(who, "m", 3, 1));
    lease->finish_choice(3, 0, 2, false);
  }
  // The store's writes wait 5 s for a lock: give the writer that and a window.
  const auto start = std::chrono::steady_clock::now();
  while (!t->health().degraded && std::chrono::steady_clock::now() - start < std::chrono::seconds(8))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(t->health().degraded);
  EXPECT_GE(t->health().write_errors, 1);
  EXPECT_EQ(t->health().pending_rows, 1);
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  while (t->health().degraded && std::chrono::steady_clock::now() - start < std::chrono::seconds(20))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(t->health().degraded);
  auto rows = t->usage("alice", 0, int64_t{1} << 40);
  ASSERT_TRUE(rows);
  EXPECT_EQ(total(*rows), (UsageCounts{1, 3, 0, 2, 0}));
  bool said = false;
  for (const std::string& line : log) said |= line.find("cannot write usage") != std::string::npos;
  EXPECT_TRUE(said);
}

}  // namespace
}  // namespace hearth::tenants
