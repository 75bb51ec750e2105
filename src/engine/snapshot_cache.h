// Snapshots of recurrent layers' state (Gated DeltaNet) at block boundaries, for prefix reuse: a
// sequence whose first k blocks are cached in the KV prefix cache and whose state at k blocks was
// snapshot resumes there instead of recomputing its prefix (model/kv_cache.h keeps the state; this
// is only the bookkeeping). Plain data: ids 0..n-1, each free, reserved for a snapshot being taken
// this step, or published under the chain hash of the last block it covers; the least recently
// used published one is forgotten when a new one needs its id. Ids in use by this step's plan are
// pinned until it is committed.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

namespace hearth::engine {

class SnapshotCache {
 public:
  explicit SnapshotCache(int64_t n)
      : hash_(size_t(n), 0), state_(size_t(n), State::kFree), last_use_(size_t(n), 0), pinned_(size_t(n), 0) {}

  int64_t size() const { return static_cast<int64_t>(state_.size()); }
  int64_t published() const { return static_cast<int64_t>(by_hash_.size()); }

  // The published snapshot of the prefix ending with the block of chain hash `h`, pinned and
  // marked used.
  std::optional<int32_t> take(uint64_t h) {
    auto it = by_hash_.find(h);
    if (it == by_hash_.end()) return std::nullopt;
    last_use_[size_t(it->second)] = ++clock_;
    pinned_[size_t(it->second)] = 1;
    return it->second;
  }
  bool has(uint64_t h) const { return by_hash_.count(h) != 0; }

  // An id for a snapshot this step takes: a free one, else the least recently used unpinned
  // published one (forgotten). None when every id is pinned or reserved.
  std::optional<int32_t> reserve() {
    int32_t best = -1;
    for (size_t i = 0; i < state_.size(); ++i) {
      if (pinned_[i] || state_[i] == State::kReserved) continue;
      if (state_[i] == State::kFree) {
        best = int32_t(i);
        break;
      }
      if (best < 0 || last_use_[i] < last_use_[size_t(best)]) best = int32_t(i);
    }
    if (best < 0) return std::nullopt;
    if (state_[size_t(best)] == State::kPublished) by_hash_.erase(hash_[size_t(best)]);
    state_[size_t(best)] = State::kReserved;
    return best;
  }
  // The reserved snapshot now holds the prefix ending with block hash h (a prefix already held
  // keeps its older snapshot: this one is freed).
  void publish(int32_t id, uint64_t h) {
    if (by_hash_.count(h) != 0) return release(id);
    by_hash_.emplace(h, id);
    hash_[size_t(id)] = h;
    state_[size_t(id)] = State::kPublished;
    last_use_[size_t(id)] = ++clock_;
  }
  // A reservation not taken after all (its sequence was preempted or finished first).
  void release(int32_t id) {
    if (state_[size_t(id)] == State::kReserved) state_[size_t(id)] = State::kFree;
  }
  void unpin_all() { std::fill(pinned_.begin(), pinned_.end(), 0); }

 private:
  enum class State : uint8_t { kFree, kReserved, kPublished };
  std::unordered_map<uint64_t, int32_t> by_hash_;
  std::vector<uint64_t> hash_;
  std::vector<State> state_;
  std::vector<uint64_t> last_use_;
  std::vector<uint8_t> pinned_;
  uint64_t clock_ = 0;
};

}  // namespace hearth::engine
