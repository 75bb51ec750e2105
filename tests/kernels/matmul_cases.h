// Random weights and activations for the matmul tests, and the reference they are held to:
// ref::vec_dot of each weight row with each ref-converted activation row.
#pragma once

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/matmul.h"
#include "kernels/ref/vec_dot.h"
#include "tensor/quant.h"
#include "tensor/tensor_view.h"

namespace hearth::test {

struct Weights {
  std::vector<uint8_t> bytes;
  TensorView view;
};

// The low-bit types hearth reads but cannot write (llama.cpp writes them from an importance
// matrix): rows of arbitrary bytes, every codebook index and sign pattern as likely as any, under
// a super-block scale of moderate size so no value overflows.
inline std::vector<uint8_t> random_lowbit_row(std::mt19937& rng, DType type, int64_t n) {
  std::vector<uint8_t> row(*row_bytes(type, static_cast<uint64_t>(n)));
  for (uint8_t& b : row) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> log_scale(-4.0f, 0.0f);
  const size_t block = dtype_info(type).block_bytes;
  for (size_t at = 0; at < row.size(); at += block) {
    const uint16_t d = fp32_to_fp16(std::pow(10.0f, log_scale(rng)));
    if (type == DType::IQ1_M) {  // d is the top nibbles of its four u16 scale words
      for (int k = 0; k < 4; ++k) {
        uint8_t& top = row[at + 48 + 2 * k + 1];
        top = static_cast<uint8_t>((top & 0x0F) | (((d >> (4 * k)) & 0xF) << 4));
      }
    } else {  // the f16 d is the first field, or the last for the ternary types
      const size_t offset = type == DType::TQ1_0 ? 52 : type == DType::TQ2_0 ? 64 : 0;
      std::memcpy(&row[at + offset], &d, sizeof(d));
    }
  }
  return row;
}

inline Weights random_weights(std::mt19937& rng, DType type, int64_t k, int64_t rows) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const uint64_t row_size = *row_bytes(type, static_cast<uint64_t>(k));
  Weights w;
  w.bytes.resize(row_size * static_cast<uint64_t>(rows));
  std::vector<float> f(static_cast<size_t>(k));
  for (int64_t r = 0; r < rows; ++r) {
    if (!dtype_info(type).can_quantize) {
      const std::vector<uint8_t> row = random_lowbit_row(rng, type, k);
      std::memcpy(w.bytes.data() + r * row_size, row.data(), row_size);
      continue;
    }
    for (auto& v : f) v = normal(rng) * 0.05f;
    quantize_row(type, f.data(), w.bytes.data() + r * row_size, k);
  }
  w.view.type = type;
  w.view.n_dims = 2;
  w.view.ne = {k, rows, 1, 1};
  w.view.data = w.bytes.data();
  w.view.n_bytes = w.bytes.size();
  return w;
}

inline std::vector<float> random_activations(std::mt19937& rng, int64_t k, int64_t n_tokens) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(k * n_tokens));
  for (auto& v : x) v = normal(rng);
  for (int64_t t = 0; t < n_tokens; ++t) x[t * k + (t * 7) % k] *= 30.0f;  // an outlier each
  return x;
}

// `level`'s kernel on the file's rows (cpu::matmul_at: no packing): [n_tokens, rows].
inline std::vector<float> run_at_level(cpu::CpuLevel level, const TensorView& w, const std::vector<float>& x,
                                       int64_t n_tokens, int n_threads, ref::KSums sums = ref::KSums::kPairs) {
  ThreadPool pool(n_threads);
  kernels::MatmulScratch scratch;
  std::vector<float> y(static_cast<size_t>(w.ne[1] * n_tokens), -1.0f);
  cpu::matmul_at(level, w, x.data(), n_tokens, y.data(), pool, scratch, sums);
  return y;
}

// ref::vec_dot of each weight row with each ref-converted activation row: [n_tokens, rows].
inline std::vector<float> reference(const TensorView& w, const std::vector<float>& x, int64_t n_tokens,
                                    ref::KSums sums = ref::KSums::kPairs) {
  const int64_t k = w.ne[0], rows = w.ne[1];
  const DType act_type = ref::vec_dot_type(w.type);
  const uint64_t a_bytes = *row_bytes(act_type, static_cast<uint64_t>(k));
  const uint64_t w_bytes = *row_bytes(w.type, static_cast<uint64_t>(k));
  std::vector<uint8_t> act(a_bytes);
  std::vector<float> y(static_cast<size_t>(rows * n_tokens));
  for (int64_t t = 0; t < n_tokens; ++t) {
    ref::quantize_activation(act_type, x.data() + t * k, act.data(), k);
    for (int64_t r = 0; r < rows; ++r)
      y[t * rows + r] = ref::vec_dot(w.type, static_cast<const uint8_t*>(w.data) + r * w_bytes,
                                     act.data(), k, sums);
  }
  return y;
}

// Sum over k of |w * x|: the scale of the rounding a different summation order may cause.
inline float abs_dot_bound(const TensorView& w, const std::vector<float>& x, int64_t t, int64_t r) {
  const int64_t k = w.ne[0];
  std::vector<float> row(static_cast<size_t>(k));
  const uint64_t w_bytes = *row_bytes(w.type, static_cast<uint64_t>(k));
  dequantize_row(w.type, static_cast<const uint8_t*>(w.data) + r * w_bytes, row.data(), k);
  double s = 0;
  for (int64_t j = 0; j < k; ++j) s += std::fabs(double{row[j]} * x[t * k + j]);
  return static_cast<float>(s);
}

inline bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

}  // namespace hearth::test
