// Paged KV storage: keys and values in f16 (as llama.cpp keeps them by default), in fixed-size
// blocks of `block_size` positions. A sequence's block table maps its position p to slot
// p % block_size of block table[p / block_size]. Who owns which block (allocation, sharing of
// prefix blocks, eviction) is decided above, in engine/; the forward pass only reads and writes
// through the block tables it is given.
#pragma once

#include <cstdint>
#include <memory>
#include <numeric>
#include <span>
#include <vector>

namespace hearth {

// The first position a sliding-window layer's attention reads for a query at `pos`: the first
// visible one (pos + 1 - window), rounded down to a multiple of lcm(block_size, 16) so that the
// range starts at a block's first slot and the attention kernel's masked lead-in adds exact zeros
// (kernels/attention.h). Blocks before this position's block are never read again by the
// sequence's later tokens either, so a window-only cache may drop them.
inline int64_t window_first_position(int64_t pos, int64_t window, int64_t block_size) {
  const int64_t visible = pos + 1 - window > 0 ? pos + 1 - window : 0;
  const int64_t align = std::lcm(block_size, int64_t{16});
  return visible - visible % align;
}

// The cache's layers fall in two groups with a pool of blocks each: kFull, the layers that
// attend over every earlier position, and kWindow, the sliding-window layers. A sequence has a
// block table per group, indexed alike (position p in slot p % block_size of block
// table[p / block_size]); its window table holds only the blocks its window still reads (the
// others are -1), so long contexts cost sliding-window layers only their window, as in
// llama.cpp and vLLM. One group when a model has no windowed layers.
enum class KvGroup : uint8_t { kFull = 0, kWindow = 1 };

class KvCache {
 public:
  KvCache() = default;
  // Every layer in the full group.
  KvCache(int64_t n_layer, int64_t kv_dim, int64_t block_size, int64_t n_blocks)
      : KvCache(std::vector<KvGroup>(static_cast<size_t>(n_layer), KvGroup::kFull), kv_dim, block_size,
                n_blocks, 0) {}
  // layer_groups[il]: layer il's group; n_blocks and n_window_blocks: each pool's size.
  KvCache(std::vector<KvGroup> layer_groups, int64_t kv_dim, int64_t block_size, int64_t n_blocks,
          int64_t n_window_blocks)
      : groups_(std::move(layer_groups)), kv_dim_(kv_dim), block_size_(block_size),
        n_blocks_{n_blocks, n_window_blocks} {
    for (KvGroup g : groups_) index_.push_back(n_layers_[size_t(g)]++);
    for (size_t g = 0; g < 2; ++g) {
      // Not zero-filled: pages are committed only when a block is first written.
      k_[g] = std::make_unique_for_overwrite<uint16_t[]>(elements(g));
      v_[g] = std::make_unique_for_overwrite<uint16_t[]>(elements(g));
    }
  }

  static uint64_t bytes_per_block(int64_t n_layer, int64_t kv_dim, int64_t block_size) {
    return 2u * sizeof(uint16_t) * static_cast<uint64_t>(n_layer * kv_dim * block_size);
  }

  int64_t n_layer() const { return static_cast<int64_t>(groups_.size()); }
  int64_t kv_dim() const { return kv_dim_; }
  int64_t block_size() const { return block_size_; }
  int64_t n_blocks(KvGroup g = KvGroup::kFull) const { return n_blocks_[size_t(g)]; }
  KvGroup group(int64_t layer) const { return groups_[size_t(layer)]; }
  bool has_window_group() const { return n_layers_[1] > 0; }
  uint64_t bytes() const { return 2u * sizeof(uint16_t) * (elements(0) + elements(1)); }

  // [block_size, kv_dim] of one layer of one block of the layer's group.
  uint16_t* k(int64_t layer, int64_t block) { return k_[pool(layer)].get() + offset(layer, block); }
  uint16_t* v(int64_t layer, int64_t block) { return v_[pool(layer)].get() + offset(layer, block); }
  const uint16_t* k(int64_t layer, int64_t block) const { return k_[pool(layer)].get() + offset(layer, block); }
  const uint16_t* v(int64_t layer, int64_t block) const { return v_[pool(layer)].get() + offset(layer, block); }

 private:
  size_t pool(int64_t layer) const { return size_t(groups_[size_t(layer)]); }
  uint64_t elements(size_t g) const {
    return static_cast<uint64_t>(n_layers_[g] * n_blocks_[g] * block_size_ * kv_dim_);
  }
  uint64_t offset(int64_t layer, int64_t block) const {
    return static_cast<uint64_t>((index_[size_t(layer)] * n_blocks_[pool(layer)] + block) * block_size_ * kv_dim_);
  }

  std::vector<KvGroup> groups_;
  std::vector<int64_t> index_;  // each layer's index within its group
  int64_t n_layers_[2] = {0, 0};
  int64_t kv_dim_ = 0, block_size_ = 0;
  int64_t n_blocks_[2] = {0, 0};
  std::unique_ptr<uint16_t[]> k_[2], v_[2];
};

// The tokens of one forward pass, from any number of sequences. Each sequence's tokens appear in
// position order, and every position before a token's own is either already in the cache or
// earlier in this batch (its keys and values are written before attention reads them).
struct Batch {
  std::vector<int32_t> tokens;
  std::vector<int32_t> positions;
  std::vector<int32_t> seq;         // index into block_tables
  std::vector<uint8_t> want_logits; // 1: this token's logits are returned (in batch order)
  std::vector<std::span<const int32_t>> block_tables;   // the full group's, per sequence
  std::vector<std::span<const int32_t>> window_tables;  // the window group's (when the cache has one)

  size_t size() const { return tokens.size(); }
  int64_t n_logits() const;
  void clear() {
    tokens.clear();
    positions.clear();
    seq.clear();
    want_logits.clear();
    block_tables.clear();
    window_tables.clear();
  }
  void add(int32_t token, int32_t position, int32_t seq_index, bool logits) {
    tokens.push_back(token);
    positions.push_back(position);
    seq.push_back(seq_index);
    want_logits.push_back(logits ? 1 : 0);
  }
};

inline int64_t Batch::n_logits() const {
  int64_t n = 0;
  for (uint8_t w : want_logits) n += w;
  return n;
}

}  // namespace hearth
