// What the engine counts, for /metrics. The engine thread writes; a scraper reads a snapshot
// under one short lock, so scraping every 50 ms costs nothing measurable.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

namespace hearth::engine {

// A Prometheus histogram: cumulative counts per upper bound, plus +Inf, sum and count.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size(), 0) {}
  void observe(double v) {
    for (size_t i = 0; i < bounds_.size(); ++i)
      if (v <= bounds_[i]) counts_[i]++;
    sum_ += v;
    count_++;
  }
  const std::vector<double>& bounds() const { return bounds_; }
  const std::vector<uint64_t>& cumulative_counts() const { return counts_; }
  double sum() const { return sum_; }
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

enum class FinishReason { kStop, kLength, kAbort, kError };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "abort", "error"

struct EngineMetrics {
  // Gauges.
  int64_t running = 0;
  int64_t waiting = 0;
  int64_t kv_blocks_total = 0;
  int64_t kv_blocks_in_use = 0;
  int64_t kv_blocks_cached = 0;
  // The sliding-window layers' pool (model/kv_cache.h; all 0 without such layers).
  int64_t kv_window_blocks_total = 0;
  int64_t kv_window_blocks_in_use = 0;
  int64_t kv_window_blocks_cached = 0;
  int64_t block_size = 0;
  // Recurrent layers' state (model/kv_cache.h; 0 without such layers): slots, held, and bytes each.
  int64_t state_slots_total = 0;
  int64_t state_slots_in_use = 0;
  uint64_t state_bytes_per_slot = 0;
  int64_t state_snapshots_total = 0;   // of the slots, those kept for snapshots (prefix reuse)
  int64_t state_snapshots_cached = 0;  // of those, holding a prefix's state
  // Counters.
  uint64_t prompt_tokens = 0;        // prompt tokens of requests that were admitted
  uint64_t generation_tokens = 0;
  uint64_t prefix_cache_queries = 0; // prompt tokens looked up in the prefix cache
  uint64_t prefix_cache_hits = 0;    // of those, tokens whose KV was reused
  uint64_t preemptions = 0;
  uint64_t steps = 0;                // engine steps (one forward pass over a batch each)
  uint64_t batched_tokens = 0;       // tokens run through those passes
  uint64_t spec_drafted = 0;         // speculative draft tokens checked
  uint64_t spec_accepted = 0;        // of those, tokens that stood
  std::array<uint64_t, 4> finished{};  // by FinishReason
  // Latencies in seconds.
  Histogram ttft{{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0}};
  Histogram itl{{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0}};
  Histogram e2e{{0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0}};
  Histogram queue_time{{0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0}};
  Histogram prompt_len{{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000}};
  Histogram generation_len{{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000}};
};

}  // namespace hearth::engine
