#include "engine/engine.h"

#include <algorithm>
#include <cmath>

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

int64_t blocks_for_budget(const HParams& hp, int64_t block_size, uint64_t bytes) {
  const uint64_t per_block = KvCache::bytes_per_block(hp.n_layer, hp.kv_dim(), block_size);
  return per_block == 0 ? 0 : static_cast<int64_t>(bytes / per_block);
}

struct Engine::Sequence {
  uint64_t id = 0;
  RequestSpec spec;
  std::vector<int32_t> tokens;  // prompt, then generated
  int64_t n_prompt = 0;
  int64_t n_computed = 0;       // tokens whose keys and values are in the cache
  std::vector<int32_t> table;   // block table
  std::vector<uint64_t> hashes; // chain hashes of the leading full blocks
  std::unique_ptr<Sampler> sampler;
  int64_t cached_tokens = 0;
  bool admitted_once = false;
  bool done = false;            // finished or moved back to waiting: leaves running_ after the step
  Clock::time_point arrival, last_token;
  bool has_token = false;

  int64_t generated() const { return static_cast<int64_t>(tokens.size()) - n_prompt; }
  int64_t pending() const { return static_cast<int64_t>(tokens.size()) - n_computed; }
};

Engine::Engine(Transformer& model, std::unordered_set<int32_t> eog, const EngineOptions& options)
    : model_(model),
      eog_(std::move(eog)),
      options_(options),
      n_vocab_(static_cast<int32_t>(model.hparams().n_vocab)),
      kv_(model.hparams().n_layer, model.hparams().kv_dim(), options.block_size, options.n_blocks),
      blocks_(options.n_blocks, options.block_size) {
  const int64_t capacity = options.n_blocks * options.block_size;
  const int64_t model_ctx = options.max_context > 0 ? options.max_context : model.hparams().n_ctx_train;
  max_context_ = std::min(model_ctx, capacity);
  options_.max_step_tokens = std::max(options_.max_step_tokens, options_.max_running);
  metrics_.kv_blocks_total = options.n_blocks;
  metrics_.block_size = options.block_size;
  thread_ = std::thread([this] { run(); });
}

Engine::~Engine() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Engine::Submitted Engine::submit(RequestSpec spec) {
  auto s = std::make_unique<Sequence>();
  s->tokens = std::move(spec.prompt);
  s->n_prompt = static_cast<int64_t>(s->tokens.size());
  s->spec = std::move(spec);
  s->arrival = Clock::now();
  if (s->n_prompt == 0 || s->n_prompt >= max_context_) return {0, SubmitError::kTooLong};
  std::lock_guard lock(mutex_);
  if (!admitting_ || stop_) return {0, SubmitError::kStopped};
  if (queued_ >= options_.max_waiting) return {0, SubmitError::kQueueFull};
  s->id = next_id_++;
  const uint64_t id = s->id;
  incoming_.push_back(std::move(s));
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
    if (step()) continue;
    std::unique_lock lock(mutex_);
    if (stop_) break;
    wake_.wait(lock, [&] { return stop_ || !incoming_.empty() || !cancelled_.empty(); });
    if (stop_) break;
  }
  // Nothing may be left hanging: everyone still here is told the engine stopped.
  for (auto& s : running_)
    if (!s->done) finish(*s, FinishReason::kAbort);
  for (auto& s : waiting_) finish(*s, FinishReason::kAbort);
  std::lock_guard lock(mutex_);
  for (auto& s : incoming_) {
    FinishEvent ev;
    ev.reason = FinishReason::kAbort;
    ev.prompt_tokens = s->n_prompt;
    if (s->spec.on_finish) s->spec.on_finish(ev);
  }
  incoming_.clear();
}

void Engine::take_submissions() {
  std::unordered_set<uint64_t> cancelled;
  {
    std::lock_guard lock(mutex_);
    while (!incoming_.empty()) {
      waiting_.push_back(std::move(incoming_.front()));
      incoming_.pop_front();
    }
    cancelled.swap(cancelled_);
  }
  if (cancelled.empty()) return;
  for (auto& s : running_)
    if (!s->done && cancelled.count(s->id)) finish(*s, FinishReason::kAbort);
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (cancelled.count((*it)->id)) {
      finish(**it, FinishReason::kAbort);
      it = waiting_.erase(it);
      std::lock_guard lock(mutex_);
      --queued_;
    } else {
      ++it;
    }
  }
}

void Engine::release_blocks(Sequence& s) {
  register_full_blocks(s);
  for (int32_t b : s.table) blocks_.release(b);
  s.table.clear();
  s.hashes.clear();
  s.n_computed = 0;
}

void Engine::register_full_blocks(Sequence& s) {
  if (!options_.prefix_caching) return;
  const int64_t bs = options_.block_size;
  while (static_cast<int64_t>(s.hashes.size() + 1) * bs <= s.n_computed) {
    const size_t i = s.hashes.size();
    const std::span<const int32_t> block_tokens(s.tokens.data() + i * size_t(bs), size_t(bs));
    const uint64_t h = BlockManager::chain_hash(i == 0 ? 0 : s.hashes.back(), block_tokens);
    blocks_.register_full(s.table[i], h, block_tokens);
    s.hashes.push_back(h);
  }
}

void Engine::finish(Sequence& s, FinishReason reason, std::string error) {
  release_blocks(s);
  s.done = true;
  FinishEvent ev;
  ev.reason = reason;
  ev.prompt_tokens = s.n_prompt;
  ev.completion_tokens = s.generated();
  ev.cached_tokens = s.cached_tokens;
  ev.error = std::move(error);
  {
    std::lock_guard lock(mutex_);
    // Before the callback: whoever learns of the finish sees the blocks already free.
    metrics_.kv_blocks_in_use = blocks_.in_use();
    metrics_.kv_blocks_cached = blocks_.cached();
    metrics_.finished[static_cast<size_t>(reason)]++;
    --unfinished_;
    metrics_.e2e.observe(std::chrono::duration<double>(Clock::now() - s.arrival).count());
    if (s.admitted_once) metrics_.generation_len.observe(double(s.generated()));
  }
  if (s.spec.on_finish) s.spec.on_finish(ev);
}

bool Engine::admit(Sequence& s) {
  const int64_t bs = options_.block_size;
  const auto n = static_cast<int64_t>(s.tokens.size());
  const int64_t needed = (n + bs - 1) / bs;
  int64_t matched = 0;
  // At least the last token is computed again: its logits are what the next token comes from.
  if (options_.prefix_caching) matched = blocks_.take_prefix(s.tokens, (n - 1) / bs, s.table, s.hashes);
  if (blocks_.available() < needed - matched) {
    for (int32_t b : s.table) blocks_.release(b);
    s.table.clear();
    s.hashes.clear();
    return false;
  }
  for (int64_t i = matched; i < needed; ++i) s.table.push_back(*blocks_.allocate());
  s.n_computed = matched * bs;
  if (!s.sampler) s.sampler = std::make_unique<Sampler>(s.spec.sampling, n_vocab_);
  std::lock_guard lock(mutex_);
  --queued_;
  if (options_.prefix_caching) {
    metrics_.prefix_cache_queries += static_cast<uint64_t>(n);
    metrics_.prefix_cache_hits += static_cast<uint64_t>(matched * bs);
  }
  if (!s.admitted_once) {
    s.admitted_once = true;
    s.cached_tokens = matched * bs;
    metrics_.prompt_tokens += static_cast<uint64_t>(s.n_prompt);
    metrics_.prompt_len.observe(double(s.n_prompt));
    metrics_.queue_time.observe(std::chrono::duration<double>(Clock::now() - s.arrival).count());
  }
  return true;
}

bool Engine::grow_for_next_token(Sequence& s) {
  const int64_t bs = options_.block_size;
  if (s.n_computed / bs < static_cast<int64_t>(s.table.size())) return true;
  std::optional<int32_t> b = blocks_.allocate();
  if (!b) return false;
  s.table.push_back(*b);
  return true;
}

void Engine::preempt(Sequence& s) {
  release_blocks(s);
  s.done = true;
  {
    std::lock_guard lock(mutex_);
    metrics_.preemptions++;
    ++queued_;
  }
  // Requeued first: it was admitted before everyone waiting.
  auto it = std::find_if(running_.begin(), running_.end(), [&](const auto& p) { return p.get() == &s; });
  waiting_.push_front(std::move(*it));
}

void Engine::sample(Sequence& s, const float* logits) {
  const std::span<const float> row(logits, static_cast<size_t>(n_vocab_));
  // Penalties look at the completion, as OpenAI's presence/frequency penalties are defined.
  const std::span<const int32_t> history(s.tokens.data() + s.n_prompt, static_cast<size_t>(s.generated()));
  TokenEvent ev;
  ev.token = s.sampler->sample(row, history);
  if (s.spec.top_logprobs >= 0) {
    // Log-probabilities of the model's distribution (the raw logits), as vLLM reports them.
    float max = row[0];
    for (float v : row) max = std::max(max, v);
    double sum = 0;
    for (float v : row) sum += std::exp(double(v) - max);
    const float log_z = max + static_cast<float>(std::log(sum));
    ev.logprob = row[size_t(ev.token)] - log_z;
    const int k = std::min<int>(s.spec.top_logprobs, n_vocab_);
    if (k > 0) {
      order_.resize(size_t(n_vocab_));
      for (int32_t i = 0; i < n_vocab_; ++i) order_[size_t(i)] = i;
      std::partial_sort(order_.begin(), order_.begin() + k, order_.end(), [&](int32_t a, int32_t b) {
        return row[size_t(a)] > row[size_t(b)] || (row[size_t(a)] == row[size_t(b)] && a < b);
      });
      for (int i = 0; i < k; ++i) ev.top.push_back({order_[size_t(i)], row[size_t(order_[size_t(i)])] - log_z});
    }
  }
  s.tokens.push_back(ev.token);
  const auto now = Clock::now();
  {
    std::lock_guard lock(mutex_);
    metrics_.generation_tokens++;
    if (!s.has_token) metrics_.ttft.observe(std::chrono::duration<double>(now - s.arrival).count());
    else metrics_.itl.observe(std::chrono::duration<double>(now - s.last_token).count());
  }
  s.has_token = true;
  s.last_token = now;

  if (!s.spec.ignore_eos && eog_.count(ev.token)) return finish(s, FinishReason::kStop);
  if (s.spec.on_token && !s.spec.on_token(ev)) return finish(s, FinishReason::kStop);
  if (s.generated() >= s.spec.max_tokens || static_cast<int64_t>(s.tokens.size()) >= max_context_)
    return finish(s, FinishReason::kLength);
}

bool Engine::step() {
  take_submissions();
  if (running_.empty() && waiting_.empty()) return false;
  batch_.clear();
  std::vector<Sequence*>& in_batch = in_batch_;  // the batch's sequences, in batch order
  in_batch.clear();
  int64_t budget = options_.max_step_tokens;

  auto add_tokens = [&](Sequence& s, int64_t count) {
    const auto index = static_cast<int32_t>(in_batch.size());
    in_batch.push_back(&s);
    batch_.block_tables.push_back(s.table);
    for (int64_t i = 0; i < count; ++i) {
      const int64_t pos = s.n_computed + i;
      batch_.add(s.tokens[size_t(pos)], static_cast<int32_t>(pos), index,
                 pos == static_cast<int64_t>(s.tokens.size()) - 1);
    }
    budget -= count;
  };

  // Decode: one token for every sequence past its prompt. Short of blocks, the newest running
  // sequence makes room (possibly this one).
  for (size_t i = 0; i < running_.size(); ++i) {
    if (running_[i] == nullptr) continue;  // preempted just now
    Sequence& s = *running_[i];
    if (s.done || s.pending() != 1) continue;
    while (!grow_for_next_token(s)) {
      Sequence* victim = nullptr;
      for (size_t j = running_.size(); j-- > 0;)
        if (running_[j] != nullptr && !running_[j]->done) {
          victim = running_[j].get();
          break;
        }
      // The victim may already have tokens in this batch: take them out again.
      for (size_t k = 0; k < in_batch.size(); ++k)
        if (in_batch[k] == victim) in_batch[k] = nullptr;
      preempt(*victim);
      if (victim == &s) break;
    }
    if (!s.done) add_tokens(s, 1);
  }
  // Drop batch entries of preempted sequences (rare): rebuild the batch without them.
  if (std::find(in_batch.begin(), in_batch.end(), nullptr) != in_batch.end()) {
    std::vector<Sequence*> kept;  // rare: only when a sequence was preempted this step
    for (Sequence* s : in_batch)
      if (s) kept.push_back(s);
    batch_.clear();
    in_batch.clear();
    budget = options_.max_step_tokens;
    for (Sequence* s : kept) add_tokens(*s, 1);
  }
  running_.erase(std::remove_if(running_.begin(), running_.end(), [](const auto& p) { return p == nullptr; }),
                 running_.end());

  // Prefill: continue the running sequences' prompts, then admit waiting ones, in order.
  for (auto& p : running_) {
    Sequence& s = *p;
    if (budget <= 0) break;
    if (s.done || s.pending() <= 1) continue;
    add_tokens(s, std::min(budget, s.pending()));
  }
  while (budget > 0 && !waiting_.empty() &&
         static_cast<int64_t>(running_.size()) < options_.max_running) {
    Sequence& s = *waiting_.front();
    if (!admit(s)) break;
    s.done = false;
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
    add_tokens(s, std::min(budget, s.pending()));
  }

  if (batch_.size() > 0) {
    logits_.resize(static_cast<size_t>(batch_.n_logits() * n_vocab_));
    Status st = model_.forward_batch(batch_, kv_, logits_.data());
    {
      std::lock_guard lock(mutex_);
      metrics_.steps++;
      metrics_.batched_tokens += batch_.size();
    }
    if (!st.ok()) {
      for (Sequence* s : in_batch) finish(*s, FinishReason::kError, st.message());
    } else {
      // Tokens of a sequence are contiguous in the batch; walk them in order.
      const float* row = logits_.data();
      size_t t = 0;
      for (size_t index = 0; index < in_batch.size(); ++index) {
        Sequence* s = in_batch[index];
        int64_t count = 0;
        bool wants = false;
        while (t < batch_.size() && batch_.seq[t] == static_cast<int32_t>(index)) {
          wants = wants || batch_.want_logits[t];
          ++count;
          ++t;
        }
        s->n_computed += count;
        register_full_blocks(*s);
        if (wants) {
          sample(*s, row);
          row += n_vocab_;
        }
      }
    }
  }

  running_.erase(std::remove_if(running_.begin(), running_.end(), [](const auto& p) { return p->done; }),
                 running_.end());
  {
    std::lock_guard lock(mutex_);
    metrics_.running = static_cast<int64_t>(running_.size());
    metrics_.waiting = queued_;
    metrics_.kv_blocks_in_use = blocks_.in_use();
    metrics_.kv_blocks_cached = blocks_.cached();
  }
  wake_.notify_all();  // drain() waits on the gauges
  return true;
}

}  // namespace hearth::engine
