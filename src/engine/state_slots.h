// Which recurrent-state slot (model/kv_cache.h) each running sequence holds, for models with
// recurrent layers (Gated DeltaNet). A slot is taken when a sequence first runs and given back
// when it finishes or is preempted; a preempted sequence is recomputed from its first token, which
// clears whatever slot it gets next. The pool has one slot per sequence the scheduler may run at
// once, so a running sequence always finds one.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "base/result.h"

namespace hearth::engine {

class StateSlots {
 public:
  explicit StateSlots(int64_t n) : size_(n) {
    for (int64_t s = n - 1; s >= 0; --s) free_.push_back(static_cast<int32_t>(s));
  }

  int32_t slot_of(uint64_t id) {
    if (auto it = held_.find(id); it != held_.end()) return it->second;
    HEARTH_CHECK(!free_.empty(), "more running sequences than recurrent state slots");
    const int32_t slot = free_.back();
    free_.pop_back();
    held_.emplace(id, slot);
    return slot;
  }
  void release(uint64_t id) {
    if (auto it = held_.find(id); it != held_.end()) {
      free_.push_back(it->second);
      held_.erase(it);
    }
  }
  int64_t in_use() const { return static_cast<int64_t>(held_.size()); }
  int64_t size() const { return size_; }

 private:
  int64_t size_;
  std::unordered_map<uint64_t, int32_t> held_;
  std::vector<int32_t> free_;
};

}  // namespace hearth::engine
