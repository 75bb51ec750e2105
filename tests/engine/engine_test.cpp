// The serving engine against the one-sequence forward pass (the path the peer tests hold against
// llama.cpp): greedy generations must be token-for-token the same whether a request runs alone,
// in a batch, with its prefix from the cache, chunked, or after being preempted.
#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <random>

#include "engine/block_manager.h"
#include "engine/engine.h"
#include "engine/test_model_files.h"
#include "model/transformer.h"

namespace hearth::engine {
namespace {

const std::string kTmp = std::string(HEARTH_TEST_TMP) + "/engine";

const ModelFile& tiny_model() {
  // Lives for the whole test binary.
  static ModelFile* model = new ModelFile(test::open_test_model(kTmp, "qwen2.5-tiny", "q8_0", 5));
  return *model;
}

std::vector<int32_t> random_prompt(uint32_t seed, size_t n, int32_t n_vocab) {
  std::mt19937 rng(seed);
  std::vector<int32_t> p(n);
  for (auto& t : p) t = static_cast<int32_t>(rng() % uint32_t(n_vocab));
  return p;
}

// The references run one sequence through the transformer's own cache.
std::unique_ptr<Transformer> alone_transformer(const ModelFile& model = tiny_model()) {
  TransformerOptions o;
  o.n_ctx = 512;
  o.n_threads = 2;
  auto tf = Transformer::create(model, o);
  EXPECT_TRUE(tf.ok());
  return std::move(*tf);
}

// The reference: argmax each step.
std::vector<int32_t> greedy_alone(const std::vector<int32_t>& prompt, int64_t n,
                                  const ModelFile& model = tiny_model()) {
  auto tf = alone_transformer(model);
  std::vector<float> logits;
  std::vector<int32_t> out;
  EXPECT_TRUE(tf->forward(prompt, false, logits).ok());
  for (int64_t i = 0; i < n; ++i) {
    const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(next);
    const int32_t one[1] = {next};
    EXPECT_TRUE(tf->forward(one, false, logits).ok());
  }
  return out;
}

struct Outcome {
  std::vector<int32_t> tokens;
  FinishEvent finish;
};

// Submits every prompt at once and waits for all of them.
std::vector<Outcome> run_engine(Engine& engine, const std::vector<std::vector<int32_t>>& prompts, int64_t n,
                                std::vector<uint64_t>* ids = nullptr, float temperature = 0) {
  std::vector<Outcome> out(prompts.size());
  std::mutex m;
  std::condition_variable cv;
  size_t done = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    RequestSpec spec;
    spec.prompt = prompts[i];
    spec.sampling.temperature = temperature;
    spec.sampling.seed = 3 + i;
    spec.max_tokens = n;
    spec.ignore_eos = true;
    spec.on_token = [&, i](const TokenEvent& ev) {
      out[i].tokens.push_back(ev.token);
      return true;
    };
    spec.on_finish = [&, i](const FinishEvent& f) {
      std::lock_guard lock(m);
      out[i].finish = f;
      ++done;
      cv.notify_all();
    };
    auto sub = engine.submit(std::move(spec));
    EXPECT_EQ(sub.error, SubmitError::kNone);
    if (ids) ids->push_back(sub.id);
  }
  std::unique_lock lock(m);
  cv.wait(lock, [&] { return done == prompts.size(); });
  return out;
}

std::unique_ptr<Transformer> batch_transformer(const ModelFile& model = tiny_model()) {
  TransformerOptions o;
  o.n_threads = 2;
  o.n_batch = 256;
  o.own_kv_cache = false;
  auto tf = Transformer::create(model, o);
  EXPECT_TRUE(tf.ok());
  return std::move(*tf);
}

TEST(BlockManager, PrefixBlocksAreSharedAndEvictedLeastRecentlyUsed) {
  BlockManager bm(4, 2);
  const std::vector<int32_t> tokens = {1, 2, 3, 4, 5};
  std::vector<int32_t> table;
  std::vector<uint64_t> hashes;
  EXPECT_EQ(bm.take_prefix(tokens, 2, table, hashes), 0);  // nothing cached yet
  for (int i = 0; i < 3; ++i) table.push_back(*bm.allocate());
  EXPECT_EQ(bm.available(), 1);
  const uint64_t h0 = BlockManager::chain_hash(0, std::span(tokens).subspan(0, 2));
  const uint64_t h1 = BlockManager::chain_hash(h0, std::span(tokens).subspan(2, 2));
  bm.register_full(table[0], h0, std::span(tokens).subspan(0, 2));
  bm.register_full(table[1], h1, std::span(tokens).subspan(2, 2));
  for (int32_t b : table) bm.release(b);
  EXPECT_EQ(bm.available(), 4);
  EXPECT_EQ(bm.cached(), 2);

  // Same first block, different second: one block reused.
  std::vector<int32_t> t2, other = {1, 2, 9, 9, 7};
  std::vector<uint64_t> h2;
  EXPECT_EQ(bm.take_prefix(other, 2, t2, h2), 1);
  EXPECT_EQ(t2[0], table[0]);
  EXPECT_EQ(bm.ref_count(table[0]), 1);
  // The same prefix again: both blocks.
  std::vector<int32_t> t3;
  std::vector<uint64_t> h3;
  EXPECT_EQ(bm.take_prefix(tokens, 2, t3, h3), 2);
  EXPECT_EQ(bm.ref_count(table[0]), 2);
  bm.release(t3[1]);
  // Exhaust the free blocks: the unused cached block (table[1]) is evicted last-used-first.
  std::vector<int32_t> fresh;
  while (auto b = bm.allocate()) fresh.push_back(*b);
  EXPECT_EQ(fresh.size(), 3u);  // 2 free + 1 evicted cached block
  EXPECT_EQ(bm.cached(), 1);
  EXPECT_FALSE(bm.allocate().has_value());
}

TEST(Engine, BatchedGreedyEqualsAloneAndCountsSteps) {
  auto tf = batch_transformer();
  EngineOptions eo;
  eo.n_blocks = 256;
  Engine engine(*tf, {}, eo);
  const int32_t n_vocab = static_cast<int32_t>(tf->hparams().n_vocab);
  std::vector<std::vector<int32_t>> prompts;
  for (uint32_t i = 0; i < 8; ++i) prompts.push_back(random_prompt(100 + i, 5 + 7 * i, n_vocab));
  const int64_t n = 12;

  const uint64_t steps0 = engine.metrics().steps;
  auto alone = run_engine(engine, {prompts[0]}, n);
  const uint64_t steps_alone = engine.metrics().steps - steps0;
  EXPECT_EQ(alone[0].tokens, greedy_alone(prompts[0], n));

  const uint64_t steps1 = engine.metrics().steps;
  auto together = run_engine(engine, prompts, n);
  const uint64_t steps_together = engine.metrics().steps - steps1;
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(together[i].tokens, greedy_alone(prompts[i], n)) << "request " << i;
    EXPECT_EQ(together[i].finish.reason, FinishReason::kLength);
    EXPECT_EQ(together[i].finish.completion_tokens, n);
  }
  // One request needs n steps (prefill + n - 1 decodes); eight together share them.
  EXPECT_EQ(steps_alone, uint64_t(n));
  EXPECT_LT(steps_together, 2 * steps_alone) << "eight requests took " << steps_together << " steps";
  EXPECT_EQ(engine.metrics().kv_blocks_in_use, 0);
}

TEST(Engine, PrefixCacheReusesBlocksAndKeepsResults) {
  auto tf = batch_transformer();
  EngineOptions eo;
  eo.n_blocks = 256;
  Engine engine(*tf, {}, eo);
  const int32_t n_vocab = static_cast<int32_t>(tf->hparams().n_vocab);
  std::vector<int32_t> shared = random_prompt(7, 100, n_vocab);
  std::vector<int32_t> a = shared, b = shared;
  a.push_back(11);
  b.push_back(12);
  auto first = run_engine(engine, {a}, 6);
  const uint64_t hits0 = engine.metrics().prefix_cache_hits;
  auto second = run_engine(engine, {b}, 6);
  EXPECT_EQ(engine.metrics().prefix_cache_hits - hits0, 96u);  // 6 full blocks of 16
  EXPECT_EQ(second[0].finish.cached_tokens, 96);
  EXPECT_EQ(second[0].tokens, greedy_alone(b, 6));
  // The whole prompt cached: the last token is still computed for its logits.
  auto again = run_engine(engine, {a}, 6);
  EXPECT_EQ(again[0].tokens, first[0].tokens);
  EXPECT_EQ(engine.metrics().kv_blocks_in_use, 0);
}

TEST(Engine, ChunkedPrefillAndPreemptionKeepResults) {
  auto tf = batch_transformer();
  EngineOptions eo;
  eo.n_blocks = 12;          // 192 tokens for 4 sequences of ~40 + 30: someone must be preempted
  eo.max_step_tokens = 16;   // prompts arrive in chunks
  eo.max_running = 4;
  Engine engine(*tf, {}, eo);
  const int32_t n_vocab = static_cast<int32_t>(tf->hparams().n_vocab);
  std::vector<std::vector<int32_t>> prompts;
  for (uint32_t i = 0; i < 4; ++i) prompts.push_back(random_prompt(300 + i, 33 + i, n_vocab));
  auto out = run_engine(engine, prompts, 30);
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(out[i].tokens, greedy_alone(prompts[i], 30)) << i;
  EXPECT_GT(engine.metrics().preemptions, 0u);
  EXPECT_EQ(engine.metrics().kv_blocks_in_use, 0);
}

// Speculative decoding by prompt lookup in the engine: drafts ride in the decode run and the
// tokens are plain decoding's, alone, four at once, with too few blocks for everyone's drafts
// (and preemption), and sampled with a seed (the same draws as an engine without drafts). Blocks
// holding rejected drafts never reach the prefix cache: a prompt that continues a finished one
// reuses its blocks and still decodes as alone.
void expect_speculative_keeps_results(const ModelFile& model) {
  auto tf = batch_transformer(model);
  const int32_t n_vocab = static_cast<int32_t>(tf->hparams().n_vocab);
  std::vector<std::vector<int32_t>> prompts;
  for (uint32_t i = 0; i < 4; ++i) {
    const std::vector<int32_t> motif = random_prompt(500 + i, 7 + i, n_vocab);
    std::vector<int32_t> p;
    for (int r = 0; r < 4; ++r) p.insert(p.end(), motif.begin(), motif.end());
    prompts.push_back(p);
  }
  const int64_t n = 40;
  uint64_t drafted = 0, accepted = 0;
  for (const int64_t n_blocks : {256, 14}) {
    EngineOptions eo;
    eo.n_blocks = n_blocks;
    eo.max_running = 4;
    eo.max_step_tokens = 64;
    eo.spec_ngram = true;
    Engine engine(*tf, {}, eo);
    auto alone = run_engine(engine, {prompts[0]}, n);
    EXPECT_EQ(alone[0].tokens, greedy_alone(prompts[0], n, model));
    auto together = run_engine(engine, prompts, n);
    for (size_t i = 0; i < prompts.size(); ++i)
      EXPECT_EQ(together[i].tokens, greedy_alone(prompts[i], n, model)) << "request " << i << ", " << n_blocks << " blocks";
    const EngineMetrics m = engine.metrics();
    std::printf("  %lld blocks: %llu drafted, %llu accepted, %llu steps, %llu preemptions\n", (long long)n_blocks,
                (unsigned long long)m.spec_drafted, (unsigned long long)m.spec_accepted, (unsigned long long)m.steps,
                (unsigned long long)m.preemptions);
    EXPECT_GT(m.spec_accepted, 0u);
    drafted += m.spec_drafted;
    accepted += m.spec_accepted;
    EXPECT_EQ(m.kv_blocks_in_use, 0);
    if (n_blocks == 256) {
      std::vector<int32_t> continued = prompts[1];
      continued.insert(continued.end(), together[1].tokens.begin(), together[1].tokens.end());
      auto more = run_engine(engine, {continued}, 12);
      EXPECT_GT(more[0].finish.cached_tokens, int64_t(prompts[1].size()));
      EXPECT_EQ(more[0].tokens, greedy_alone(continued, 12, model));
    }
  }
  EXPECT_LT(accepted, drafted);  // some drafts were rejected and taken back
  EngineOptions plain_options, spec_options;
  plain_options.n_blocks = spec_options.n_blocks = 256;
  spec_options.spec_ngram = true;
  Engine plain(*tf, {}, plain_options);
  auto sampled = run_engine(plain, prompts, n, nullptr, 0.8f);
  Engine spec(*tf, {}, spec_options);
  auto sampled_spec = run_engine(spec, prompts, n, nullptr, 0.8f);
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(sampled_spec[i].tokens, sampled[i].tokens) << i;
  EXPECT_GT(spec.metrics().spec_drafted, 0u);
}

TEST(Engine, SpeculativeDecodingKeepsResults) { expect_speculative_keeps_results(tiny_model()); }

// Gemma 2's sliding-window layers (a 16-token window here) keep only their window's blocks: a
// rejected draft must not have let a block the window still reads go.
TEST(Engine, SpeculativeDecodingKeepsResultsWithSlidingWindows) {
  static const ModelFile gemma = test::open_test_model(kTmp, "gemma-2-2b-tiny", "q8_0", 5);
  expect_speculative_keeps_results(gemma);
}

// Qwen3.5's Gated DeltaNet layers keep a state per sequence, in a slot of their own: greedy tokens
// are the one-sequence pass's alone, batched with 16 others, chunked, and after preemption (which
// recomputes a sequence from its first token into whatever slot it gets next). Every slot is
// given back; n-gram drafts are off for such a model (its state cannot take rejected drafts back).
// Prefix reuse goes through state snapshots at block boundaries (scheduler.h): a prompt sharing a
// cached prefix resumes from the snapshot taken where an earlier prompt's ended, a conversation's
// next turn from the end of the previous turn's prompt, and the tokens are still the alone ones.
TEST(Engine, RecurrentStateSlotsKeepResultsBatchedChunkedAndPreempted) {
  static const ModelFile qwen35 = test::open_test_model(kTmp, "qwen3.5-tiny", "q8_0", 5);
  auto tf = batch_transformer(qwen35);
  const int32_t n_vocab = static_cast<int32_t>(tf->hparams().n_vocab);
  std::vector<std::vector<int32_t>> prompts;
  for (uint32_t i = 0; i < 17; ++i) prompts.push_back(random_prompt(700 + i, 5 + 3 * i, n_vocab));
  const int64_t n = 10;
  std::vector<std::vector<int32_t>> want;
  for (const auto& p : prompts) want.push_back(greedy_alone(p, n, qwen35));
  {
    EngineOptions eo;
    eo.n_blocks = 256;
    eo.spec_ngram = true;  // ignored for this model
    Engine engine(*tf, {}, eo);
    EXPECT_EQ(engine.metrics().state_slots_total, eo.max_running);
    auto alone = run_engine(engine, {prompts[3]}, n);
    EXPECT_EQ(alone[0].tokens, want[3]);
    auto together = run_engine(engine, prompts, n);
    for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(together[i].tokens, want[i]) << "request " << i;
    const EngineMetrics m = engine.metrics();
    EXPECT_EQ(m.spec_drafted, 0u);
    EXPECT_EQ(m.state_slots_in_use, 0);
    EXPECT_EQ(m.kv_blocks_in_use, 0);

    // Prefix reuse through snapshots: a 100-token shared prefix, two tails, then a next turn.
    const std::vector<int32_t> shared = random_prompt(900, 100, n_vocab);
    std::vector<int32_t> a = shared, b = shared;
    a.insert(a.end(), {11, 12, 13});
    b.insert(b.end(), {21, 22});
    auto first = run_engine(engine, {a}, n);  // snapshot at 96, its prompt's last block boundary
    EXPECT_EQ(first[0].tokens, greedy_alone(a, n, qwen35));
    auto second = run_engine(engine, {b}, n);
    EXPECT_EQ(second[0].finish.cached_tokens, 96);
    EXPECT_EQ(second[0].tokens, greedy_alone(b, n, qwen35));
    std::vector<int32_t> turn = a;  // the conversation goes on: a's answer, then more
    turn.insert(turn.end(), first[0].tokens.begin(), first[0].tokens.end());
    for (int i = 0; i < 30; ++i) turn.push_back(31 + i);
    auto next = run_engine(engine, {turn}, n);
    EXPECT_EQ(next[0].finish.cached_tokens, 96);
    EXPECT_EQ(next[0].tokens, greedy_alone(turn, n, qwen35));
    std::vector<int32_t> turn3 = turn;  // and again: from the end of the previous turn's prompt
    turn3.insert(turn3.end(), {41, 42, 43, 44, 45});
    auto last = run_engine(engine, {turn3}, n);
    EXPECT_EQ(last[0].finish.cached_tokens, int64_t((turn.size() - 1) / 16 * 16));
    EXPECT_EQ(last[0].tokens, greedy_alone(turn3, n, qwen35));
    EXPECT_GT(engine.metrics().state_snapshots_cached, 0);
  }
  {  // without snapshots nothing is reused, and the tokens are the same
    EngineOptions eo;
    eo.n_blocks = 256;
    eo.state_snapshots = 0;
    Engine engine(*tf, {}, eo);
    const std::vector<int32_t> p = random_prompt(901, 60, n_vocab);
    auto once = run_engine(engine, {p}, n);
    auto twice = run_engine(engine, {p}, n);
    EXPECT_EQ(twice[0].finish.cached_tokens, 0);
    EXPECT_EQ(twice[0].tokens, once[0].tokens);
    EXPECT_EQ(once[0].tokens, greedy_alone(p, n, qwen35));
  }
  EngineOptions eo;
  eo.n_blocks = 12;  // 192 tokens for 4 sequences of ~50: someone must be preempted
  eo.max_step_tokens = 16;
  eo.max_running = 4;
  Engine engine(*tf, {}, eo);
  std::vector<std::vector<int32_t>> longer;
  for (uint32_t i = 0; i < 4; ++i) longer.push_back(random_prompt(800 + i, 33 + i, n_vocab));
  auto out = run_engine(engine, longer, 20);
  for (size_t i = 0; i < longer.size(); ++i) EXPECT_EQ(out[i].tokens, greedy_alone(longer[i], 20, qwen35)) << i;
  EXPECT_GT(engine.metrics().preemptions, 0u);
  EXPECT_EQ(engine.metrics().state_slots_in_use, 0);
}

TEST(Engine, CancelFreesBlocksAndQueueIsBounded) {
  auto tf = batch_transformer();
  EngineOptions eo;
  eo.n_blocks = 64;
  eo.max_running = 1;
  eo.max_waiting = 2;
  Engine engine(*tf, {}, eo);
  std::promise<FinishEvent> finished;
  std::promise<void> first_token;
  bool signalled = false;
  RequestSpec spec;
  spec.prompt = {1, 2, 3};
  spec.max_tokens = 100000;
  spec.ignore_eos = true;
  spec.on_token = [&](const TokenEvent&) {
    if (!signalled) first_token.set_value();
    signalled = true;
    return true;
  };
  spec.on_finish = [&](const FinishEvent& f) { finished.set_value(f); };
  auto sub = engine.submit(spec);
  ASSERT_EQ(sub.error, SubmitError::kNone);
  first_token.get_future().wait();
  // One running; the queue takes two more, the third is refused.
  RequestSpec idle;
  idle.prompt = {4, 5};
  idle.max_tokens = 1;
  std::vector<uint64_t> queued;
  queued.push_back(engine.submit(idle).id);
  queued.push_back(engine.submit(idle).id);
  EXPECT_EQ(engine.submit(idle).error, SubmitError::kQueueFull);
  for (uint64_t id : queued) engine.cancel(id);
  engine.cancel(sub.id);
  FinishEvent f = finished.get_future().get();
  EXPECT_EQ(f.reason, FinishReason::kAbort);
  // Too long for the cache's context is refused at once.
  RequestSpec huge;
  huge.prompt.assign(size_t(engine.max_context()), 1);
  EXPECT_EQ(engine.submit(huge).error, SubmitError::kTooLong);
  engine.drain(std::chrono::milliseconds(2000));
  EXPECT_EQ(engine.metrics().kv_blocks_in_use, 0);
  EXPECT_EQ(engine.metrics().running, 0);
  EXPECT_EQ(engine.metrics().waiting, 0);
}

// The one-sequence reference for an embedding: every final hidden state of the prompt, pooled
// by its position rule (summed in double in position order, as the Pooler sums).
std::vector<float> pooled_alone(const std::vector<int32_t>& prompt, Pooling pooling) {
  auto tf = alone_transformer();
  std::vector<float> hidden;
  EXPECT_TRUE(tf->forward_hidden(prompt, true, hidden).ok());
  const int64_t n_embd = tf->hparams().n_embd, n = static_cast<int64_t>(prompt.size());
  std::vector<double> sum(size_t(n_embd), 0.0);
  int64_t rows = 0;
  for (int64_t t = 0; t < n; ++t) {
    const bool read = pooling == Pooling::kMean || (pooling == Pooling::kCls && t == 0) ||
                      (pooling == Pooling::kLast && t == n - 1);
    if (!read) continue;
    for (int64_t i = 0; i < n_embd; ++i) sum[size_t(i)] += hidden[size_t(t * n_embd + i)];
    ++rows;
  }
  std::vector<float> out(static_cast<size_t>(n_embd));
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(sum[i] / double(rows));
  return out;
}

// Embedding requests beside generation requests, in prompt chunks, with blocks scarce enough that
// someone is preempted: each pooled vector equals the one-sequence path's to the bit, each
// generation is unchanged, and a repeated request (its prefix now cached) gives the same vector.
TEST(Engine, EmbeddingRequestsPoolAsAloneWhateverTheBatch) {
  auto tf = batch_transformer();
  EngineOptions eo;
  eo.n_blocks = 12;  // the generations grow into blocks the embeddings hold: someone is preempted
  eo.max_step_tokens = 16;
  eo.max_running = 5;
  Engine engine(*tf, {}, eo);
  const int32_t n_vocab = static_cast<int32_t>(tf->hparams().n_vocab);
  const Pooling poolings[] = {Pooling::kMean, Pooling::kCls, Pooling::kLast};
  struct Job {
    std::vector<int32_t> prompt;
    Pooling pooling;  // kNone: a generation
  };
  std::vector<Job> jobs;
  for (uint32_t i = 0; i < 3; ++i) jobs.push_back({random_prompt(600 + i, 35, n_vocab), Pooling::kNone});
  for (uint32_t i = 0; i < 9; ++i) jobs.push_back({random_prompt(500 + i, 20 + 5 * i, n_vocab), poolings[i % 3]});

  auto run = [&] {
    std::vector<FinishEvent> fins(jobs.size());
    std::vector<std::vector<int32_t>> tokens(jobs.size());
    std::mutex m;
    std::condition_variable cv;
    size_t done = 0;
    for (size_t i = 0; i < jobs.size(); ++i) {
      RequestSpec spec;
      spec.prompt = jobs[i].prompt;
      spec.pooling = jobs[i].pooling;
      spec.sampling.temperature = 0;
      spec.max_tokens = jobs[i].pooling == Pooling::kNone ? 20 : 0;
      spec.ignore_eos = true;
      spec.on_token = [&, i](const TokenEvent& ev) {
        tokens[i].push_back(ev.token);
        return true;
      };
      spec.on_finish = [&, i](const FinishEvent& f) {
        std::lock_guard lock(m);
        fins[i] = f;
        ++done;
        cv.notify_all();
      };
      EXPECT_EQ(engine.submit(std::move(spec)).error, SubmitError::kNone);
    }
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return done == jobs.size(); });
    return std::make_pair(fins, tokens);
  };
  const auto [fins, tokens] = run();
  for (size_t i = 0; i < jobs.size(); ++i) {
    ASSERT_TRUE(fins[i].error.empty()) << fins[i].error;
    if (jobs[i].pooling == Pooling::kNone) {
      EXPECT_EQ(tokens[i], greedy_alone(jobs[i].prompt, 20)) << "generation " << i;
      EXPECT_TRUE(fins[i].embedding.empty());
      continue;
    }
    EXPECT_EQ(fins[i].reason, FinishReason::kStop);
    EXPECT_TRUE(tokens[i].empty());
    EXPECT_EQ(fins[i].completion_tokens, 0);
    EXPECT_EQ(fins[i].prompt_tokens, static_cast<int64_t>(jobs[i].prompt.size()));
    EXPECT_EQ(fins[i].embedding, pooled_alone(jobs[i].prompt, jobs[i].pooling))
        << "embedding " << i << " (" << pooling_name(jobs[i].pooling) << ")";
  }
  EXPECT_GT(engine.metrics().preemptions, 0u);
  const auto [again, again_tokens] = run();
  for (size_t i = 0; i < jobs.size(); ++i) EXPECT_EQ(again[i].embedding, fins[i].embedding) << i;
  EXPECT_EQ(engine.metrics().kv_blocks_in_use, 0);
}

}  // namespace
}  // namespace hearth::engine
