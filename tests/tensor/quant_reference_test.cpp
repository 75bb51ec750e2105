// Our codecs against llama.cpp's, on shared/testdata/quants: a tiny llama model (f32.gguf)
// quantized by llama-quantize into each format (X.gguf) and dequantized to F32 by an independent
// implementation (X.deq.gguf).
//   - Dequantizing every tensor of X.gguf must reproduce X.deq.gguf bit for bit.
//   - Quantizing f32.gguf ourselves must give X.gguf's bytes (llama-quantize ran ggml's
//     deterministic reference path: no importance matrix), and in any case an error (RMSE vs
//     f32) no worse than llama.cpp's.
// Only tensors stored in the file's own type are compared for quantization; llama-quantize keeps
// the 1-D norm weights in F32.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "tensor/quant.h"

namespace hearth {
namespace {

const std::string kQuantDir = std::string(HEARTH_SHARED_DIR) + "/testdata/quants/";

struct Case {
  const char* file;  // X in X.gguf / X.deq.gguf
  DType type;
};

const Case kCases[] = {
    {"F16", DType::F16},       {"BF16", DType::BF16},     {"Q8_0", DType::Q8_0},
    {"Q4_0", DType::Q4_0},     {"Q4_1", DType::Q4_1},     {"Q5_0", DType::Q5_0},
    {"Q5_1", DType::Q5_1},     {"Q2_K", DType::Q2_K},     {"Q3_K", DType::Q3_K},
    {"Q4_K", DType::Q4_K},     {"Q5_K", DType::Q5_K},     {"Q6_K", DType::Q6_K},
    {"IQ4_NL", DType::IQ4_NL}, {"IQ4_XS", DType::IQ4_XS}, {"MXFP4", DType::MXFP4},
};

gguf::File open_or_die(const std::string& name) {
  auto file = gguf::File::open(kQuantDir + name);
  if (!file.ok()) {
    ADD_FAILURE() << file.error().message;
    std::abort();
  }
  return std::move(file).value();
}

// Dequantizes a whole tensor row by row, as a caller would: each row is row_bytes long.
std::vector<float> dequantize_tensor(const TensorView& view) {
  const int64_t n_per_row = view.ne[0];
  const uint64_t bytes_per_row = *row_bytes(view.type, static_cast<uint64_t>(n_per_row));
  std::vector<float> out(static_cast<size_t>(view.n_elements()));  // [n_rows, n_per_row] f32
  const auto* src = static_cast<const uint8_t*>(view.data);
  for (int64_t r = 0; r < view.n_rows(); ++r)
    dequantize_row(view.type, src + r * bytes_per_row, out.data() + r * n_per_row, n_per_row);
  return out;
}

std::vector<uint8_t> quantize_tensor(DType type, const TensorView& f32) {
  const int64_t n_per_row = f32.ne[0];
  const uint64_t bytes_per_row = *row_bytes(type, static_cast<uint64_t>(n_per_row));
  std::vector<uint8_t> out(bytes_per_row * static_cast<uint64_t>(f32.n_rows()));
  const auto* src = static_cast<const float*>(f32.data);
  for (int64_t r = 0; r < f32.n_rows(); ++r)
    quantize_row(type, src + r * n_per_row, out.data() + r * bytes_per_row, n_per_row);
  return out;
}

double rmse(const float* a, const float* b, size_t n) {
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    sum += d * d;
  }
  return std::sqrt(sum / static_cast<double>(n));
}

class QuantReference : public ::testing::TestWithParam<Case> {};

TEST_P(QuantReference, DequantizeMatchesBitForBit) {
  const Case c = GetParam();
  const gguf::File quant = open_or_die(std::string(c.file) + ".gguf");
  const gguf::File deq = open_or_die(std::string(c.file) + ".deq.gguf");
  int n_compared = 0;
  for (const gguf::TensorInfo& t : quant.tensors()) {
    const gguf::TensorInfo* expected = deq.find_tensor(t.name);
    ASSERT_NE(expected, nullptr) << t.name;
    ASSERT_EQ(expected->view.type, DType::F32) << t.name;
    ASSERT_EQ(expected->view.ne, t.view.ne) << t.name;
    const std::vector<float> ours = dequantize_tensor(t.view);
    ASSERT_EQ(expected->view.n_bytes, ours.size() * sizeof(float)) << t.name;
    EXPECT_EQ(std::memcmp(ours.data(), expected->view.data, expected->view.n_bytes), 0)
        << c.file << " " << t.name << " (" << dtype_name(t.view.type) << ")";
    if (t.view.type == c.type) ++n_compared;
  }
  EXPECT_GT(n_compared, 0) << "no tensor of type " << dtype_name(c.type) << " in " << c.file;
  std::printf("[ dequant  ] %-6s %d tensors of type %s bit-identical\n", c.file, n_compared,
              std::string(dtype_name(c.type)).c_str());
}

TEST_P(QuantReference, QuantizeMatchesLlamaCpp) {
  const Case c = GetParam();
  ASSERT_TRUE(dtype_info(c.type).can_quantize);
  const gguf::File quant = open_or_die(std::string(c.file) + ".gguf");
  const gguf::File deq = open_or_die(std::string(c.file) + ".deq.gguf");
  const gguf::File f32 = open_or_die("f32.gguf");
  int n_tensors = 0, n_identical = 0;
  double sq_ours = 0, sq_theirs = 0, n_total = 0;
  for (const gguf::TensorInfo& t : quant.tensors()) {
    if (t.view.type != c.type) continue;  // kept in another type by llama-quantize
    const gguf::TensorInfo* original = f32.find_tensor(t.name);
    const gguf::TensorInfo* theirs = deq.find_tensor(t.name);
    ASSERT_NE(original, nullptr) << t.name;
    ASSERT_NE(theirs, nullptr) << t.name;
    ASSERT_EQ(original->view.type, DType::F32);
    ASSERT_EQ(original->view.ne, t.view.ne);
    ++n_tensors;

    const std::vector<uint8_t> bytes = quantize_tensor(c.type, original->view);
    ASSERT_EQ(bytes.size(), t.view.n_bytes) << t.name;
    const bool identical = std::memcmp(bytes.data(), t.view.data, bytes.size()) == 0;
    n_identical += identical;
    EXPECT_TRUE(identical) << c.file << " " << t.name << " differs from llama-quantize's bytes";

    TensorView ours_view = t.view;
    ours_view.data = bytes.data();
    const std::vector<float> ours = dequantize_tensor(ours_view);
    const auto* x = static_cast<const float*>(original->view.data);
    const auto* y = static_cast<const float*>(theirs->view.data);
    const size_t n = ours.size();
    const double e_ours = rmse(ours.data(), x, n);
    const double e_theirs = rmse(y, x, n);
    EXPECT_LE(e_ours, e_theirs * (1 + 1e-6)) << c.file << " " << t.name;
    sq_ours += e_ours * e_ours * static_cast<double>(n);
    sq_theirs += e_theirs * e_theirs * static_cast<double>(n);
    n_total += static_cast<double>(n);
  }
  ASSERT_GT(n_tensors, 0);
  std::printf("[ quantize ] %-6s rmse ours %.9g llama.cpp %.9g; %d/%d tensors byte-identical\n",
              c.file, std::sqrt(sq_ours / n_total), std::sqrt(sq_theirs / n_total), n_identical,
              n_tensors);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, QuantReference, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return std::string(info.param.file);
                         });

// The F32 tensors in the quantized files (norm weights) are plain copies of the original.
TEST(QuantReference, KeptF32TensorsAreUntouched) {
  const gguf::File f32 = open_or_die("f32.gguf");
  const gguf::File quant = open_or_die("Q4_K.gguf");
  int n = 0;
  for (const gguf::TensorInfo& t : quant.tensors()) {
    if (t.view.type != DType::F32) continue;
    const gguf::TensorInfo* original = f32.find_tensor(t.name);
    ASSERT_NE(original, nullptr);
    const std::vector<float> ours = dequantize_tensor(t.view);
    EXPECT_EQ(std::memcmp(ours.data(), original->view.data, original->view.n_bytes), 0) << t.name;
    ++n;
  }
  EXPECT_GT(n, 0);
}

}  // namespace
}  // namespace hearth
