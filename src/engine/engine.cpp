#include "engine/engine.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace hearth::engine {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kAbort: return "abort";
    case FinishReason::kError: return "error";
  }
  return "error";
}

namespace {

// Recurrent-state slots kept for prefix snapshots (none without recurrent layers or prefix caching).
int64_t snapshot_slots(const HParams& hp, const EngineOptions& o) {
  return hp.has_recurrent_layers() && o.prefix_caching ? std::max<int64_t>(0, o.state_snapshots) : 0;
}

SchedulerOptions scheduler_options(const HParams& hp, const EngineOptions& o) {
  // A recurrent layer's state is the whole prefix at once: cached KV blocks of a prefix restore it
  // only where a snapshot of the state was kept (scheduler.h).
  SchedulerOptions so{o.block_size, o.n_blocks, o.max_running, o.max_step_tokens, o.prefix_caching};
  so.recurrent = hp.has_recurrent_layers();
  so.state_snapshots = snapshot_slots(hp, o);
  so.window = kv_window(hp);
  so.n_window_blocks = window_blocks_needed(so);
  so.cache_events = static_cast<bool>(o.on_cache_events);
  return so;
}

}  // namespace

int64_t blocks_for_budget(const HParams& hp, const EngineOptions& options, uint64_t bytes) {
  const std::vector<KvLayerShape> layers = kv_layer_shapes(hp);
  // Recurrent layers' state comes first: a slot per sequence that may run.
  const uint64_t states =
      hp.has_recurrent_layers()
          ? KvCache::bytes_per_state_slot(layers) * static_cast<uint64_t>(options.max_running + snapshot_slots(hp, options))
          : 0;
  bytes = bytes > states ? bytes - states : 0;
  const uint64_t full = KvCache::bytes_per_block(layers, KvGroup::kFull, options.block_size);
  const uint64_t window = KvCache::bytes_per_block(layers, KvGroup::kWindow, options.block_size);
  if (full + window == 0) return 0;
  // n full blocks cost n * full + min(n, cap) * window (window_blocks_needed).
  EngineOptions unbounded = options;
  unbounded.n_blocks = std::numeric_limits<int32_t>::max();
  const auto cap = static_cast<uint64_t>(window_blocks_needed(scheduler_options(hp, unbounded)));
  if (window == 0 || full == 0 || cap * (full + window) >= bytes)
    return static_cast<int64_t>(bytes / (full + window));
  return static_cast<int64_t>(cap + (bytes - cap * (full + window)) / full);
}

// What the engine keeps of a request beside the scheduler's view of its tokens.
struct Engine::Request {
  uint64_t id = 0;
  RequestSpec spec;               // spec.prompt moved to the scheduler
  int64_t n_prompt = 0;
  std::unique_ptr<Sampler> sampler;  // made at the first sample
  std::unique_ptr<Pooler> pooler;    // embedding requests
  std::unique_ptr<grammar::GrammarMatcher> matcher;  // once the grammar applies
  std::string before_grammar;        // recent text while waiting for spec.grammar_after
  int64_t reasoning_tokens = -1;     // tokens of reasoning so far; -1 outside reasoning
  size_t closing = 0;                // close tokens forced so far
  bool reasoning_done = false;
  Clock::time_point arrival, last_token;
  bool has_token = false;
};

Engine::Engine(Transformer& model, std::unordered_set<int32_t> eog, const EngineOptions& options)
    : model_(model),
      eog_(std::move(eog)),
      options_(options),
      n_vocab_(static_cast<int32_t>(model.hparams().n_vocab)),
      kv_(kv_layer_shapes(model.hparams()), options.block_size, options.n_blocks,
          scheduler_options(model.hparams(), options).n_window_blocks, model.backend(),
          model.hparams().has_recurrent_layers() ? options.max_running + snapshot_slots(model.hparams(), options) : 0),
      scheduler_(scheduler_options(model.hparams(), options)),
      state_slots_(model.hparams().has_recurrent_layers() ? options.max_running : 0) {
  // Drafts cannot be taken back out of a recurrent state.
  if (kv_.has_recurrent_layers()) options_.spec_ngram = false;
  options_.prefix_caching = scheduler_.options().prefix_caching;
  const int64_t capacity = options.n_blocks * options.block_size;
  const int64_t model_ctx = options.max_context > 0 ? options.max_context : model.hparams().n_ctx_train;
  max_context_ = std::min(model_ctx, capacity);
  options_.max_step_tokens = scheduler_.options().max_step_tokens;
  // An encoder computes each prompt whole, in one step.
  if (!model.hparams().causal) max_context_ = std::min(max_context_, options_.max_step_tokens);
  metrics_.kv_blocks_total = options.n_blocks;
  metrics_.kv_window_blocks_total = kv_.n_blocks(KvGroup::kWindow);
  metrics_.block_size = options.block_size;
  metrics_.state_slots_total = state_slots_.size();
  metrics_.state_snapshots_total = scheduler_.snapshots().size();
  metrics_.state_bytes_per_slot = KvCache::bytes_per_state_slot(kv_layer_shapes(model.hparams()));
  thread_ = std::thread([this] { run(); });
}

Engine::~Engine() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  // The cache goes with the engine: a router forgets what it knew of this model here.
  if (options_.on_cache_events) options_.on_cache_events({CacheEvent{CacheEvent::Kind::kCleared, {}, std::nullopt, {}}});
}

Engine::Submitted Engine::submit(RequestSpec spec) {
  auto r = std::make_unique<Request>();
  r->n_prompt = static_cast<int64_t>(spec.prompt.size());
  r->spec = std::move(spec);
  r->arrival = Clock::now();
  // A generation needs room for one token more than its prompt.
  const bool pooled = r->spec.pooling != Pooling::kNone;
  if (r->n_prompt == 0 || r->n_prompt > (pooled ? max_context_ : max_context_ - 1)) return {0, SubmitError::kTooLong};
  std::lock_guard lock(mutex_);
  if (!admitting_ || stop_) return {0, SubmitError::kStopped};
  if (queued_ >= options_.max_waiting) return {0, SubmitError::kQueueFull};
  r->id = next_id_++;
  const uint64_t id = r->id;
  incoming_.push_back(std::move(r));
  ++queued_;
  ++unfinished_;
  metrics_.waiting = queued_;
  wake_.notify_all();
  return {id, SubmitError::kNone};
}

void Engine::cancel(uint64_t id) {
  std::lock_guard lock(mutex_);
  cancelled_.insert(id);
  wake_.notify_all();
}

void Engine::stop_admitting() {
  std::lock_guard lock(mutex_);
  admitting_ = false;
}

void Engine::drain(std::chrono::milliseconds grace) {
  stop_admitting();
  const auto deadline = Clock::now() + grace;
  std::unique_lock lock(mutex_);
  // Not the gauges: between a sequence's admission and the end of that step neither counts it.
  wake_.wait_until(lock, deadline, [&] { return unfinished_ == 0; });
  // Cancel whatever is left (ids are handed out densely, so every one below next_id_ is covered).
  for (uint64_t id = 1; id < next_id_; ++id) cancelled_.insert(id);
  wake_.notify_all();
  wake_.wait_until(lock, Clock::now() + std::chrono::seconds(5), [&] { return unfinished_ == 0; });
  stop_ = true;
  lock.unlock();
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

EngineMetrics Engine::metrics() const {
  std::lock_guard lock(mutex_);
  return metrics_;
}


void Engine::run() {
  while (true) {
    const bool worked = step();
    if (options_.on_cache_events) {
      std::vector<CacheEvent> events = scheduler_.take_cache_events();
      if (!events.empty()) options_.on_cache_events(std::move(events));
    }
    if (worked) continue;
    std::unique_lock lock(mutex_);
    if (stop_) break;
    wake_.wait(lock, [&] { return stop_ || !incoming_.empty() || !cancelled_.empty(); });
    if (stop_) break;
  }
  // Nothing may be left hanging: everyone still here is told the engine stopped.
  std::vector<uint64_t> left;
  for (const auto& [id, r] : requests_) left.push_back(id);
  for (uint64_t id : left) finish(id, FinishReason::kAbort);
  std::lock_guard lock(mutex_);
  for (auto& r : incoming_) {
    FinishEvent ev;
    ev.reason = FinishReason::kAbort;
    ev.prompt_tokens = r->n_prompt;
    if (r->spec.on_finish) r->spec.on_finish(ev);
  }
  incoming_.clear();
}

void Engine::take_submissions() {
  std::unordered_set<uint64_t> cancelled;
  std::deque<std::unique_ptr<Request>> incoming;
  {
    std::lock_guard lock(mutex_);
    incoming.swap(incoming_);
    cancelled.swap(cancelled_);
  }
  for (auto& r : incoming) {
    const Pooling pooling = r->spec.pooling;
    const HParams& hp = model_.hparams();
    if (pooling != Pooling::kNone) r->pooler = std::make_unique<Pooler>(pooling, hp.n_embd, hp.rank_first);
    // An encoder's prompt is computed whole. Mean and first-token pooling read hidden states a
    // cached prefix would skip; last-token pooling (embeddings, rerankers, whose prompts share
    // the instruction and query) reuses it.
    const bool reads_last = pooling == Pooling::kLast || (pooling == Pooling::kRank && !hp.rank_first);
    const PromptUse use = !hp.causal                                 ? PromptUse::kWhole
                          : pooling == Pooling::kNone || reads_last ? PromptUse::kCached
                                                                    : PromptUse::kComputeAll;
    scheduler_.add(r->id, std::move(r->spec.prompt), use);
    const uint64_t id = r->id;
    requests_[id] = std::move(r);
  }
  for (uint64_t id : cancelled) {
    if (!requests_.count(id)) continue;
    if (scheduler_.is_waiting(id)) {
      std::lock_guard lock(mutex_);
      --queued_;
    }
    finish(id, FinishReason::kAbort);
  }
}

void Engine::finish(uint64_t id, FinishReason reason, std::string error, std::vector<float> embedding) {
  auto node = requests_.extract(id);
  if (node.empty()) return;
  Request& r = *node.mapped();
  FinishEvent ev;
  ev.reason = reason;
  ev.prompt_tokens = r.n_prompt;
  bool admitted = false;
  if (const ScheduledSeq* s = scheduler_.find(id)) {
    ev.completion_tokens = s->generated();
    ev.cached_tokens = s->cached_tokens;
    admitted = s->admitted_once;
  }
  ev.error = std::move(error);
  ev.embedding = std::move(embedding);
  scheduler_.finish(id);
  state_slots_.release(id);
  {
    std::lock_guard lock(mutex_);
    // Before the callback: whoever learns of the finish sees the blocks already free.
    metrics_.state_slots_in_use = state_slots_.in_use();
    metrics_.kv_blocks_in_use = scheduler_.blocks().in_use();
    metrics_.kv_blocks_cached = scheduler_.blocks().cached();
    metrics_.kv_window_blocks_in_use = scheduler_.window_blocks().in_use();  // the window pool too
    metrics_.kv_window_blocks_cached = scheduler_.window_blocks().cached();
    metrics_.finished[static_cast<size_t>(reason)]++;
    --unfinished_;
    metrics_.e2e.observe(std::chrono::duration<double>(Clock::now() - r.arrival).count());
    if (admitted && !r.pooler) metrics_.generation_len.observe(double(ev.completion_tokens));
  }
  if (r.spec.on_finish) r.spec.on_finish(ev);
}

void Engine::sample(uint64_t id, const float* logits) {
  Request& r = *requests_.at(id);
  const ScheduledSeq& s = *scheduler_.find(id);
  if (!r.sampler) r.sampler = std::make_unique<Sampler>(r.spec.sampling, n_vocab_);
  const std::span<const float> row(logits, static_cast<size_t>(n_vocab_));
  // Penalties look at the completion, as OpenAI's presence/frequency penalties are defined.
  const std::span<const int32_t> history(s.tokens.data() + s.n_prompt, static_cast<size_t>(s.generated()));
  TokenEvent ev;
  if (r.spec.grammar && !r.matcher && r.spec.grammar_after.empty())
    r.matcher = std::make_unique<grammar::GrammarMatcher>(r.spec.grammar);
  std::span<const uint64_t> allowed;
  if (r.matcher) {
    allowed = r.matcher->mask().words;
    if (r.matcher->failed())
      return finish(id, FinishReason::kError, "the grammar became too ambiguous to follow (over 4096 live parses)");
  }
  ev.token = r.sampler->sample(row, history, allowed);
  if (ev.token < 0) return finish(id, FinishReason::kError, "the grammar allows no token of this vocabulary here");
  apply_reasoning_budget(r, history, allowed, ev.token);
  if (r.matcher) {
    // The mask allowed it, so the matcher takes it (its state moves on for the next mask) unless
    // the grammar turned too ambiguous to follow with the whole stack in view: end the request,
    // never the server.
    if (!r.matcher->accept(ev.token))
      return finish(id, FinishReason::kError, "the grammar became too ambiguous to follow (over 4096 live parses)");
  } else if (r.spec.grammar) {
    start_grammar_after(r, ev.token);
  }
  if (r.spec.top_logprobs >= 0) {
    // Log-probabilities of the model's distribution (the raw logits), as vLLM reports them.
    float max = row[0];
    for (float v : row) max = std::max(max, v);
    double sum = 0;
    for (float v : row) sum += std::exp(double(v) - max);
    const float log_z = max + static_cast<float>(std::log(sum));
    ev.logprob = row[size_t(ev.token)] - log_z;
    const int k = std::min<int>(r.spec.top_logprobs, n_vocab_);
    if (k > 0) {
      order_.resize(size_t(n_vocab_));
      for (int32_t i = 0; i < n_vocab_; ++i) order_[size_t(i)] = i;
      std::partial_sort(order_.begin(), order_.begin() + k, order_.end(), [&](int32_t a, int32_t b) {
        return row[size_t(a)] > row[size_t(b)] || (row[size_t(a)] == row[size_t(b)] && a < b);
      });
      for (int i = 0; i < k; ++i) ev.top.push_back({order_[size_t(i)], row[size_t(order_[size_t(i)])] - log_z});
    }
  }
  scheduler_.append(id, ev.token);
  const auto now = Clock::now();
  {
    std::lock_guard lock(mutex_);
    metrics_.generation_tokens++;
    if (!r.has_token) metrics_.ttft.observe(std::chrono::duration<double>(now - r.arrival).count());
    else metrics_.itl.observe(std::chrono::duration<double>(now - r.last_token).count());
  }
  r.has_token = true;
  r.last_token = now;

  if (!r.spec.ignore_eos && eog_.count(ev.token)) return finish(id, FinishReason::kStop);
  if (r.spec.on_token && !r.spec.on_token(ev)) return finish(id, FinishReason::kStop);
  // A complete grammar allows only end-of-generation: stop now rather than spend a step on it.
  // A grammar that started after an opener (a tool call under auto) has matched its call: the
  // output is free again until the next opener.
  if (r.matcher && r.matcher->finished()) {
    if (r.spec.grammar_after.empty()) return finish(id, FinishReason::kStop);
    r.matcher.reset();
  }
  if (s.generated() >= r.spec.max_tokens || static_cast<int64_t>(s.tokens.size()) >= max_context_)
    return finish(id, FinishReason::kLength);
}

// Counts reasoning tokens and, once the budget is spent, closes the reasoning: the close tokens
// replace the sampled ones, one per step (while the grammar, when there is one, allows them).
void Engine::apply_reasoning_budget(Request& r, std::span<const int32_t> generated, std::span<const uint64_t> allowed,
                                    int32_t& token) {
  const RequestSpec& sp = r.spec;
  if (sp.reasoning_budget < 0 || sp.reasoning_close.empty()) return;
  const auto n = static_cast<int64_t>(generated.size());
  const auto n_open = static_cast<int64_t>(sp.reasoning_open.size());
  if (r.reasoning_tokens == -1 && !r.reasoning_done) {
    // Reasoning starts with the output (the prompt opened it) or with the open tokens.
    if (sp.reasoning_at_start && n == 0) r.reasoning_tokens = 0;
    if (n_open > 0 && n + 1 == n_open && std::equal(generated.begin(), generated.end(), sp.reasoning_open.begin()) &&
        token == sp.reasoning_open.back())
      r.reasoning_tokens = 0;
  }
  if (r.reasoning_tokens < 0) return;
  auto allows = [&](int32_t t) {
    const auto u = static_cast<size_t>(t);
    return allowed.empty() || (u / 64 < allowed.size() && ((allowed[u / 64] >> (u % 64)) & 1));
  };
  if (r.closing > 0 || r.reasoning_tokens >= sp.reasoning_budget) {
    const int32_t want = sp.reasoning_close[r.closing];
    if (allows(want)) {
      token = want;
      if (++r.closing == sp.reasoning_close.size()) {
        r.reasoning_tokens = -1;
        r.reasoning_done = true;
      }
      return;
    }
  }
  // The model closing on its own: the close tokens just came out.
  const size_t k = sp.reasoning_close.size();
  if (token == sp.reasoning_close.back() && generated.size() + 1 >= k &&
      std::equal(sp.reasoning_close.begin(), sp.reasoning_close.end() - 1, generated.end() - (k - 1))) {
    r.reasoning_tokens = -1;
    r.reasoning_done = true;
    return;
  }
  ++r.reasoning_tokens;
}

// Watches the free output for spec.grammar_after; the grammar takes over from the bytes after
// it. If those bytes already break the grammar, the constraint is dropped (the output goes on
// free, as it would have without the trigger) rather than failing the request.
void Engine::start_grammar_after(Request& r, int32_t token) {
  const grammar::TokenVocab& vocab = r.spec.grammar->vocab();
  if (token >= vocab.n_vocab()) return;
  r.before_grammar += vocab.piece(token);
  const std::string& trigger = r.spec.grammar_after;
  const size_t at = r.before_grammar.find(trigger);
  if (at == std::string::npos) {
    if (r.before_grammar.size() >= trigger.size()) r.before_grammar.erase(0, r.before_grammar.size() - trigger.size() + 1);
    return;
  }
  r.matcher = std::make_unique<grammar::GrammarMatcher>(r.spec.grammar);
  if (!r.matcher->accept_bytes(std::string_view(r.before_grammar).substr(at + trigger.size()))) {
    r.matcher.reset();
    r.spec.grammar.reset();
  }
  r.before_grammar.clear();
}

// The plan's admissions and preemptions in the metrics and the queue count.
void Engine::account(const StepPlan& plan) {
  std::lock_guard lock(mutex_);
  metrics_.preemptions += plan.preempted.size();
  for (uint64_t id : plan.preempted) state_slots_.release(id);  // recomputed from its first token
  metrics_.state_slots_in_use = state_slots_.in_use();
  queued_ += static_cast<int64_t>(plan.preempted.size());
  for (const StepPlan::Admission& a : plan.admitted) {
    --queued_;
    const Request& r = *requests_.at(a.id);
    if (options_.prefix_caching) {
      metrics_.prefix_cache_queries += static_cast<uint64_t>(scheduler_.find(a.id)->tokens.size());
      metrics_.prefix_cache_hits += static_cast<uint64_t>(a.matched_tokens);
    }
    if (a.first_time) {
      metrics_.prompt_tokens += static_cast<uint64_t>(r.n_prompt);
      metrics_.prompt_len.observe(double(r.n_prompt));
      metrics_.queue_time.observe(std::chrono::duration<double>(Clock::now() - r.arrival).count());
    }
  }
}

void Engine::publish_gauges() {
  std::lock_guard lock(mutex_);
  metrics_.running = scheduler_.n_running();
  metrics_.waiting = queued_;
  metrics_.kv_blocks_in_use = scheduler_.blocks().in_use();
  metrics_.kv_blocks_cached = scheduler_.blocks().cached();
  metrics_.kv_window_blocks_in_use = scheduler_.window_blocks().in_use();
  metrics_.kv_window_blocks_cached = scheduler_.window_blocks().cached();
  metrics_.state_snapshots_cached = scheduler_.snapshots().published();
}

void Engine::propose_drafts() {
  const int64_t n = scheduler_.n_running();
  if (!options_.spec_ngram || n == 0 || n > options_.spec_max_running || scheduler_.n_waiting() > 0) return;
  const int64_t k = std::min(options_.spec_draft_max, options_.spec_step_tokens / n - 1);
  if (k <= 0) return;
  for (uint64_t id : scheduler_.running()) {
    const ScheduledSeq& s = *scheduler_.find(id);
    if (s.pending() != 1 || s.n_draft > 0 || requests_.at(id)->pooler) continue;
    const int64_t room = max_context_ - static_cast<int64_t>(s.tokens.size());
    if (room <= 0) continue;
    Result<std::vector<int32_t>> drafts = ngram_.draft(s.tokens, std::min(k, room));
    if (drafts.ok()) scheduler_.set_drafts(id, *drafts);
  }
}

bool Engine::step() {
  take_submissions();
  if (scheduler_.n_running() == 0 && scheduler_.n_waiting() == 0) {
    publish_gauges();  // cancellations may just have emptied both
    return false;
  }
  propose_drafts();
  const StepPlan plan = scheduler_.schedule();
  account(plan);
  if (plan.empty() && scheduler_.n_running() == 0) {
    // Every block is free and the next sequence still does not fit: it never will (the context
    // limit keeps this from happening; never spin on it).
    const uint64_t id = *scheduler_.next_waiting();
    {
      std::lock_guard lock(mutex_);
      --queued_;
    }
    finish(id, FinishReason::kError, "the sequence does not fit in the KV cache");
  }

  if (!plan.empty()) {
    // Execute: the plan's tokens as one batch, each sequence's tokens contiguous. A generation
    // request wants its last token's logits once it reaches the end of its known tokens; an
    // embedding request the hidden states its pooling reads.
    batch_.clear();
    for (size_t index = 0; index < plan.runs.size(); ++index) {
      const StepPlan::Run& run = plan.runs[index];
      const ScheduledSeq& s = *scheduler_.find(run.id);
      Pooler* pooler = requests_.at(run.id)->pooler.get();
      if (pooler && run.first == 0) pooler->reset();  // recomputed from the start after a preemption
      batch_.block_tables.push_back(s.table);
      if (kv_.has_window_group()) batch_.window_tables.push_back(s.window_table);
      if (kv_.n_state_slots() > 0) {  // snapshots live in the slots after the running sequences'
        const int32_t first_snapshot = static_cast<int32_t>(options_.max_running);
        batch_.state_slots.push_back(state_slots_.slot_of(run.id));
        batch_.resume_from.push_back(run.resume_from >= 0 ? first_snapshot + run.resume_from : -1);
        batch_.snapshot_slots.push_back(run.snapshot >= 0 ? first_snapshot + run.snapshot : -1);
        batch_.snapshot_at.push_back(static_cast<int32_t>(run.snapshot_at));
      }
      for (int64_t i = 0; i < run.count; ++i) {
        const int64_t pos = run.first + i;
        const TokenOutput out = pooler ? (pooler->reads(pos, s.n_prompt) ? TokenOutput::kHidden : TokenOutput::kNone)
                                : run.logits && i >= run.count - run.n_logits ? TokenOutput::kLogits
                                                                   : TokenOutput::kNone;
        batch_.add(s.tokens[size_t(pos)], static_cast<int32_t>(pos), static_cast<int32_t>(index), out);
      }
    }
    const int64_t n_embd = model_.hparams().n_embd;
    logits_.resize(static_cast<size_t>(batch_.n_logits() * n_vocab_));
    hidden_.resize(static_cast<size_t>(batch_.n_outputs(TokenOutput::kHidden) * n_embd));
    Status st = model_.forward_batch(batch_, kv_, logits_.data(), hidden_.data());
    {
      std::lock_guard lock(mutex_);
      metrics_.steps++;
      metrics_.batched_tokens += batch_.size();
    }
    if (!st.ok()) {
      scheduler_.abandon(plan);
      for (const StepPlan::Run& run : plan.runs) finish(run.id, FinishReason::kError, st.message());
    } else {
      // Commit, then sample every sequence that reached the end of its known tokens, and finish
      // every embedding request whose prompt is all computed.
      scheduler_.commit(plan);
      const float* row = logits_.data();
      const float* hidden = hidden_.data();
      size_t t = 0;
      for (const StepPlan::Run& run : plan.runs) {
        Pooler* pooler = requests_.at(run.id)->pooler.get();
        for (int64_t i = 0; i < run.count; ++i, ++t) {
          if (batch_.outputs[t] != TokenOutput::kHidden) continue;
          pooler->add(std::span<const float>(hidden, size_t(n_embd)));
          hidden += n_embd;
        }
        if (!run.logits) continue;
        if (pooler) {
          std::vector<float> pooled = pooler->result();
          if (requests_.at(run.id)->spec.pooling == Pooling::kRank) {
            std::vector<float> probs;
            const Status cs = model_.classify(pooled, probs);
            if (!cs.ok()) {
              finish(run.id, FinishReason::kError, cs.message());
              continue;
            }
            pooled = std::move(probs);
          } else {
            model_.project_pooled(pooled);  // Dense modules (EmbeddingGemma), if the model has them
          }
          finish(run.id, FinishReason::kStop, {}, std::move(pooled));
          continue;
        }
        // A decode run with drafts has a row for its pending token and each draft: each row's
        // token is drawn as plain decoding would draw it, and while it equals the draft at its
        // position that draft's keys and values stand (the next row is then plain decoding's next).
        const std::vector<int32_t> drafts = scheduler_.take_drafts(run.id);
        int64_t accepted = 0;
        for (size_t i = 0; i <= drafts.size(); ++i) {
          sample(run.id, row + i * size_t(n_vocab_));
          const ScheduledSeq* s = scheduler_.find(run.id);
          if (s == nullptr || i == drafts.size() || s->tokens.back() != drafts[i]) break;
          scheduler_.accept_computed(run.id);
          ++accepted;
        }
        if (!drafts.empty()) {
          std::lock_guard lock(mutex_);
          metrics_.spec_drafted += drafts.size();
          metrics_.spec_accepted += uint64_t(accepted);
        }
        row += size_t(run.n_logits) * size_t(n_vocab_);
      }
    }
  }

  publish_gauges();
  wake_.notify_all();  // drain() waits on the gauges
  return true;
}

}  // namespace hearth::engine
