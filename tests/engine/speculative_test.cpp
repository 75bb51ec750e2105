// Speculative decoding against plain decoding (the path the peer tests hold against llama.cpp):
// with prompt lookup or a draft model, greedy and seeded sampled generations are token for token
// those of one-token decoding, for a dense model, a sliding-window model (its ring rolled back)
// and DeepSeek's latent cache; rolling a cache back and running again gives a fresh run's logits.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/speculative.h"
#include "engine/test_model_files.h"
#include "model/transformer.h"

namespace hearth {
namespace {

const std::string kTmp = std::string(HEARTH_TEST_TMP) + "/speculative";

ModelFile open_model(const std::string& preset, const std::string& type) {
  return test::open_test_model(kTmp, preset, type, 5);
}

std::unique_ptr<Transformer> make(const ModelFile& m, int64_t n_batch = 64) {
  TransformerOptions opt;
  opt.n_ctx = 256;
  opt.n_batch = n_batch;
  opt.n_threads = 2;
  auto tf = Transformer::create(m, opt);
  EXPECT_TRUE(tf.ok()) << tf.error().message;
  return std::move(*tf);
}

// A prompt that repeats itself, so prompt lookup has something to find.
std::vector<int32_t> repeating_prompt() {
  std::vector<int32_t> p;
  for (int r = 0; r < 3; ++r)
    for (int32_t t : {300, 1200, 55, 7000, 420, 9, 18000, 777, 3}) p.push_back(t);
  p.resize(p.size() - 4);
  return p;
}

// n tokens after the prompt: plain decoding when drafter is null.
std::vector<int32_t> generate(Transformer& target, Drafter* drafter, const SamplingParams& sp, int64_t n,
                              SpeculativeStats* stats = nullptr) {
  target.reset();
  std::vector<int32_t> history = repeating_prompt();
  const size_t n_prompt = history.size();
  std::vector<float> logits;
  EXPECT_TRUE(target.forward(history, false, logits).ok());
  Sampler sampler(sp, static_cast<int32_t>(target.hparams().n_vocab));
  history.push_back(sampler.sample(logits, history));
  SpeculativeDecoder dec(target, sampler, drafter, 6);
  std::vector<int32_t> emitted;
  while (static_cast<int64_t>(history.size() - n_prompt) < n) {
    const Status st = dec.step(history, emitted);
    EXPECT_TRUE(st.ok()) << st.message();
    if (!st.ok() || emitted.empty()) break;
  }
  if (stats) *stats = dec.stats();
  history.resize(n_prompt + static_cast<size_t>(n));
  return std::vector<int32_t>(history.begin() + static_cast<long>(n_prompt), history.end());
}

SamplingParams greedy() {
  SamplingParams sp;
  sp.temperature = 0.0f;
  return sp;
}

SamplingParams seeded() {
  SamplingParams sp;
  sp.temperature = 0.9f;
  sp.seed = 1234;
  sp.repeat_penalty = 1.1f;
  return sp;
}

void expect_same_with_drafts(const std::string& preset) {
  SCOPED_TRACE(preset);
  const ModelFile target_file = open_model(preset, "f16");
  const ModelFile draft_file = open_model(preset, "q4_0");  // the same weights, quantized
  auto target = make(target_file);
  auto draft = make(draft_file);
  for (const SamplingParams& sp : {greedy(), seeded()}) {
    const std::vector<int32_t> plain = generate(*target, nullptr, sp, 60);
    NgramDrafter ngram;
    SpeculativeStats s1, s2;
    EXPECT_EQ(generate(*target, &ngram, sp, 60, &s1), plain) << "prompt lookup";
    ModelDrafter by_model(*draft, 0.0f, target->hparams().n_vocab);
    EXPECT_EQ(generate(*target, &by_model, sp, 60, &s2), plain) << "draft model";
    // Drafts were checked and some stood: the passes are not one token each. (Prompt lookup finds
    // nothing to propose where a random model does not echo its prompt.)
    EXPECT_GT(s2.accepted, 0);
    EXPECT_LT(s2.passes, 60);
    std::printf("  %s temp %.1f: prompt lookup %lld/%lld accepted, draft model %lld/%lld in %lld passes\n",
                preset.c_str(), double(sp.temperature), (long long)s1.accepted, (long long)s1.drafted,
                (long long)s2.accepted, (long long)s2.drafted, (long long)s2.passes);
  }
}

TEST(Speculative, DenseModelGivesPlainDecodingsTokens) { expect_same_with_drafts("qwen2.5-tiny"); }
TEST(Speculative, SlidingWindowModelGivesPlainDecodingsTokens) { expect_same_with_drafts("gemma-2-2b-tiny"); }
TEST(Speculative, LatentCacheModelGivesPlainDecodingsTokens) { expect_same_with_drafts("deepseek-v2-lite-tiny"); }

TEST(Speculative, TruncatedCacheRunsAsAFreshOne) {
  const ModelFile m = open_model("gemma-2-2b-tiny", "q8_0");
  auto tf = make(m, 16);
  const std::vector<int32_t> a = repeating_prompt();
  const std::vector<int32_t> junk = {5, 6, 7, 8, 9, 10, 11, 12};
  const std::vector<int32_t> tail = {42, 43, 44};
  std::vector<float> want, got;
  std::vector<int32_t> whole = a;
  whole.insert(whole.end(), tail.begin(), tail.end());
  ASSERT_TRUE(tf->forward(whole, true, want).ok());
  tf->reset();
  ASSERT_TRUE(tf->forward(a, false, got).ok());
  ASSERT_TRUE(tf->forward(junk, false, got).ok());
  ASSERT_TRUE(tf->truncate(static_cast<int64_t>(a.size())).ok());
  ASSERT_TRUE(tf->forward(tail, true, got).ok());
  const size_t row = static_cast<size_t>(tf->hparams().n_vocab);
  ASSERT_EQ(got.size(), tail.size() * row);
  EXPECT_EQ(0, std::memcmp(got.data(), want.data() + a.size() * row, got.size() * sizeof(float)));
  // Out of range, and further back than a window ring keeps (one chunk of 16), are errors.
  EXPECT_FALSE(tf->truncate(tf->n_past() + 1).ok());
  EXPECT_FALSE(tf->truncate(-1).ok());
  EXPECT_FALSE(tf->truncate(tf->n_past() - 17).ok());
  EXPECT_TRUE(tf->truncate(tf->n_past() - 16).ok());
}

TEST(Speculative, PromptLookupProposesWhatFollowedTheLastNgram) {
  NgramDrafter d(2, 4);
  const std::vector<int32_t> h = {1, 2, 3, 4, 5, 9, 9, 2, 3};
  auto r = d.draft(h, 3);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<int32_t>{4, 5, 9}));  // "2 3" was followed by "4 5 9"
  r = d.draft(h, 10);
  EXPECT_EQ(*r, (std::vector<int32_t>{4, 5, 9, 9, 2, 3}));  // up to the end of the history
  // The most recent occurrence wins; no occurrence, or too short a history, gives nothing.
  EXPECT_EQ(*d.draft(std::vector<int32_t>{7, 8, 1, 7, 8, 2, 7, 8}, 1), (std::vector<int32_t>{2}));
  EXPECT_TRUE(d.draft(std::vector<int32_t>{1, 2, 3, 4}, 4)->empty());
  EXPECT_TRUE(d.draft(std::vector<int32_t>{1}, 4)->empty());
  EXPECT_TRUE(d.draft(std::vector<int32_t>{}, 4)->empty());
}

}  // namespace
}  // namespace hearth
