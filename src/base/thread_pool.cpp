#include "base/thread_pool.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace hearth {
namespace {

// Spin iterations (one pause each: ~10-140 cycles by CPU, so roughly 10-100 us in all) before a
// waiting thread blocks. Long enough to span the serial work between two products of a decode
// step; short, because with more threads than free cores (a shared machine, a busy server) a
// spinning thread holds the core that the thread it waits for needs: measured 4 ms per call
// with 3 threads on 2 busy cores when the spin went on for milliseconds.
constexpr int kWorkerSpins = 2048;
constexpr int kCallerSpins = 2048;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
  }
  start_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::run_share(int index) {
  const int64_t per = (job_n_ + n_threads_ - 1) / n_threads_;
  const int64_t begin = std::min<int64_t>(job_n_, per * index);
  const int64_t end = std::min<int64_t>(job_n_, begin + per);
  if (begin < end) (*job_)(begin, end, index);
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && !stop_.load()) {
      if (++spins < kWorkerSpins) {
        cpu_relax();
        continue;
      }
      // Sleep. sleepers_ is raised before the generation is checked again (both seq_cst), so
      // either this check sees the new job or parallel_for sees a sleeper and notifies.
      std::unique_lock<std::mutex> lock(mutex_);
      sleepers_.fetch_add(1);
      start_cv_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
      sleepers_.fetch_sub(1);
      spins = 0;
    }
    if (stop_.load()) return;
    seen = generation_.load(std::memory_order_acquire);
    run_share(index);
    // The caller raises caller_sleeping_ before its last look at pending_ (both seq_cst), so
    // either it sees zero or the last worker sees it asleep and wakes it.
    if (pending_.fetch_sub(1) == 1 && caller_sleeping_.load()) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_cv_.notify_one();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, const RangeFn& fn) {
  if (n <= 0) return;
  if (n_threads_ == 1 || n == 1) {
    fn(0, n, 0);
    return;
  }
  job_ = &fn;
  job_n_ = n;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1);  // seq_cst: publishes job_ and orders before the sleepers_ check
  if (sleepers_.load() > 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    start_cv_.notify_all();
  }
  run_share(0);
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < kCallerSpins) {
      cpu_relax();
      continue;
    }
    std::unique_lock<std::mutex> lock(mutex_);
    caller_sleeping_.store(true);
    done_cv_.wait(lock, [&] { return pending_.load() == 0; });
    caller_sleeping_.store(false);
    break;
  }
  job_ = nullptr;
}
int default_thread_count() {
  // Count distinct (physical id, core id) pairs: hyperthreads share a core's memory bandwidth
  // and SIMD units, so one thread per physical core is the better default.
  std::ifstream in("/proc/cpuinfo");
  std::set<std::pair<std::string, std::string>> cores;
  std::string line, physical;
  while (std::getline(in, line)) {
    if (line.rfind("physical id", 0) == 0) physical = line.substr(line.find(':') + 1);
    if (line.rfind("core id", 0) == 0) cores.emplace(physical, line.substr(line.find(':') + 1));
  }
  if (!cores.empty()) return static_cast<int>(cores.size());
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace hearth
