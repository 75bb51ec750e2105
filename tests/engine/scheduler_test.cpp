// The scheduler on its own, with no model: which tokens each step runs, admission against KV
// blocks and the prefix cache, the token budget, and preemption of the newest sequence.
#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include <numeric>
#include <random>
#include <unordered_map>
#include <vector>

namespace hearth::engine {
namespace {

std::vector<int32_t> iota(int n, int32_t first = 1) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), first);
  return v;
}

// Runs a step as the engine would: commit the plan, then append a token for every run that
// reached the end of its sequence's known tokens.
StepPlan step(Scheduler& s, int32_t sampled = 7) {
  StepPlan plan = s.schedule();
  s.commit(plan);
  for (const StepPlan::Run& r : plan.runs)
    if (r.logits) s.append(r.id, sampled);
  return plan;
}

SchedulerOptions options(int64_t block_size, int64_t n_blocks, int64_t max_running, int64_t max_step_tokens) {
  SchedulerOptions o;
  o.block_size = block_size;
  o.n_blocks = n_blocks;
  o.max_running = max_running;
  o.max_step_tokens = max_step_tokens;
  return o;
}

TEST(Scheduler, ChunksLongPromptsAndPutsDecodeFirst) {
  Scheduler s(options(4, 32, 4, 8));
  s.add(1, iota(10));
  StepPlan p = step(s);
  ASSERT_EQ(p.runs.size(), 1u);
  EXPECT_EQ(p.admitted.size(), 1u);
  EXPECT_TRUE(p.admitted[0].first_time);
  EXPECT_EQ(p.runs[0].first, 0);
  EXPECT_EQ(p.runs[0].count, 8);  // the budget
  EXPECT_FALSE(p.runs[0].logits);
  p = step(s);
  ASSERT_EQ(p.runs.size(), 1u);
  EXPECT_EQ(p.runs[0].first, 8);
  EXPECT_EQ(p.runs[0].count, 2);
  EXPECT_TRUE(p.runs[0].logits);  // the prompt's last token: sample from it
  EXPECT_EQ(s.find(1)->tokens.size(), 11u);

  s.add(2, iota(9, 100));
  p = step(s);
  ASSERT_EQ(p.runs.size(), 2u);
  EXPECT_EQ(p.runs[0].id, 1u);  // decode first
  EXPECT_EQ(p.runs[0].first, 10);
  EXPECT_EQ(p.runs[0].count, 1);
  EXPECT_EQ(p.runs[1].id, 2u);  // then the new prompt, within what is left of the budget
  EXPECT_EQ(p.runs[1].count, 7);
  EXPECT_EQ(p.n_tokens(), 8);
}

// An encoder's prompt (kWhole) is never split between steps: with too little of the budget left
// it waits for the next step; it takes nothing from the prefix cache and gives nothing to it.
TEST(Scheduler, AWholePromptRunsInOneStepAndIsNeverCached) {
  Scheduler s(options(4, 32, 4, 8));
  s.add(1, iota(6));
  s.add(2, iota(5, 20), PromptUse::kWhole);
  StepPlan p = step(s);
  ASSERT_EQ(p.runs.size(), 1u);  // 2 of the budget left: sequence 2 waits rather than split
  EXPECT_EQ(p.runs[0].id, 1u);
  EXPECT_TRUE(s.is_waiting(2));
  p = step(s);
  ASSERT_EQ(p.runs.size(), 2u);
  EXPECT_EQ(p.runs[1].id, 2u);
  EXPECT_EQ(p.runs[1].count, 5);
  EXPECT_TRUE(p.runs[1].logits);
  const int64_t cached = s.blocks().cached();
  s.finish(2);
  EXPECT_EQ(s.blocks().cached(), cached);  // its full block was not registered
  s.add(3, iota(5, 20), PromptUse::kWhole);
  p = step(s);
  ASSERT_EQ(p.admitted.size(), 1u);
  EXPECT_EQ(p.admitted[0].matched_tokens, 0);
}

TEST(Scheduler, ReusesCachedPrefixBlocksButRecomputesTheLastToken) {
  Scheduler s(options(4, 16, 4, 64));
  s.add(1, iota(9));
  step(s);
  s.finish(1);  // its two full blocks stay cached
  EXPECT_EQ(s.blocks().in_use(), 0);
  EXPECT_EQ(s.blocks().cached(), 2);

  std::vector<int32_t> longer = iota(8);
  longer.insert(longer.end(), {50, 51, 52});
  s.add(2, longer);
  StepPlan p = step(s);
  ASSERT_EQ(p.admitted.size(), 1u);
  EXPECT_EQ(p.admitted[0].matched_tokens, 8);
  EXPECT_EQ(s.find(2)->cached_tokens, 8);
  ASSERT_EQ(p.runs.size(), 1u);
  EXPECT_EQ(p.runs[0].first, 8);
  EXPECT_EQ(p.runs[0].count, 3);

  // Exactly the cached 8 tokens: only the first block is reused, the last token is computed.
  s.add(3, iota(8));
  p = step(s);
  ASSERT_EQ(p.admitted.size(), 1u);
  EXPECT_EQ(p.admitted[0].matched_tokens, 4);
  EXPECT_EQ(p.runs.back().first, 4);
  EXPECT_EQ(p.runs.back().count, 4);
}

TEST(Scheduler, OutOfBlocksTheNewestSequenceIsPreemptedAndRequeuedFirst) {
  Scheduler s(options(2, 4, 4, 64));
  s.add(1, iota(3));
  s.add(2, iota(3, 10));
  StepPlan p = step(s);  // both admitted: 2 blocks each, all 4 taken
  EXPECT_EQ(p.admitted.size(), 2u);
  s.add(3, iota(1, 20));  // waits: no block left
  p = step(s);            // decode position 3 of both: their second blocks have room
  EXPECT_EQ(p.runs.size(), 2u);
  EXPECT_TRUE(p.preempted.empty());
  p = step(s);  // position 4 of sequence 1 needs a third block: 2 (the newest) makes room
  ASSERT_EQ(p.preempted.size(), 1u);
  EXPECT_EQ(p.preempted[0], 2u);
  ASSERT_EQ(p.runs.size(), 1u);
  EXPECT_EQ(p.runs[0].id, 1u);
  EXPECT_EQ(p.runs[0].first, 4);
  EXPECT_EQ(s.find(2)->n_computed, 0);       // recomputed from its tokens later
  EXPECT_EQ(s.find(2)->tokens.size(), 5u);   // prompt and the two tokens it generated
  EXPECT_TRUE(s.is_waiting(2));
  EXPECT_EQ(s.n_running(), 1);

  s.finish(1);
  p = step(s);  // 2 comes back before 3, which was queued earlier but never admitted
  ASSERT_GE(p.admitted.size(), 1u);
  EXPECT_EQ(p.admitted[0].id, 2u);
  EXPECT_FALSE(p.admitted[0].first_time);
  EXPECT_EQ(p.runs[0].id, 2u);
  EXPECT_EQ(p.runs[0].count, 5);
  EXPECT_TRUE(p.runs[0].logits);
}

TEST(Scheduler, ASequenceAloneOutOfBlocksPreemptsItselfAndWaits) {
  Scheduler s(options(2, 2, 4, 64));
  s.add(1, iota(3));
  step(s);
  step(s);  // position 3: still in its second block
  StepPlan p = step(s);  // position 4 needs a third block: none exists
  EXPECT_EQ(p.preempted, std::vector<uint64_t>{1});
  EXPECT_TRUE(p.runs.empty());
  p = s.schedule();  // 5 tokens need 3 blocks: it cannot come back
  EXPECT_TRUE(p.empty());
  EXPECT_TRUE(s.is_waiting(1));
  EXPECT_EQ(s.blocks().in_use(), 0);
}

TEST(Scheduler, AdmissionStopsAtMaxRunningAndTheBudget) {
  Scheduler s(options(4, 64, 2, 6));
  for (uint64_t id = 1; id <= 4; ++id) s.add(id, iota(3, int32_t(10 * id)));
  StepPlan p = step(s);
  EXPECT_EQ(p.admitted.size(), 2u);  // max_running
  EXPECT_EQ(p.n_tokens(), 6);
  EXPECT_EQ(s.n_waiting(), 2);
  s.finish(1);
  p = step(s);  // 2 decodes (1 token), 3 is admitted with the rest of the budget
  ASSERT_EQ(p.runs.size(), 2u);
  EXPECT_EQ(p.runs[0].id, 2u);
  EXPECT_EQ(p.runs[1].id, 3u);
  EXPECT_EQ(p.runs[1].count, 3);
}

TEST(Scheduler, FinishingAWaitingOrRunningSequenceFreesItsBlocks) {
  Scheduler s(options(4, 8, 1, 64));
  s.add(1, iota(6));
  s.add(2, iota(6, 40));
  step(s);
  EXPECT_EQ(s.blocks().in_use(), 2);
  EXPECT_TRUE(s.is_waiting(2));
  s.finish(2);  // cancelled while waiting
  EXPECT_EQ(s.find(2), nullptr);
  s.finish(1);
  EXPECT_EQ(s.blocks().in_use(), 0);
  EXPECT_EQ(s.n_running() + s.n_waiting(), 0);
  s.finish(99);  // unknown: nothing happens
  EXPECT_TRUE(s.schedule().empty());
}

SchedulerOptions window_options(int64_t window, int64_t max_running, int64_t max_step_tokens) {
  SchedulerOptions o = options(16, 64, max_running, max_step_tokens);
  o.window = window;
  o.n_window_blocks = window_blocks_needed(o);
  return o;
}

// Sliding-window layers' blocks (model/kv_cache.h): a run gets the blocks it writes, and once
// the window has passed a block it goes back to the pool, so a long sequence holds its window
// only, while the full group holds every block.
TEST(Scheduler, WindowBlocksFollowTheWindow) {
  Scheduler s(window_options(32, 2, 64));
  EXPECT_EQ(s.window_blocks().n_blocks(), 2 * ((32 + 16 + 15) / 16 + 2) + 4);
  s.add(1, iota(100));
  StepPlan p = step(s);
  ASSERT_EQ(p.runs.size(), 1u);
  EXPECT_EQ(p.runs[0].count, 64);
  // Computed 0..63: the next token (64) reads from position 32 on (65 - 32 = 33, down to a block).
  const ScheduledSeq* q = s.find(1);
  ASSERT_EQ(q->window_table.size(), 4u);
  EXPECT_EQ(q->window_table[0], -1);
  EXPECT_EQ(q->window_table[1], -1);
  EXPECT_GE(q->window_table[2], 0);
  EXPECT_GE(q->window_table[3], 0);
  EXPECT_EQ(s.window_blocks().in_use(), 2);
  EXPECT_EQ(s.blocks().in_use(), 7);  // the whole prompt's blocks, at admission
  step(s);  // 64..99, then decode
  for (int i = 0; i < 40; ++i) step(s);
  q = s.find(1);
  EXPECT_EQ(q->n_computed, 140);
  // Position 140 reads from 109 -> 96: blocks 6..8.
  EXPECT_EQ(s.window_blocks().in_use(), 3);
  for (size_t i = 0; i < q->window_table.size(); ++i) EXPECT_EQ(q->window_table[i] >= 0, i >= 6) << i;
  EXPECT_EQ(s.blocks().in_use(), 9);
  s.finish(1);
  EXPECT_EQ(s.window_blocks().in_use(), 0);
}

// A cached prefix is reused when the window blocks its first recomputed token reads are cached
// too (they were registered under the same hashes before the window passed them), and only as
// far as they are.
TEST(Scheduler, PrefixReuseNeedsTheWindowsBlocks) {
  Scheduler s(window_options(32, 1, 64));
  std::vector<int32_t> prompt = iota(70);
  s.add(1, prompt);
  step(s);
  step(s);
  s.finish(1);
  EXPECT_EQ(s.blocks().cached(), 4);
  EXPECT_EQ(s.window_blocks().cached(), 4);

  std::vector<int32_t> same_start(prompt.begin(), prompt.begin() + 64);
  same_start.insert(same_start.end(), {500, 501, 502});
  s.add(2, same_start);
  StepPlan p = step(s);
  ASSERT_EQ(p.admitted.size(), 1u);
  EXPECT_EQ(p.admitted[0].matched_tokens, 64);
  // Its window table starts with the cached blocks 2 and 3 the 65th token reads.
  const ScheduledSeq* q = s.find(2);
  EXPECT_EQ(q->window_table[0], -1);
  EXPECT_GE(q->window_table[2], 0);
  s.finish(2);

  // Another sequence cycles the small window pool: the first prompt's window blocks are evicted
  // while its full blocks stay cached. Its prefix is then recomputed, not reused without them.
  s.add(3, iota(200, 1000));
  for (int i = 0; i < 6; ++i) step(s);
  s.finish(3);
  EXPECT_GE(s.blocks().cached(), 4);
  s.add(4, same_start);
  p = step(s);
  ASSERT_EQ(p.admitted.size(), 1u);
  EXPECT_EQ(p.admitted[0].matched_tokens, 0);
  EXPECT_EQ(p.runs[0].first, 0);
}

// Many sequences of random lengths arriving, decoding and finishing, with block sizes that are
// and are not divisors of 16: the window pool never runs out (the scheduler aborts if it does),
// every running sequence holds exactly the window blocks its next token reads and its run
// writes, and everything is returned at the end.
TEST(Scheduler, WindowPoolNeverRunsOut) {
  std::mt19937 rng(5);
  for (int64_t bs : {16, 12, 5}) {
    for (int64_t window : {1, 20, 100}) {
      SchedulerOptions o = options(bs, 400, 4, 40);
      o.window = window;
      o.n_window_blocks = window_blocks_needed(o);
      Scheduler s(o);
      std::uniform_int_distribution<int> len(1, 120), gen(1, 60);
      std::unordered_map<uint64_t, int> budget;
      uint64_t next = 1;
      for (int t = 0; t < 400; ++t) {
        if (s.n_waiting() < 3) {
          budget[next] = gen(rng);
          s.add(next, iota(len(rng), int32_t(next * 1000)));
          ++next;
        }
        step(s);
        for (auto it = budget.begin(); it != budget.end();) {
          const ScheduledSeq* q = s.find(it->first);
          if (q != nullptr && q->generated() >= it->second) {
            s.finish(it->first);
            it = budget.erase(it);
          } else {
            ++it;
          }
        }
        ASSERT_LE(s.window_blocks().in_use(), s.window_blocks().n_blocks());
        for (const auto& [id, unused] : budget) {
          const ScheduledSeq* q = s.find(id);
          if (q == nullptr || s.is_waiting(id)) continue;
          const int64_t first = window_first_position(q->n_computed, window, bs) / bs;
          for (int64_t i = 0; i < static_cast<int64_t>(q->window_table.size()); ++i)
            if (i < first) {
              ASSERT_EQ(q->window_table[size_t(i)], -1) << "bs " << bs << " window " << window;
            }
        }
      }
      for (const auto& [id, unused] : budget) s.finish(id);
      EXPECT_EQ(s.window_blocks().in_use(), 0);
      EXPECT_EQ(s.blocks().in_use(), 0);
    }
  }
}

// Snapshots of recurrent state: free ids first, then the least recently used published one; ids
// pinned by this step's plan and reservations are never taken; a prefix already held keeps its
// older snapshot; a reservation not taken goes back.
TEST(SnapshotCache, ReusesTheLeastRecentlyUsedAndNeverAPinnedOne) {
  SnapshotCache c(2);
  const auto a = c.reserve(), b = c.reserve();
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(c.reserve().has_value());  // both reserved
  c.publish(*a, 100);
  c.publish(*b, 200);
  EXPECT_EQ(c.published(), 2);
  ASSERT_EQ(c.take(100), a);  // used (and pinned) after 200
  c.unpin_all();
  const auto d = c.reserve();  // evicts 200, the least recently used
  EXPECT_EQ(d, b);
  EXPECT_FALSE(c.has(200));
  EXPECT_TRUE(c.has(100));
  c.publish(*d, 100);  // 100 is held already: the new one is freed
  EXPECT_EQ(c.published(), 1);
  ASSERT_EQ(c.take(100), a);  // pinned now: a reservation must take the free id, not it
  EXPECT_EQ(c.reserve(), b);
  EXPECT_FALSE(c.reserve().has_value());
  c.release(*b);
  c.unpin_all();
  EXPECT_TRUE(c.reserve().has_value());
}

// A recurrent model's scheduler reuses cached blocks only up to a snapshot: the first sequence
// snapshots at its prompt's last block boundary (and at 512); the next one sharing that prefix
// resumes there and snapshots where their shared blocks end.
TEST(Scheduler, RecurrentPrefixReuseStopsAtASnapshot) {
  SchedulerOptions o;
  o.n_blocks = 64;
  o.max_step_tokens = 1024;
  o.recurrent = true;
  o.state_snapshots = 4;
  Scheduler s(o);
  std::vector<int32_t> a(600), b;
  std::iota(a.begin(), a.end(), 1);
  b.assign(a.begin(), a.begin() + 560);
  b.push_back(9999);
  s.add(1, a);
  StepPlan p = s.schedule();
  ASSERT_EQ(p.runs.size(), 1u);
  EXPECT_EQ(p.runs[0].resume_from, -1);
  EXPECT_EQ(p.runs[0].snapshot_at, 512);  // a run takes one snapshot and ends there: 592 comes next
  EXPECT_EQ(p.runs[0].count, 512);
  s.commit(p);
  p = s.schedule();
  EXPECT_EQ(p.runs[0].snapshot_at, 592);  // (600 - 1) / 16 * 16
  s.commit(p);
  s.finish(1);
  s.add(2, b);
  p = s.schedule();
  ASSERT_EQ(p.admitted.size(), 1u);
  EXPECT_EQ(p.admitted[0].matched_tokens, 512);  // 35 blocks cached, the snapshot is at 32
  EXPECT_GE(p.runs[0].resume_from, 0);
  EXPECT_EQ(p.runs[0].first, 512);
  EXPECT_EQ(p.runs[0].snapshot_at, 560);  // where the cached prefix it shares with the first ended
  s.commit(p);
  EXPECT_EQ(s.snapshots().published(), 3);
}

}  // namespace
}  // namespace hearth::engine
