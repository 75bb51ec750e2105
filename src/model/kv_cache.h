// Paged KV storage: keys and values in f16 (as llama.cpp keeps them by default), in fixed-size
// blocks of `block_size` positions. A sequence's block table maps its position p to slot
// p % block_size of block table[p / block_size]. Who owns which block (allocation, sharing of
// prefix blocks, eviction) is decided above, in engine/; the forward pass only reads and writes
// through the block tables it is given.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <numeric>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "base/result.h"

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

// One layer's place in the cache: its group and the widths of its K and V rows (n_head_kv *
// head_dim for both in multi-head attention; an MLA latent cache keeps a wider K and no V). A
// recurrent layer (Gated DeltaNet) keeps no K or V but a fixed-size state per sequence: its
// convolution window and its delta rule's state (floats, conv_width and state_width). A
// shared-KV layer (Gemma 4 E2B/E4B) keeps nothing: it reads layer shared_from's keys and values,
// an earlier layer of its group and shape.
struct KvLayerShape {
  KvGroup group = KvGroup::kFull;
  int64_t k_width = 0, v_width = 0;
  int64_t conv_width = 0, state_width = 0;
  int64_t shared_from = -1;
  bool recurrent() const { return state_width > 0; }
  bool shared() const { return shared_from >= 0; }
  bool operator==(const KvLayerShape&) const = default;
};

// The storage is the backend's (backend/backend.h): one KvPool for each distinct layer shape,
// [layers, blocks, block_size, width] for K and for V; the layers of a group share its blocks
// (one block id means the same positions in every pool of the group). The cache maps each layer
// to its pool and its index there. Recurrent layers share one StatePool of n_state_slots slots
// (a sequence holds one while it runs); the cache remembers the position each slot's state has
// reached, so that a pass which does not continue a slot's sequence is refused, not computed.
class KvCache {
 public:
  KvCache() = default;
  // layers[il]: layer il's shape; n_blocks and n_window_blocks: each group's blocks.
  KvCache(std::vector<KvLayerShape> layers, int64_t block_size, int64_t n_blocks, int64_t n_window_blocks,
          Backend& backend, int64_t n_state_slots = 0)
      : layers_(std::move(layers)), block_size_(block_size), n_blocks_{n_blocks, n_window_blocks} {
    std::vector<KvLayerShape> shapes;  // of each pool
    std::vector<int64_t> n_layers;
    int64_t n_recurrent = 0;
    for (const KvLayerShape& l : layers_) {
      if (l.shared()) {  // the pool and index of the layer it reads (checked: earlier, same shape)
        const auto src = static_cast<size_t>(l.shared_from);
        HEARTH_CHECK(src < pool_of_.size() && pool_of_[src] != kRecurrent && layers_[src].group == l.group &&
                         layers_[src].k_width == l.k_width && layers_[src].v_width == l.v_width,
                     "a shared-KV layer must read an earlier attention layer of its own shape");
        pool_of_.push_back(pool_of_[src]);
        index_.push_back(index_[src]);
        continue;
      }
      if (l.recurrent()) {
        pool_of_.push_back(kRecurrent);
        index_.push_back(n_recurrent++);
        state_shape_ = l;
        continue;
      }
      const auto it = std::find(shapes.begin(), shapes.end(), l);
      const auto p = static_cast<size_t>(it - shapes.begin());
      if (it == shapes.end()) {
        shapes.push_back(l);
        n_layers.push_back(0);
      }
      pool_of_.push_back(p);
      index_.push_back(n_layers[p]++);
    }
    for (size_t p = 0; p < shapes.size(); ++p)
      pools_.push_back(backend.kv_pool(n_layers[p], n_blocks_[size_t(shapes[p].group)], block_size,
                                       shapes[p].k_width, shapes[p].v_width));
    if (n_recurrent > 0 && n_state_slots > 0) {
      states_ = backend.state_pool(n_recurrent, n_state_slots, state_shape_.conv_width, state_shape_.state_width);
      slot_next_.assign(size_t(n_state_slots), 0);
    }
  }

  // Bytes of one sequence's recurrent state (every recurrent layer's), what a state slot costs.
  static uint64_t bytes_per_state_slot(std::span<const KvLayerShape> layers) {
    uint64_t bytes = 0;
    for (const KvLayerShape& l : layers)
      if (l.recurrent()) bytes += sizeof(float) * static_cast<uint64_t>(l.conv_width + l.state_width);
    return bytes;
  }

  // Bytes of one block of group g: every layer of the group's K and V rows for block_size positions.
  static uint64_t bytes_per_block(std::span<const KvLayerShape> layers, KvGroup g, int64_t block_size) {
    uint64_t bytes = 0;
    for (const KvLayerShape& l : layers)
      if (l.group == g && !l.shared())
        bytes += sizeof(uint16_t) * static_cast<uint64_t>((l.k_width + l.v_width) * block_size);
    return bytes;
  }

  int64_t n_layer() const { return static_cast<int64_t>(layers_.size()); }
  const KvLayerShape& layer(int64_t il) const { return layers_[size_t(il)]; }
  int64_t block_size() const { return block_size_; }
  int64_t n_blocks(KvGroup g = KvGroup::kFull) const { return n_blocks_[size_t(g)]; }
  KvGroup group(int64_t layer) const { return layers_[size_t(layer)].group; }
  bool has_window_group() const {
    return std::any_of(layers_.begin(), layers_.end(), [](const KvLayerShape& l) { return l.group == KvGroup::kWindow; });
  }
  uint64_t bytes() const {
    uint64_t total = states_ ? states_->bytes() : 0;
    for (const auto& p : pools_) total += p->bytes();
    return total;
  }
  bool has_recurrent_layers() const {
    return std::any_of(layers_.begin(), layers_.end(), [](const KvLayerShape& l) { return l.recurrent(); });
  }
  int64_t n_state_slots() const { return static_cast<int64_t>(slot_next_.size()); }
  StatePool& states() { return *states_; }
  // The position slot `slot`'s state has reached: its sequence's next token continues there.
  int64_t slot_next(int64_t slot) const { return slot_next_[size_t(slot)]; }
  void set_slot_next(int64_t slot, int64_t pos) { slot_next_[size_t(slot)] = pos; }

  // The pool that holds layer `layer` (an attention layer), and the layer's index in it (in the
  // state pool for a recurrent layer).
  KvPool& pool(int64_t layer) { return *pools_[pool_of_[size_t(layer)]]; }
  const KvPool& pool(int64_t layer) const { return *pools_[pool_of_[size_t(layer)]]; }
  int64_t index(int64_t layer) const { return index_[size_t(layer)]; }

 private:
  std::vector<KvLayerShape> layers_;
  static constexpr size_t kRecurrent = ~size_t{0};
  std::vector<size_t> pool_of_;   // each layer's pool (kRecurrent: the state pool)
  std::vector<int64_t> index_;    // each layer's index within its pool
  int64_t block_size_ = 0;
  int64_t n_blocks_[2] = {0, 0};
  std::vector<std::unique_ptr<KvPool>> pools_;
  KvLayerShape state_shape_;               // every recurrent layer's (they are alike)
  std::unique_ptr<StatePool> states_;
  std::vector<int64_t> slot_next_;          // per state slot, the next position of its sequence
};

// What a forward pass returns for a token: nothing (its keys and values only), its logits, or
// its final hidden state after the output norm (what embedding models pool).
enum class TokenOutput : uint8_t { kNone = 0, kLogits = 1, kHidden = 2 };

// The tokens of one forward pass, from any number of sequences. Each sequence's tokens appear in
// position order, and every position before a token's own is either already in the cache or
// earlier in this batch (its keys and values are written before attention reads them).
struct Batch {
  std::vector<int32_t> tokens;
  std::vector<int32_t> positions;
  std::vector<int32_t> seq;          // index into block_tables
  std::vector<TokenOutput> outputs;  // what is returned for each token (rows in batch order)
  std::vector<std::span<const int32_t>> block_tables;   // the full group's, per sequence
  std::vector<std::span<const int32_t>> window_tables;  // the window group's (when the cache has one)
  std::vector<int32_t> state_slots;  // per sequence, its recurrent state's slot (models with recurrent layers)
  // Prefix reuse for recurrent layers, per sequence (empty: none): a slot holding a snapshot the
  // sequence resumes from (copied into its own slot before the pass; -1: none), and a slot that
  // takes a snapshot of its state at position snapshot_at (just after the token before it; -1: none).
  std::vector<int32_t> resume_from, snapshot_slots, snapshot_at;

  size_t size() const { return tokens.size(); }
  int64_t n_outputs(TokenOutput kind) const {
    int64_t n = 0;
    for (TokenOutput o : outputs) n += o == kind ? 1 : 0;
    return n;
  }
  int64_t n_logits() const { return n_outputs(TokenOutput::kLogits); }
  void clear() {
    tokens.clear();
    positions.clear();
    seq.clear();
    outputs.clear();
    block_tables.clear();
    window_tables.clear();
    state_slots.clear();
    resume_from.clear();
    snapshot_slots.clear();
    snapshot_at.clear();
  }
  void add(int32_t token, int32_t position, int32_t seq_index, TokenOutput output) {
    tokens.push_back(token);
    positions.push_back(position);
    seq.push_back(seq_index);
    outputs.push_back(output);
  }
  void add(int32_t token, int32_t position, int32_t seq_index, bool logits) {
    add(token, position, seq_index, logits ? TokenOutput::kLogits : TokenOutput::kNone);
  }
};

}  // namespace hearth
