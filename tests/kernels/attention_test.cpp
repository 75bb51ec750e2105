// The attention kernel against its reference over odd shapes: head sizes, group sizes, lengths
// that end mid-block, blocks scattered in the cache.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/attention.h"
#include "tensor/quant.h"

namespace hearth::kernels {
namespace {

TEST(Attention, SimdEqualsReferenceWithinOneUlp) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t hd : {8, 64, 80, 128}) {
    for (int64_t group : {1, 2, 7}) {
      for (int64_t n_kv : {1, 2, 15, 16, 17, 100, 301}) {
        const int64_t bs = 16, n_kv_heads = 2, stride = n_kv_heads * hd;
        const int64_t n_blocks = (n_kv + bs - 1) / bs + 3;
        std::vector<uint16_t> k(size_t(n_blocks * bs * stride)), v(k.size());
        for (auto& x : k) x = fp32_to_fp16(normal(rng) * 2.0f);
        for (auto& x : v) x = fp32_to_fp16(normal(rng));
        std::vector<float> q(size_t(group * hd));
        for (auto& x : q) x = normal(rng);
        // Blocks in reverse order, second KV head.
        std::vector<const uint16_t*> kb, vb;
        for (int64_t b = 0; b < (n_kv + bs - 1) / bs; ++b) {
          const int64_t block = n_blocks - 1 - b;
          kb.push_back(k.data() + block * bs * stride + hd);
          vb.push_back(v.data() + block * bs * stride + hd);
        }
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
        AttentionScratch s1, s2;
        a.out = fast.data();
        attention(a, s1);
        a.out = slow.data();
        ref::attention(a, s2);
        for (size_t i = 0; i < q.size(); ++i)
          ASSERT_LE(std::fabs(fast[i] - slow[i]), std::nextafter(std::fabs(slow[i]), INFINITY) - std::fabs(slow[i]))
              << "hd " << hd << " group " << group << " n_kv " << n_kv << " at " << i;
      }
    }
  }
}

}  // namespace
}  // namespace hearth::kernels
