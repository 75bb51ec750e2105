// Per-key quotas as plain logic over times handed in (so tests drive the clock): requests and
// tokens per minute as token buckets (full at start, refilled continuously at limit/60 per
// second), tokens per UTC day, and requests running at once. Prompt tokens are charged at
// admission, completion tokens as they are generated; a bucket may go below zero while a request
// runs, and the next request then waits. Quotas live in this process: with several replicas each
// enforces its own (the usage record is shared, the buckets are not).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "tenants/store.h"

namespace hearth::tenants {

// Why a request was not admitted: a 429 in OpenAI's shape.
struct Refusal {
  std::string message;
  std::string type;         // "requests" or "tokens", as OpenAI's rate-limit errors say
  int64_t retry_after = 1;  // whole seconds
};

// The x-ratelimit-* headers OpenAI sends; a side is present when the key has that limit.
struct RateHeaders {
  bool has_requests = false, has_tokens = false;
  int64_t limit_requests = 0, remaining_requests = 0;
  int64_t limit_tokens = 0, remaining_tokens = 0;
  double reset_requests_s = 0, reset_tokens_s = 0;  // until the bucket is full again
};

// OpenAI's duration text for the reset headers: "20ms", "1s", "6m0s".
std::string reset_text(double seconds);

class Limiter {
 public:
  // now_s: a monotonic clock in seconds (buckets); unix_s: wall time (the UTC day).
  std::optional<Refusal> admit(const std::string& key_id, const KeyLimits& limits, int64_t prompt_tokens, double now_s,
                               int64_t unix_s);
  // Completion tokens as generated. False when the key's tokens for the day are spent: the
  // request stops there.
  bool charge(const std::string& key_id, const KeyLimits& limits, int64_t tokens, double now_s, int64_t unix_s);
  // An admitted request ended.
  void release(const std::string& key_id);
  // What the store says the key used on `day` (unix_s / 86400) before this process started.
  void seed_day(const std::string& key_id, int64_t day, int64_t used);
  RateHeaders headers(const std::string& key_id, const KeyLimits& limits, double now_s);
  int64_t running(const std::string& key_id);

 private:
  struct Bucket {
    double level = 0;
    double at = 0;
    bool started = false;
    void refill(double capacity, double now_s);
    // Seconds until the bucket holds `want`, refilling at capacity per minute.
    double seconds_until(double want, double capacity) const { return (want - level) * 60.0 / capacity; }
  };
  struct KeyState {
    Bucket requests, tokens;
    int64_t day = -1;  // never moves back, so a clock set backwards cannot reopen a spent day
    int64_t day_used = 0;
    int64_t running = 0;
  };
  KeyState& state(const std::string& key_id, int64_t unix_s);

  std::mutex mutex_;
  std::unordered_map<std::string, KeyState> keys_;
};

}  // namespace hearth::tenants
