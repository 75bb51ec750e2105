#include "server/model_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace hearth::server {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Models whose loads and unloads are counted; a model "lives" while its owner does.
struct Fleet {
  std::atomic<int> loads[4] = {0, 0, 0, 0};
  std::atomic<int> alive[4] = {0, 0, 0, 0};
  std::atomic<int> fail_next[4] = {0, 0, 0, 0};
  std::atomic<int> load_ms{0};
  std::atomic<int> unload_ms{0};

  std::vector<ModelPool::Entry> entries(int n, uint64_t bytes = 100) {
    std::vector<ModelPool::Entry> out;
    for (int i = 0; i < n; ++i) {
      ModelPool::Entry e;
      e.name = std::string(1, char('a' + i));
      e.aliases = {"/models/" + e.name + ".gguf"};
      e.bytes = bytes;
      e.load = [this, i]() -> Result<ModelPool::Model> {
        if (load_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(load_ms.load()));
        if (fail_next[i].exchange(0)) return make_error("file is corrupt");
        ++loads[i];
        ++alive[i];
        ModelPool::Model m;
        m.context.name = std::string(1, char('a' + i));
        m.context.max_context = 1000 + i;
        m.owner = std::shared_ptr<void>(nullptr, [this, i](void*) {
          if (unload_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(unload_ms.load()));
          --alive[i];
        });
        return m;
      };
      out.push_back(std::move(e));
    }
    return out;
  }
};

// Models of these sizes, in order.
std::unique_ptr<ModelPool> make_pool(Fleet& f, const std::vector<uint64_t>& sizes, uint64_t budget) {
  auto entries = f.entries(static_cast<int>(sizes.size()));
  for (size_t i = 0; i < sizes.size(); ++i) entries[i].bytes = sizes[i];
  ModelPool::Options o;
  o.budget_bytes = budget;
  auto pool = ModelPool::create(std::move(entries), o);
  EXPECT_TRUE(pool.ok());
  return std::move(*pool);
}

std::unique_ptr<ModelPool> make_pool(Fleet& f, int n, uint64_t budget, uint64_t bytes = 100) {
  return make_pool(f, std::vector<uint64_t>(static_cast<size_t>(n), bytes), budget);
}

Clock::time_point soon(std::chrono::milliseconds d = 2000ms) { return Clock::now() + d; }

TEST(ModelPool, LoadsOnFirstUseOnceAndNamesEachModel) {
  Fleet f;
  auto pool = make_pool(f, 3, 0);
  EXPECT_EQ(pool->naming(1).name, "b");
  EXPECT_EQ(pool->naming(1).aliases[0], "/models/b.gguf");
  EXPECT_FALSE(pool->try_acquire(1));  // not loaded yet
  EXPECT_EQ(f.loads[1], 0);
  {
    auto lease = pool->acquire(1, soon());
    ASSERT_TRUE(lease.ok());
    EXPECT_EQ(lease->context().name, "b");
    EXPECT_EQ(lease->context().max_context, 1001);
    EXPECT_TRUE(pool->state(1).in_use);
  }
  EXPECT_FALSE(pool->state(1).in_use);
  EXPECT_TRUE(pool->try_acquire(1));
  ASSERT_TRUE(pool->acquire(1, soon()).ok());
  EXPECT_EQ(f.loads[1], 1);
  EXPECT_EQ(f.loads[0], 0);
  EXPECT_EQ(pool->used_bytes(), 100u);
  EXPECT_EQ(pool->state(1).max_context, 1001);
}

TEST(ModelPool, TheLeastRecentlyUsedIdleModelMakesRoom) {
  Fleet f;
  auto pool = make_pool(f, 3, 250);  // two of the three fit
  ASSERT_TRUE(pool->acquire(0, soon()).ok());
  ASSERT_TRUE(pool->acquire(1, soon()).ok());
  ASSERT_TRUE(pool->acquire(0, soon()).ok());  // a is now more recently used than b
  ASSERT_TRUE(pool->acquire(2, soon()).ok());
  EXPECT_TRUE(pool->state(0).loaded);
  EXPECT_FALSE(pool->state(1).loaded);
  EXPECT_TRUE(pool->state(2).loaded);
  EXPECT_EQ(f.alive[1], 0);  // its owner was dropped: the memory is given back
  EXPECT_EQ(pool->state(1).unloads, 1u);
  EXPECT_EQ(pool->used_bytes(), 200u);
  // b comes back, in the place of a (now the least recently used).
  ASSERT_TRUE(pool->acquire(1, soon()).ok());
  EXPECT_FALSE(pool->state(0).loaded);
  EXPECT_EQ(f.loads[1], 2);
}

TEST(ModelPool, ABusyModelIsNotUnloadedAnIdleOneIs) {
  Fleet f;
  auto pool = make_pool(f, 3, 250);
  auto a = pool->acquire(0, soon());  // held: a request in flight
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(pool->acquire(1, soon()).ok());
  // a is the least recently used, but busy: b goes.
  ASSERT_TRUE(pool->acquire(2, soon()).ok());
  EXPECT_TRUE(pool->state(0).loaded);
  EXPECT_FALSE(pool->state(1).loaded);
  EXPECT_EQ(f.alive[0], 1);
}

TEST(ModelPool, OnlyBusyModelsCouldMakeRoomSoTheyDrainFirst) {
  Fleet f;
  auto pool = make_pool(f, 2, 150);  // one at a time
  auto a = pool->acquire(0, soon());
  ASSERT_TRUE(a.ok());
  auto b = std::async(std::launch::async, [&] { return pool->acquire(1, soon(5000ms)); });
  // a drains: it takes no new request while b waits, and is not unloaded under its request.
  for (int i = 0; i < 200 && pool->try_acquire(0); ++i) std::this_thread::sleep_for(5ms);
  EXPECT_FALSE(pool->try_acquire(0));
  EXPECT_EQ(b.wait_for(100ms), std::future_status::timeout);
  EXPECT_EQ(f.alive[0], 1);
  EXPECT_EQ(a->context().name, "a");  // the in-flight request's model is intact
  *a = ModelPool::Lease();              // the request finishes
  auto got = b.get();
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->context().name, "b");
  EXPECT_EQ(f.alive[0], 0);
  EXPECT_FALSE(pool->state(0).loaded);
}

TEST(ModelPool, GivingUpOnRoomLetsTheBusyModelTakeRequestsAgain) {
  Fleet f;
  auto pool = make_pool(f, 2, 150);
  auto a = pool->acquire(0, soon());
  ASSERT_TRUE(a.ok());
  auto b = pool->acquire(1, Clock::now() + 100ms);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find("no room for model 'b'"), std::string::npos) << b.error().message;
  EXPECT_TRUE(pool->try_acquire(0));  // no longer draining
  EXPECT_EQ(f.loads[1], 0);
}

TEST(ModelPool, AModelLargerThanTheBudgetIsRefusedAtOnce) {
  Fleet f;
  auto pool = make_pool(f, 1, 50);
  const auto t0 = Clock::now();
  auto a = pool->acquire(0, soon(5000ms));
  ASSERT_FALSE(a.ok());
  EXPECT_LT(Clock::now() - t0, 1s);
  EXPECT_NE(a.error().message.find("more than the whole --memory-budget"), std::string::npos) << a.error().message;
}

TEST(ModelPool, AFailedLoadIsReportedToItsWaitersAndRetriedLater) {
  Fleet f;
  auto pool = make_pool(f, 1, 0);
  f.fail_next[0] = 1;
  f.load_ms = 100;
  std::vector<std::future<Result<ModelPool::Lease>>> waiting;
  for (int i = 0; i < 4; ++i) waiting.push_back(std::async(std::launch::async, [&] { return pool->acquire(0, soon()); }));
  int failed = 0;
  for (auto& w : waiting) {
    auto r = w.get();
    if (!r.ok()) {
      ++failed;
      EXPECT_NE(r.error().message.find("could not load: file is corrupt"), std::string::npos) << r.error().message;
    }
  }
  // The failing load's waiters see its error; a caller that came after it may have loaded anew.
  EXPECT_GE(failed, 1);
  EXPECT_EQ(pool->used_bytes(), f.loads[0] > 0 ? 100u : 0u);
  ASSERT_TRUE(pool->acquire(0, soon()).ok());
  EXPECT_EQ(f.loads[0], 1);
}

TEST(ModelPool, ConcurrentFirstRequestsShareOneLoad) {
  Fleet f;
  auto pool = make_pool(f, 1, 0);
  f.load_ms = 50;
  std::vector<std::future<bool>> waiting;
  for (int i = 0; i < 8; ++i)
    waiting.push_back(std::async(std::launch::async, [&] { return pool->acquire(0, soon()).ok(); }));
  for (auto& w : waiting) EXPECT_TRUE(w.get());
  EXPECT_EQ(f.loads[0], 1);
}

TEST(ModelPool, StopWakesWaitersAndRefusesNewOnes) {
  Fleet f;
  auto pool = make_pool(f, 2, 150);
  auto a = pool->acquire(0, soon());
  ASSERT_TRUE(a.ok());
  auto b = std::async(std::launch::async, [&] { return pool->acquire(1, soon(10000ms)); });
  std::this_thread::sleep_for(50ms);
  pool->stop();
  auto got = b.get();
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.error().message.find("shutting down"), std::string::npos);
  EXPECT_FALSE(pool->try_acquire(0));
}

TEST(ModelPool, ManyRequestsAcrossModelsUnderABudgetAllSucceed) {
  // Requests for three models, two fitting at a time, from 12 threads: none fails and every
  // model that answered was loaded while it did (its owner alive).
  Fleet f;
  auto pool = make_pool(f, 3, 250);
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t)
    threads.emplace_back([&, t] {
      for (int k = 0; k < 30; ++k) {
        const size_t m = size_t((t + k) % 3);
        auto lease = pool->acquire(m, soon(10000ms));
        if (!lease.ok() || f.alive[m] != 1) ++bad;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad, 0);
  EXPECT_LE(pool->used_bytes(), 250u);
  EXPECT_LE(f.alive[0] + f.alive[1] + f.alive[2], 2);
}

TEST(ModelPool, ModelsUnloadedTogetherCannotBeLeasedWhileTheOthersGo) {
  // c needs the room of both a and b. While a's engine is still being torn down, b must already be
  // out of reach: a lease on it then would be a request on a model about to be freed.
  Fleet f;
  auto pool = make_pool(f, {100, 100, 200}, 250);
  ASSERT_TRUE(pool->acquire(0, soon()).ok());
  ASSERT_TRUE(pool->acquire(1, soon()).ok());
  f.unload_ms = 300;
  auto c = std::async(std::launch::async, [&] { return pool->acquire(2, soon(5000ms)); });
  std::this_thread::sleep_for(100ms);  // the unloads are under way
  EXPECT_FALSE(pool->try_acquire(0));
  EXPECT_FALSE(pool->try_acquire(1));
  auto got = c.get();
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(f.alive[0] + f.alive[1], 0);
  EXPECT_EQ(pool->used_bytes(), 200u);
  EXPECT_EQ(pool->state(0).unloads + pool->state(1).unloads, 2u);
}

TEST(ModelPool, BusyModelsDoNotDrainWhenThatCouldNotMakeRoom) {
  // Budget 10: c (6) is loading, a (3) is busy, b (5) is asked for. Even with a gone, b would not
  // fit until c's load is done: a keeps taking requests.
  Fleet f;
  auto pool = make_pool(f, {3, 5, 6}, 10);
  auto a = pool->acquire(0, soon());
  ASSERT_TRUE(a.ok());
  f.load_ms = 400;
  auto c = std::async(std::launch::async, [&] { return pool->acquire(2, soon(5000ms)); });
  std::this_thread::sleep_for(100ms);  // c is loading
  auto b = std::async(std::launch::async, [&] { return pool->acquire(1, Clock::now() + 200ms); });
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(pool->try_acquire(0));  // not draining
  EXPECT_FALSE(b.get().ok());          // no room in time (a busy, c loaded)
  EXPECT_TRUE(c.get().ok());
}

TEST(ModelPool, DuplicateNamesAreRefused) {
  Fleet f;
  auto entries = f.entries(2);
  entries[1].name = "a";
  auto pool = ModelPool::create(std::move(entries), {});
  ASSERT_FALSE(pool.ok());
  EXPECT_NE(pool.error().message.find("two models are named 'a'"), std::string::npos);
}

}  // namespace
}  // namespace hearth::server
