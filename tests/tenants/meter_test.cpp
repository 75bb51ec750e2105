// The meter's group commit when a write's outcome is unknown: a store that applies a batch and
// then loses the answer (a PostgreSQL connection dropped during COMMIT) must not make the meter
// count that batch twice, and its reads in the meantime count it once.
#include "tenants/meter.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace hearth::tenants {
namespace {

// Applies every write to a real SQLite store, then reports the first `lose` of them as failed.
class LostAnswerStore : public Store {
 public:
  LostAnswerStore(std::unique_ptr<Store> inner, int lose) : inner_(std::move(inner)), lose_(lose) {}
  int schema_version() const override { return inner_->schema_version(); }
  bool local() const override { return false; }
  Result<KeyRecord> create_key(const std::string& n, const KeyLimits& l, const NewSecret& s, int64_t now) override {
    return inner_->create_key(n, l, s, now);
  }
  Result<std::vector<KeyRecord>> list_keys() override { return inner_->list_keys(); }
  Status revoke_key(const std::string& n, int64_t now) override { return inner_->revoke_key(n, now); }
  Status update_key(const std::string& n, const KeyLimitsPatch& p) override { return inner_->update_key(n, p); }
  Status add_usage(const std::vector<UsageRow>& rows, int64_t run, int64_t seq, int64_t now_ms) override {
    ++writes;
    Status st = inner_->add_usage(rows, run, seq, now_ms);
    if (st && lose_ > 0) {
      --lose_;
      return make_error("server closed the connection unexpectedly");
    }
    return st;
  }
  Result<std::vector<UsageRow>> usage(const std::string& k, int64_t from, int64_t to) override {
    return inner_->usage(k, from, to);
  }
  Result<std::pair<int64_t, PreviousRun>> begin_run(int64_t now, const std::string& r) override {
    return inner_->begin_run(now, r);
  }
  Status end_run(int64_t run, int64_t now) override { return inner_->end_run(run, now); }
  bool changed_elsewhere() override { return inner_->changed_elsewhere(); }
  int writes = 0;

 private:
  std::unique_ptr<Store> inner_;
  int lose_;
};

std::unique_ptr<LostAnswerStore> lossy_store(const std::string& name, int lose) {
  const std::string path = std::string(HEARTH_TEST_TMP) + "/meter_" + name + "_" + std::to_string(getpid()) + ".db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  auto inner = Store::open(path);
  EXPECT_TRUE(inner);
  return std::make_unique<LostAnswerStore>(std::move(*inner), lose);
}

TEST(Meter, ABatchWhoseAnswerWasLostIsCountedOnce) {
  auto store = lossy_store("lost", 2);
  auto run = store->begin_run(1, "r");
  ASSERT_TRUE(run);
  Meter meter(*store, run->first, std::chrono::hours(1), nullptr);  // flushed by hand below
  meter.record("k1", "m", 3600 * 10, {1, 100, 0, 20, 0});
  EXPECT_FALSE(meter.flush());  // applied, answer lost
  EXPECT_TRUE(meter.health().degraded);
  meter.record("k1", "m", 3600 * 10, {1, 50, 10, 5, 0});
  EXPECT_FALSE(meter.flush());  // the same batch again: skipped by the store, answer lost again
  // A read meanwhile settles the batch in doubt and counts everything once.
  auto read = meter.usage("k1", "", 0, 100);
  ASSERT_TRUE(read);
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ((*read)[0].counts, (UsageCounts{2, 150, 10, 25, 0}));
  EXPECT_TRUE(meter.flush());
  EXPECT_FALSE(meter.health().degraded);
  EXPECT_EQ(meter.health().pending_rows, 0);
  meter.stop();
  auto stored = store->usage("", 0, 100);
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].counts, (UsageCounts{2, 150, 10, 25, 0}));
}

TEST(Meter, ABatchThatFailedBeforeCommitIsWrittenAgainWhole) {
  // A write that did not land (nothing applied) is retried under the same number and lands then.
  auto store = lossy_store("failed", 0);
  auto run = store->begin_run(1, "r");
  ASSERT_TRUE(run);
  Meter meter(*store, run->first, std::chrono::hours(1), nullptr);
  for (int i = 0; i < 5; ++i) meter.record("k" + std::to_string(i % 2), "m", 7200, {1, 1, 0, 1, 0});
  EXPECT_TRUE(meter.flush());
  meter.record("k0", "m", 7200, {1, 1, 0, 1, 0});
  meter.stop();  // the last flush
  auto stored = store->usage("", 0, 100);
  ASSERT_TRUE(stored);
  int64_t requests = 0;
  for (const UsageRow& r : *stored) requests += r.counts.requests;
  EXPECT_EQ(requests, 6);
}

}  // namespace
}  // namespace hearth::tenants
