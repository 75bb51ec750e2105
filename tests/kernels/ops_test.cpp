// The ops that mirror ggml's SIMD arithmetic (ref::ggml_expf, silu_mul, softmax, the f16 dot
// products):
//   - against plain math within a tolerance (they must still compute the right thing);
//   - special values: exp of -inf is 0, large inputs overflow to inf, small ones flush to 0;
//   - the summation orders they promise, on inputs built so that the order decides the result;
//   - when HEARTH_GGML_LIB_DIR names a folder with llama.cpp's prebuilt libggml-base.so and
//     libggml-cpu-*.so, bit for bit against the exported ggml_vec_swiglu_f32,
//     ggml_vec_soft_max_f32 and ggml_vec_dot_f16 of the variant ggml would load here (the
//     emulations follow the AVX-512 code, so the comparison is skipped on other variants).
#include "kernels/ref/ops.h"

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "tensor/quant.h"

namespace hearth {
namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

TEST(GgmlExpf, CloseToExpOverTheUsefulRange) {
  double worst_ulps = 0;
  for (float x = -103.0f; x < 88.0f; x += 0.0137f) {
    const double want = std::exp(static_cast<double>(x));
    const float got = ref::ggml_expf(x);
    const double ulp = std::ldexp(1.0, std::max(std::ilogb(want), -126) - 23);
    worst_ulps = std::max(worst_ulps, std::fabs(got - want) / ulp);
  }
  // ggml documents 1.45 ulp + 0.5 for rounding; a subnormal result rounds a second time in the
  // final scaling (its ulp is the smallest subnormal): 2.15 measured.
  EXPECT_LT(worst_ulps, 2.5);
  EXPECT_EQ(ref::ggml_expf(0.0f), 1.0f);
}

TEST(GgmlExpf, SpecialValues) {
  EXPECT_EQ(ref::ggml_expf(-INFINITY), 0.0f);  // the masked attention entries
  EXPECT_EQ(ref::ggml_expf(-200.0f), 0.0f);
  EXPECT_EQ(ref::ggml_expf(200.0f), INFINITY);
  EXPECT_EQ(ref::ggml_expf(INFINITY), INFINITY);
  EXPECT_TRUE(std::isnan(ref::ggml_expf(NAN)));
}

TEST(SiluMul, MatchesPlainSwiGlu) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 4.0f);
  const int64_t n = 100;  // 6 groups of 16 and a tail of 4
  std::vector<float> g(n), u(n), out(n);
  for (int64_t i = 0; i < n; ++i) g[i] = dist(rng), u[i] = dist(rng);
  ref::silu_mul(g.data(), u.data(), out.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    const double want = g[i] / (1.0 + std::exp(-double{g[i]})) * u[i];
    EXPECT_NEAR(out[i], want, 4e-7 * std::fabs(want) + 1e-30) << i;
  }
}

TEST(Softmax, MatchesPlainSoftmaxAndSumsToOne) {
  for (int64_t n : {1, 5, 16, 17, 100, 256}) {
    std::mt19937 rng(static_cast<unsigned>(n));
    std::normal_distribution<float> dist(0.0f, 3.0f);
    std::vector<float> x(static_cast<size_t>(n));
    for (float& v : x) v = dist(rng);
    std::vector<double> want(x.size());
    double max = -INFINITY, sum = 0;
    for (float v : x) max = std::max(max, double{v});
    for (size_t i = 0; i < x.size(); ++i) sum += want[i] = std::exp(x[i] - max);
    ref::softmax(x.data(), n);
    double total = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_NEAR(x[i], want[i] / sum, 1e-6 * want[i] / sum + 1e-12) << "n " << n << " i " << i;
      total += x[i];
    }
    EXPECT_NEAR(total, 1.0, 1e-5) << n;
  }
}

TEST(Softmax, MaskedEntriesGetZero) {
  std::vector<float> x = {1.0f, -INFINITY, 2.0f, -INFINITY};
  ref::softmax(x.data(), 4);
  EXPECT_EQ(x[1], 0.0f);
  EXPECT_EQ(x[3], 0.0f);
  EXPECT_NEAR(x[0] + x[2], 1.0f, 1e-6f);
}

std::vector<uint16_t> to_f16(const std::vector<float>& v) {
  std::vector<uint16_t> out;
  for (float f : v) out.push_back(fp32_to_fp16(f));
  return out;
}

TEST(DotF16, BothOrdersMatchDoubleDotOnRandomData) {
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (int64_t n : {16, 64, 128, 80, 256}) {
    std::vector<float> a(static_cast<size_t>(n)), bf(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      a[i] = fp16_to_fp32(fp32_to_fp16(dist(rng)));
      bf[i] = dist(rng);
    }
    const std::vector<uint16_t> b = to_f16(bf);
    double want = 0, mag = 0;
    for (int64_t i = 0; i < n; ++i) {
      want += double{a[i]} * fp16_to_fp32(b[i]);
      mag += std::fabs(double{a[i]} * fp16_to_fp32(b[i]));
    }
    EXPECT_NEAR(ref::dot_f16_tinyblas(a.data(), b.data(), 1, n, n), want, 1e-6 * mag) << n;
    EXPECT_NEAR(ref::dot_f16_ggml(a.data(), b.data(), 1, n, n), want, 1e-6 * mag) << n;
  }
}

TEST(DotF16, StrideReadsEveryStrideThElement) {
  const std::vector<float> a(16, 1.0f);
  std::vector<float> bf(48, 100.0f);
  for (int i = 0; i < 16; ++i) bf[static_cast<size_t>(i) * 3] = static_cast<float>(i);
  const std::vector<uint16_t> b = to_f16(bf);
  EXPECT_EQ(ref::dot_f16_tinyblas(a.data(), b.data(), 3, 16, 16), 120.0f);
  EXPECT_EQ(ref::dot_f16_ggml(a.data(), b.data(), 3, 16, 16), 120.0f);
}

// 2^24 + 1 + 1 in float depends on the grouping: (2^24 + 1) + 1 = 2^24 (each 1 is a tie that
// rounds to even), 2^24 + (1 + 1) = 2^24 + 2. Elements 0, 16 and 48 carry 2^24, 1 and 1.
TEST(DotF16, SummationOrderIsTheKernels) {
  std::vector<float> a(64, 0.0f), bf(64, 0.0f);
  a[0] = bf[0] = 4096.0f;
  a[16] = bf[16] = 1.0f;
  a[48] = bf[48] = 1.0f;
  const std::vector<uint16_t> b = to_f16(bf);
  // tinyBLAS: all three are in lane 0, added one after the other: both 1s round away.
  EXPECT_EQ(ref::dot_f16_tinyblas(a.data(), b.data(), 1, 64, 64), 16777216.0f);
  // ggml_vec_dot_f16: they go to accumulators 0, 1 and 3; 1 + 3 is reduced first, so the two 1s
  // meet before they meet 2^24.
  EXPECT_EQ(ref::dot_f16_ggml(a.data(), b.data(), 1, 64, 64), 16777218.0f);
}

TEST(DotF16, PaddingIsNotReadAndAddsNothing) {
  std::vector<float> a(100, 0.5f);
  std::vector<uint16_t> b(100, fp32_to_fp16(2.0f));
  for (int i = 37; i < 100; ++i) b[static_cast<size_t>(i)] = 0x7e00;  // NaN: must not be read
  EXPECT_EQ(ref::dot_f16_tinyblas(a.data(), b.data(), 1, 256, 37), 37.0f);
  EXPECT_EQ(ref::dot_f16_ggml(a.data(), b.data(), 1, 256, 37), 37.0f);
  EXPECT_EQ(ref::dot_f16_ggml(a.data(), b.data(), 1, 80, 37), 37.0f);  // 64 by vector, 16 in double
}

// ---- Bit for bit against llama.cpp's prebuilt ggml -------------------------------------------

void* open_ggml_cpu(const std::string& dir, std::string* why, std::string* chosen) {
  if (!dlopen((dir + "/libggml-base.so").c_str(), RTLD_NOW | RTLD_GLOBAL)) {
    *why = dlerror();
    return nullptr;
  }
  void* best = nullptr;
  int best_score = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("libggml-cpu", 0) != 0 || entry.path().extension() != ".so") continue;
    void* lib = dlopen(entry.path().c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) continue;
    auto score = reinterpret_cast<int (*)()>(dlsym(lib, "ggml_backend_score"));
    const int s = score ? score() : 1;
    if (s > best_score) best_score = s, best = lib, *chosen = name;
  }
  if (!best) *why = "no usable libggml-cpu*.so in " + dir;
  return best;
}

TEST(OpsGgml, BitIdenticalToPrebuiltGgml) {
  const char* dir = std::getenv("HEARTH_GGML_LIB_DIR");
  if (!dir || !*dir) {
    GTEST_SKIP() << "\n*** HEARTH_GGML_LIB_DIR is not set: NOT comparing against llama.cpp's "
                    "prebuilt ggml (make peer-test sets it). ***";
  }
  std::string why, chosen;
  void* lib = open_ggml_cpu(dir, &why, &chosen);
  ASSERT_NE(lib, nullptr) << why;
  if (chosen.find("zen4") == std::string::npos && chosen.find("skylakex") == std::string::npos &&
      chosen.find("icelake") == std::string::npos && chosen.find("cannonlake") == std::string::npos &&
      chosen.find("cooperlake") == std::string::npos && chosen.find("sapphirerapids") == std::string::npos) {
    GTEST_SKIP() << "ggml picked " << chosen << ", not an AVX-512 variant; the emulation follows "
                    "the AVX-512 code";
  }
  using Swiglu = void (*)(int, float*, const float*, const float*);
  using SoftMax = double (*)(int, float*, const float*, float);
  using DotF16 = void (*)(int, float*, size_t, const uint16_t*, size_t, const uint16_t*, size_t, int);
  auto swiglu = reinterpret_cast<Swiglu>(dlsym(lib, "ggml_vec_swiglu_f32"));
  auto soft_max = reinterpret_cast<SoftMax>(dlsym(lib, "ggml_vec_soft_max_f32"));
  auto dot_f16 = reinterpret_cast<DotF16>(dlsym(lib, "ggml_vec_dot_f16"));
  auto cpu_init = reinterpret_cast<void (*)()>(dlsym(lib, "ggml_cpu_init"));
  ASSERT_TRUE(swiglu && soft_max && dot_f16 && cpu_init) << chosen;
  cpu_init();
  std::printf("comparing with %s/%s\n", dir, chosen.c_str());

  std::mt19937 rng(99);
  std::normal_distribution<float> dist(0.0f, 5.0f);
  int64_t exp_mismatch = 0, swiglu_mismatch = 0, softmax_mismatch = 0, dot_mismatch = 0;
  for (int round = 0; round < 200; ++round) {
    const int n = 16 * (1 + round % 20) + (round % 3 == 0 ? 0 : round % 16);
    std::vector<float> x(static_cast<size_t>(n)), g(x.size()), ours(x.size()), theirs(x.size());
    for (size_t i = 0; i < x.size(); ++i) x[i] = dist(rng), g[i] = dist(rng);

    swiglu(n, theirs.data(), x.data(), g.data());
    ref::silu_mul(x.data(), g.data(), ours.data(), n);
    for (size_t i = 0; i < x.size(); ++i) swiglu_mismatch += bits(ours[i]) != bits(theirs[i]);

    // Softmax over whole groups of 16 (llama.cpp's padded rows); a masked tail as in attention.
    const int n16 = n / 16 * 16;
    std::vector<float> row(x.begin(), x.begin() + n16);
    for (int i = n16 - 5; i < n16; ++i) row[static_cast<size_t>(i)] = -INFINITY;
    float max = -INFINITY;
    for (float v : row) max = std::max(max, v);
    std::vector<float> ref_row(row.size());
    const double sum = soft_max(n16, ref_row.data(), row.data(), max);
    for (size_t i = 0; i < row.size(); ++i) exp_mismatch += bits(ref::ggml_expf(row[i] - max)) != bits(ref_row[i]);
    const float inv = static_cast<float>(1.0 / sum);
    for (float& v : ref_row) v *= inv;
    ref::softmax(row.data(), n16 - 5);  // the masked entries are the padding here
    for (int i = 0; i < n16 - 5; ++i) softmax_mismatch += bits(row[static_cast<size_t>(i)]) != bits(ref_row[static_cast<size_t>(i)]);

    std::vector<uint16_t> a16(x.size()), b16(x.size());
    std::vector<float> a(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      a16[i] = fp32_to_fp16(x[i]);
      a[i] = fp16_to_fp32(a16[i]);
      b16[i] = fp32_to_fp16(g[i]);
    }
    float want = 0;
    dot_f16(n, &want, 0, a16.data(), 0, b16.data(), 0, 1);
    dot_mismatch += bits(ref::dot_f16_ggml(a.data(), b16.data(), 1, n, n)) != bits(want);
  }
  EXPECT_EQ(exp_mismatch, 0);
  EXPECT_EQ(swiglu_mismatch, 0);
  EXPECT_EQ(softmax_mismatch, 0);
  EXPECT_EQ(dot_mismatch, 0);
}

}  // namespace
}  // namespace hearth
