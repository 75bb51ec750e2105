// Sampler behaviour on hand-made logits: each stage of the chain does what llama.cpp's does.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "sampling/sampler.h"

namespace hearth {
namespace {

SamplingParams plain(float temp) {
  SamplingParams p;
  p.temperature = temp;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  return p;
}

std::map<int32_t, int> histogram(Sampler& s, const std::vector<float>& logits, int draws,
                                 const std::vector<int32_t>& history = {}) {
  std::map<int32_t, int> h;
  for (int i = 0; i < draws; ++i) h[s.sample(logits, history)]++;
  return h;
}

TEST(Sampler, GreedyTakesTheArgmaxAndTheLowestIdOnTies) {
  Sampler s(plain(0.0f), 5);
  EXPECT_EQ(s.sample(std::vector<float>{0.1f, 3.0f, -1.0f, 2.9f, 0.0f}, {}), 1);
  EXPECT_EQ(s.sample(std::vector<float>{1.0f, 5.0f, 5.0f, 0.0f, 0.0f}, {}), 1);
}

TEST(Sampler, SameSeedSameDrawsDifferentSeedDifferentDraws) {
  std::vector<float> logits(100);
  for (int i = 0; i < 100; ++i) logits[size_t(i)] = std::sin(float(i));
  SamplingParams p = plain(1.0f);
  p.seed = 42;
  Sampler a(p, 100), b(p, 100);
  p.seed = 43;
  Sampler c(p, 100);
  std::vector<int32_t> da, db, dc;
  for (int i = 0; i < 50; ++i) {
    da.push_back(a.sample(logits, {}));
    db.push_back(b.sample(logits, {}));
    dc.push_back(c.sample(logits, {}));
  }
  EXPECT_EQ(da, db);
  EXPECT_NE(da, dc);
}

TEST(Sampler, TemperatureOneFollowsTheSoftmax) {
  std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  Sampler s(plain(1.0f), 3);
  auto h = histogram(s, logits, 20000);
  EXPECT_NEAR(h[0] / 20000.0, 0.5, 0.02);
  EXPECT_NEAR(h[1] / 20000.0, 0.3, 0.02);
  EXPECT_NEAR(h[2] / 20000.0, 0.2, 0.02);
}

TEST(Sampler, TopKTopPAndMinPCutTheTail) {
  std::vector<float> logits = {std::log(0.4f), std::log(0.3f), std::log(0.2f), std::log(0.1f)};
  SamplingParams k = plain(1.0f);
  k.top_k = 2;
  Sampler sk(k, 4);
  auto hk = histogram(sk, logits, 3000);
  EXPECT_EQ(hk.count(2) + hk.count(3), 0u);
  EXPECT_GT(hk[1], 0);

  SamplingParams p = plain(1.0f);
  p.top_p = 0.65f;  // 0.4 + 0.3 >= 0.65: keeps two
  Sampler sp(p, 4);
  auto hp = histogram(sp, logits, 3000);
  EXPECT_EQ(hp.count(2) + hp.count(3), 0u);

  SamplingParams m = plain(1.0f);
  m.min_p = 0.5f;  // keeps p >= 0.2: tokens 0, 1, 2
  Sampler sm(m, 4);
  auto hm = histogram(sm, logits, 3000);
  EXPECT_EQ(hm.count(3), 0u);
  EXPECT_GT(hm[2], 0);
}

TEST(Sampler, LogitBiasCanBanOrForceATokens) {
  std::vector<float> logits = {5.0f, 1.0f, 0.0f};
  SamplingParams p = plain(0.0f);
  p.logit_bias[0] = -INFINITY;
  Sampler banned(p, 3);
  EXPECT_EQ(banned.sample(logits, {}), 1);
  p.logit_bias.clear();
  p.logit_bias[2] = 10.0f;
  Sampler forced(p, 3);
  EXPECT_EQ(forced.sample(logits, {}), 2);
}

TEST(Sampler, PenaltiesActOnlyOnRecentTokens) {
  std::vector<float> logits = {2.0f, 1.9f, -1.0f};
  SamplingParams p = plain(0.0f);
  p.repeat_penalty = 1.2f;  // 2.0 / 1.2 = 1.67 < 1.9
  p.penalty_last_n = 2;
  Sampler s(p, 3);
  EXPECT_EQ(s.sample(logits, std::vector<int32_t>{0}), 1);
  EXPECT_EQ(s.sample(logits, std::vector<int32_t>{0, 2, 2}), 0);  // token 0 outside last 2
  SamplingParams f = plain(0.0f);
  f.frequency_penalty = 0.06f;  // 2.0 - 2 * 0.06 = 1.88 < 1.9
  Sampler sf(f, 3);
  EXPECT_EQ(sf.sample(logits, std::vector<int32_t>{0}), 0);
  EXPECT_EQ(sf.sample(logits, std::vector<int32_t>{0, 0}), 1);
  SamplingParams pr = plain(0.0f);
  pr.presence_penalty = 0.2f;
  Sampler sp(pr, 3);
  EXPECT_EQ(sp.sample(logits, std::vector<int32_t>{0}), 1);
}

}  // namespace
}  // namespace hearth
