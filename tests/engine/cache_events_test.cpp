// The prefix cache's events (what a router is told, server/kv_events.h): a registered run of full
// blocks is one BlockStored chained on its parent, an evicted block is a BlockRemoved, and a block
// that was not registered (its prefix was already cached) is never announced.
#include <gtest/gtest.h>

#include <vector>

#include "engine/block_manager.h"

namespace hearth::engine {
namespace {

std::vector<int32_t> run(int32_t from, int n) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) t[size_t(i)] = from + i;
  return t;
}

TEST(CacheEvents, ConsecutiveBlocksOfAPrefixAreOneStoredEventChainedOnTheirParent) {
  BlockManager bm(8, 4);
  bm.record_events(true);
  const std::vector<int32_t> tokens = run(100, 12);
  uint64_t parent = 0;
  std::vector<uint64_t> hashes;
  for (int i = 0; i < 3; ++i) {
    const auto b = bm.allocate();
    ASSERT_TRUE(b);
    const std::span<const int32_t> block(tokens.data() + 4 * i, 4);
    const uint64_t h = BlockManager::chain_hash(parent, block);
    bm.register_full(*b, h, block, i == 0 ? std::nullopt : std::optional<uint64_t>(parent));
    hashes.push_back(h);
    parent = h;
  }
  const std::vector<CacheEvent> ev = bm.take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, CacheEvent::Kind::kStored);
  EXPECT_EQ(ev[0].hashes, hashes);
  EXPECT_FALSE(ev[0].parent);
  EXPECT_EQ(ev[0].tokens, tokens);
  EXPECT_TRUE(bm.take_events().empty());  // taken once
}

TEST(CacheEvents, ABranchIsItsOwnEventWithTheSharedBlockAsParent) {
  BlockManager bm(8, 2);
  bm.record_events(true);
  const std::vector<int32_t> a = {1, 2, 3, 4}, b = {1, 2, 7, 8};
  const uint64_t h0 = BlockManager::chain_hash(0, std::span(a).first(2));
  const uint64_t ha = BlockManager::chain_hash(h0, std::span(a).subspan(2));
  const uint64_t hb = BlockManager::chain_hash(h0, std::span(b).subspan(2));
  const auto b0 = bm.allocate(), b1 = bm.allocate(), b2 = bm.allocate(), dup = bm.allocate();
  bm.register_full(*b0, h0, std::span(a).first(2));
  bm.register_full(*b1, ha, std::span(a).subspan(2), h0);
  bm.register_full(*dup, h0, std::span(b).first(2));  // already cached under h0: not announced
  bm.register_full(*b2, hb, std::span(b).subspan(2), h0);
  const std::vector<CacheEvent> ev = bm.take_events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].hashes, (std::vector<uint64_t>{h0, ha}));
  EXPECT_EQ(ev[1].hashes, std::vector<uint64_t>{hb});
  ASSERT_TRUE(ev[1].parent);
  EXPECT_EQ(*ev[1].parent, h0);
  EXPECT_EQ(ev[1].tokens, (std::vector<int32_t>{7, 8}));
}

TEST(CacheEvents, EvictingCachedBlocksIsOneRemovedEvent) {
  BlockManager bm(2, 1);
  bm.record_events(true);
  const std::vector<int32_t> t = {5, 6};
  const auto b0 = bm.allocate(), b1 = bm.allocate();
  const uint64_t h0 = BlockManager::chain_hash(0, std::span(t).first(1));
  const uint64_t h1 = BlockManager::chain_hash(h0, std::span(t).subspan(1));
  bm.register_full(*b0, h0, std::span(t).first(1));
  bm.register_full(*b1, h1, std::span(t).subspan(1), h0);
  bm.release(*b0);
  bm.release(*b1);
  (void)bm.take_events();
  const auto x = bm.allocate(), y = bm.allocate();  // both cached blocks go, least recent first
  ASSERT_TRUE(x && y);
  const std::vector<CacheEvent> ev = bm.take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, CacheEvent::Kind::kRemoved);
  EXPECT_EQ(ev[0].hashes, (std::vector<uint64_t>{h0, h1}));
}

TEST(CacheEvents, NothingIsLoggedUnlessAsked) {
  BlockManager bm(2, 1);
  const std::vector<int32_t> t = {5};
  const auto b = bm.allocate();
  bm.register_full(*b, BlockManager::chain_hash(0, t), t);
  EXPECT_TRUE(bm.take_events().empty());
}

}  // namespace
}  // namespace hearth::engine
