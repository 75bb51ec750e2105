// A fixed pool of worker threads for data-parallel loops. The caller's thread takes part, so a
// pool of n threads starts n-1 workers. Work is split into equal contiguous ranges (one per
// thread): the loops it runs (matrix rows, attention heads) are uniform in cost.
//
// A decode step runs a few hundred parallel_for calls of tens of microseconds each, so the
// hand-off must cost far less than a futex wake-up: workers spin on an atomic generation counter
// for a short while after each job and only then sleep on a condition variable; the caller
// likewise spins, then sleeps, until the workers are done. Nothing is allocated per call.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hearth {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(begin, end, thread_index) over a partition of [0, n); returns when all are done.
  // Not reentrant: fn must not call parallel_for on the same pool.
  using RangeFn = std::function<void(int64_t begin, int64_t end, int thread_index)>;
  void parallel_for(int64_t n, const RangeFn& fn);

 private:
  void worker_loop(int index);
  void run_share(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  const RangeFn* job_ = nullptr;  // written before generation_ is bumped (release)
  int64_t job_n_ = 0;
  std::atomic<uint64_t> generation_{0};  // bumped once per job
  std::atomic<int> pending_{0};          // workers still running the current job
  std::atomic<int> sleepers_{0};         // workers blocked (or about to block) on start_cv_
  std::atomic<bool> caller_sleeping_{false};  // parallel_for blocked (or about to) on done_cv_
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
};

// Physical cores when known (the default for -t), else the logical count.
int default_thread_count();

}  // namespace hearth
