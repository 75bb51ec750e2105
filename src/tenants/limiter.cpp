#include "tenants/limiter.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace hearth::tenants {
namespace {

constexpr int64_t kSecondsPerDay = 86400;

int64_t ceil_seconds(double s) { return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(s))); }

}  // namespace

std::string reset_text(double seconds) {
  if (!(seconds > 0)) return "0s";
  if (seconds < 1) return fmt::format("{}ms", std::max<int64_t>(1, static_cast<int64_t>(std::ceil(seconds * 1000))));
  const int64_t whole = static_cast<int64_t>(std::ceil(seconds));
  if (whole < 60) return fmt::format("{}s", whole);
  return fmt::format("{}m{}s", whole / 60, whole % 60);
}

void Limiter::Bucket::refill(double capacity, double now_s) {
  if (!started) {
    level = capacity;
    at = now_s;
    started = true;
    return;
  }
  if (now_s > at) {  // a monotonic clock; an equal or earlier time refills nothing
    level = std::min(capacity, level + (now_s - at) * capacity / 60.0);
    at = now_s;
  }
}

Limiter::KeyState& Limiter::state(const std::string& key_id, int64_t unix_s) {
  KeyState& k = keys_[key_id];
  const int64_t day = unix_s / kSecondsPerDay;
  if (day > k.day) {
    k.day = day;
    k.day_used = 0;
  }
  return k;
}

std::optional<Refusal> Limiter::admit(const std::string& key_id, const KeyLimits& limits, int64_t prompt_tokens,
                                      double now_s, int64_t unix_s) {
  std::lock_guard lock(mutex_);
  KeyState& k = state(key_id, unix_s);
  if (limits.max_concurrent > 0 && k.running >= limits.max_concurrent)
    return Refusal{fmt::format("Rate limit reached: {} requests of this key are running (its limit is {}).", k.running,
                               limits.max_concurrent),
                   "requests", 1};
  if (limits.rpm > 0) {
    k.requests.refill(double(limits.rpm), now_s);
    if (k.requests.level < 1) {
      const double wait = k.requests.seconds_until(1, double(limits.rpm));
      return Refusal{fmt::format("Rate limit reached for requests: limit {} per minute. Please try again in {}.",
                                 limits.rpm, reset_text(wait)),
                     "requests", ceil_seconds(wait)};
    }
  }
  if (limits.tpm > 0) {
    if (prompt_tokens > limits.tpm)
      return Refusal{fmt::format("Request too large: the prompt has {} tokens, more than this key's {} tokens per minute.",
                                 prompt_tokens, limits.tpm),
                     "tokens", 60};
    k.tokens.refill(double(limits.tpm), now_s);
    if (k.tokens.level < double(prompt_tokens)) {
      const double wait = k.tokens.seconds_until(double(prompt_tokens), double(limits.tpm));
      return Refusal{fmt::format("Rate limit reached for tokens: limit {} per minute, {} available, {} requested. "
                                 "Please try again in {}.",
                                 limits.tpm, std::max<int64_t>(0, int64_t(std::floor(k.tokens.level))), prompt_tokens,
                                 reset_text(wait)),
                     "tokens", ceil_seconds(wait)};
    }
  }
  if (limits.tokens_per_day > 0 && k.day_used + prompt_tokens > limits.tokens_per_day) {
    const double until_midnight = double((k.day + 1) * kSecondsPerDay - unix_s);
    return Refusal{fmt::format("Quota reached: {} of this key's {} tokens per day are used; the day (UTC) ends in {}.",
                               k.day_used, limits.tokens_per_day, reset_text(until_midnight)),
                   "tokens", ceil_seconds(until_midnight)};
  }
  if (limits.rpm > 0) k.requests.level -= 1;
  if (limits.tpm > 0) k.tokens.level -= double(prompt_tokens);
  k.day_used += prompt_tokens;
  ++k.running;
  return std::nullopt;
}

bool Limiter::charge(const std::string& key_id, const KeyLimits& limits, int64_t tokens, double now_s, int64_t unix_s) {
  std::lock_guard lock(mutex_);
  KeyState& k = state(key_id, unix_s);
  if (limits.tpm > 0) {
    k.tokens.refill(double(limits.tpm), now_s);
    k.tokens.level -= double(tokens);
  }
  k.day_used += tokens;
  return limits.tokens_per_day <= 0 || k.day_used < limits.tokens_per_day;
}

void Limiter::release(const std::string& key_id) {
  std::lock_guard lock(mutex_);
  auto it = keys_.find(key_id);
  if (it != keys_.end() && it->second.running > 0) --it->second.running;
}

void Limiter::seed_day(const std::string& key_id, int64_t day, int64_t used) {
  std::lock_guard lock(mutex_);
  KeyState& k = keys_[key_id];
  if (day > k.day) {
    k.day = day;
    k.day_used = 0;
  }
  if (day == k.day) k.day_used += used;
}

RateHeaders Limiter::headers(const std::string& key_id, const KeyLimits& limits, double now_s) {
  std::lock_guard lock(mutex_);
  KeyState& k = keys_[key_id];
  RateHeaders h;
  if (limits.rpm > 0) {
    k.requests.refill(double(limits.rpm), now_s);
    h.has_requests = true;
    h.limit_requests = limits.rpm;
    h.remaining_requests = std::max<int64_t>(0, int64_t(std::floor(k.requests.level)));
    h.reset_requests_s = k.requests.seconds_until(double(limits.rpm), double(limits.rpm));
  }
  if (limits.tpm > 0) {
    k.tokens.refill(double(limits.tpm), now_s);
    h.has_tokens = true;
    h.limit_tokens = limits.tpm;
    h.remaining_tokens = std::max<int64_t>(0, int64_t(std::floor(k.tokens.level)));
    h.reset_tokens_s = k.tokens.seconds_until(double(limits.tpm), double(limits.tpm));
  }
  return h;
}

int64_t Limiter::running(const std::string& key_id) {
  std::lock_guard lock(mutex_);
  auto it = keys_.find(key_id);
  return it == keys_.end() ? 0 : it->second.running;
}

}  // namespace hearth::tenants
