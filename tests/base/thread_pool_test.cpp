// ThreadPool: every index is visited exactly once, whatever n and the thread count; the calls
// come back to back (the spinning hand-off) and after the workers have gone to sleep (the
// condition-variable path); thread indices stay in range.
#include "base/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace hearth {
namespace {

void expect_covers_once(ThreadPool& pool, int64_t n) {
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
  std::atomic<int> bad_index{0};
  pool.parallel_for(n, [&](int64_t begin, int64_t end, int thread) {
    if (thread < 0 || thread >= pool.size()) bad_index.fetch_add(1);
    for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
  });
  EXPECT_EQ(bad_index.load(), 0);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "n=" << n;
}

TEST(ThreadPool, CoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 4})
    for (int64_t n : {0, 1, 2, 3, 5, 7, 64, 1000}) {
      ThreadPool pool(threads);
      expect_covers_once(pool, n);
    }
}

TEST(ThreadPool, ManyBackToBackCalls) {
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  for (int call = 0; call < 20000; ++call)
    pool.parallel_for(5, [&](int64_t begin, int64_t end, int) { total.fetch_add(end - begin); });
  EXPECT_EQ(total.load(), 5 * 20000);
}

TEST(ThreadPool, WakesSleepingWorkers) {
  ThreadPool pool(2);
  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // past the spin: workers sleep
    expect_covers_once(pool, 10);
  }
}

}  // namespace
}  // namespace hearth
