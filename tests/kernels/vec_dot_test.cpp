// ref::quantize_activation and ref::vec_dot:
//   - for every weight type, on one block, a few blocks and a long row, vec_dot of a quantized
//     weight row with a converted activation row equals the double-precision dot of the two
//     dequantized rows (the per-block integer sums are exact, so only f32 scaling and
//     accumulation round);
//   - quantize_activation's hand-checkable properties: the extreme element becomes +-127, ties
//     round to even (as ggml's x86 kernels do, not away from zero as its portable _ref code
//     does), Q8_1's s and Q8_K's bsums are the sums of the quants, zero blocks stay zero;
//   - small products worked by hand;
//   - when HEARTH_GGML_LIB_DIR names a folder with llama.cpp's prebuilt libggml-base.so and
//     libggml-cpu-*.so, the conversion is byte-identical to ggml's from_float and the products
//     agree with ggml's vec_dot (the CPU variant ggml's own loader would pick on this machine).
#include "kernels/ref/vec_dot.h"

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <bit>
#include <vector>

#include "kernels/matmul_cases.h"
#include "tensor/quant.h"
#include "tensor/quant_blocks.h"

namespace hearth {
namespace {

using test::random_lowbit_row;

const DType kWeightTypes[] = {DType::F32,  DType::F16,    DType::BF16,   DType::Q4_0,
                              DType::Q4_1, DType::Q5_0,   DType::Q5_1,   DType::Q8_0,
                              DType::Q2_K, DType::Q3_K,   DType::Q4_K,   DType::Q5_K,
                              DType::Q6_K, DType::IQ4_NL, DType::IQ4_XS, DType::MXFP4};

std::vector<uint8_t> row_buffer(DType type, int64_t n) {
  return std::vector<uint8_t>(*row_bytes(type, static_cast<uint64_t>(n)));
}

// Activation rows, dequantized: hearth's dequantize_row covers the stored types; Q8_1 and Q8_K
// exist only as activations, so they are expanded here (value = q * d).
std::vector<double> dequantize_activation(DType type, const uint8_t* src, int64_t n) {
  std::vector<double> out(static_cast<size_t>(n));
  if (type == DType::Q8_1) {
    for (int64_t i = 0; i < n / 32; ++i) {
      const auto b = quant::load_block<quant::BlockQ8_1>(src, i);
      for (int j = 0; j < 32; ++j) out[i * 32 + j] = double{fp16_to_fp32(b.d)} * b.qs[j];
    }
  } else if (type == DType::Q8_K) {
    for (int64_t i = 0; i < n / 256; ++i) {
      const auto b = quant::load_block<quant::BlockQ8_K>(src, i);
      for (int j = 0; j < 256; ++j) out[i * 256 + j] = double{b.d} * b.qs[j];
    }
  } else {
    std::vector<float> f(static_cast<size_t>(n));
    dequantize_row(type, src, f.data(), n);
    for (int64_t j = 0; j < n; ++j) out[j] = f[j];
  }
  return out;
}

// A row of Gaussian values at a random scale, with a few outliers (activations have them).
std::vector<float> random_row(std::mt19937& rng, int64_t n) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> log_scale(-3.0f, 3.0f);
  const float scale = std::pow(10.0f, log_scale(rng));
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = normal(rng) * scale;
  std::uniform_int_distribution<int64_t> pick(0, n - 1);
  for (int k = 0; k < 3; ++k) x[pick(rng)] *= 20.0f;
  return x;
}

// Half-integers with +-127 in every 32: for Q8_0/Q8_1 the multiplier is exactly 1, so about half
// the elements are exact ties and expose the rounding rule.
std::vector<float> tie_row(std::mt19937& rng, int64_t n) {
  std::uniform_int_distribution<int> halves(-254, 254);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = static_cast<float>(halves(rng)) / 2.0f;
  for (int64_t j = 0; j < n; j += 32) x[j] = (j / 32) % 2 ? 127.0f : -127.0f;
  return x;
}

// f32 subnormals: 127/amax overflows, the degenerate case of the 8-bit conversions.
std::vector<float> subnormal_row(std::mt19937& rng, int64_t n) {
  auto x = random_row(rng, n);
  for (auto& v : x) v = std::clamp(v, -1.0f, 1.0f) * 1e-39f;
  return x;
}

int64_t block_of(DType weight_type) {
  return std::max<int64_t>(dtype_info(weight_type).block_elems,
                           dtype_info(ref::vec_dot_type(weight_type)).block_elems);
}

// The lengths tried for a type: one block, three blocks, a long odd number of blocks.
std::vector<int64_t> lengths(DType weight_type) {
  const int64_t b = std::max<int64_t>(block_of(weight_type), 32);
  return {b, 3 * b, (b == 32 ? 131 : 17) * b};
}

struct Product {
  float got;         // ref::vec_dot
  double exact;      // dot of the dequantized rows, in double
  double magnitude;  // sum of |w_i * a_i|: the scale rounding errors are relative to
};

// The product of a stored weight row `wq` with `x`, converted as a matmul converts it.
Product product_of_stored(DType type, const std::vector<uint8_t>& wq, const std::vector<float>& x) {
  const auto n = static_cast<int64_t>(x.size());
  const DType act_type = ref::vec_dot_type(type);
  auto xq = row_buffer(act_type, n);
  ref::quantize_activation(act_type, x.data(), xq.data(), n);
  std::vector<float> wd(static_cast<size_t>(n));
  dequantize_row(type, wq.data(), wd.data(), n);
  const auto xd = dequantize_activation(act_type, xq.data(), n);
  Product p{ref::vec_dot(type, wq.data(), xq.data(), n), 0.0, 0.0};
  for (int64_t j = 0; j < n; ++j) {
    p.exact += wd[j] * xd[j];
    p.magnitude += std::fabs(wd[j] * xd[j]);
  }
  if (act_type == DType::Q8_1) {
    // The weight's min m meets the activation through the block's stored s = f16(d * sum q),
    // not through the dequantized values (f16(d) * sum q): the format's own rounding, which
    // ggml's product has too. Swap the one for the other.
    for (int64_t i = 0; i < n / 32; ++i) {
      uint16_t m;  // Q4_1 and Q5_1 blocks both start with f16 d, then f16 m
      std::memcpy(&m, wq.data() + i * dtype_info(type).block_bytes + 2, 2);
      const auto b = quant::load_block<quant::BlockQ8_1>(xq.data(), i);
      int sum = 0;
      for (int j = 0; j < 32; ++j) sum += b.qs[j];
      p.exact +=
          double{fp16_to_fp32(m)} * (double{fp16_to_fp32(b.s)} - double{fp16_to_fp32(b.d)} * sum);
    }
  }
  return p;
}

Product product(DType type, const std::vector<float>& w, const std::vector<float>& x) {
  auto wq = row_buffer(type, static_cast<int64_t>(w.size()));
  quantize_row(type, w.data(), wq.data(), static_cast<int64_t>(w.size()));
  return product_of_stored(type, wq, x);
}

// The low-bit types hearth reads but cannot write: rows of arbitrary bytes (matmul_cases.h).
const DType kLowBitTypes[] = {DType::IQ2_XXS, DType::IQ2_XS, DType::IQ2_S, DType::IQ3_XXS, DType::IQ3_S,
                              DType::IQ1_S,   DType::IQ1_M,  DType::TQ1_0, DType::TQ2_0};

TEST(VecDot, LowBitTypesMatchTheirDequantizedDot) {
  std::mt19937 rng(77);
  for (DType type : kLowBitTypes) {
    for (int64_t n : lengths(type)) {
      for (int trial = 0; trial < 20; ++trial) {
        const Product p = product_of_stored(type, random_lowbit_row(rng, type, n), random_row(rng, n));
        EXPECT_LE(std::fabs(p.got - p.exact), 1e-5 * p.magnitude + 1e-30)
            << dtype_name(type) << " n=" << n << " trial " << trial << ": got " << p.got << " exact " << p.exact;
        EXPECT_GT(p.magnitude, 0.0) << dtype_name(type);
      }
    }
  }
}

TEST(VecDot, MatchesDequantizedDotForEveryType) {
  std::mt19937 rng(1234);
  for (DType type : kWeightTypes) {
    for (int64_t n : lengths(type)) {
      for (int trial = 0; trial < 20; ++trial) {
        const Product p = product(type, random_row(rng, n), random_row(rng, n));
        EXPECT_LE(std::fabs(p.got - p.exact), 1e-5 * p.magnitude + 1e-30)
            << dtype_name(type) << " n=" << n << " trial " << trial << ": got " << p.got
            << " exact " << p.exact;
      }
    }
  }
}

TEST(VecDot, ZeroRowsGiveZero) {
  for (DType type : kWeightTypes) {
    const int64_t n = block_of(type) * 2;
    const std::vector<float> zeros(static_cast<size_t>(n), 0.0f);
    const Product p = product(type, zeros, zeros);
    EXPECT_EQ(p.got, 0.0f) << dtype_name(type);
  }
}

TEST(VecDot, ActivationTypesAreGgmls) {
  EXPECT_EQ(ref::vec_dot_type(DType::F32), DType::F32);
  EXPECT_EQ(ref::vec_dot_type(DType::F16), DType::F16);
  EXPECT_EQ(ref::vec_dot_type(DType::BF16), DType::BF16);
  for (DType t : {DType::Q4_0, DType::Q5_0, DType::Q8_0, DType::IQ4_NL, DType::MXFP4})
    EXPECT_EQ(ref::vec_dot_type(t), DType::Q8_0) << dtype_name(t);
  for (DType t : {DType::Q4_1, DType::Q5_1}) EXPECT_EQ(ref::vec_dot_type(t), DType::Q8_1);
  for (DType t : {DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::IQ4_XS, DType::IQ2_XXS,
                  DType::IQ2_XS, DType::IQ2_S, DType::IQ3_XXS, DType::IQ3_S, DType::IQ1_S, DType::IQ1_M,
                  DType::TQ1_0, DType::TQ2_0})
    EXPECT_EQ(ref::vec_dot_type(t), DType::Q8_K) << dtype_name(t);
  EXPECT_FALSE(ref::has_vec_dot(DType::Q8_1));
  EXPECT_FALSE(ref::has_vec_dot(DType::Q8_K));
}

// amax = 127 makes the multiplier exactly 1, so halves are exact ties.
TEST(QuantizeActivation, Q8_0RoundsTiesToEvenLikeGgmlOnX86) {
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;
  x[1] = 2.5f;     // -> 2 (the portable ggml code's roundf would give 3)
  x[2] = 3.5f;     // -> 4
  x[3] = -2.5f;    // -> -2
  x[4] = -0.5f;    // -> 0
  x[5] = 1.25f;    // -> 1
  x[6] = -126.5f;  // -> -126
  quant::BlockQ8_0 b;
  ref::quantize_activation(DType::Q8_0, x.data(), &b, 32);
  EXPECT_EQ(b.d, fp32_to_fp16(1.0f));
  const int expected[] = {127, 2, 4, -2, 0, 1, -126};
  for (int j = 0; j < 7; ++j) EXPECT_EQ(b.qs[j], expected[j]) << j;
  for (int j = 7; j < 32; ++j) EXPECT_EQ(b.qs[j], 0) << j;
}

TEST(QuantizeActivation, Q8_0ExtremeIs127AndScaleIsAmaxOver127) {
  std::mt19937 rng(7);
  const int64_t n = 32 * 40;
  for (int trial = 0; trial < 20; ++trial) {
    const auto x = random_row(rng, n);
    auto q = row_buffer(DType::Q8_0, n);
    ref::quantize_activation(DType::Q8_0, x.data(), q.data(), n);
    for (int64_t i = 0; i < n / 32; ++i) {
      const auto b = quant::load_block<quant::BlockQ8_0>(q.data(), i);
      float amax = 0.0f;
      int arg = 0;
      for (int j = 0; j < 32; ++j)
        if (std::fabs(x[i * 32 + j]) > amax) amax = std::fabs(x[i * 32 + j]), arg = j;
      EXPECT_EQ(b.d, fp32_to_fp16(amax / 127.f));
      EXPECT_EQ(std::abs(b.qs[arg]), 127);
      for (int j = 0; j < 32; ++j)
        EXPECT_EQ(b.qs[j], std::nearbyint(x[i * 32 + j] * (127.f / amax)));
    }
  }
}

// A block of f32 subnormals makes 127/amax infinite; x86's conversion of the resulting inf/NaN is
// the integer INT32_MIN, which saturates to -128 in every quant. For Q8_1, s comes from the 32-bit
// values before saturation: 32 * INT32_MIN wraps to 0, so s is +0 (not f16(d * -4096) = -0).
TEST(QuantizeActivation, SubnormalBlocksDegenerateAsOnX86) {
  std::vector<float> x(32, 1e-40f);
  x[3] = -2e-40f;
  x[4] = 0.0f;
  quant::BlockQ8_1 b;
  ref::quantize_activation(DType::Q8_1, x.data(), &b, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(b.qs[j], -128) << j;
  EXPECT_EQ(b.d, 0);  // 2e-40 / 127 is far below the smallest f16
  EXPECT_EQ(b.s, 0);
}

TEST(QuantizeActivation, Q8_1SumIsScaledSumOfQuants) {
  std::mt19937 rng(8);
  const int64_t n = 32 * 17;
  const auto x = random_row(rng, n);
  auto q1 = row_buffer(DType::Q8_1, n);
  auto q0 = row_buffer(DType::Q8_0, n);
  ref::quantize_activation(DType::Q8_1, x.data(), q1.data(), n);
  ref::quantize_activation(DType::Q8_0, x.data(), q0.data(), n);
  for (int64_t i = 0; i < n / 32; ++i) {
    const auto b1 = quant::load_block<quant::BlockQ8_1>(q1.data(), i);
    const auto b0 = quant::load_block<quant::BlockQ8_0>(q0.data(), i);
    EXPECT_EQ(b1.d, b0.d);
    EXPECT_EQ(std::memcmp(b1.qs, b0.qs, 32), 0);
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[i * 32 + j]));
    int sum = 0;
    for (int j = 0; j < 32; ++j) sum += b1.qs[j];
    EXPECT_EQ(b1.s, fp32_to_fp16(amax / 127.f * static_cast<float>(sum)));
  }
}

TEST(QuantizeActivation, Q8_KNegatesAroundTheSignedExtremeAndKeepsGroupSums) {
  std::vector<float> x(256, 0.0f);
  x[10] = 127.0f;    // the extreme is positive: scale -1, quants negated
  x[11] = 2.5f;      // -> -2 (tie to even)
  x[12] = -3.5f;     // -> 4
  x[200] = -127.0f;  // same magnitude, later: not the one that sets the sign
  quant::BlockQ8_K b;
  ref::quantize_activation(DType::Q8_K, x.data(), &b, 256);
  EXPECT_EQ(b.d, -1.0f);
  EXPECT_EQ(b.qs[10], -127);
  EXPECT_EQ(b.qs[11], -2);
  EXPECT_EQ(b.qs[12], 4);
  EXPECT_EQ(b.qs[200], 127);
  for (int g = 0; g < 16; ++g) {
    int sum = 0;
    for (int j = 0; j < 16; ++j) sum += b.qs[g * 16 + j];
    EXPECT_EQ(b.bsums[g], sum) << g;
  }
  EXPECT_EQ(b.bsums[0], -127 - 2 + 4);
  EXPECT_EQ(b.bsums[12], 127);

  const std::vector<float> zeros(256, 0.0f);
  ref::quantize_activation(DType::Q8_K, zeros.data(), &b, 256);
  EXPECT_EQ(b.d, 0.0f);
  for (int j = 0; j < 256; ++j) EXPECT_EQ(b.qs[j], 0);
  for (int g = 0; g < 16; ++g) EXPECT_EQ(b.bsums[g], 0);
}

TEST(QuantizeActivation, FloatTypesRoundToNearestEven) {
  std::mt19937 rng(9);
  const int64_t n = 100;
  const auto x = random_row(rng, n);
  std::vector<uint16_t> h(n), bh(n);
  std::vector<float> f(n);
  ref::quantize_activation(DType::F16, x.data(), h.data(), n);
  ref::quantize_activation(DType::BF16, x.data(), bh.data(), n);
  ref::quantize_activation(DType::F32, x.data(), f.data(), n);
  for (int64_t j = 0; j < n; ++j) {
    EXPECT_EQ(h[j], fp32_to_fp16(x[j]));
    EXPECT_EQ(bh[j], fp32_to_bf16(x[j]));
    EXPECT_EQ(f[j], x[j]);
  }
}

// Q8_0 weights times a Q8_0 activation, worked by hand: block 0 is 1*1 * (1*1 + 2*(-3)) = -5,
// block 1 is 0.5*2 * (4*5) = 20.
TEST(VecDot, Q8_0ByHand) {
  quant::BlockQ8_0 w[2] = {}, a[2] = {};
  w[0].d = fp32_to_fp16(1.0f), a[0].d = fp32_to_fp16(1.0f);
  w[0].qs[0] = 1, a[0].qs[0] = 1, w[0].qs[31] = 2, a[0].qs[31] = -3;
  w[1].d = fp32_to_fp16(0.5f), a[1].d = fp32_to_fp16(2.0f);
  w[1].qs[7] = 4, a[1].qs[7] = 5;
  EXPECT_EQ(ref::vec_dot(DType::Q8_0, w, a, 64), 15.0f);
}

// Q4_1 (value = q*d + m) needs the activation sum s: 2 * (q=3 at 0, times qy=10) * dy=1 plus
// m=1 * s.
TEST(VecDot, Q4_1UsesTheActivationSum) {
  quant::BlockQ4_1 w = {};
  quant::BlockQ8_1 a = {};
  w.d = fp32_to_fp16(2.0f), w.m = fp32_to_fp16(1.0f), w.qs[0] = 3;  // element 0: q=3; others 0
  a.d = fp32_to_fp16(1.0f), a.qs[0] = 10, a.qs[20] = -4, a.s = fp32_to_fp16(6.0f);
  // sum_j (q_j*2 + 1) * qy_j = 3*2*10 + 1*(10 - 4) = 66
  EXPECT_EQ(ref::vec_dot(DType::Q4_1, &w, &a, 32), 66.0f);
}

// ---- against llama.cpp's prebuilt CPU backend ------------------------------------------------

// The parts of ggml-cpu.h used here (the ABI of the pinned llama.cpp release).
using GgmlFromFloat = void (*)(const float*, void*, int64_t);
using GgmlVecDot = void (*)(int n, float* s, size_t bs, const void* x, size_t bx, const void* y,
                            size_t by, int nrc);
struct GgmlTypeTraitsCpu {
  GgmlFromFloat from_float;
  GgmlVecDot vec_dot;
  int vec_dot_type;
  int64_t nrows;
};
using GetTraits = const GgmlTypeTraitsCpu* (*)(int type);

// Opens libggml-base.so and the libggml-cpu-<variant>.so that ggml's backend loader would choose
// here (the highest ggml_backend_score), or returns null with the reason in `why`.
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
    const int s = score ? score() : 1;  // a single non-variant build has no score function
    if (s > best_score) {
      best_score = s, best = lib, *chosen = name;
    }
  }
  if (!best) *why = "no usable libggml-cpu*.so in " + dir;
  return best;
}

// llama.cpp's prebuilt ggml CPU library, initialised: its type traits and the variant ggml's
// loader would choose, or null traits and the reason.
struct GgmlCpu {
  GetTraits traits = nullptr;
  std::string chosen, why;
};
GgmlCpu load_ggml_cpu(const char* dir) {
  GgmlCpu g;
  void* lib = open_ggml_cpu(dir, &g.why, &g.chosen);
  if (lib == nullptr) return g;
  auto cpu_init = reinterpret_cast<void (*)()>(dlsym(lib, "ggml_cpu_init"));
  auto traits = reinterpret_cast<GetTraits>(dlsym(lib, "ggml_get_type_traits_cpu"));
  if (!cpu_init || !traits) {
    g.why = g.chosen + " lacks ggml_cpu_init or ggml_get_type_traits_cpu";
    return g;
  }
  cpu_init();
  g.traits = traits;
  return g;
}

// The types ref sums as ggml's x86 vec_dot does (8 f32 lanes; the _1 types' mins in one chain).
bool in_ggml_lane_order(DType type) {
  for (DType t : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q5_K, DType::Q6_K})
    if (t == type) return true;
  return false;
}

TEST(VecDotGgml, ConversionIsByteIdenticalAndProductsAgree) {
  const char* dir = std::getenv("HEARTH_GGML_LIB_DIR");
  if (!dir || !*dir) {
    GTEST_SKIP() << "\n*** HEARTH_GGML_LIB_DIR is not set: NOT comparing against llama.cpp's "
                    "prebuilt ggml. Set it to the folder holding libggml-base.so and "
                    "libggml-cpu-*.so (make peer-test does). ***";
  }
  const GgmlCpu ggml = load_ggml_cpu(dir);
  ASSERT_NE(ggml.traits, nullptr) << ggml.why;
  const GetTraits get_traits = ggml.traits;
  // The types hearth sums in ggml's x86 lane order (ref's Lanes8) must give its very bits; the
  // variants without AVX2 sum otherwise.
  bool avx2 = true;
  for (const char* v : {"x64", "sse42", "sandybridge", "ivybridge", "piledriver"})
    avx2 = avx2 && ggml.chosen != std::string("libggml-cpu-") + v + ".so";
  std::printf("comparing with %s/%s: lane-order products %s\n", dir, ggml.chosen.c_str(),
              avx2 ? "bit for bit" : "within 1e-5");

  std::mt19937 rng(4321);
  for (DType type : kWeightTypes) {
    const GgmlTypeTraitsCpu* wt = get_traits(static_cast<int>(type));
    const DType act_type = ref::vec_dot_type(type);
    ASSERT_EQ(wt->vec_dot_type, static_cast<int>(act_type)) << dtype_name(type);
    const GgmlFromFloat from_float = get_traits(static_cast<int>(act_type))->from_float;
    double worst = 0.0;
    for (int64_t n : lengths(type)) {
      for (int trial = 0; trial < 30; ++trial) {
        // Gaussian rows, rows of exact ties, and (conversion only) subnormal rows: there the
        // products differ by design (zen4's BF16 dot instruction treats subnormals as zero).
        const int kind = trial % 3;
        const auto w = random_row(rng, n);
        const auto x = kind == 0   ? random_row(rng, n)
                       : kind == 1 ? tie_row(rng, n)
                                   : subnormal_row(rng, n);
        auto wq = row_buffer(type, n);
        quantize_row(type, w.data(), wq.data(), n);
        auto ours = row_buffer(act_type, n), theirs = row_buffer(act_type, n);  // zeroed
        ref::quantize_activation(act_type, x.data(), ours.data(), n);
        from_float(x.data(), theirs.data(), n);
        ASSERT_EQ(ours, theirs) << dtype_name(act_type) << " n=" << n << " trial " << trial;
        if (kind == 2) continue;
        float expected = 0.0f;
        wt->vec_dot(static_cast<int>(n), &expected, 0, wq.data(), 0, theirs.data(), 0, 1);
        const Product p = product(type, w, x);
        const double diff = std::fabs(double{p.got} - expected) / (p.magnitude + 1e-30);
        worst = std::max(worst, diff);
        EXPECT_LE(diff, 1e-5) << dtype_name(type) << " n=" << n << " ours " << p.got << " ggml "
                              << expected;
        if (avx2 && in_ggml_lane_order(type)) {
          EXPECT_EQ(std::bit_cast<uint32_t>(p.got), std::bit_cast<uint32_t>(expected))
              << dtype_name(type) << " n=" << n << " trial " << trial << " ours " << p.got << " ggml " << expected;
        }
      }
    }
    std::printf("%-7s max |ours - ggml| / sum|w*a| = %.3g\n", std::string(dtype_name(type)).c_str(),
                worst);
  }
}

// The parts of ggml.h used to dequantize with llama.cpp's own code.
struct GgmlTypeTraits {
  const char* type_name;
  int64_t blck_size;
  int64_t blck_size_interleave;
  size_t type_size;
  bool is_quantized;
  void (*to_float)(const void* x, float* y, int64_t k);
  GgmlFromFloat from_float_ref;
};

bool same_bits_or_both_nan(float a, float b) {
  return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b) || (std::isnan(a) && std::isnan(b));
}

// The low-bit types against llama.cpp: rows of arbitrary bytes (every codebook point, sign and
// scale) dequantize to the same bits as ggml's to_float, and products agree with its CPU vec_dot:
// the ternary types' bit for bit (hearth sums them in the order of ggml's AVX2 vec_dot); the IQ
// types' within the usual bound, since hearth sums those in the order of llama.cpp's IQ panel
// GEMM, which its batches of 8 or more tokens run and forward_logits.test.mjs holds bit for bit.
// (Rows llama.cpp's quantizer writes are there too: its IQ1/IQ2 search tables take half a minute
// to build.)
TEST(VecDotGgml, LowBitTypesDequantizeToGgmlsBitsAndProductsAgree) {
  const char* dir = std::getenv("HEARTH_GGML_LIB_DIR");
  if (!dir || !*dir) GTEST_SKIP() << "\n*** HEARTH_GGML_LIB_DIR is not set: NOT comparing against llama.cpp ***";
  const GgmlCpu ggml = load_ggml_cpu(dir);
  ASSERT_NE(ggml.traits, nullptr) << ggml.why;
  void* base = dlopen((std::string(dir) + "/libggml-base.so").c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(base, nullptr);
  auto base_traits = reinterpret_cast<const GgmlTypeTraits* (*)(int)>(dlsym(base, "ggml_get_type_traits"));
  ASSERT_NE(base_traits, nullptr);
  // hearth sums the ternary products in the order of ggml's AVX2 kernels; older x86 variants differ.
  bool avx2 = true;
  for (const char* v : {"x64", "sse42", "sandybridge", "ivybridge", "piledriver"})
    avx2 = avx2 && ggml.chosen != std::string("libggml-cpu-") + v + ".so";
  std::printf("comparing with %s: ternary products %s\n", ggml.chosen.c_str(), avx2 ? "bit for bit" : "within 1e-5");

  std::mt19937 rng(2025);
  for (DType type : kLowBitTypes) {
    const GgmlTypeTraits* bt = base_traits(static_cast<int>(type));
    const GgmlTypeTraitsCpu* ct = ggml.traits(static_cast<int>(type));
    ASSERT_TRUE(bt->to_float && ct->vec_dot) << dtype_name(type);
    ASSERT_EQ(ct->vec_dot_type, static_cast<int>(ref::vec_dot_type(type))) << dtype_name(type);
    ASSERT_EQ(bt->type_size, dtype_info(type).block_bytes) << dtype_name(type);
    // 4096 arbitrary blocks meet each of IQ1's 2048 codebook points about 64 times.
    const int64_t n_random = 4096 * 256;
    {
      const auto row = random_lowbit_row(rng, type, n_random);
      std::vector<float> ours(static_cast<size_t>(n_random)), theirs(static_cast<size_t>(n_random));
      dequantize_row(type, row.data(), ours.data(), n_random);
      bt->to_float(row.data(), theirs.data(), n_random);
      int64_t differ = 0;
      for (int64_t j = 0; j < n_random; ++j) differ += !same_bits_or_both_nan(ours[j], theirs[j]);
      EXPECT_EQ(differ, 0) << dtype_name(type);
    }
    double worst = 0.0;
    for (int64_t n : lengths(type)) {
      for (int trial = 0; trial < 20; ++trial) {
        const auto wq = random_lowbit_row(rng, type, n);
        const auto x = random_row(rng, n);
        auto xq = row_buffer(DType::Q8_K, n);
        ref::quantize_activation(DType::Q8_K, x.data(), xq.data(), n);
        float expected = 0.0f;
        ct->vec_dot(static_cast<int>(n), &expected, 0, wq.data(), 0, xq.data(), 0, 1);
        const Product p = product_of_stored(type, wq, x);
        const double diff = std::fabs(double{p.got} - expected) / (p.magnitude + 1e-30);
        worst = std::max(worst, diff);
        if (avx2 && (type == DType::TQ1_0 || type == DType::TQ2_0)) {
          EXPECT_EQ(std::bit_cast<uint32_t>(p.got), std::bit_cast<uint32_t>(expected))
              << dtype_name(type) << " n=" << n << " ours " << p.got << " ggml " << expected;
        } else {
          EXPECT_LE(diff, 1e-5) << dtype_name(type) << " n=" << n << " ours " << p.got << " ggml " << expected;
        }
      }
    }
    std::printf("%-7s dequantization bit-identical; max |ours - ggml vec_dot| / sum|w*a| = %.3g\n",
                std::string(dtype_name(type)).c_str(), worst);
  }
}

// F32 in ggml_vec_dot_f32's AVX-512 order (KSums::kVecDot, what llama.cpp runs for MLA's F32 head
// slices): the same bits as the prebuilt AVX-512 ggml, tails past a multiple of 64 included.
TEST(VecDotGgml, F32VecDotOrderIsGgmlsBits) {
  const char* dir = std::getenv("HEARTH_GGML_LIB_DIR");
  if (!dir || !*dir) GTEST_SKIP() << "\n*** HEARTH_GGML_LIB_DIR is not set: NOT comparing against llama.cpp ***";
  const GgmlCpu ggml = load_ggml_cpu(dir);
  ASSERT_NE(ggml.traits, nullptr) << ggml.why;
  const std::string& chosen = ggml.chosen;
  bool avx512 = false;
  for (const char* v : {"skylakex", "cannonlake", "cascadelake", "icelake", "cooperlake", "zen4", "sapphirerapids"})
    avx512 = avx512 || chosen.find(v) != std::string::npos;
  if (!avx512)
    GTEST_SKIP() << "\n*** ggml chose " << chosen << ", not an AVX-512 build: its vec_dot_f32 sums in 8 lanes, "
                 << "and hearth follows the AVX-512 order on every CPU ***";
  const GgmlVecDot vec_dot = ggml.traits(static_cast<int>(DType::F32))->vec_dot;
  std::mt19937 rng(99);
  int differs_from_double = 0;
  for (int64_t n : {16, 64, 100, 128, 512, 777}) {
    for (int trial = 0; trial < 20; ++trial) {
      const auto w = random_row(rng, n), x = random_row(rng, n);
      float theirs = 0.0f;
      vec_dot(static_cast<int>(n), &theirs, 0, w.data(), 0, x.data(), 0, 1);
      const float ours = ref::vec_dot(DType::F32, w.data(), x.data(), n, ref::KSums::kVecDot);
      ASSERT_EQ(std::bit_cast<uint32_t>(ours), std::bit_cast<uint32_t>(theirs)) << "n=" << n << " trial " << trial;
      differs_from_double += ours != ref::vec_dot(DType::F32, w.data(), x.data(), n);
    }
  }
  EXPECT_GT(differs_from_double, 0) << "the order never mattered: the comparison shows nothing";
}

}  // namespace
}  // namespace hearth
