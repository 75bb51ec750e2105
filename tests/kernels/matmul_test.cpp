// kernels::matmul (kernels/cpu) at every dispatch level this CPU runs, against the reference:
//   - bit-identical to ref::vec_dot of the ref-converted activations for the quantized types,
//     within a few ulps of the row's magnitude for F16, over awkward shapes (row counts that are
//     not a multiple of the tile, k not a multiple of the SIMD width where the type allows,
//     token counts 1, 2, 3, 7, 9) and 1 and 2 threads;
//   - the SIMD activation conversions (Q8_0, Q8_K) are byte-identical to ref::quantize_activation,
//     ties and zero blocks included;
//   - batch invariance: every (row, token) result has the same bits whether the token runs
//     alone, in a batch, at another position of a shuffled batch, or on another thread count.
#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/dispatch.h"
#include "kernels/matmul_cases.h"
#include "kernels/cpu/isa.h"
#include "kernels/ref/vec_dot.h"
#include "tensor/quant.h"

namespace hearth {
namespace {

using cpu::CpuLevel;
using test::abs_dot_bound;
using test::random_activations;
using test::random_weights;
using test::reference;
using test::run_at_level;
using test::same_bits;
using test::Weights;

struct Case {
  DType type;
  std::vector<int64_t> ks;  // row lengths to try
};

const Case kCases[] = {
    {DType::Q8_0, {32, 96, 544}},   {DType::Q4_0, {32, 160, 544}},   {DType::Q5_0, {32, 96, 544}},
    {DType::Q4_K, {256, 768}},      {DType::Q5_K, {256, 768}},
    {DType::Q6_K, {256, 768}},      {DType::F16, {1, 7, 16, 37, 100, 515}},
    {DType::BF16, {8, 40, 100}},    {DType::Q4_1, {32, 64, 544}},    {DType::Q5_1, {32, 96, 544}},
    {DType::Q2_K, {256, 768}},      {DType::Q3_K, {256, 768}},
    {DType::MXFP4, {32, 96, 2880}}, {DType::IQ4_NL, {32, 160}},  {DType::IQ4_XS, {256, 768}},
    {DType::IQ2_XXS, {256, 768}},   {DType::IQ2_XS, {256, 768}},     {DType::IQ2_S, {256, 768}},
    {DType::IQ3_XXS, {256, 768}},   {DType::IQ3_S, {256, 768}},      {DType::IQ1_S, {256, 768}},
    {DType::IQ1_M, {256, 768}},     {DType::TQ1_0, {256, 768}},      {DType::TQ2_0, {256, 768}},
};

const CpuLevel kLevels[] = {CpuLevel::kRef, CpuLevel::kAvx2, CpuLevel::kAvx512, CpuLevel::kNeon};

// Bits must match, except F16/BF16 at a SIMD level, which sum in f32 lanes: within 1e-5 of the
// sum of |products|.
bool exact_type(CpuLevel level, DType type) {
  return level == CpuLevel::kRef || (type != DType::F16 && type != DType::BF16);
}

class MatmulLevel : public testing::TestWithParam<CpuLevel> {
 protected:
  void SetUp() override {
    if (!cpu::cpu_supports(GetParam()))
      GTEST_SKIP() << "this CPU lacks " << cpu::cpu_level_name(GetParam());
  }
};

TEST_P(MatmulLevel, MatchesReferenceOnAwkwardShapes) {
  const CpuLevel level = GetParam();
  std::mt19937 rng(1234);
  for (const Case& c : kCases) {
    for (int64_t k : c.ks) {
      for (int64_t rows : {1, 3, 18, 33}) {
        const Weights w = random_weights(rng, c.type, k, rows);
        for (int64_t n_tokens : {1, 2, 3, 7, 9}) {
          const std::vector<float> x = random_activations(rng, k, n_tokens);
          const std::vector<float> want = reference(w.view, x, n_tokens);
          for (int threads : {1, 2}) {
            const std::vector<float> got = run_at_level(level, w.view, x, n_tokens, threads);
            for (int64_t t = 0; t < n_tokens; ++t)
              for (int64_t r = 0; r < rows; ++r) {
                const float g = got[t * rows + r], e = want[t * rows + r];
                const std::string where = std::string(dtype_name(c.type)) + " k=" +
                                          std::to_string(k) + " rows=" + std::to_string(rows) +
                                          " n_tokens=" + std::to_string(n_tokens) + " threads=" +
                                          std::to_string(threads) + " t=" + std::to_string(t) +
                                          " r=" + std::to_string(r);
                if (exact_type(level, c.type))
                  ASSERT_TRUE(same_bits(g, e)) << where << ": " << g << " vs ref " << e;
                else
                  ASSERT_NEAR(g, e, 1e-5f * abs_dot_bound(w.view, x, t, r) + 1e-30f) << where;
              }
          }
        }
      }
    }
  }
}

// Batches of 8 tokens or more decode the weights once per chunk of 64 tokens: the IQ types 8 rows
// (a panel) and 16 super-blocks at a time, the ternary types, Q2_K and Q3_K one row and 32
// super-blocks at a time. Rows longer than a group, batches longer than a chunk, row counts that
// leave a part-filled panel per thread (and every remainder) give ref's bits too.
TEST_P(MatmulLevel, LowBitRowsAcrossDecodeGroupsMatchReference) {
  const CpuLevel level = GetParam();
  std::mt19937 rng(4242);
  for (DType type : {DType::IQ2_XXS, DType::IQ2_XS, DType::IQ2_S, DType::IQ3_XXS, DType::IQ3_S, DType::IQ1_S,
                     DType::IQ1_M, DType::TQ1_0, DType::Q2_K, DType::Q3_K}) {
    const int64_t k = 33 * 256, rows = 21;
    const Weights w = random_weights(rng, type, k, rows);
    for (int64_t n_tokens : {8, 70}) {
      const std::vector<float> x = random_activations(rng, k, n_tokens);
      const std::vector<float> want = reference(w.view, x, n_tokens);
      const std::vector<float> got = run_at_level(level, w.view, x, n_tokens, 2);
      for (int64_t i = 0; i < n_tokens * rows; ++i)
        ASSERT_TRUE(same_bits(got[i], want[i])) << dtype_name(type) << " n_tokens=" << n_tokens << " at " << i;
    }
  }
}

// Q4_K in llama.cpp's MUL_MAT_ID order (one FMA per super-block, what MoE experts use): every
// level gives ref's bits, and that order is not the default one (the flag reaches the kernel).
TEST_P(MatmulLevel, Q4KSuperBlockOrderMatchesReference) {
  const CpuLevel level = GetParam();
  std::mt19937 rng(777);
  int differs_from_pairs = 0;
  for (int64_t k : {256, 768, 2048}) {
    const int64_t rows = 19;
    const Weights w = random_weights(rng, DType::Q4_K, k, rows);
    for (int64_t n_tokens : {1, 5}) {
      const std::vector<float> x = random_activations(rng, k, n_tokens);
      const std::vector<float> want = reference(w.view, x, n_tokens, ref::KSums::kSuperBlocks);
      const std::vector<float> pairs = reference(w.view, x, n_tokens, ref::KSums::kPairs);
      const std::vector<float> got = run_at_level(level, w.view, x, n_tokens, 2, ref::KSums::kSuperBlocks);
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_TRUE(same_bits(got[i], want[i])) << "k=" << k << " i=" << i << ": " << got[i] << " vs " << want[i];
        differs_from_pairs += !same_bits(want[i], pairs[i]);
      }
    }
  }
  EXPECT_GT(differs_from_pairs, 0) << "the two Q4_K orders never differed: the flag is not reaching the sums";
}

// Q4_K in ggml's own x86 vec_dot order (what llama.cpp runs for MLA's unrepacked attn_v_b):
// every level gives ref's bits (NEON through ref itself), and the order differs from the others.
TEST_P(MatmulLevel, Q4KVecDotOrderMatchesReference) {
  const CpuLevel level = GetParam();
  std::mt19937 rng(778);
  int differs = 0;
  for (int64_t k : {256, 512, 1536}) {
    const int64_t rows = 19;
    const Weights w = random_weights(rng, DType::Q4_K, k, rows);
    for (int64_t n_tokens : {1, 5}) {
      const std::vector<float> x = random_activations(rng, k, n_tokens);
      const std::vector<float> want = reference(w.view, x, n_tokens, ref::KSums::kVecDot);
      const std::vector<float> pairs = reference(w.view, x, n_tokens, ref::KSums::kPairs);
      const std::vector<float> got = run_at_level(level, w.view, x, n_tokens, 2, ref::KSums::kVecDot);
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_TRUE(same_bits(got[i], want[i])) << "k=" << k << " i=" << i << ": " << got[i] << " vs " << want[i];
        differs += !same_bits(want[i], pairs[i]);
      }
    }
  }
  EXPECT_GT(differs, 0) << "the vec_dot order never differed from the GEMM's: the flag is not reaching the sums";
}

// F32 in ggml_vec_dot_f32's order (MLA's per-head key maps split from an older file's attn_kv_b):
// every level gives ref's bits, tails past a multiple of 64 and odd row counts included.
TEST_P(MatmulLevel, F32VecDotOrderMatchesReference) {
  const CpuLevel level = GetParam();
  std::mt19937 rng(779);
  for (int64_t k : {64, 100, 128, 512}) {
    const int64_t rows = 19;
    const Weights w = random_weights(rng, DType::F32, k, rows);
    for (int64_t n_tokens : {1, 5}) {
      const std::vector<float> x = random_activations(rng, k, n_tokens);
      const std::vector<float> want = reference(w.view, x, n_tokens, ref::KSums::kVecDot);
      const std::vector<float> got = run_at_level(level, w.view, x, n_tokens, 2, ref::KSums::kVecDot);
      for (size_t i = 0; i < want.size(); ++i)
        ASSERT_TRUE(same_bits(got[i], want[i])) << "k=" << k << " i=" << i << ": " << got[i] << " vs " << want[i];
    }
  }
}

// MXFP4 blocks whose E8M0 exponents reach the ends of the range (0 and 1 give f32 subnormal
// scales, 254 large ones): every level, and the packed copy where this CPU has one, gives ref's
// bits. Random rows have exponents near 127 only, so the SIMD scale conversions' edge cases
// would go untested.
TEST_P(MatmulLevel, MXFP4ExtremeExponentsMatchReference) {
  const CpuLevel level = GetParam();
  std::mt19937 rng(2880);
  const int64_t k = 96, rows = 21;
  Weights w = random_weights(rng, DType::MXFP4, k, rows);
  const uint8_t exponents[] = {0, 1, 2, 3, 100, 126, 127, 128, 129, 160, 200, 254};
  // One exponent per row, so a row of subnormal scales is not lost beside larger blocks.
  const int64_t nb = k / 32;
  for (int64_t b = 0; b < rows * nb; ++b)
    w.bytes[size_t(17 * b)] = exponents[size_t(b / nb) % std::size(exponents)];
  for (int64_t n_tokens : {1, 4}) {
    const std::vector<float> x = random_activations(rng, k, n_tokens);
    const std::vector<float> want = reference(w.view, x, n_tokens);
    const std::vector<float> got = run_at_level(level, w.view, x, n_tokens, 2);
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_TRUE(same_bits(got[i], want[i])) << "n_tokens=" << n_tokens << " i=" << i << ": " << got[i]
                                              << " vs ref " << want[i];
    if (level != cpu::active_cpu_level()) continue;
    ThreadPool pool(2);
    const kernels::Matrix packed = kernels::Matrix::prepare(w.view, pool);
    kernels::MatmulScratch scratch;
    std::vector<float> y(want.size(), -1.0f);
    kernels::matmul(packed, x.data(), n_tokens, y.data(), pool, scratch);
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_TRUE(same_bits(y[i], want[i])) << "packed, n_tokens=" << n_tokens << " i=" << i << ": " << y[i]
                                            << " vs ref " << want[i];
  }
}

TEST_P(MatmulLevel, EachResultIndependentOfBatchAndThreads) {
  const CpuLevel level = GetParam();
  std::mt19937 rng(99);
  for (const Case& c : kCases) {
    const int64_t k = c.ks.back(), rows = 37, n_tokens = 11;
    const Weights w = random_weights(rng, c.type, k, rows);
    const std::vector<float> x = random_activations(rng, k, n_tokens);
    const std::vector<float> batch = run_at_level(level, w.view, x, n_tokens, 2);
    // Each token alone, one thread.
    for (int64_t t = 0; t < n_tokens; ++t) {
      const std::vector<float> one(x.begin() + t * k, x.begin() + (t + 1) * k);
      const std::vector<float> alone = run_at_level(level, w.view, one, 1, 1);
      for (int64_t r = 0; r < rows; ++r)
        ASSERT_TRUE(same_bits(alone[r], batch[t * rows + r]))
            << dtype_name(c.type) << " token " << t << " row " << r;
    }
    // The batch reversed (every token lands in another tile position), 1 thread.
    std::vector<float> reversed(x.size());
    for (int64_t t = 0; t < n_tokens; ++t)
      std::copy(x.begin() + t * k, x.begin() + (t + 1) * k,
                reversed.begin() + (n_tokens - 1 - t) * k);
    const std::vector<float> rev = run_at_level(level, w.view, reversed, n_tokens, 1);
    for (int64_t t = 0; t < n_tokens; ++t)
      for (int64_t r = 0; r < rows; ++r)
        ASSERT_TRUE(same_bits(rev[(n_tokens - 1 - t) * rows + r], batch[t * rows + r]))
            << dtype_name(c.type) << " token " << t << " row " << r;
  }
}

TEST_P(MatmulLevel, ActivationConversionIsByteIdenticalToRef) {
  cpu::QuantizeFn (*quantize_for)(DType) = nullptr;
#if defined(__x86_64__)
  if (GetParam() == CpuLevel::kAvx2) quantize_for = cpu::avx2_quantize;
  if (GetParam() == CpuLevel::kAvx512) quantize_for = cpu::avx512_quantize;
#endif
#if defined(__aarch64__)
  if (GetParam() == CpuLevel::kNeon) quantize_for = cpu::neon_quantize;
#endif
  if (quantize_for == nullptr) GTEST_SKIP() << "no SIMD conversion at this level";
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> halves(-254, 254);
  for (DType act : {DType::Q8_0, DType::Q8_1, DType::Q8_K}) {
    const int64_t n = 1024;
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<float> x = random_activations(rng, n, 1);
      if (trial % 3 == 1)  // half-integers with +-127 in every block: exact ties for Q8_0
        for (int64_t j = 0; j < n; ++j)
          x[j] = j % 32 == 0 ? 127.0f : static_cast<float>(halves(rng)) / 2.0f;
      if (trial % 3 == 2) std::fill(x.begin() + 256, x.begin() + 512, 0.0f);  // zero blocks
      if (trial % 5 == 4 && act != DType::Q8_K) {  // the indefinite conversions of inf and NaN
        x[40] = INFINITY;
        x[100] = NAN;
        x[130] = -INFINITY;
      }
      const size_t bytes = *row_bytes(act, n);
      std::vector<uint8_t> want(bytes), got(bytes, 0xAA);
      ref::quantize_activation(act, x.data(), want.data(), n);
      quantize_for(act)(x.data(), got.data(), n);
      ASSERT_EQ(want, got) << dtype_name(act) << " trial " << trial;
    }
  }
}

TEST(MatmulDispatch, DetectedLevelIsSupportedAndCoversTheMainTypes) {
  const CpuLevel level = cpu::detected_cpu_level();
  EXPECT_TRUE(cpu::cpu_supports(level));
  if (level != CpuLevel::kRef) {
    for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q5_0, DType::Q4_1, DType::Q5_1, DType::Q2_K, DType::Q3_K,
                    DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::IQ4_NL, DType::IQ4_XS, DType::MXFP4, DType::F16,
                    DType::BF16, DType::IQ2_XXS, DType::IQ2_XS, DType::IQ2_S, DType::IQ3_XXS, DType::IQ3_S,
                    DType::IQ1_S, DType::IQ1_M, DType::TQ1_0, DType::TQ2_0})
      EXPECT_TRUE(cpu::has_kernel(level, t)) << dtype_name(t);
  }
  EXPECT_FALSE(cpu::has_kernel(CpuLevel::kAvx2, DType::Q8_1));  // an activation type only
}

INSTANTIATE_TEST_SUITE_P(Levels, MatmulLevel, testing::ValuesIn(kLevels),
                         [](const testing::TestParamInfo<CpuLevel>& info) {
                           return std::string(cpu::cpu_level_name(info.param));
                         });

}  // namespace
}  // namespace hearth
