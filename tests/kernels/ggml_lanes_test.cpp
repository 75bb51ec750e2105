// ggml's polynomial expf and 16-lane sums (kernels/ref/ggml_lanes.h) and the ops built on them:
// the scalar poly_expf against libm's exp, its AVX2/AVX-512 vector forms bit for bit against the
// scalar one (including the far tails and NaN), softmax and SwiGLU against double precision.
// Whether these are llama.cpp's exact roundings is held by tests/peers (perplexity, forward).
// GCC 12 warns about the undefined-vector idiom inside its own avx512fintrin.h.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu/poly_exp.h"
#include "kernels/ref/ggml_lanes.h"
#include "kernels/ref/ops.h"

namespace hearth {
namespace {

// Distance in units in the last place of `want` (a double rounded to float).
double ulps(float got, double want) {
  const float w = static_cast<float>(want);
  const double ulp = std::nextafter(std::fabs(w), INFINITY) - std::fabs(w);
  return std::fabs(static_cast<double>(got) - want) / ulp;
}

std::vector<float> exp_inputs() {
  std::vector<float> x;
  for (float v = -110.0f; v <= 90.0f; v += 0.0137f) x.push_back(v);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int i = 0; i < 20000; ++i) x.push_back(u(rng));
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 88.72f, 88.73f, -87.33f, -103.9f, -104.0f, -150.0f, 89.0f, 200.0f,
                  -200.0f, 1e30f, -1e30f, INFINITY, -INFINITY, NAN})
    x.push_back(v);
  return x;
}

// The routine's stated bound is 1.45 ulp + 0.5 for the final rounding.
TEST(PolyExpf, WithinTwoAndAHalfUlpsOfExpOverTheNormalRange) {
  double worst = 0;
  for (float x : exp_inputs()) {
    if (!(x > -87.0f && x < 88.0f)) continue;  // results normal and finite
    worst = std::max(worst, ulps(ref::poly_expf(x), std::exp(static_cast<double>(x))));
  }
  EXPECT_LE(worst, 2.5);
  std::printf("poly_expf: worst %.2f ulp over (-87, 88)\n", worst);
}

TEST(PolyExpf, TailsAndSpecialValues) {
  EXPECT_EQ(ref::poly_expf(0.0f), 1.0f);
  EXPECT_EQ(ref::poly_expf(-INFINITY), 0.0f);
  EXPECT_EQ(ref::poly_expf(-200.0f), 0.0f);
  EXPECT_EQ(ref::poly_expf(INFINITY), INFINITY);
  EXPECT_EQ(ref::poly_expf(200.0f), INFINITY);
  EXPECT_TRUE(std::isnan(ref::poly_expf(NAN)));
  // Subnormal results are one rounding of the scaled polynomial: within one step of exp.
  const float sub = ref::poly_expf(-100.0f);
  EXPECT_GT(sub, 0.0f);
  EXPECT_NEAR(sub, std::exp(-100.0), std::numeric_limits<float>::denorm_min());
}

template <typename F>
void expect_vector_matches_scalar(int width, F vector_exp) {
  const std::vector<float> in = exp_inputs();
  for (size_t i = 0; i + width <= in.size(); i += width) {
    float out[16];
    vector_exp(in.data() + i, out);
    for (int l = 0; l < width; ++l) {
      const float want = ref::poly_expf(in[i + l]);
      uint32_t a, b;
      std::memcpy(&a, &out[l], 4);
      std::memcpy(&b, &want, 4);
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(out[l]));
      } else {
        ASSERT_EQ(a, b) << "x " << in[i + l] << " got " << out[l] << " want " << want;
      }
    }
  }
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) void exp8(const float* x, float* out) {
  _mm256_storeu_ps(out, kernels::poly_expf8(_mm256_loadu_ps(x)));
}
__attribute__((target("avx512f,avx512dq,avx2,fma"))) void exp16(const float* x, float* out) {
  _mm512_storeu_ps(out, kernels::poly_expf16(_mm512_loadu_ps(x)));
}

TEST(PolyExpf, Avx2VectorsAreTheScalarBits) {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) GTEST_SKIP() << "no AVX2+FMA";
  expect_vector_matches_scalar(8, exp8);
}

TEST(PolyExpf, Avx512VectorsAreTheScalarBits) {
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512dq")) GTEST_SKIP() << "no AVX-512";
  expect_vector_matches_scalar(16, exp16);
}
#endif

TEST(ReduceLanes16, IsTheHalvingTree) {
  // Values whose float sums depend on the order: the tree adds lanes l and l+8 first.
  float lane[16] = {};
  lane[0] = 1e8f;
  lane[8] = -1e8f;
  lane[1] = 1.0f;
  EXPECT_EQ(ref::reduce_lanes16(lane), 1.0f);  // a left-to-right sum would lose the 1
  for (int l = 0; l < 16; ++l) lane[l] = static_cast<float>(l + 1);
  EXPECT_EQ(ref::reduce_lanes16(lane), 136.0f);
}

TEST(Softmax, MatchesDoublePrecisionAndSumsToOne) {
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  for (int n : {1, 5, 16, 17, 64, 300}) {
    std::vector<float> x(static_cast<size_t>(n));
    for (float& v : x) v = normal(rng);
    std::vector<float> p = x;
    ref::softmax(p.data(), n);
    // x - max is rounded to float first, as in any f32 softmax; the rest in double.
    float max = -INFINITY;
    for (float v : x) max = std::max(max, v);
    double sum = 0;
    for (float v : x) sum += std::exp(double(v - max));
    double total = 0;
    for (int i = 0; i < n; ++i) {
      const double want = std::exp(double(x[size_t(i)] - max)) / sum;
      EXPECT_LE(ulps(p[size_t(i)], want), 4.0) << "n " << n << " i " << i;
      total += p[size_t(i)];
    }
    EXPECT_NEAR(total, 1.0, 1e-5);
  }
}

TEST(SiluMul, MatchesDoublePrecisionWithTheTailThroughLibm) {
  std::mt19937 rng(13);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  const int n = 16 * 5 + 7;  // five vector groups and a 7-element tail
  std::vector<float> g(n), u(n), out(n);
  for (int i = 0; i < n; ++i) g[size_t(i)] = normal(rng), u[size_t(i)] = normal(rng);
  g[3] = -120.0f;  // exp(120) overflows: silu is -0
  ref::silu_mul(g.data(), u.data(), out.data(), n);
  for (int i = 0; i < n; ++i) {
    const double x = g[size_t(i)];
    const double want = x / (1.0 + std::exp(-x)) * u[size_t(i)];
    EXPECT_LE(ulps(out[size_t(i)], want), 4.0) << i;
    if (i >= 80) {
      EXPECT_EQ(out[size_t(i)], g[size_t(i)] / (1.0f + std::exp(-g[size_t(i)])) * u[size_t(i)]);
    }
  }
}

}  // namespace
}  // namespace hearth
