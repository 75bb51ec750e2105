#include "engine/block_manager.h"

#include <algorithm>
#include <cassert>

namespace hearth::engine {

BlockManager::BlockManager(int64_t n_blocks, int64_t block_size)
    : n_blocks_(n_blocks), block_size_(block_size), info_(static_cast<size_t>(n_blocks)) {
  free_.reserve(static_cast<size_t>(n_blocks));
  // Hand out low block ids first (pop from the back).
  for (int64_t b = n_blocks - 1; b >= 0; --b) free_.push_back(static_cast<int32_t>(b));
}

uint64_t BlockManager::chain_hash(uint64_t parent, std::span<const int32_t> tokens) {
  // FNV-1a over the parent hash and the ids, then a final mix (splitmix64) so that chains of
  // similar blocks spread over the table. Collisions are harmless: hits compare the tokens.
  uint64_t h = 1469598103934665603ull ^ parent;
  auto mix = [&](uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
  };
  for (int32_t t : tokens) mix(static_cast<uint32_t>(t));
  h += 0x9e3779b97f4a7c15ull;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

int64_t BlockManager::take_prefix(std::span<const int32_t> tokens, int64_t max_blocks,
                                  std::vector<int32_t>& table, std::vector<uint64_t>& hashes) {
  const auto bs = static_cast<size_t>(block_size_);
  uint64_t parent = 0;
  int64_t taken = 0;
  for (; taken < max_blocks && (size_t(taken) + 1) * bs <= tokens.size(); ++taken) {
    const std::span<const int32_t> block_tokens = tokens.subspan(size_t(taken) * bs, bs);
    const uint64_t h = chain_hash(parent, block_tokens);
    auto it = by_hash_.find(h);
    if (it == by_hash_.end()) break;
    Info& info = info_[size_t(it->second)];
    if (!std::equal(info.tokens.begin(), info.tokens.end(), block_tokens.begin(), block_tokens.end())) break;
    if (info.refs == 0) lru_.erase(info.lru_pos);
    info.refs++;
    table.push_back(it->second);
    hashes.push_back(h);
    parent = h;
  }
  return taken;
}

bool BlockManager::has_cached(uint64_t hash, std::span<const int32_t> tokens) const {
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return false;
  const Info& info = info_[size_t(it->second)];
  return std::equal(info.tokens.begin(), info.tokens.end(), tokens.begin(), tokens.end());
}

std::optional<int32_t> BlockManager::take_cached(uint64_t hash, std::span<const int32_t> tokens) {
  if (!has_cached(hash, tokens)) return std::nullopt;
  const int32_t block = by_hash_.at(hash);
  Info& info = info_[size_t(block)];
  if (info.refs == 0) lru_.erase(info.lru_pos);
  info.refs++;
  return block;
}

std::optional<int32_t> BlockManager::allocate() {
  int32_t block;
  if (!free_.empty()) {
    block = free_.back();
    free_.pop_back();
  } else if (!lru_.empty()) {
    block = lru_.front();
    lru_.pop_front();
    unregister(block);
  } else {
    return std::nullopt;
  }
  info_[size_t(block)].refs = 1;
  return block;
}

void BlockManager::release(int32_t block) {
  Info& info = info_[size_t(block)];
  assert(info.refs > 0);
  if (--info.refs > 0) return;
  if (info.registered) {
    info.lru_pos = lru_.insert(lru_.end(), block);
  } else {
    free_.push_back(block);
  }
}

void BlockManager::register_full(int32_t block, uint64_t hash, std::span<const int32_t> tokens,
                                 std::optional<uint64_t> parent) {
  Info& info = info_[size_t(block)];
  if (info.registered || by_hash_.count(hash) > 0) return;
  info.registered = true;
  info.hash = hash;
  info.tokens.assign(tokens.begin(), tokens.end());
  by_hash_.emplace(hash, block);
  if (!recording_) return;
  // A block that continues the last stored run joins it: one event per prefix and step.
  if (!events_.empty() && events_.back().kind == CacheEvent::Kind::kStored && parent &&
      events_.back().hashes.back() == *parent) {
    events_.back().hashes.push_back(hash);
  } else {
    CacheEvent ev;
    ev.hashes = {hash};
    ev.parent = parent;
    events_.push_back(std::move(ev));
  }
  events_.back().tokens.insert(events_.back().tokens.end(), tokens.begin(), tokens.end());
}

void BlockManager::unregister(int32_t block) {
  Info& info = info_[size_t(block)];
  if (!info.registered) return;
  by_hash_.erase(info.hash);
  info.registered = false;
  info.tokens.clear();
  if (!recording_) return;
  if (events_.empty() || events_.back().kind != CacheEvent::Kind::kRemoved)
    events_.push_back(CacheEvent{CacheEvent::Kind::kRemoved, {}, std::nullopt, {}});
  events_.back().hashes.push_back(info.hash);
}

}  // namespace hearth::engine
