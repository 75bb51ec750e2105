// Which tokens run in the next forward pass: continuous batching as plain data, with no model.
//
// The engine's step is schedule() -> a StepPlan -> the forward pass over the plan's tokens ->
// commit(plan) -> sampling, which appends tokens or finishes sequences. The scheduler owns what
// deciding needs: each sequence's tokens, how many are computed, its block table and the prefix
// hashes of its full blocks, the waiting queue and the running set, and the block manager.
// Requests' callbacks, samplers and timings stay with the engine.
//
// Policy (vLLM's, in its simplest form):
//   1. Decode first: one token for every running sequence whose known tokens are all computed
//      but the last. A sequence that needs a fresh block and finds none preempts the newest
//      running sequence (possibly itself): its blocks are released, full ones kept in the prefix
//      cache, and it goes back to the front of the queue to be recomputed later.
//   2. Then prefill chunks of running sequences' prompts, within the step's token budget.
//   3. Then admission, in arrival order, while the budget and max_running allow: a sequence is
//      admitted when blocks for all its known tokens are available after reusing cached prefix
//      blocks (at least its last token is always computed again: its logits are needed).
//
// Models with sliding-window layers have a second pool for those layers (model/kv_cache.h). A
// sequence's window table gets a block when a run first needs it and gives it back once its
// window has passed (registered in the window pool's prefix cache under the same chain hash as
// the full block of the same tokens); a cached prefix counts only as far as the window blocks
// its first recomputed token reads are cached too. The pool is sized so that it cannot run out
// (window_blocks_needed), so only the full group ever preempts.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <algorithm>
#include <span>
#include <unordered_map>
#include <vector>

#include "engine/block_manager.h"
#include "engine/snapshot_cache.h"
#include "model/kv_cache.h"

namespace hearth::engine {

// The spacing of the interval snapshots of a long prompt's recurrent state (SchedulerOptions).
constexpr int64_t kSnapshotInterval = 512;

struct SchedulerOptions {
  int64_t block_size = 16;
  int64_t n_blocks = 0;
  int64_t max_running = 64;      // sequences in the running set
  int64_t max_step_tokens = 256; // tokens per step (at least max_running: every decode fits)
  bool prefix_caching = true;
  // The model's sliding-window layers keep only their window (model/kv_cache.h): the widest
  // window (0: no such layers) and their pool's size (window_blocks_needed says how many).
  int64_t window = 0;
  int64_t n_window_blocks = 0;
  // Models with recurrent layers (Gated DeltaNet): their state covers the whole prefix, so cached
  // KV blocks are reused only up to a block boundary whose state was snapshot (snapshot_cache.h),
  // of which the cache keeps state_snapshots (0: no prefix reuse for such a model). A sequence
  // snapshots its state where its cached KV prefix ended (a prefix others share, such as a system
  // prompt), at the last multiple of kSnapshotInterval before its prompt's end, and at its
  // prompt's last block boundary (a conversation's next turn resumes there).
  bool recurrent = false;
  int64_t state_snapshots = 0;
  bool cache_events = false;  // log the cache's events for take_cache_events
};

// Window-group blocks that can never run out: per running sequence its window and alignment,
// plus the step's tokens, capped by the full group's size (a sequence never holds more window
// blocks than full ones).
int64_t window_blocks_needed(const SchedulerOptions& options);

// How a sequence's prompt meets the prefix cache and the step budget.
enum class PromptUse : uint8_t {
  kCached,      // may start from cached prefix blocks; computed in chunks
  kComputeAll,  // every token computed, none taken from the cache (an embedding pooled over every
                // token, or the first, needs their hidden states); its full blocks still go to the cache
  kWhole,       // a bidirectional encoder's: computed in one run of one step, and never cached
                // (each key depends on the whole prompt)
};

// A sequence as the scheduler sees it.
struct ScheduledSeq {
  uint64_t id = 0;
  std::vector<int32_t> tokens;   // prompt, then generated
  int64_t n_prompt = 0;
  int64_t n_computed = 0;        // tokens whose keys and values are in the cache
  std::vector<int32_t> table;    // block table
  std::vector<int32_t> window_table;  // the window group's, -1 where the window has passed
  std::vector<uint64_t> hashes;  // chain hashes of the leading full blocks
  int64_t cached_tokens = 0;     // prompt tokens taken from the prefix cache at first admission
  bool admitted_once = false;
  PromptUse use = PromptUse::kCached;
  int64_t n_draft = 0;           // the last n_draft tokens are speculative drafts, not yet checked
  // Recurrent models: the snapshot its next run resumes from (-1: none), and the positions at
  // which its state is still to be snapshot, ascending.
  int32_t resume_from = -1;
  std::vector<int64_t> snapshot_targets;

  int64_t pending() const { return static_cast<int64_t>(tokens.size()) - n_computed; }
  int64_t generated() const { return static_cast<int64_t>(tokens.size()) - n_prompt; }
};

// One step's decisions.
struct StepPlan {
  // Tokens [first, first + count) of sequence `id`, in batch order (all of a sequence's tokens
  // are contiguous); `logits`: its last token's logits are wanted (it reaches the end of the
  // sequence's known tokens).
  struct Run {
    uint64_t id = 0;
    int64_t first = 0;
    int64_t count = 0;
    bool logits = false;
    int64_t n_logits = 1;  // with `logits`: the last n_logits tokens' (a pending token and its drafts)
    // Recurrent models: the snapshot the sequence's state is restored from before the run, and the
    // snapshot that takes its state at position snapshot_at (-1: none).
    int32_t resume_from = -1;
    int32_t snapshot = -1;
    int64_t snapshot_at = 0;
  };
  struct Admission {
    uint64_t id = 0;
    int64_t matched_tokens = 0;  // reused from the prefix cache
    bool first_time = false;     // not a readmission after preemption
  };
  std::vector<Run> runs;
  std::vector<uint64_t> preempted;   // moved back to the waiting queue this step
  std::vector<Admission> admitted;   // moved from the queue to the running set this step

  int64_t n_tokens() const;
  bool empty() const { return runs.empty(); }
};

class Scheduler {
 public:
  explicit Scheduler(const SchedulerOptions& options);

  // Queues a new sequence at the back. A kWhole prompt must fit in max_step_tokens.
  void add(uint64_t id, std::vector<int32_t> prompt, PromptUse use = PromptUse::kCached);
  StepPlan schedule();
  // After the forward pass ran every token of `plan`: they are computed, and full blocks are
  // registered in the prefix cache.
  void commit(const StepPlan& plan);
  // The forward pass of `plan` failed (its sequences are finished with the error): the snapshots it
  // reserved or pinned are given back.
  void abandon(const StepPlan& plan);
  // A sampled token for a running sequence.
  void append(uint64_t id, int32_t token);
  // Speculative decoding. Drafts follow a running sequence's pending token (decoding: pending()
  // is 1); its next decode run covers them all, with logits for each, and needs blocks for them
  // (if none are free, the drafts are dropped, never another sequence preempted). Preemption
  // drops drafts. Nothing computed from a draft reaches the prefix cache until it is accepted.
  void set_drafts(uint64_t id, std::span<const int32_t> drafts);
  // After the run: removes the drafts from the sequence (its pending token is now computed) and
  // returns them, for the sampler to check one by one.
  std::vector<int32_t> take_drafts(uint64_t id);
  // The token just appended equals the draft that stood at its position: its keys and values are
  // already in the cache.
  void accept_computed(uint64_t id);
  // Removes a sequence, running or waiting, releasing its blocks. No-op for unknown ids.
  void finish(uint64_t id);

  const ScheduledSeq* find(uint64_t id) const;
  bool is_waiting(uint64_t id) const;
  // The sequence admission tries next, if any.
  std::optional<uint64_t> next_waiting() const {
    return waiting_.empty() ? std::nullopt : std::optional<uint64_t>(waiting_.front());
  }
  int64_t n_running() const { return static_cast<int64_t>(running_.size()); }
  const std::vector<uint64_t>& running() const { return running_; }
  int64_t n_waiting() const { return static_cast<int64_t>(waiting_.size()); }
  const BlockManager& blocks() const { return blocks_; }
  // The full-attention cache's registrations and evictions since the last call (when
  // SchedulerOptions::cache_events); the window pool's blocks are not announced.
  std::vector<CacheEvent> take_cache_events() { return blocks_.take_events(); }
  const BlockManager& window_blocks() const { return window_blocks_; }
  const SnapshotCache& snapshots() const { return snapshots_; }
  const SchedulerOptions& options() const { return options_; }

 private:
  bool admit(ScheduledSeq& s, int64_t& matched);
  // The prefix of `matched` cached full blocks whose window blocks are cached too: a sequence
  // restarting after it needs the blocks its first token's window reads.
  int64_t window_prefix(const ScheduledSeq& s, int64_t matched) const;
  int64_t first_window_block(int64_t pos) const;
  bool grow_for_next_token(ScheduledSeq& s);
  // Blocks for the drafts after the pending token; false (nothing taken) when there are too few.
  bool grow_for_drafts(ScheduledSeq& s);
  void drop_drafts(ScheduledSeq& s);
  // Tokens whose keys and values are computed and checked (drafts excluded).
  static int64_t verified(const ScheduledSeq& s) { return s.n_computed - std::max<int64_t>(0, s.n_draft - s.pending()); }
  // Window blocks for a run of the sequence's tokens up to (not including) `end`.
  void grow_window(ScheduledSeq& s, int64_t end);
  // Releases the window blocks that no token from n_computed on reads.
  void drop_passed_window(ScheduledSeq& s);
  void release_blocks(ScheduledSeq& s);
  void register_full_blocks(ScheduledSeq& s);
  void preempt(uint64_t id);

  SchedulerOptions options_;
  BlockManager blocks_;
  BlockManager window_blocks_;
  SnapshotCache snapshots_;
  // The prefix of `matched` cached blocks that a state snapshot covers (recurrent models).
  int64_t snapshot_prefix(ScheduledSeq& s, int64_t matched);
  std::unordered_map<uint64_t, std::unique_ptr<ScheduledSeq>> seqs_;
  std::deque<uint64_t> waiting_;   // front: next to admit
  std::vector<uint64_t> running_;  // in admission order: the back is the newest
};

}  // namespace hearth::engine
