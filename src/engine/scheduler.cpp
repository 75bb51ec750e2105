#include "engine/scheduler.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "base/result.h"

namespace hearth::engine {

int64_t StepPlan::n_tokens() const {
  int64_t n = 0;
  for (const Run& r : runs) n += r.count;
  return n;
}

int64_t window_blocks_needed(const SchedulerOptions& o) {
  if (o.window <= 0) return 0;
  const int64_t bs = o.block_size;
  // A sequence holds blocks from window_first_position(n_computed) (at most window + align - 1
  // positions back, rounded down to a block) through the last block of its run this step.
  const int64_t align = std::lcm(bs, int64_t{16});
  const int64_t per_seq = (o.window + align + bs - 1) / bs + 2;
  const int64_t step = std::max(o.max_step_tokens, o.max_running);
  return std::min(o.n_blocks, o.max_running * per_seq + (step + bs - 1) / bs);
}

Scheduler::Scheduler(const SchedulerOptions& options)
    : options_(options), blocks_(options.n_blocks, options.block_size),
      window_blocks_(options.window > 0 ? options.n_window_blocks : 0, options.block_size),
      snapshots_(options.recurrent ? options.state_snapshots : 0) {
  // A recurrent model's prefix is reusable only where a snapshot of its state was kept.
  if (options_.recurrent && options_.state_snapshots <= 0) options_.prefix_caching = false;
  blocks_.record_events(options_.cache_events);
  options_.max_step_tokens = std::max(options_.max_step_tokens, options_.max_running);
}

int64_t Scheduler::first_window_block(int64_t pos) const {
  return window_first_position(pos, options_.window, options_.block_size) / options_.block_size;
}

void Scheduler::add(uint64_t id, std::vector<int32_t> prompt, PromptUse use) {
  auto s = std::make_unique<ScheduledSeq>();
  s->id = id;
  s->use = use;
  s->n_prompt = static_cast<int64_t>(prompt.size());
  s->tokens = std::move(prompt);
  seqs_[id] = std::move(s);
  waiting_.push_back(id);
}

const ScheduledSeq* Scheduler::find(uint64_t id) const {
  auto it = seqs_.find(id);
  return it == seqs_.end() ? nullptr : it->second.get();
}

bool Scheduler::is_waiting(uint64_t id) const {
  return std::find(waiting_.begin(), waiting_.end(), id) != waiting_.end();
}

void Scheduler::register_full_blocks(ScheduledSeq& s) {
  if (!options_.prefix_caching || s.use == PromptUse::kWhole) return;
  const int64_t bs = options_.block_size;
  while (static_cast<int64_t>(s.hashes.size() + 1) * bs <= verified(s)) {
    const size_t i = s.hashes.size();
    const std::span<const int32_t> block_tokens(s.tokens.data() + i * size_t(bs), size_t(bs));
    const uint64_t h = BlockManager::chain_hash(i == 0 ? 0 : s.hashes.back(), block_tokens);
    blocks_.register_full(s.table[i], h, block_tokens, i == 0 ? std::nullopt : std::optional<uint64_t>(s.hashes.back()));
    if (i < s.window_table.size() && s.window_table[i] >= 0)
      window_blocks_.register_full(s.window_table[i], h, block_tokens);
    s.hashes.push_back(h);
  }
}

void Scheduler::release_blocks(ScheduledSeq& s) {
  register_full_blocks(s);
  for (int32_t b : s.table) blocks_.release(b);
  for (int32_t b : s.window_table)
    if (b >= 0) window_blocks_.release(b);
  s.table.clear();
  s.window_table.clear();
  s.hashes.clear();
  s.n_computed = 0;
}

int64_t Scheduler::window_prefix(const ScheduledSeq& s, int64_t matched) const {
  const int64_t bs = options_.block_size;
  for (; matched > 0; --matched) {
    bool cached = true;
    for (int64_t i = first_window_block(matched * bs); cached && i < matched; ++i)
      cached = window_blocks_.has_cached(s.hashes[size_t(i)],
                                         std::span<const int32_t>(s.tokens.data() + i * bs, size_t(bs)));
    if (cached) break;
  }
  return matched;
}

void Scheduler::grow_window(ScheduledSeq& s, int64_t end) {
  if (options_.window <= 0 || end <= s.n_computed) return;
  const int64_t bs = options_.block_size;
  const auto last = static_cast<size_t>((end - 1) / bs);
  if (s.window_table.size() <= last) s.window_table.resize(last + 1, -1);
  for (auto i = static_cast<size_t>(first_window_block(s.n_computed)); i <= last; ++i)
    if (s.window_table[i] < 0) {
      // window_blocks_needed sizes the pool so that this cannot fail.
      const std::optional<int32_t> b = window_blocks_.allocate();
      HEARTH_CHECK(b.has_value(), "the sliding-window KV pool ran out (a scheduler bug)");
      s.window_table[i] = *b;
    }
}

void Scheduler::drop_passed_window(ScheduledSeq& s) {
  if (options_.window <= 0) return;
  const auto first = static_cast<size_t>(first_window_block(verified(s)));
  for (size_t i = 0; i < first && i < s.window_table.size(); ++i)
    if (s.window_table[i] >= 0) {
      window_blocks_.release(s.window_table[i]);
      s.window_table[i] = -1;
    }
}

int64_t Scheduler::snapshot_prefix(ScheduledSeq& s, int64_t matched) {
  int64_t usable = matched;
  while (usable > 0 && !snapshots_.has(s.hashes[size_t(usable - 1)])) --usable;
  if (usable > 0) s.resume_from = *snapshots_.take(s.hashes[size_t(usable - 1)]);
  // Snapshots to take: where the cached prefix others share ends (when no snapshot covers it yet),
  // at the last multiple of kSnapshotInterval before the prompt's end (a later prompt sharing
  // most of this one, such as a long system prompt, resumes there even when this prompt's own end
  // is not shared), and at the prompt's last block boundary (where the next turn of its
  // conversation resumes; an identical prompt too).
  const int64_t bs = options_.block_size;
  std::vector<int64_t>& targets = s.snapshot_targets;
  targets.clear();
  const int64_t from = usable * bs, prompt_end = (s.n_prompt - 1) / bs * bs;
  if (matched > usable) targets.push_back(matched * bs);
  const int64_t interval = std::max<int64_t>(kSnapshotInterval / bs, 1) * bs;
  if (const int64_t mark = (prompt_end - 1) / interval * interval; mark > from) targets.push_back(mark);
  if (prompt_end > from) targets.push_back(prompt_end);
  std::sort(targets.begin(), targets.end());
  targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
  return usable;
}

bool Scheduler::admit(ScheduledSeq& s, int64_t& matched) {
  const int64_t bs = options_.block_size;
  const auto n = static_cast<int64_t>(s.tokens.size());
  const int64_t needed = (n + bs - 1) / bs;
  matched = 0;
  // At least the last token is computed again: its logits are what the next token comes from.
  if (options_.prefix_caching && s.use == PromptUse::kCached) matched = blocks_.take_prefix(s.tokens, (n - 1) / bs, s.table, s.hashes);
  if (options_.recurrent && options_.prefix_caching && s.use == PromptUse::kCached) {
    s.resume_from = -1;
    const int64_t usable = snapshot_prefix(s, matched);
    for (int64_t i = usable; i < matched; ++i) blocks_.release(s.table[size_t(i)]);
    s.table.resize(size_t(usable));
    s.hashes.resize(size_t(usable));
    matched = usable;
  }
  if (options_.window > 0 && matched > 0) {
    const int64_t usable = window_prefix(s, matched);
    for (int64_t i = usable; i < matched; ++i) blocks_.release(s.table[size_t(i)]);
    s.table.resize(size_t(usable));
    s.hashes.resize(size_t(usable));
    matched = usable;
    s.window_table.assign(size_t(matched), -1);
    for (int64_t i = first_window_block(matched * bs); i < matched; ++i)
      s.window_table[size_t(i)] = *window_blocks_.take_cached(
          s.hashes[size_t(i)], std::span<const int32_t>(s.tokens.data() + i * bs, size_t(bs)));
  }
  if (blocks_.available() < needed - matched) {
    for (int32_t b : s.table) blocks_.release(b);
    for (int32_t b : s.window_table)
      if (b >= 0) window_blocks_.release(b);
    s.table.clear();
    s.window_table.clear();
    s.hashes.clear();
    return false;
  }
  for (int64_t i = matched; i < needed; ++i) s.table.push_back(*blocks_.allocate());
  s.n_computed = matched * bs;
  matched *= bs;
  return true;
}

bool Scheduler::grow_for_next_token(ScheduledSeq& s) {
  const int64_t bs = options_.block_size;
  if (s.n_computed / bs < static_cast<int64_t>(s.table.size())) return true;
  std::optional<int32_t> b = blocks_.allocate();
  if (!b) return false;
  s.table.push_back(*b);
  return true;
}

bool Scheduler::grow_for_drafts(ScheduledSeq& s) {
  const int64_t bs = options_.block_size;
  const int64_t needed = (s.n_computed + 1 + s.n_draft + bs - 1) / bs - static_cast<int64_t>(s.table.size());
  if (needed > blocks_.available()) return false;
  for (int64_t i = 0; i < needed; ++i) s.table.push_back(*blocks_.allocate());
  return true;
}

void Scheduler::drop_drafts(ScheduledSeq& s) {
  s.tokens.resize(s.tokens.size() - static_cast<size_t>(s.n_draft));
  s.n_computed = std::min(s.n_computed, static_cast<int64_t>(s.tokens.size()));
  s.n_draft = 0;
}

void Scheduler::set_drafts(uint64_t id, std::span<const int32_t> drafts) {
  auto it = seqs_.find(id);
  if (it == seqs_.end() || drafts.empty()) return;
  ScheduledSeq& s = *it->second;
  HEARTH_CHECK(s.pending() == 1 && s.n_draft == 0, "drafts follow a decoding sequence's pending token");
  s.tokens.insert(s.tokens.end(), drafts.begin(), drafts.end());
  s.n_draft = static_cast<int64_t>(drafts.size());
}

std::vector<int32_t> Scheduler::take_drafts(uint64_t id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end() || it->second->n_draft == 0) return {};
  ScheduledSeq& s = *it->second;
  std::vector<int32_t> drafts(s.tokens.end() - s.n_draft, s.tokens.end());
  drop_drafts(s);
  register_full_blocks(s);
  return drafts;
}

void Scheduler::accept_computed(uint64_t id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return;
  ScheduledSeq& s = *it->second;
  HEARTH_CHECK(s.n_draft == 0 && s.pending() == 1, "an accepted draft is the sequence's one pending token");
  ++s.n_computed;
  register_full_blocks(s);
  drop_passed_window(s);
}

void Scheduler::preempt(uint64_t id) {
  drop_drafts(*seqs_.at(id));
  release_blocks(*seqs_.at(id));
  running_.erase(std::find(running_.begin(), running_.end(), id));
  waiting_.push_front(id);  // first in line: it was admitted before everyone waiting
}

StepPlan Scheduler::schedule() {
  StepPlan plan;
  int64_t budget = options_.max_step_tokens;
  auto add_run = [&](ScheduledSeq& s, int64_t count) {
    // A run takes at most one snapshot, of a position inside it: it ends at the first target when
    // a second one follows. A target already passed (no snapshot id was free then) is dropped.
    std::vector<int64_t>& targets = s.snapshot_targets;
    while (!targets.empty() && targets[0] <= s.n_computed) targets.erase(targets.begin());
    std::optional<int32_t> snapshot;
    if (!targets.empty() && targets[0] <= s.n_computed + count) {
      if (targets.size() > 1 && targets[1] <= s.n_computed + count) count = targets[0] - s.n_computed;
      snapshot = snapshots_.reserve();
    }
    StepPlan::Run run{s.id, s.n_computed, count, s.n_computed + count == static_cast<int64_t>(s.tokens.size()),
                      1 + s.n_draft};
    run.resume_from = std::exchange(s.resume_from, -1);
    if (snapshot) {
      run.snapshot = *snapshot;
      run.snapshot_at = targets[0];
    }
    plan.runs.push_back(run);
    budget -= count;
    grow_window(s, s.n_computed + count);
  };

  // Decode. A victim is always the newest running sequence, the back of running_, so the index
  // of the sequence being served stays valid.
  for (size_t i = 0; i < running_.size(); ++i) {
    ScheduledSeq& s = *seqs_.at(running_[i]);
    if (s.pending() != 1 + s.n_draft) continue;
    bool preempted_self = false;
    while (!preempted_self && !grow_for_next_token(s)) {
      const uint64_t victim = running_.back();
      auto run = std::find_if(plan.runs.begin(), plan.runs.end(), [&](const StepPlan::Run& r) { return r.id == victim; });
      if (run != plan.runs.end()) {
        budget += run->count;
        if (run->snapshot >= 0) snapshots_.release(run->snapshot);
        plan.runs.erase(run);
      }
      preempt(victim);
      plan.preempted.push_back(victim);
      preempted_self = victim == s.id;
    }
    if (preempted_self) continue;
    if (s.n_draft > 0 && !grow_for_drafts(s)) drop_drafts(s);
    add_run(s, 1 + s.n_draft);
  }

  // Prefill chunks of the running sequences' prompts.
  for (uint64_t id : running_) {
    if (budget <= 0) break;
    ScheduledSeq& s = *seqs_.at(id);
    if (s.use == PromptUse::kWhole && s.pending() > budget) continue;
    if (s.n_draft == 0 && s.pending() > 1) add_run(s, std::min(budget, s.pending()));
  }

  // Admission, in order.
  while (budget > 0 && !waiting_.empty() && n_running() < options_.max_running) {
    ScheduledSeq& s = *seqs_.at(waiting_.front());
    if (s.use == PromptUse::kWhole && s.pending() > budget) break;  // next step, with a fresh budget
    int64_t matched = 0;
    if (!admit(s, matched)) break;
    plan.admitted.push_back({s.id, matched, !s.admitted_once});
    if (!s.admitted_once) {
      s.admitted_once = true;
      s.cached_tokens = matched;
    }
    running_.push_back(s.id);
    waiting_.pop_front();
    add_run(s, std::min(budget, s.pending()));
  }
  return plan;
}

void Scheduler::commit(const StepPlan& plan) {
  for (const StepPlan::Run& r : plan.runs) {
    auto it = seqs_.find(r.id);
    if (it == seqs_.end()) {
      if (r.snapshot >= 0) snapshots_.release(r.snapshot);
      continue;
    }
    ScheduledSeq& s = *it->second;
    s.n_computed += r.count;
    register_full_blocks(s);
    drop_passed_window(s);
    if (r.snapshot < 0) continue;
    // The snapshot holds the state after the block that ends at snapshot_at, now registered.
    const auto block = static_cast<size_t>(r.snapshot_at / options_.block_size);
    if (block >= 1 && block <= s.hashes.size())
      snapshots_.publish(r.snapshot, s.hashes[block - 1]);
    else
      snapshots_.release(r.snapshot);
    if (!s.snapshot_targets.empty() && s.snapshot_targets.front() == r.snapshot_at)
      s.snapshot_targets.erase(s.snapshot_targets.begin());
  }
  snapshots_.unpin_all();
}

void Scheduler::abandon(const StepPlan& plan) {
  for (const StepPlan::Run& r : plan.runs)
    if (r.snapshot >= 0) snapshots_.release(r.snapshot);
  snapshots_.unpin_all();
}

void Scheduler::append(uint64_t id, int32_t token) {
  auto it = seqs_.find(id);
  if (it != seqs_.end()) it->second->tokens.push_back(token);
}

void Scheduler::finish(uint64_t id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return;
  release_blocks(*it->second);
  if (auto r = std::find(running_.begin(), running_.end(), id); r != running_.end()) running_.erase(r);
  if (auto w = std::find(waiting_.begin(), waiting_.end(), id); w != waiting_.end()) waiting_.erase(w);
  seqs_.erase(it);
}

}  // namespace hearth::engine
