// Ownership of the paged KV cache's blocks, with prefix caching.
//
// A block is free, in use (reference count > 0: one per sequence whose block table holds it), or
// cached: full, no longer used, but its keys and values are kept so that a later sequence whose
// tokens start the same way can take it instead of recomputing it. A full block is named by a
// hash chained over every token up to its end (hash(parent hash, its tokens)), so a hit means the
// whole prefix matches; the tokens are kept too and compared, so a hash collision costs a miss,
// never wrong keys. Cached blocks are evicted least recently used first when a fresh block is
// needed and none is free.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hearth::engine {

// What a prefix-aware router is told about this cache (server/kv_events.h, in vLLM's format):
// full blocks registered under their chained hash, and cached blocks evicted.
struct CacheEvent {
  enum class Kind { kStored, kRemoved, kCleared };
  Kind kind = Kind::kStored;
  std::vector<uint64_t> hashes;    // stored: consecutive blocks of one prefix, in order
  std::optional<uint64_t> parent;  // stored: the hash of the block before the first (none: the start)
  std::vector<int32_t> tokens;     // stored: the blocks' tokens, block after block
};

class BlockManager {
 public:
  BlockManager(int64_t n_blocks, int64_t block_size);

  int64_t n_blocks() const { return n_blocks_; }
  int64_t block_size() const { return block_size_; }
  // Blocks a sequence could get now: free plus cached-but-unused (evictable).
  int64_t available() const { return static_cast<int64_t>(free_.size() + lru_.size()); }
  // Blocks held by at least one sequence.
  int64_t in_use() const { return n_blocks_ - available(); }
  int64_t cached() const { return static_cast<int64_t>(by_hash_.size()); }

  // The hash naming a full block of `tokens` after a prefix whose last full block had `parent`
  // (0 for the first block).
  static uint64_t chain_hash(uint64_t parent, std::span<const int32_t> tokens);

  // Takes (a reference on) the longest run of cached blocks that begins `tokens`, at most
  // `max_blocks` of them; appends them to `table` and their hashes to `hashes`.
  int64_t take_prefix(std::span<const int32_t> tokens, int64_t max_blocks, std::vector<int32_t>& table,
                      std::vector<uint64_t>& hashes);

  // Takes (a reference on) the cached block registered under `hash` whose tokens are `tokens`;
  // nullopt when there is none. The sliding-window layers' pool uses it: their blocks before a
  // sequence's window are gone, so a prefix is found block by block, not as a run from the start.
  std::optional<int32_t> take_cached(uint64_t hash, std::span<const int32_t> tokens);
  bool has_cached(uint64_t hash, std::span<const int32_t> tokens) const;

  // A fresh block with one reference, evicting the least recently used cached block when no
  // block is free; nullopt when every block is in use.
  std::optional<int32_t> allocate();

  // Drops one reference. A block nobody holds any more stays cached if it is registered, else
  // it becomes free.
  void release(int32_t block);

  // Registers a block whose `tokens` (block_size of them) are all computed, under `hash` (chained
  // on `parent`, the previous block's hash; none for a prompt's first block). A block of the same
  // hash already registered (another sequence computed the same prefix) wins; this one then stays
  // unregistered and is freed when released.
  void register_full(int32_t block, uint64_t hash, std::span<const int32_t> tokens,
                     std::optional<uint64_t> parent = std::nullopt);

  // Keep a log of registrations and evictions (consecutive ones merged, as vLLM's events are) for
  // take_events; off by default.
  void record_events(bool on) { recording_ = on; }
  std::vector<CacheEvent> take_events() { return std::exchange(events_, {}); }

  int32_t ref_count(int32_t block) const { return info_[size_t(block)].refs; }

 private:
  struct Info {
    int32_t refs = 0;
    bool registered = false;
    uint64_t hash = 0;
    std::vector<int32_t> tokens;           // the block's tokens when registered
    std::list<int32_t>::iterator lru_pos;  // valid while cached and unused
  };
  void unregister(int32_t block);

  int64_t n_blocks_;
  int64_t block_size_;
  std::vector<Info> info_;
  std::vector<int32_t> free_;  // unregistered, unused
  std::list<int32_t> lru_;     // registered, unused; front = least recently used
  std::unordered_map<uint64_t, int32_t> by_hash_;
  bool recording_ = false;
  std::vector<CacheEvent> events_;
};

}  // namespace hearth::engine
