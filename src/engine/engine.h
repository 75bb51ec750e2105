// The serving engine: continuous batching over a paged KV cache.
//
// One thread runs steps. A step is schedule() -> plan -> execute -> commit: the scheduler
// (engine/scheduler.h, plain data, tested without a model) picks one token from every sequence
// that is decoding plus chunks of the prompts being prefilled (up to a token budget, so a long
// prompt does not stall everyone's decode), admitting and preempting as KV blocks allow; the
// engine runs the plan's tokens through one forward pass (each weight matrix read once for the
// whole batch), commits them, samples a token for every sequence that reached the end of its
// known tokens, and hands it to the request's callback. Requests join and leave between steps.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/result.h"
#include "engine/metrics.h"
#include "engine/scheduler.h"
#include "grammar/matcher.h"
#include "model/kv_cache.h"
#include "model/pooling.h"
#include "engine/speculative.h"
#include "engine/state_slots.h"
#include "model/transformer.h"
#include "sampling/sampler.h"

namespace hearth::engine {

struct EngineOptions {
  int64_t block_size = 16;
  int64_t n_blocks = 0;             // KV cache size in blocks (see blocks_for_budget)
  int64_t max_running = 64;         // sequences decoding at once
  int64_t max_step_tokens = 256;    // tokens per step (decode tokens + prefill chunks)
  int64_t max_waiting = 256;        // queued requests beyond which submit refuses
  int64_t max_context = 0;          // tokens per sequence, prompt + generated (0: the model's)
  bool prefix_caching = true;
  // Models with recurrent layers: snapshots of their state kept for prefix reuse (scheduler.h),
  // each as large as a running sequence's state.
  int64_t state_snapshots = 8;
  // Speculative decoding by prompt lookup (engine/speculative.h): drafts checked in the decode
  // run, output unchanged. It pays while decoding is memory-bound, so it is on only while few
  // sequences decode and none wait: at most spec_max_running sequences, each drafting so that
  // the step stays within spec_step_tokens tokens, and at most spec_draft_max per sequence.
  bool spec_ngram = false;
  int64_t spec_draft_max = 16;
  int64_t spec_max_running = 4;
  int64_t spec_step_tokens = 32;
  // KV-cache events for prefix-aware routers (server/kv_events.h): called on the engine thread
  // after each step that stored or evicted cached blocks, and with one kCleared event when the
  // engine goes away. Keep it short (hand the events to another thread).
  std::function<void(std::vector<CacheEvent>)> on_cache_events;
};

// Full-group blocks that fit in `bytes` of KV memory for this model with these options (block
// size, max_running, max_step_tokens), beside the window group they imply and the recurrent
// layers' state slots, one per running sequence (model/kv_cache.h).
int64_t blocks_for_budget(const HParams& hp, const EngineOptions& options, uint64_t bytes);

struct TokenLogprob {
  int32_t token;
  float logprob;
};

struct TokenEvent {
  int32_t token = 0;
  float logprob = 0;                // of the chosen token under the model's distribution
  std::vector<TokenLogprob> top;    // the most likely alternatives, when asked
};

struct FinishEvent {
  FinishReason reason = FinishReason::kStop;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;        // prompt tokens whose KV came from the prefix cache
  std::string error;
  std::vector<float> embedding;     // an embedding request's pooled vector (not normalised), or a
                                    // reranker's class probabilities (Transformer::classify)
};

struct RequestSpec {
  std::vector<int32_t> prompt;
  SamplingParams sampling;
  int64_t max_tokens = 16;
  bool ignore_eos = false;
  int top_logprobs = -1;            // -1: no logprobs; 0..20: the chosen token's and this many more
  // Not kNone: an embedding request. The prompt is computed (batched with everyone else's tokens)
  // and pooled this way (model/pooling.h); it finishes with the embedding, generating nothing.
  Pooling pooling = Pooling::kNone;
  // Constrained decoding: every sampled token keeps the output inside this grammar, and the
  // request stops as soon as the grammar is complete.
  std::shared_ptr<const grammar::CompiledGrammar> grammar;
  // The grammar starts once this text has been generated (reasoning ends with "</think>"; a
  // tool call opens with "<tool_call>"), with whatever followed it in the same token; before, the
  // output is free. Empty: from the first token.
  std::string grammar_after;
  // A reasoning budget: once this many tokens of reasoning are out (the output began with
  // reasoning_open's tokens, or reasoning_at_start), reasoning_close's tokens are forced in place
  // of the next sampled ones. -1: no budget. (<think> and </think>: one token each in Qwen3 and
  // R1 vocabularies, a few elsewhere.)
  int64_t reasoning_budget = -1;
  std::vector<int32_t> reasoning_open;
  std::vector<int32_t> reasoning_close;
  bool reasoning_at_start = false;
  // Both run on the engine thread and must be quick. on_token returns false to finish the
  // request (a stop string matched); on_finish is called exactly once, last.
  std::function<bool(const TokenEvent&)> on_token;
  std::function<void(const FinishEvent&)> on_finish;
};

enum class SubmitError { kNone, kQueueFull, kTooLong, kStopped };

class Engine {
 public:
  // `eog` are the tokens that end generation. The transformer must outlive the engine.
  Engine(Transformer& model, std::unordered_set<int32_t> eog, const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a request; its id, or why it cannot be queued (nothing is called back then).
  struct Submitted {
    uint64_t id = 0;
    SubmitError error = SubmitError::kNone;
  };
  Submitted submit(RequestSpec spec);

  // Finishes a request (reason kAbort) and frees its blocks at the next step boundary.
  void cancel(uint64_t id);

  // Stops admitting; running and queued requests go on. drain() then waits until all are done
  // or `grace` passes, cancels the rest, and stops the thread.
  void stop_admitting();
  void drain(std::chrono::milliseconds grace);

  EngineMetrics metrics() const;  // a snapshot
  int64_t max_context() const { return max_context_; }
  int64_t capacity_tokens() const { return options_.n_blocks * options_.block_size; }
  uint64_t kv_bytes() const { return kv_.bytes(); }
  // Blocks of the sliding-window layers' pool (model/kv_cache.h; 0 without such layers).
  int64_t window_blocks() const { return kv_.n_blocks(KvGroup::kWindow); }
  const EngineOptions& options() const { return options_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Request;

  void run();
  bool step();  // false when there was nothing to do
  void take_submissions();
  // Prompt-lookup drafts for the decoding sequences, when the batch is small enough to gain.
  void propose_drafts();
  void account(const StepPlan& plan);
  void publish_gauges();
  // Finishes request `id`, wherever it is (callback last); it is gone afterwards.
  void finish(uint64_t id, FinishReason reason, std::string error = {}, std::vector<float> embedding = {});
  // Samples the next token of request `id` from its logits row; may finish it.
  void sample(uint64_t id, const float* logits);
  void start_grammar_after(Request& r, int32_t token);
  void apply_reasoning_budget(Request& r, std::span<const int32_t> generated, std::span<const uint64_t> allowed,
                              int32_t& token);

  Transformer& model_;
  std::unordered_set<int32_t> eog_;
  EngineOptions options_;
  int64_t max_context_;
  int32_t n_vocab_;
  KvCache kv_;

  // Shared with submitters.
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Request>> incoming_;
  std::unordered_set<uint64_t> cancelled_;
  uint64_t next_id_ = 1;
  bool admitting_ = true;
  bool stop_ = false;
  int64_t queued_ = 0;  // incoming + waiting, for the bound
  int64_t unfinished_ = 0;  // submitted and not yet finished: what drain() waits for
  EngineMetrics metrics_;

  // Engine thread only.
  Scheduler scheduler_;
  std::unordered_map<uint64_t, std::unique_ptr<Request>> requests_;  // waiting and running
  Batch batch_;
  std::vector<float> logits_;
  std::vector<float> hidden_;  // the batch's kHidden rows, for embedding requests
  std::vector<float> scratch_;
  std::vector<int32_t> order_;
  NgramDrafter ngram_;
  StateSlots state_slots_;  // recurrent layers' state, per running sequence
  std::thread thread_;
};

}  // namespace hearth::engine
