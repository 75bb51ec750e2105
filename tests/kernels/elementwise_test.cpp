// The dispatched SwiGLU, GELU, GeGLU and rope rotation (kernels/elementwise.h) against their references in
// kernels/ref/ops.h, bit for bit, over row lengths with and without a tail past the last group
// of 16, values reaching exp's far tails, and both rope layouts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <tuple>
#include <vector>

#include "kernels/elementwise.h"
#include "kernels/ref/moe.h"
#include "tensor/quant.h"

namespace hearth::kernels {
namespace {

void expect_same_bits(const std::vector<float>& a, const std::vector<float>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    uint32_t x, y;
    std::memcpy(&x, &a[i], 4);
    std::memcpy(&y, &b[i], 4);
    ASSERT_EQ(x, y) << what << " at " << i << ": " << a[i] << " vs " << b[i];
  }
}

TEST(Elementwise, SiluMulEqualsReference) {
  std::mt19937 rng(17);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  for (int64_t n : {1, 15, 16, 17, 64, 100, 4864}) {
    const auto size = static_cast<size_t>(n);
    std::vector<float> g(size), u(size), fast(size), slow(size);
    for (int64_t i = 0; i < n; ++i) g[size_t(i)] = normal(rng) * (i % 7 == 0 ? 30.0f : 1.0f), u[size_t(i)] = normal(rng);
    if (n > 3) g[3] = NAN, g[2] = -200.0f, g[1] = 200.0f;
    kernels::silu_mul(g.data(), u.data(), fast.data(), n);
    ref::silu_mul(g.data(), u.data(), slow.data(), n);
    for (size_t i = 0; i < size; ++i) {  // NaN stays NaN, without comparing payloads
      if (!std::isnan(slow[i])) continue;
      ASSERT_TRUE(std::isnan(fast[i]));
      fast[i] = slow[i] = 0;
    }
    expect_same_bits(fast, slow, "silu_mul");
  }
}

TEST(Elementwise, AddInplaceEqualsReference) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (int64_t n : {1, 7, 8, 9, 16, 100, 1024}) {
    const auto size = static_cast<size_t>(n);
    std::vector<float> x(size), fast(size), slow(size);
    for (size_t i = 0; i < size; ++i) x[i] = normal(rng), fast[i] = slow[i] = normal(rng) * 1e3f;
    if (n > 3) x[0] = INFINITY, x[1] = -0.0f, fast[1] = slow[1] = 0.0f, x[2] = 1e-40f;
    kernels::add_inplace(fast.data(), x.data(), n);
    ref::add_inplace(slow.data(), x.data(), n);
    expect_same_bits(fast, slow, "add_inplace");
  }
}

// Row counts around the groups of eight, rows wider than their stride's minimum, in place and
// not, with and without weight and bias, a row of large values (the double sums' range).
TEST(Elementwise, NormRowsEqualReference) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (int64_t rows : {1, 7, 8, 9, 17, 32}) {
    for (int64_t n : {1, 5, 64, 384}) {
      const int64_t stride = n + 3;
      const auto size = static_cast<size_t>(rows * stride);
      std::vector<float> x(size), w(static_cast<size_t>(n)), b(static_cast<size_t>(n));
      for (float& v : x) v = normal(rng);
      for (int64_t i = 0; i < n; ++i) x[size_t(i)] *= 1e4f;
      for (float& v : w) v = normal(rng);
      for (float& v : b) v = normal(rng);
      for (int variant = 0; variant < 3; ++variant) {
        const float* wp = variant == 2 ? nullptr : w.data();
        const float* bp = variant == 0 ? b.data() : nullptr;
        std::vector<float> fast(size, 0.0f), slow(size, 0.0f), in_place = x, slow_ln(size, 0.0f), fast_ln(size, 0.0f);
        kernels::rms_norm_rows(x.data(), stride, wp, fast.data(), stride, rows, n, 1e-6f);
        kernels::rms_norm_rows(in_place.data(), stride, wp, in_place.data(), stride, rows, n, 1e-6f);
        kernels::layer_norm_rows(x.data(), stride, wp, bp, fast_ln.data(), stride, rows, n, 1e-5f);
        for (int64_t r = 0; r < rows; ++r) {
          ref::rms_norm(&x[size_t(r * stride)], wp, &slow[size_t(r * stride)], n, 1e-6f);
          ref::layer_norm(&x[size_t(r * stride)], wp, bp, &slow_ln[size_t(r * stride)], n, 1e-5f);
        }
        for (int64_t r = 0; r < rows; ++r)  // the padding past each row is the input's in place
          for (int64_t i = n; i < stride; ++i) in_place[size_t(r * stride + i)] = 0.0f;
        expect_same_bits(fast, slow, "rms_norm_rows");
        expect_same_bits(in_place, slow, "rms_norm_rows in place");
        expect_same_bits(fast_ln, slow_ln, "layer_norm_rows");
      }
    }
  }
}

// Every f16 input's table entry through the vector path: all 65536 bit patterns widened to f32,
// then values between them, the +-10 cut-offs, signed zeros, infinities and a NaN, times ups of
// both signs (GeGLU's 0 below -10 is +0 whatever the up).
TEST(Elementwise, GeluAndGegluEqualReference) {
  std::vector<float> g;
  for (uint32_t h = 0; h < 65536; ++h) g.push_back(fp16_to_fp32(uint16_t(h)));
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 6.0f);
  for (int i = 0; i < 4000; ++i) g.push_back(normal(rng));
  for (float x : {-10.0f, 10.0f, std::nextafter(-10.0f, 0.0f), std::nextafter(10.0f, 0.0f), 0.0f, -0.0f, INFINITY,
                  -INFINITY, -1e30f, 1e30f})
    g.push_back(x);
  g.push_back(NAN);
  g.push_back(1.0f);  // a tail past the last 8
  const size_t n = g.size();
  std::vector<float> u(n), fast(n), slow(n);
  for (size_t i = 0; i < n; ++i) u[i] = i % 3 == 0 ? -1.5f : normal(rng);
  for (int glu = 0; glu < 2; ++glu) {
    if (glu) {
      kernels::geglu(g.data(), u.data(), fast.data(), int64_t(n));
      ref::geglu(g.data(), u.data(), slow.data(), int64_t(n));
    } else {
      kernels::gelu(g.data(), fast.data(), int64_t(n));
      ref::gelu(g.data(), slow.data(), int64_t(n));
    }
    for (size_t i = 0; i < n; ++i) {  // NaN stays NaN, without comparing payloads
      if (!std::isnan(slow[i])) continue;
      ASSERT_TRUE(std::isnan(fast[i])) << i;
      fast[i] = slow[i] = 0;
    }
    expect_same_bits(fast, slow, glu ? "geglu" : "gelu");
  }
}

TEST(Elementwise, RopeApplyEqualsReference) {
  std::mt19937 rng(19);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (bool neox : {false, true}) {
    ref::RopeParams p;
    p.n_rot = 64;
    p.freq_base = 1e6f;
    p.neox = neox;
    const int64_t head_dim = 80, n_heads = 3;  // rotating 64 of 80 dimensions
    for (float pos : {0.0f, 1.0f, 17.0f, 4095.0f}) {
      std::vector<float> cache(size_t(p.n_rot));
      ref::rope_cache(p, pos, cache.data());
      std::vector<float> x(size_t(n_heads * head_dim));
      for (float& v : x) v = normal(rng);
      std::vector<float> fast = x, slow = x;
      kernels::rope_apply(p, cache.data(), fast.data(), n_heads, head_dim);
      ref::rope_apply(p, cache.data(), slow.data(), n_heads, head_dim);
      expect_same_bits(fast, slow, neox ? "neox" : "normal");
    }
  }
}

// ref::geglu is ggml's GELU table: the tanh formula evaluated at the input rounded to f16, the
// result rounded to f16 (so within an f16 ulp or two of the formula at the exact input), 0 at or
// below -10 and the input itself at or above 10, times up.
TEST(Geglu, FollowsTheTanhFormulaThroughF16) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> range(-12.0f, 12.0f);
  std::vector<float> g(4096), u(g.size(), 1.0f), out(g.size());
  for (float& x : g) x = range(rng);
  g[0] = -10.0f, g[1] = 10.0f, g[2] = 0.0f, g[3] = -9.999f;
  ref::geglu(g.data(), u.data(), out.data(), static_cast<int64_t>(g.size()));
  for (size_t i = 0; i < g.size(); ++i) {
    const double x = g[i];
    const double gelu = 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * x * (1.0 + 0.044715 * x * x)));
    if (x <= -10.0) {
      EXPECT_EQ(out[i], 0.0f) << x;
    } else if (x >= 10.0) {
      EXPECT_EQ(out[i], g[i]) << x;
    } else {
      // f16 input rounding moves x by up to 2^-11 |x| (gelu' <= 1.13), the result rounding by 2^-11 |gelu|.
      EXPECT_NEAR(out[i], gelu, 1.2 * std::ldexp(std::fabs(x), -11) + std::ldexp(std::fabs(gelu), -11) + 1e-7) << x;
    }
  }
  std::vector<float> up = {2.0f, -3.0f}, gate = {1.5f, 11.0f}, twice(2), once(2);
  ref::geglu(gate.data(), up.data(), twice.data(), 2);
  ref::geglu(gate.data(), std::vector<float>(2, 1.0f).data(), once.data(), 2);
  EXPECT_EQ(twice[0], once[0] * 2.0f);
  EXPECT_EQ(twice[1], 11.0f * -3.0f);
}

// The f32 GEMM in tinyBLAS's lanes (routers, Gemma 4's per-layer projection): every (row, token)
// equals ref::dot_f32_lanes16, whether tokens go four at a time with blocks of rows (many tokens,
// a token count not a multiple of four) or one by one, and into rows of a wider output (a
// thread's share of the rows).
TEST(Elementwise, MatmulF32Lanes16EqualsReference) {
  std::mt19937 rng(7);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (const auto& [rows, k, n] : {std::tuple<int64_t, int64_t, int64_t>{130, 96, 11}, {7, 48, 2}, {70, 32, 4}}) {
    std::vector<float> w(size_t(rows * k)), x(size_t(n * k));
    for (float& v : w) v = d(rng);
    for (float& v : x) v = d(rng);
    std::vector<float> y(size_t(n * rows));
    matmul_f32_lanes16(w.data(), rows, k, x.data(), n, y.data());
    for (int64_t t = 0; t < n; ++t)
      for (int64_t r = 0; r < rows; ++r) {
        const float want = ref::dot_f32_lanes16(w.data() + r * k, x.data() + t * k, k);
        ASSERT_EQ(std::memcmp(&y[size_t(t * rows + r)], &want, 4), 0) << rows << "x" << k << " t " << t << " r " << r;
      }
    // Rows 3.. into a wider output, as a thread computes its share.
    std::vector<float> part(size_t(n * rows), -1.0f);
    matmul_f32_lanes16(w.data() + 3 * k, rows - 3, k, x.data(), n, part.data() + 3, rows);
    for (int64_t t = 0; t < n; ++t) {
      EXPECT_EQ(part[size_t(t * rows)], -1.0f);
      EXPECT_EQ(std::memcmp(&part[size_t(t * rows + 3)], &y[size_t(t * rows + 3)], size_t(rows - 3) * 4), 0);
    }
  }
}

}  // namespace
}  // namespace hearth::kernels
