#include "tenants/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace hearth::tenants {
namespace {

std::string fresh_db(const std::string& name) {
  const std::string path = std::string(HEARTH_TEST_TMP) + "/tenants_" + name + "_" + std::to_string(getpid()) + ".db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  return path;
}

// Runs SQL on its own connection, as another process would.
void other_connection(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

TEST(TenantsStore, KeysAreCreatedListedUpdatedAndRevoked) {
  auto store = Store::open(fresh_db("keys"));
  ASSERT_TRUE(store) << store.error().message;
  KeyLimits limits;
  limits.rpm = 5;
  limits.models = {"a", "b:7b"};
  const NewSecret secret = make_secret();
  auto created = (*store)->create_key("team-1", limits, secret, 1000);
  ASSERT_TRUE(created) << created.error().message;
  auto again = (*store)->create_key("team-1", limits, make_secret(), 1001);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("exists"), std::string::npos);

  auto keys = (*store)->list_keys();
  ASSERT_TRUE(keys);
  ASSERT_EQ(keys->size(), 1u);
  const KeyRecord& k = (*keys)[0];
  EXPECT_EQ(k.name, "team-1");
  EXPECT_EQ(k.id, secret.id);
  EXPECT_EQ(k.hash, secret.hash);
  EXPECT_EQ(k.salt, secret.salt);
  EXPECT_EQ(k.limits.rpm, 5);
  EXPECT_EQ(k.limits.models, (std::vector<std::string>{"a", "b:7b"}));
  EXPECT_EQ(k.created_at, 1000);
  EXPECT_EQ(k.revoked_at, 0);

  // Two updates of different limits, as two admins made them at once: both land.
  KeyLimitsPatch tpm, models;
  tpm.tpm = 77;
  models.models.emplace();
  ASSERT_TRUE((*store)->update_key("team-1", tpm));
  ASSERT_TRUE((*store)->update_key("team-1", models));
  EXPECT_FALSE((*store)->update_key("nobody", tpm));
  KeyLimitsPatch bad;
  bad.rpm = -1;
  EXPECT_FALSE((*store)->update_key("team-1", bad));
  ASSERT_TRUE((*store)->revoke_key("team-1", 2000));
  EXPECT_FALSE((*store)->revoke_key("team-1", 2001));  // already revoked
  keys = (*store)->list_keys();
  EXPECT_EQ((*keys)[0].limits.tpm, 77);
  EXPECT_EQ((*keys)[0].limits.rpm, 5);  // untouched by either
  EXPECT_TRUE((*keys)[0].limits.models.empty());
  EXPECT_EQ((*keys)[0].revoked_at, 2000);
}

TEST(TenantsStore, HostileNamesAndLimitsAreRefused) {
  auto store = Store::open(fresh_db("hostile"));
  ASSERT_TRUE(store);
  for (const std::string& name : {std::string(""), std::string(65, 'a'), std::string("x'; DROP TABLE keys;--"),
                                 std::string("a b"), std::string("caf\xc3\xa9"), std::string("a\nb")}) {
    auto r = (*store)->create_key(name, {}, make_secret(), 1);
    EXPECT_FALSE(r) << name;
  }
  KeyLimits bad;
  bad.rpm = -1;
  EXPECT_FALSE((*store)->create_key("ok", bad, make_secret(), 1));
  KeyLimits newline;
  newline.models = {"a\nb"};
  EXPECT_FALSE((*store)->create_key("ok", newline, make_secret(), 1));
  auto keys = (*store)->list_keys();
  ASSERT_TRUE(keys);
  EXPECT_TRUE(keys->empty());
}

TEST(TenantsStore, SchemaIsVersionedAndANewerFileIsRefused) {
  const std::string path = fresh_db("schema");
  {
    auto store = Store::open(path);
    ASSERT_TRUE(store);
    EXPECT_EQ((*store)->schema_version(), 2);
  }
  {
    auto store = Store::open(path);  // reopening migrates nothing and keeps the version
    ASSERT_TRUE(store) << store.error().message;
    EXPECT_EQ((*store)->schema_version(), 2);
  }
  other_connection(path, "INSERT INTO schema_version (version) VALUES (4294967297)");  // 2^32 + 1: not 1
  auto newer = Store::open(path);
  ASSERT_FALSE(newer);
  EXPECT_NE(newer.error().message.find("newer"), std::string::npos) << newer.error().message;
  const std::string crafted = fresh_db("schema_negative");
  { ASSERT_TRUE(Store::open(crafted)); }
  other_connection(crafted, "DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES (-3)");
  auto negative = Store::open(crafted);
  ASSERT_FALSE(negative);
  EXPECT_NE(negative.error().message.find("not a hearth store"), std::string::npos) << negative.error().message;
}

TEST(TenantsStore, AVersionOneFileIsMigratedAtOpenAndKeepsItsData) {
  // A store written by the first schema (before runs counted their usage batches).
  const std::string path = fresh_db("v1");
  {
    auto store = Store::open(path);
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->create_key("old", {}, make_secret(), 1));
  }
  other_connection(path, "ALTER TABLE runs DROP COLUMN last_flush_seq; UPDATE schema_version SET version = 1");
  auto store = Store::open(path);
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ((*store)->schema_version(), 2);
  auto keys = (*store)->list_keys();
  ASSERT_TRUE(keys);
  ASSERT_EQ(keys->size(), 1u);
  auto run = (*store)->begin_run(1, "r");
  ASSERT_TRUE(run);
  EXPECT_TRUE((*store)->add_usage({{"k", "", "m", 1, {1, 1, 1, 1, 0}}}, run->first, 1, 1));
}

TEST(TenantsStore, NotADatabaseIsAClearError) {
  const std::string path = fresh_db("garbage");
  FILE* f = fopen(path.c_str(), "wb");
  ASSERT_TRUE(f);
  fputs("this is not a database, but it is long enough to look like a header of one", f);
  fclose(f);
  auto store = Store::open(path);
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find(path), std::string::npos) << store.error().message;
}

TEST(TenantsStore, UsageAddsUpPerKeyModelAndHour) {
  auto store = Store::open(fresh_db("usage"));
  ASSERT_TRUE(store);
  const NewSecret a = make_secret(), b = make_secret();
  ASSERT_TRUE((*store)->create_key("a", {}, a, 1));
  ASSERT_TRUE((*store)->create_key("b", {}, b, 1));
  auto run = (*store)->begin_run(10, "host-a");
  ASSERT_TRUE(run);
  ASSERT_TRUE((*store)->add_usage({{a.id, "", "m", 100, {1, 10, 2, 5, 0}}, {b.id, "", "m", 100, {1, 1, 0, 1, 1}}},
                                  run->first, 1, 1234));
  ASSERT_TRUE((*store)->add_usage({{a.id, "", "m", 100, {2, 20, 0, 7, 1}}, {a.id, "", "m", 101, {1, 1, 1, 1, 0}}},
                                  run->first, 2, 1235));
  auto all = (*store)->usage("", 0, 1000);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 3u);
  auto only_a = (*store)->usage("a", 100, 101);
  ASSERT_TRUE(only_a);
  ASSERT_EQ(only_a->size(), 1u);
  EXPECT_EQ((*only_a)[0].key_name, "a");
  EXPECT_EQ((*only_a)[0].counts, (UsageCounts{3, 30, 2, 12, 1}));
  auto none = (*store)->usage("nobody", 0, 1000);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(TenantsStore, RunsSayWhetherThePreviousOneStoppedCleanly) {
  const std::string path = fresh_db("runs");
  auto store = Store::open(path);
  ASSERT_TRUE(store);
  auto first = (*store)->begin_run(100, "host-a");
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->second.exists);
  ASSERT_TRUE((*store)->add_usage({}, first->first, 1, 5555));
  ASSERT_TRUE((*store)->end_run(first->first, 200));
  auto second = (*store)->begin_run(300, "host-a");
  ASSERT_TRUE(second);
  EXPECT_TRUE(second->second.exists);
  EXPECT_TRUE(second->second.clean);
  ASSERT_TRUE((*store)->add_usage({{"x", "", "m", 1, {1, 1, 1, 1, 1}}}, second->first, 1, 7777));
  // No end_run: as after kill -9.
  auto third = (*store)->begin_run(400, "host-a");
  ASSERT_TRUE(third);
  EXPECT_FALSE(third->second.clean);
  EXPECT_EQ(third->second.started_at, 300);
  EXPECT_EQ(third->second.last_flush_ms, 7777);
  // Another replica sharing the store has runs of its own.
  auto other = (*store)->begin_run(500, "host-b");
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->second.exists);
}

TEST(TenantsStore, ChangesByAnotherProcessAreNoticed) {
  const std::string path = fresh_db("changes");
  auto store = Store::open(path);
  ASSERT_TRUE(store);
  (*store)->changed_elsewhere();
  EXPECT_FALSE((*store)->changed_elsewhere());
  ASSERT_TRUE((*store)->create_key("mine", {}, make_secret(), 1));
  EXPECT_FALSE((*store)->changed_elsewhere());  // its own writes do not count
  other_connection(path, "UPDATE keys SET rpm = 3");
  EXPECT_TRUE((*store)->changed_elsewhere());
  EXPECT_FALSE((*store)->changed_elsewhere());
}

TEST(TenantsStore, ALockedDatabaseFailsTheWriteAndKeepsNothingHalfDone) {
  const std::string path = fresh_db("locked");
  auto store = Store::open(path, /*busy_timeout_ms=*/50);
  ASSERT_TRUE(store);
  auto run = (*store)->begin_run(1, "host-a");
  ASSERT_TRUE(run);
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  const Status st = (*store)->add_usage({{"k", "", "m", 1, {1, 2, 3, 4, 5}}}, run->first, 1, 1);
  EXPECT_FALSE(st);
  EXPECT_NE(st.message().find("locked"), std::string::npos) << st.message();
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  auto rows = (*store)->usage("", 0, 10);
  ASSERT_TRUE(rows);
  EXPECT_TRUE(rows->empty());
}

}  // namespace
}  // namespace hearth::tenants

namespace hearth::tenants {
namespace {

TEST(TenantsStore, ABatchWrittenAgainIsAppliedOnce) {
  auto store = Store::open(fresh_db("once"));
  ASSERT_TRUE(store);
  auto run = (*store)->begin_run(10, "host-a");
  ASSERT_TRUE(run);
  const std::vector<UsageRow> batch = {{"k", "", "m", 5, {1, 10, 0, 3, 0}}};
  ASSERT_TRUE((*store)->add_usage(batch, run->first, 1, 100));
  ASSERT_TRUE((*store)->add_usage(batch, run->first, 1, 101));  // its answer was lost: sent again
  ASSERT_TRUE((*store)->add_usage(batch, run->first, 2, 102));
  ASSERT_TRUE((*store)->add_usage(batch, run->first, 1, 103));  // older than the last: skipped
  auto rows = (*store)->usage("", 0, 10);
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].counts, (UsageCounts{2, 20, 0, 6, 0}));
  // Another run counts from 1 again.
  auto next = (*store)->begin_run(20, "host-a");
  ASSERT_TRUE(next);
  ASSERT_TRUE((*store)->add_usage(batch, next->first, 1, 200));
  rows = (*store)->usage("", 0, 10);
  ASSERT_TRUE(rows);
  EXPECT_EQ((*rows)[0].counts.requests, 3);
}

}  // namespace
}  // namespace hearth::tenants
