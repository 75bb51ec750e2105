// The dispatched Gated DeltaNet kernels (kernels/delta_net.h) against kernels/ref/delta_net.h,
// bit for bit: the token step at the head widths the SIMD path takes (64, Qwen3.5's 128, 256) and
// one it leaves to ref (96), several tokens through one state, so a wrong row order or fold shows
// in the state as well as in the outputs; the convolution over tap-major operands at channel
// counts with and without a tail past the last vector, against ref's channel-major ones.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/delta_net.h"
#include "kernels/ref/delta_net.h"

namespace hearth::kernels {
namespace {

void expect_same_bits(const std::vector<float>& a, const std::vector<float>& b, const char* what, int64_t d) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    uint32_t x, y;
    std::memcpy(&x, &a[i], 4);
    std::memcpy(&y, &b[i], 4);
    ASSERT_EQ(x, y) << what << " (width " << d << ") at " << i << ": " << a[i] << " vs " << b[i];
  }
}

TEST(DeltaNet, TokenStepEqualsReference) {
  std::mt19937 rng(23);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t d : {64, 96, 128, 256}) {
    const auto n = static_cast<size_t>(d);
    std::vector<float> fast(n * n), slow(n * n), q(n), k(n), v(n), out_fast(n), out_slow(n), scratch(n);
    for (size_t i = 0; i < n * n; ++i) fast[i] = slow[i] = normal(rng) * 0.1f;
    for (int token = 0; token < 6; ++token) {
      for (size_t i = 0; i < n; ++i) q[i] = normal(rng), k[i] = normal(rng) / std::sqrt(float(d)), v[i] = normal(rng);
      const float g = -std::fabs(normal(rng)), beta = 1.0f / (1.0f + std::exp(-normal(rng)));
      kernels::delta_rule_step(fast.data(), q.data(), k.data(), v.data(), g, beta, d, out_fast.data(), scratch.data());
      ref::delta_rule_step(slow.data(), q.data(), k.data(), v.data(), g, beta, d, out_slow.data(), scratch.data());
      expect_same_bits(out_fast, out_slow, "output", d);
      expect_same_bits(fast, slow, "state", d);
    }
  }
}

TEST(DeltaNet, ConvolutionStepEqualsReference) {
  std::mt19937 rng(29);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t width : {1, 2, 4}) {
    for (int64_t channels : {1, 7, 8, 15, 16, 17, 40, 6144}) {
      const int64_t keep = width - 1;
      const auto n = static_cast<size_t>(channels);
      std::vector<float> taps(n * size_t(width)), taps_t(taps.size());  // [channels][width], [width][channels]
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t i = 0; i < width; ++i)
          taps[size_t(c * width + i)] = taps_t[size_t(i * channels + c)] = normal(rng) * 0.5f;
      std::vector<float> win(n * size_t(keep), 0.0f), win_t(win.size(), 0.0f), x(n), fast(n), slow(n);
      for (int token = 0; token < 5; ++token) {
        for (float& v : x) v = normal(rng);
        kernels::conv_step(win_t.data(), channels, x.data(), taps_t.data(), channels, channels, width, fast.data());
        ref::conv_step(win.data(), x.data(), taps.data(), channels, width, slow.data());
        expect_same_bits(fast, slow, "convolution output", channels);
        for (int64_t c = 0; c < channels; ++c)
          for (int64_t i = 0; i < keep; ++i)
            ASSERT_EQ(win_t[size_t(i * channels + c)], win[size_t(c * keep + i)]) << "window, channel " << c;
      }
    }
  }
}

}  // namespace
}  // namespace hearth::kernels
