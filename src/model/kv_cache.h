// Paged KV storage: keys and values in f16 (as llama.cpp keeps them by default), in fixed-size
// blocks of `block_size` positions. A sequence's block table maps its position p to slot
// p % block_size of block table[p / block_size]. Who owns which block (allocation, sharing of
// prefix blocks, eviction) is decided above, in engine/; the forward pass only reads and writes
// through the block tables it is given.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace hearth {

class KvCache {
 public:
  KvCache() = default;
  KvCache(int64_t n_layer, int64_t kv_dim, int64_t block_size, int64_t n_blocks)
      : n_layer_(n_layer), kv_dim_(kv_dim), block_size_(block_size), n_blocks_(n_blocks),
        // Not zero-filled: pages are committed only when a block is first written.
        k_(std::make_unique_for_overwrite<uint16_t[]>(elements())),
        v_(std::make_unique_for_overwrite<uint16_t[]>(elements())) {}

  static uint64_t bytes_per_block(int64_t n_layer, int64_t kv_dim, int64_t block_size) {
    return 2u * sizeof(uint16_t) * static_cast<uint64_t>(n_layer * kv_dim * block_size);
  }

  int64_t n_layer() const { return n_layer_; }
  int64_t kv_dim() const { return kv_dim_; }
  int64_t block_size() const { return block_size_; }
  int64_t n_blocks() const { return n_blocks_; }
  uint64_t bytes() const { return 2u * sizeof(uint16_t) * elements(); }

  // [block_size, kv_dim] of one layer of one block.
  uint16_t* k(int64_t layer, int64_t block) { return k_.get() + offset(layer, block); }
  uint16_t* v(int64_t layer, int64_t block) { return v_.get() + offset(layer, block); }
  const uint16_t* k(int64_t layer, int64_t block) const { return k_.get() + offset(layer, block); }
  const uint16_t* v(int64_t layer, int64_t block) const { return v_.get() + offset(layer, block); }

 private:
  uint64_t elements() const { return static_cast<uint64_t>(n_layer_ * n_blocks_ * block_size_ * kv_dim_); }
  uint64_t offset(int64_t layer, int64_t block) const {
    return static_cast<uint64_t>((layer * n_blocks_ + block) * block_size_ * kv_dim_);
  }

  int64_t n_layer_ = 0, kv_dim_ = 0, block_size_ = 0, n_blocks_ = 0;
  std::unique_ptr<uint16_t[]> k_, v_;
};

// The tokens of one forward pass, from any number of sequences. Each sequence's tokens appear in
// position order, and every position before a token's own is either already in the cache or
// earlier in this batch (its keys and values are written before attention reads them).
struct Batch {
  std::vector<int32_t> tokens;
  std::vector<int32_t> positions;
  std::vector<int32_t> seq;         // index into block_tables
  std::vector<uint8_t> want_logits; // 1: this token's logits are returned (in batch order)
  std::vector<std::span<const int32_t>> block_tables;

  size_t size() const { return tokens.size(); }
  int64_t n_logits() const;
  void clear() {
    tokens.clear();
    positions.clear();
    seq.clear();
    want_logits.clear();
    block_tables.clear();
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
