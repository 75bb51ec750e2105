// The packed kernels (kernels/cpu/packed.h) against the reference, at every level that has
// them on this CPU, over awkward shapes (rows not a multiple of the 16-row group, token counts
// around the tiles and the 64-token chunk, 1 and 2 threads):
//   - Q8_0, Q5_0, Q4_1, Q5_1 and the K types bit-identical to ref::vec_dot (ggml's 8 lanes, the
//     _1 types' mins in a chain; exact integer sums then ref's f32 expression);
//   - Q4_0 within 2e-6 of the row's sum of |products| (it sums each block exactly, then in f32,
//     where ref follows ggml's lanes);
//   - F16/BF16 bit-identical to one f32 FMA chain over k per (row, token) (serial_fma below), and
//     within f32 rounding of ref's double sum;
//   - bit-identical results whatever the batch and thread count;
//   - kernels::matmul on a prepared Matrix taking the packed path.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/packed.h"
#include "kernels/matmul.h"
#include "kernels/matmul_cases.h"

namespace hearth {
namespace {

using cpu::CpuLevel;
using test::random_activations;
using test::random_weights;
using test::Weights;

enum class Check {
  kRefBits,    // bit-identical to ref
  kNearRef,    // within 2e-6 of the sum of |products|
  kSerialFma,  // bit-identical to serial_fma, and within 2e-5 of the sum of |products| of ref
};

struct PackedCase {
  DType type;
  std::vector<int64_t> ks;
  Check check;
};

const PackedCase kPackedCases[] = {
    {DType::Q8_0, {32, 96, 544}, Check::kRefBits},  {DType::Q4_0, {32, 96, 544}, Check::kNearRef},
    {DType::Q5_0, {32, 96, 544}, Check::kRefBits},  {DType::Q4_K, {256, 768}, Check::kRefBits},
    {DType::Q4_1, {32, 96, 544}, Check::kRefBits},  {DType::Q5_1, {32, 96, 544}, Check::kRefBits},
    {DType::Q5_K, {256, 768}, Check::kRefBits},     {DType::Q6_K, {256, 768}, Check::kRefBits},
    {DType::F16, {1, 7, 96, 545}, Check::kSerialFma}, {DType::BF16, {1, 7, 96, 545}, Check::kSerialFma},
    {DType::MXFP4, {32, 96, 2880}, Check::kRefBits}, {DType::IQ4_NL, {32, 96, 544}, Check::kRefBits},
    {DType::IQ4_XS, {256, 768}, Check::kRefBits},
};

// The packed F16/BF16 order written out: the activation rounded to the weight type as ref
// rounds it, then s = fma(w_j, a_j, s) for j = 0..k-1 in f32.
std::vector<float> serial_fma(const TensorView& w, const std::vector<float>& x, int64_t n_tokens) {
  const int64_t k = w.ne[0], rows = w.ne[1];
  std::vector<float> y(static_cast<size_t>(rows * n_tokens)), row(static_cast<size_t>(k)),
      act(static_cast<size_t>(k));
  std::vector<uint8_t> half(static_cast<size_t>(2 * k));
  for (int64_t t = 0; t < n_tokens; ++t) {
    quantize_row(w.type, x.data() + t * k, half.data(), k);
    dequantize_row(w.type, half.data(), act.data(), k);
    for (int64_t r = 0; r < rows; ++r) {
      dequantize_row(w.type, static_cast<const uint8_t*>(w.data) + r * 2 * k, row.data(), k);
      float s = 0.0f;
      for (int64_t j = 0; j < k; ++j) s = std::fma(row[j], act[j], s);
      y[t * rows + r] = s;
    }
  }
  return y;
}

std::vector<CpuLevel> packing_levels() {
  std::vector<CpuLevel> levels;
  for (CpuLevel l : {CpuLevel::kAvx2, CpuLevel::kAvx512})
    if (cpu::cpu_supports(l)) levels.push_back(l);
  return levels;
}

std::vector<float> run_packed(const cpu::PackedMatrix& p, const std::vector<float>& x,
                              int64_t n_tokens, int n_threads) {
  ThreadPool pool(n_threads);
  std::vector<uint8_t> scratch;
  std::vector<float> y(static_cast<size_t>(p.rows * n_tokens), -1.0f);
  cpu::matmul_packed(p, x.data(), n_tokens, y.data(), pool, scratch);
  return y;
}

TEST(PackedMatmul, MatchesReferenceOnAwkwardShapes) {
  int checked = 0;
  for (CpuLevel level : packing_levels()) {
    std::mt19937 rng(4321);
    for (const PackedCase& c : kPackedCases) {
      const DType type = c.type;
      for (int64_t k : c.ks) {
        for (int64_t rows : {1, 15, 16, 17, 40, 50}) {
          const Weights w = random_weights(rng, type, k, rows);
          ThreadPool pool(2);
          const auto packed = cpu::pack_at(level, w.view, pool);
          if (packed == nullptr) continue;
          for (int64_t n_tokens : {1, 3, 8, 9, 12, 13, 17, 70}) {
            const std::vector<float> x = random_activations(rng, k, n_tokens);
            const std::vector<float> want = test::reference(w.view, x, n_tokens);
            std::vector<float> chain;
            if (c.check == Check::kSerialFma) chain = serial_fma(w.view, x, n_tokens);
            for (int threads : {1, 2}) {
              const std::vector<float> got = run_packed(*packed, x, n_tokens, threads);
              for (int64_t t = 0; t < n_tokens; ++t)
                for (int64_t r = 0; r < rows; ++r) {
                  const float g = got[t * rows + r], e = want[t * rows + r];
                  const auto where = [&] {
                    return std::string(cpu::cpu_level_name(level)) + " " + std::string(dtype_name(type)) +
                           " k=" + std::to_string(k) + " rows=" + std::to_string(rows) +
                           " n_tokens=" + std::to_string(n_tokens) + " threads=" +
                           std::to_string(threads) + " t=" + std::to_string(t) +
                           " r=" + std::to_string(r);
                  };
                  if (c.check == Check::kRefBits) {
                    ASSERT_TRUE(test::same_bits(g, e)) << where() << ": " << g << " vs ref " << e;
                  } else if (c.check == Check::kNearRef) {
                    ASSERT_NEAR(g, e, 2e-6f * test::abs_dot_bound(w.view, x, t, r) + 1e-30f) << where();
                  } else {
                    const float f = chain[t * rows + r];
                    ASSERT_TRUE(test::same_bits(g, f)) << where() << ": " << g << " vs serial fma " << f;
                    ASSERT_NEAR(g, e, 2e-5f * test::abs_dot_bound(w.view, x, t, r) + 1e-30f) << where();
                  }
                }
              ++checked;
            }
          }
        }
      }
    }
  }
  if (checked == 0) GTEST_SKIP() << "no packed kernels on this CPU";
}

// Q4_K packed with llama.cpp's MUL_MAT_ID order (MoE experts) gives ref's bits in that order.
TEST(PackedMatmul, Q4KSuperBlockOrderMatchesReference) {
  bool any = false;
  for (CpuLevel level : packing_levels()) {
    std::mt19937 rng(555);
    for (int64_t rows : {16, 40}) {
      const Weights w = random_weights(rng, DType::Q4_K, 768, rows);
      ThreadPool pool(2);
      const auto packed = cpu::pack_at(level, w.view, pool, ref::KSums::kSuperBlocks);
      if (packed == nullptr) continue;
      any = true;
      for (int64_t n_tokens : {1, 7, 13}) {
        const std::vector<float> x = random_activations(rng, 768, n_tokens);
        const std::vector<float> want = test::reference(w.view, x, n_tokens, ref::KSums::kSuperBlocks);
        const std::vector<float> got = run_packed(*packed, x, n_tokens, 2);
        for (size_t i = 0; i < want.size(); ++i)
          ASSERT_TRUE(test::same_bits(got[i], want[i])) << cpu::cpu_level_name(level) << " rows=" << rows
                                                        << " i=" << i << ": " << got[i] << " vs " << want[i];
      }
    }
  }
  if (!any) GTEST_SKIP() << "no packed kernels on this CPU";
}

// Which path took a batch's full 16 tokens, for failure messages.
std::string amx_note() {
#if defined(__x86_64__)
  return cpu::has_amx_int8() ? " (AMX)" : " (VNNI)";
#else
  return "";
#endif
}

// ref::KSums::kBlocks (hearth's own order for the 32-element types, the default where AVX-512
// packs them): the packed kernels give ref's bits in that order, through the VNNI tile for
// batches under 16 tokens and batch tails, and the AMX tiles (where the CPU has them) for each
// full 16 tokens; blocks past 64 cross the AMX stage of the nibble types, tokens past 64 the chunk.
// And a token's bits are the same alone as in any batch.
TEST(PackedMatmul, BlockOrderMatchesReferenceAndIsBatchInvariant) {
  if (!cpu::cpu_supports(CpuLevel::kAvx512)) GTEST_SKIP() << "this CPU lacks AVX-512: kBlocks is not packed";
  std::mt19937 rng(2112);
  for (DType type : {DType::Q8_0, DType::Q4_0, DType::Q5_0, DType::Q4_1, DType::Q5_1}) {
    for (int64_t k : {32, 96, 2080, 4128}) {
      for (int64_t rows : {1, 17, 40}) {
        const Weights w = random_weights(rng, type, k, rows);
        ThreadPool pool(2);
        const auto packed = cpu::pack_at(CpuLevel::kAvx512, w.view, pool, ref::KSums::kBlocks);
        ASSERT_NE(packed, nullptr) << dtype_name(type);
        for (int64_t n_tokens : {1, 9, 16, 17, 33, 70, 130}) {
          if (k > 2080 && n_tokens < 33) continue;
          const std::vector<float> x = random_activations(rng, k, n_tokens);
          const std::vector<float> want = test::reference(w.view, x, n_tokens, ref::KSums::kBlocks);
          for (int threads : {1, 2}) {
            const std::vector<float> got = run_packed(*packed, x, n_tokens, threads);
            for (size_t i = 0; i < want.size(); ++i)
              ASSERT_TRUE(test::same_bits(got[i], want[i]))
                  << dtype_name(type) << " k=" << k << " rows=" << rows << " n_tokens=" << n_tokens
                  << " threads=" << threads << " t=" << i / rows << " r=" << i % rows << ": " << got[i]
                  << " vs ref " << want[i] << amx_note();
          }
          if (n_tokens != 70) continue;
          for (int64_t t : {0, 17, 69}) {
            const std::vector<float> one(x.begin() + t * k, x.begin() + (t + 1) * k);
            const std::vector<float> alone = run_packed(*packed, one, 1, 1);
            for (int64_t r = 0; r < rows; ++r)
              ASSERT_TRUE(test::same_bits(alone[r], want[t * rows + r])) << dtype_name(type) << " token " << t;
          }
        }
      }
    }
  }
}

// The block order differs from llama.cpp's lanes by rounding only: both within 2e-6 of the row's
// sum of |products| of the exact (double) sums (a wrong block, scale or correction would be far
// outside), and not the same bits.
TEST(PackedMatmul, BlockOrderIsNearTheLanes) {
  std::mt19937 rng(99);
  for (DType type : {DType::Q8_0, DType::Q5_0, DType::Q4_1, DType::Q5_1}) {
    const Weights w = random_weights(rng, type, 544, 9);
    const std::vector<float> x = random_activations(rng, 544, 5);
    const std::vector<float> lanes = test::reference(w.view, x, 5, ref::KSums::kPairs);
    const std::vector<float> blocks = test::reference(w.view, x, 5, ref::KSums::kBlocks);
    const std::vector<float> exact = test::reference(w.view, x, 5, ref::KSums::kExact);
    int differ = 0;
    for (int64_t t = 0; t < 5; ++t)
      for (int64_t r = 0; r < 9; ++r) {
        const float a = lanes[t * 9 + r], b = blocks[t * 9 + r], e = exact[t * 9 + r];
        const float bound = 2e-6f * test::abs_dot_bound(w.view, x, t, r) + 1e-30f;
        ASSERT_NEAR(a, e, bound) << dtype_name(type) << " lanes against exact sums";
        ASSERT_NEAR(b, e, bound) << dtype_name(type) << " blocks against exact sums";
        differ += !test::same_bits(a, b);
      }
    EXPECT_GT(differ, 0) << dtype_name(type) << ": kBlocks gave the lanes' bits everywhere";
  }
}

TEST(PackedMatmul, EachResultIndependentOfBatchAndThreads) {
  bool any = false;
  for (CpuLevel level : packing_levels()) {
    std::mt19937 rng(77);
    for (const PackedCase& c : kPackedCases) {
      const DType type = c.type;
      const int64_t k = c.ks.back(), rows = 37, n_tokens = 75;
      const Weights w = random_weights(rng, type, k, rows);
      ThreadPool pool(1);
      const auto packed = cpu::pack_at(level, w.view, pool);
      if (packed == nullptr) continue;
      any = true;
      const std::vector<float> x = random_activations(rng, k, n_tokens);
      const std::vector<float> batch = run_packed(*packed, x, n_tokens, 2);
      for (int64_t t = 0; t < n_tokens; t += 7) {
        const std::vector<float> one(x.begin() + t * k, x.begin() + (t + 1) * k);
        const std::vector<float> alone = run_packed(*packed, one, 1, 1);
        for (int64_t r = 0; r < rows; ++r)
          ASSERT_TRUE(test::same_bits(alone[r], batch[t * rows + r]))
              << dtype_name(type) << " token " << t << " row " << r;
      }
    }
  }
  if (!any) GTEST_SKIP() << "no packed kernels on this CPU";
}

TEST(PackedMatmul, PreparedMatrixUsesThePackedKernel) {
  std::mt19937 rng(5);
  const Weights w = random_weights(rng, DType::Q8_0, 64, 20);
  ThreadPool pool(2);
  const kernels::Matrix m = kernels::Matrix::prepare(w.view, pool);
  const bool expect_packed = cpu::can_pack(cpu::active_cpu_level(), w.view);
  ASSERT_EQ(m.packed() != nullptr, expect_packed);
  if (!expect_packed) GTEST_SKIP() << "no packed kernel at " << cpu::cpu_level_name(cpu::active_cpu_level());
  const std::vector<float> x = random_activations(rng, 64, 5);
  std::vector<float> via_matrix(100), via_packed;
  kernels::MatmulScratch scratch;
  kernels::matmul(m, x.data(), 5, via_matrix.data(), pool, scratch);
  via_packed = run_packed(*m.packed(), x, 5, 2);
  for (size_t i = 0; i < via_matrix.size(); ++i) ASSERT_TRUE(test::same_bits(via_matrix[i], via_packed[i]));
}

// A gate/up pair over the same activations (one conversion, one parallel pass) gives each
// matrix's own product to the bit, for row counts that split the groups unevenly.
TEST(PackedMatmul, PairEqualsTwoSingleProducts) {
  std::mt19937 rng(8);
  ThreadPool pool(2);
  bool any = false;
  for (DType type : {DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::MXFP4}) {
    const int64_t k = 512;
    const Weights wa = random_weights(rng, type, k, 40), wb = random_weights(rng, type, k, 23);
    const kernels::Matrix a = kernels::Matrix::prepare(wa.view, pool), b = kernels::Matrix::prepare(wb.view, pool);
    for (int64_t n : {1, 5, 70}) {
      const std::vector<float> x = random_activations(rng, k, n);
      std::vector<float> ya(size_t(40 * n)), yb(size_t(23 * n)), sa(ya.size()), sb(yb.size());
      kernels::MatmulScratch scratch;
      kernels::matmul_pair(a, b, x.data(), n, ya.data(), yb.data(), pool, scratch);
      kernels::matmul(a, x.data(), n, sa.data(), pool, scratch);
      kernels::matmul(b, x.data(), n, sb.data(), pool, scratch);
      for (size_t i = 0; i < ya.size(); ++i) ASSERT_TRUE(test::same_bits(ya[i], sa[i])) << dtype_name(type) << " n " << n;
      for (size_t i = 0; i < yb.size(); ++i) ASSERT_TRUE(test::same_bits(yb[i], sb[i])) << dtype_name(type) << " n " << n;
    }
    any = any || (a.packed() != nullptr && b.packed() != nullptr && cpu::can_pair(*a.packed(), *b.packed()));
  }
  if (!any) GTEST_SKIP() << "no packed kernels on this CPU: the pair fell back to two products";
}

// MatchesReferenceOnAwkwardShapes passes over a matrix that does not pack: hold which do.
TEST(PackedMatmul, TheseTypesPackAtAvx512) {
  if (!cpu::cpu_supports(CpuLevel::kAvx512)) GTEST_SKIP() << "this CPU lacks AVX-512";
  std::mt19937 rng(8);
  ThreadPool pool(1);
  for (DType type : {DType::Q8_0, DType::Q4_0, DType::Q5_0, DType::Q4_1, DType::Q5_1, DType::Q4_K, DType::F16,
                     DType::BF16, DType::MXFP4, DType::IQ4_NL, DType::IQ4_XS})
    EXPECT_NE(cpu::pack_at(CpuLevel::kAvx512, random_weights(rng, type, 256, 4).view, pool), nullptr)
        << dtype_name(type);
}

TEST(PackedMatmul, UnsupportedShapesAndTypesStayUnpacked) {
  std::mt19937 rng(6);
  ThreadPool pool(1);
  for (CpuLevel level : {CpuLevel::kRef, CpuLevel::kAvx2, CpuLevel::kAvx512}) {
    if (!cpu::cpu_supports(level)) continue;
    EXPECT_EQ(cpu::pack_at(level, random_weights(rng, DType::Q3_K, 256, 4).view, pool), nullptr);
    EXPECT_EQ(cpu::pack_at(level, random_weights(rng, DType::F32, 7, 4).view, pool), nullptr);
  }
  EXPECT_EQ(cpu::pack_at(CpuLevel::kRef, random_weights(rng, DType::Q8_0, 64, 4).view, pool), nullptr);
}

}  // namespace
}  // namespace hearth
