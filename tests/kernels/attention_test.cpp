// The attention kernel (each instruction-set build this CPU runs, and the dispatched one)
// against its reference, bit for bit (same lanes, fused multiply-adds and reduction tree), over
// odd shapes: head sizes (a half 16-lane chunk at 8 and 72), group sizes, lengths that end
// mid-block and mid-lane-group, blocks scattered in the cache; and over f32 rows (an encoder's
// cacheless attention), and a prompt's run of queries over the cache. And the F16C KV-cache append
// against fp32_to_fp16.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <random>

#include "kernels/attention.h"
#include "tensor/quant.h"

namespace hearth::kernels {
namespace {

// A paged f16 cache of random rows for n_kv positions, two KV heads of head_dim hd per row (keys
// at twice the values' scale), its blocks of bs positions in reverse order and three spare ones:
// kb and vb are the second head's block pointers.
struct RandomCache {
  std::vector<uint16_t> k, v;
  std::vector<const uint16_t*> kb, vb;
  RandomCache(std::mt19937& rng, int64_t n_kv, int64_t hd, int64_t bs) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const int64_t stride = 2 * hd, used = (n_kv + bs - 1) / bs, n_blocks = used + 3;
    k.resize(size_t(n_blocks * bs * stride));
    v.resize(k.size());
    for (auto& x : k) x = fp32_to_fp16(normal(rng) * 2.0f);
    for (auto& x : v) x = fp32_to_fp16(normal(rng));
    for (int64_t b = 0; b < used; ++b) {
      kb.push_back(k.data() + (n_blocks - 1 - b) * bs * stride + hd);
      vb.push_back(v.data() + (n_blocks - 1 - b) * bs * stride + hd);
    }
  }
};

// The dispatched kernel (-1), then each instruction-set build (AttentionIsa), one test each so a
// build this CPU lacks is reported as skipped.
class AttentionBuild : public testing::TestWithParam<int> {};

TEST_P(AttentionBuild, EqualsReferenceBitForBit) {
  const int isa = GetParam();
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t hd : {8, 64, 72, 80, 128}) {
    for (int64_t group : {1, 2, 7}) {
      for (int64_t n_kv : {1, 2, 15, 16, 17, 100, 301}) {
       // Plain, then gpt-oss's: attention sinks and a sliding window's masked older positions.
       for (bool windowed : {false, true}) {
        const int64_t bs = 16, stride = 2 * hd;
        const RandomCache cache(rng, n_kv, hd, bs);
        const std::vector<const uint16_t*>& kb = cache.kb;
        const std::vector<const uint16_t*>& vb = cache.vb;
        std::vector<float> q(size_t(group * hd));
        // Odd lengths get peaked scores too, so softmax reaches exp's far tail (subnormal and 0).
        for (auto& x : q) x = normal(rng) * (n_kv % 2 ? 40.0f : 1.0f);
        std::vector<float> fast(q.size()), slow(q.size());
        AttentionArgs a;
        a.q = q.data();
        a.group = group;
        a.head_dim = hd;
        a.k_blocks = kb.data();
        a.v_blocks = vb.data();
        a.block_size = bs;
        a.row_stride = stride;
        a.n_kv = n_kv;
        a.scale = 1.0f / std::sqrt(float(hd));
        std::vector<float> sinks(static_cast<size_t>(group));
        for (auto& x : sinks) x = normal(rng) * 3.0f;
        if (windowed) {
          a.n_masked = n_kv / 3;
          a.n_tail_masked = n_kv / 4;  // an encoder's window also masks positions ahead
          a.sinks = sinks.data();
          a.softcap = 8.0f;  // Gemma 2's soft-capping too (peaked scores reach the tanh's flat part)
        }
        // The same keys and values as f32 rows (second KV head), widened from f16 so that both
        // modes see the same numbers, then perturbed below f16's precision.
        std::vector<float> kf(size_t(n_kv * stride)), vf(kf.size());
        for (int64_t j = 0; j < n_kv; ++j)
          for (int64_t i = 0; i < stride; ++i) {
            kf[size_t(j * stride + i)] = fp16_to_fp32(kb[size_t(j / bs)][(j % bs) * stride + i - hd]) * 1.0001f;
            vf[size_t(j * stride + i)] = fp16_to_fp32(vb[size_t(j / bs)][(j % bs) * stride + i - hd]) * 0.9999f;
          }
        for (bool f32 : {false, true}) {
          a.k_f32 = f32 ? kf.data() + hd : nullptr;
          a.v_f32 = f32 ? vf.data() + hd : nullptr;
          AttentionScratch s1, s2;
          a.out = slow.data();
          ref::attention(a, s2);
          a.out = fast.data();
          if (isa < 0)
            attention(a, s1);
          else if (!attention_isa(static_cast<AttentionIsa>(isa), a, s1))  // every hd here fits
            GTEST_SKIP() << "this CPU lacks attention build " << isa;
          for (size_t i = 0; i < q.size(); ++i)
            ASSERT_EQ(fast[i], slow[i]) << "isa " << isa << " hd " << hd << " group " << group << " n_kv " << n_kv
                                        << " windowed " << windowed << " f32 " << f32 << " at " << i;
        }
       }
      }
    }
  }
}

// MLA's latent cache: one KV head whose key rows (latent + roped part) also hold the values (their
// leading v_dim columns). Each build equals the reference bit for bit, and the reference equals
// attention over a separate copy of those columns as values.
TEST_P(AttentionBuild, LatentValuesAreTheKeysLeadingColumns) {
  const int isa = GetParam();
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const auto& [hd, vd] : {std::pair<int64_t, int64_t>{160, 128}, {576, 512}}) {
    for (int64_t n_kv : {1, 17, 70}) {
      const int64_t bs = 16, group = 16, n_blocks = (n_kv + bs - 1) / bs;
      std::vector<uint16_t> k(size_t(n_blocks * bs * hd)), v(k.size(), 0);
      for (auto& x : k) x = fp32_to_fp16(normal(rng));
      for (int64_t r = 0; r < n_blocks * bs; ++r)  // the values as their own rows: the keys' first vd
        std::copy(k.begin() + r * hd, k.begin() + r * hd + vd, v.begin() + r * hd);
      std::vector<float> q(size_t(group * hd));
      for (auto& x : q) x = normal(rng) * 2.0f;
      std::vector<const uint16_t*> kb, vb;
      for (int64_t b = 0; b < n_blocks; ++b) {
        kb.push_back(k.data() + b * bs * hd);
        vb.push_back(v.data() + b * bs * hd);
      }
      AttentionArgs a;
      a.q = q.data();
      a.group = group;
      a.head_dim = hd;
      a.v_dim = vd;
      a.k_blocks = kb.data();
      a.v_blocks = kb.data();  // the latent: values read from the key rows
      a.block_size = bs;
      a.row_stride = hd;
      a.n_kv = n_kv;
      a.scale = 1.0f / std::sqrt(192.0f);
      std::vector<float> fast(size_t(group * vd)), slow(fast.size()), copied(fast.size());
      AttentionScratch s1, s2, s3;
      a.out = slow.data();
      ref::attention(a, s2);
      AttentionArgs c = a;
      c.v_blocks = vb.data();
      c.out = copied.data();
      ref::attention(c, s3);
      ASSERT_EQ(slow, copied) << "hd " << hd << " n_kv " << n_kv;
      a.out = fast.data();
      if (isa < 0)
        attention(a, s1);
      else if (!attention_isa(static_cast<AttentionIsa>(isa), a, s1))
        GTEST_SKIP() << "this CPU lacks attention build " << isa;
      ASSERT_EQ(fast, slow) << "isa " << isa << " hd " << hd << " n_kv " << n_kv;
      // The same attention split among "threads": positions, heads and output columns in
      // uneven parts, each with its own scratch.
      if (isa >= 0 || !attention_split_supported(a)) continue;
      std::vector<float> split(fast.size(), -1.0f), scores(size_t(group * n_kv));
      AttentionScratch p1, p2;
      a.out = split.data();
      attention_split_scores(a, 0, n_kv / 3, scores.data(), p1);
      attention_split_scores(a, n_kv / 3, n_kv, scores.data(), p2);
      attention_split_probabilities(a, 0, 5, scores.data());
      attention_split_probabilities(a, 5, group, scores.data());
      attention_split_values(a, scores.data(), 0, 16, p2);
      attention_split_values(a, scores.data(), 16, vd, p1);
      ASSERT_EQ(split, slow) << "split, hd " << hd << " n_kv " << n_kv;
    }
  }
}

// An encoder's attention over a sequence's f32 rows (transposed keys, 16 positions scored at a
// time under AVX-512) equals attention() per query to the bit, with and without EmbeddingGemma's
// symmetric window: query t sees positions t - w .. t + w, the rest masked at both ends.
TEST(Attention, EncoderQueriesEqualTheReferencePerQuery) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t hd : {64, 72}) {
    for (int64_t n : {1, 5, 16, 17, 40}) {
      for (int64_t w : {0, 1, 8}) {
        const int64_t group = 2, n_kv_heads = 1, q_stride = group * hd, stride = n_kv_heads * hd;
        std::vector<float> q(size_t(n * q_stride)), k(size_t(n * stride)), v(k.size());
        for (auto& x : q) x = normal(rng) * 3.0f;
        for (auto& x : k) x = normal(rng);
        for (auto& x : v) x = normal(rng);
        std::vector<float> fast(q.size()), slow(q.size());
        AttentionArgs a;
        a.q = q.data();
        a.group = group;
        a.head_dim = hd;
        a.k_f32 = k.data();
        a.v_f32 = v.data();
        a.row_stride = stride;
        a.n_kv = n;
        a.scale = 0.125f;
        a.symmetric_window = w;
        a.out = fast.data();
        AttentionScratch s;
        attention_queries_f32(a, n, q_stride, q_stride, s);
        for (int64_t t = 0; t < n; ++t) {
          AttentionArgs one = a;
          one.symmetric_window = 0;
          one.q = q.data() + t * q_stride;
          one.out = slow.data() + t * q_stride;
          if (w > 0) {
            one.n_masked = std::max<int64_t>(0, t - w);
            one.n_tail_masked = std::max<int64_t>(0, n - (t + w + 1));
          }
          ref::attention(one, s);
        }
        for (size_t i = 0; i < q.size(); ++i)
          ASSERT_EQ(fast[i], slow[i]) << "hd " << hd << " n " << n << " window " << w << " at " << i;
        // The queries split in two calls (first_query: the second call's position), as the
        // backend splits one long sequence across threads: the same bits.
        std::vector<float> split(q.size());
        for (const auto& [first, count] : {std::pair<int64_t, int64_t>{0, n / 3}, {n / 3, n - n / 3}}) {
          if (count == 0) continue;
          AttentionArgs part = a;
          part.first_query = first;
          part.q = q.data() + first * q_stride;
          part.out = split.data() + first * q_stride;
          attention_queries_f32(part, count, q_stride, q_stride, s);
        }
        ASSERT_EQ(split, fast) << "hd " << hd << " n " << n << " window " << w << ": split queries";
        // The window changes the result once a query has positions beyond it.
        if (w == 1 && n >= 5) {
          std::vector<float> whole(q.size());
          a.symmetric_window = 0;
          a.out = whole.data();
          attention_queries_f32(a, n, q_stride, q_stride, s);
          EXPECT_NE(whole, fast);
        }
      }
    }
  }
}

// A prompt's run of queries over the f16 cache (query t sees one more position than query t - 1;
// the cache rows converted once for the run, the keys transposed and scored 16 positions at a
// time under AVX-512) equals the reference per query to the bit: head sizes with a half 16-lane
// chunk, GQA groups, runs that start mid-cache, with gpt-oss's sinks and Gemma 2's soft-capping.
TEST(Attention, PromptRunsOverTheCacheEqualTheReferencePerQuery) {
  std::mt19937 rng(12);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t hd : {64, 72, 128}) {
    for (int64_t group : {1, 7}) {
      for (auto [n_kv, n_queries] : {std::pair<int64_t, int64_t>{2, 2}, {17, 17}, {40, 9}, {100, 33}}) {
        for (bool extras : {false, true}) {
          const int64_t bs = 16, stride = 2 * hd, q_stride = 3 * group * hd;
          const RandomCache cache(rng, n_kv, hd, bs);
          std::vector<float> q(size_t(n_queries * q_stride));
          for (auto& x : q) x = normal(rng) * (extras ? 30.0f : 1.0f);
          std::vector<float> sinks(static_cast<size_t>(group));
          for (auto& x : sinks) x = normal(rng) * 3.0f;
          AttentionArgs a;
          a.q = q.data() + group * hd;  // the second group of heads in each token's row
          a.group = group;
          a.head_dim = hd;
          a.k_blocks = cache.kb.data();
          a.v_blocks = cache.vb.data();
          a.block_size = bs;
          a.row_stride = stride;
          a.n_kv = n_kv;  // the run's last query
          a.scale = 1.0f / std::sqrt(float(hd));
          if (extras) {
            a.sinks = sinks.data();
            a.softcap = 8.0f;
          }
          std::vector<float> fast(q.size(), -1.0f), slow(q.size(), -1.0f);
          a.out = fast.data() + group * hd;
          AttentionScratch s;
          attention_queries_cached(a, n_queries, q_stride, q_stride, s);
          for (int64_t t = 0; t < n_queries; ++t) {
            AttentionArgs one = a;
            one.q = a.q + t * q_stride;
            one.out = slow.data() + group * hd + t * q_stride;
            one.n_kv = n_kv - (n_queries - 1 - t);
            ref::attention(one, s);
          }
          for (size_t i = 0; i < q.size(); ++i)
            ASSERT_EQ(std::bit_cast<uint32_t>(fast[i]), std::bit_cast<uint32_t>(slow[i]))
                << "hd " << hd << " group " << group << " n_kv " << n_kv << " queries " << n_queries << " extras "
                << extras << " at " << i;
        }
      }
    }
  }
}

// Soft-capping (Gemma 2) bounds every score by c before the softmax: with a tiny c all scores are
// ~0, so each head's output is the plain mean of the V rows; with a huge c nothing changes.
TEST(Attention, SoftcapBoundsTheScores) {
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t hd = 64, bs = 16, n_kv = 40;
  std::vector<uint16_t> k(size_t(n_kv) * hd), v(k.size());
  for (auto& x : k) x = fp32_to_fp16(normal(rng) * 2.0f);
  for (auto& x : v) x = fp32_to_fp16(normal(rng));
  std::vector<float> q(static_cast<size_t>(hd));
  for (auto& x : q) x = normal(rng) * 4.0f;
  std::vector<const uint16_t*> kb, vb;
  for (int64_t b = 0; b * bs < n_kv; ++b) kb.push_back(k.data() + b * bs * hd), vb.push_back(v.data() + b * bs * hd);
  auto run = [&](float softcap) {
    std::vector<float> out(static_cast<size_t>(hd));
    AttentionArgs a;
    a.q = q.data();
    a.head_dim = hd;
    a.k_blocks = kb.data();
    a.v_blocks = vb.data();
    a.block_size = bs;
    a.row_stride = hd;
    a.n_kv = n_kv;
    a.scale = 0.125f;
    a.softcap = softcap;
    a.out = out.data();
    AttentionScratch s;
    attention(a, s);
    return out;
  };
  const std::vector<float> tiny = run(1e-6f), huge = run(1e30f), none = run(0.0f);
  for (int64_t i = 0; i < hd; ++i) {
    double mean = 0;
    for (int64_t j = 0; j < n_kv; ++j) mean += fp16_to_fp32(v[size_t(j * hd + i)]);
    EXPECT_NEAR(tiny[size_t(i)], mean / n_kv, 2e-3) << i;
    EXPECT_NEAR(huge[size_t(i)], none[size_t(i)], 1e-5) << i;
    EXPECT_GT(std::fabs(none[size_t(i)] - mean / n_kv) + std::fabs(tiny[size_t(i)] - none[size_t(i)]), 0.0) << i;
  }
}

// A sliding window may skip the positions before the multiple of 16 at or below its start: every
// remaining position keeps its lane, and the skipped ones only ever added exact zeros. So the
// range from that aligned start equals the whole masked range to the bit, and masked positions
// count for nothing (the result equals a softmax over the window alone, up to rounding).
TEST(Attention, AlignedWindowEqualsTheFullMaskedRange) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t hd = 64, bs = 16, n_kv = 90, group = 2;
  std::vector<uint16_t> k(size_t(n_kv + bs) * hd), v(k.size());
  for (auto& x : k) x = fp32_to_fp16(normal(rng) * 2.0f);
  for (auto& x : v) x = fp32_to_fp16(normal(rng));
  std::vector<float> q(size_t(group * hd)), sinks = {0.5f, -1.0f};
  for (auto& x : q) x = normal(rng);
  for (int64_t visible : {0, 5, 16, 37, 89}) {
    auto run = [&](int64_t first) {
      std::vector<const uint16_t*> kb, vb;
      for (int64_t b = first / bs; b * bs < n_kv; ++b) {
        kb.push_back(k.data() + b * bs * hd);
        vb.push_back(v.data() + b * bs * hd);
      }
      std::vector<float> out(q.size());
      AttentionArgs a;
      a.q = q.data();
      a.group = group;
      a.head_dim = hd;
      a.k_blocks = kb.data();
      a.v_blocks = vb.data();
      a.block_size = bs;
      a.row_stride = hd;
      a.n_kv = n_kv - first;
      a.n_masked = visible - first;
      a.sinks = sinks.data();
      a.scale = 0.125f;
      a.out = out.data();
      AttentionScratch s;
      attention(a, s);
      return out;
    };
    const std::vector<float> full = run(0), aligned = run(visible - visible % 16);
    EXPECT_EQ(std::memcmp(full.data(), aligned.data(), full.size() * 4), 0) << "window from " << visible;
    // Against a plain double-precision softmax over the window and the sink.
    for (int64_t g = 0; g < group; ++g) {
      std::vector<double> w;
      double max = sinks[size_t(g)], sum = 0;
      for (int64_t j = visible; j < n_kv; ++j) {
        double dot = 0;
        for (int64_t i = 0; i < hd; ++i) dot += double(q[size_t(g * hd + i)]) * fp16_to_fp32(k[size_t(j * hd + i)]);
        w.push_back(dot * 0.125);
        max = std::max(max, w.back());
      }
      for (double& x : w) sum += (x = std::exp(x - max));
      sum += std::exp(sinks[size_t(g)] - max);
      for (int64_t i = 0; i < hd; ++i) {
        double o = 0;
        for (int64_t j = visible; j < n_kv; ++j) o += w[size_t(j - visible)] / sum * fp16_to_fp32(v[size_t(j * hd + i)]);
        EXPECT_NEAR(full[size_t(g * hd + i)], o, 2e-3) << "window from " << visible << " head " << g << " dim " << i;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Builds, AttentionBuild,
                         testing::Values(-1, static_cast<int>(AttentionIsa::kAvx2),
                                         static_cast<int>(AttentionIsa::kAvx512)));

TEST(Attention, StoreF16EqualsScalarConversion) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(1000);
  for (auto& v : x) v = normal(rng) * 1000.0f;
  // Ties, overflow, subnormals, signed zeros, infinities and a NaN (which takes the scalar path).
  const float specials[] = {1.0f + 1.0f / 2048, 65504.0f, 65520.0f, 1e6f, 1e-6f, 6e-8f, -0.0f,
                            INFINITY, -INFINITY, 2.5e-5f};
  for (size_t i = 0; i < std::size(specials); ++i) x[i * 7] = specials[i];
  x[997] = NAN;
  for (int64_t n : {0, 1, 7, 8, 9, 999, 1000}) {
    std::vector<uint16_t> got(size_t(n) + 1, 0xABCD);
    store_f16(x.data(), got.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[size_t(i)], fp32_to_fp16(x[size_t(i)])) << "n " << n << " at " << i;
    ASSERT_EQ(got[size_t(n)], 0xABCD);
  }
}

}  // namespace
}  // namespace hearth::kernels
