// Micro-benchmark of kernels::matmul at each CPU level, on matrix shapes of Llama-3.2-1B (k a
// multiple of 256 so every type fits; the 32768-row matrix is far larger than the caches):
// weight GB/s for one token (decode, memory-bound) and GMAC/s for a batch (prefill). Random
// weights; built only on request: cmake --build build --target hearth_kernels_bench.
//   hearth_kernels_bench [TYPE...] [-t THREADS] [-n TOKENS] [--cpu LEVEL]
#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/dispatch.h"
#include "kernels/matmul.h"
#include "tensor/quant.h"

using namespace hearth;

namespace {

// `packed`: w as the model runs it (kernels::Matrix, packed at load where the active level has
// a packed kernel), else the unpacked kernel of `level`.
double seconds_per_call(const TensorView& w, const kernels::Matrix* packed, const std::vector<float>& x,
                        int64_t n_tokens, std::vector<float>& y, ThreadPool& pool, cpu::CpuLevel level) {
  ref::MatmulScratch scratch;
  const auto call = [&] {
    if (packed)
      kernels::matmul(*packed, x.data(), n_tokens, y.data(), pool, scratch);
    else
      cpu::matmul_at(level, w, x.data(), n_tokens, y.data(), pool, scratch);
  };
  call();  // warm-up
  double best = 1e30;
  for (int rep = 0; rep < 5; ++rep) {
    const int calls = n_tokens == 1 ? 20 : 2;
    const auto t0 = std::chrono::steady_clock::now();
    for (int c = 0; c < calls; ++c) call();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, s / calls);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<DType> types;
  int threads = 2;
  int64_t n_batch = 128;
  std::vector<cpu::CpuLevel> levels;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-t" && i + 1 < argc) threads = std::stoi(argv[++i]);
    else if (arg == "-n" && i + 1 < argc) n_batch = std::stoll(argv[++i]);
    else if (arg == "--cpu" && i + 1 < argc) levels.push_back(*cpu::cpu_level_from_name(argv[++i]));
    else if (auto t = dtype_from_name(arg)) types.push_back(*t);
    else {
      fmt::print(stderr, "unknown argument {}\n", arg);
      return 2;
    }
  }
  if (types.empty()) types = {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K, DType::F16};
  if (levels.empty())
    for (auto l : {cpu::CpuLevel::kAvx2, cpu::CpuLevel::kAvx512})
      if (cpu::cpu_supports(l)) levels.push_back(l);
  ThreadPool pool(threads);
  {  // the hand-off cost of one parallel_for with nearly no work
    std::vector<int64_t> sink(static_cast<size_t>(threads), 0);
    const ThreadPool::RangeFn fn = [&](int64_t b, int64_t e, int i) { sink[i] += e - b; };
    for (int i = 0; i < 1000; ++i) pool.parallel_for(threads, fn);
    const int calls = 20000;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) pool.parallel_for(threads, fn);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print("parallel_for with {} threads: {:.2f} us per call\n", threads, s / calls * 1e6);
  }
  const int64_t shapes[][2] = {{2048, 256}, {2048, 8192}, {8192, 2048}, {2048, 32768}};  // {k, rows}
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  fmt::print("{:6} {:>6} {:>7} {:>7} | {:>10} {:>9} | {:>10} {:>9}\n", "type", "level", "k", "rows",
             "1 tok ms", "GB/s", fmt::format("{} tok ms", n_batch), "GMAC/s");
  for (DType type : types) {
    for (const auto& shape : shapes) {
      const int64_t k = shape[0], rows = shape[1];
      const uint64_t row_size = *row_bytes(type, static_cast<uint64_t>(k));
      std::vector<uint8_t> bytes(row_size * static_cast<uint64_t>(rows));
      std::vector<float> f(static_cast<size_t>(k));
      for (int64_t r = 0; r < rows; ++r) {
        if (r < 64) for (auto& v : f) v = normal(rng);
        quantize_row(type, f.data(), bytes.data() + r * row_size, k);  // 64 distinct rows
      }
      TensorView w;
      w.type = type;
      w.n_dims = 2;
      w.ne = {k, rows, 1, 1};
      w.data = bytes.data();
      w.n_bytes = bytes.size();
      std::vector<float> x(static_cast<size_t>(k * n_batch));
      for (auto& v : x) v = normal(rng);
      std::vector<float> y(static_cast<size_t>(rows * n_batch));
      const kernels::Matrix prepared = kernels::Matrix::prepare(w, pool, kernels::dense_sums(type));
      for (size_t li = 0; li <= levels.size(); ++li) {
        const bool run_packed = li == levels.size();
        if (run_packed && !prepared.packed()) break;
        const cpu::CpuLevel level = run_packed ? cpu::active_cpu_level() : levels[li];
        const kernels::Matrix* packed = run_packed ? &prepared : nullptr;
        const double s1 = seconds_per_call(w, packed, x, 1, y, pool, level);
        const double sn = rows > 10000 ? 0 : seconds_per_call(w, packed, x, n_batch, y, pool, level);
        fmt::print("{:6} {:>6} {:>7} {:>7} | {:10.3f} {:9.1f} | {:10.2f} {:9.1f}\n",
                   dtype_name(type), run_packed ? "packed" : cpu::cpu_level_name(level), k, rows, s1 * 1e3,
                   static_cast<double>(bytes.size()) / s1 / 1e9, sn * 1e3,
                   sn > 0 ? static_cast<double>(k * rows * n_batch) / sn / 1e9 : 0.0);
      }
    }
  }
  return 0;
}
