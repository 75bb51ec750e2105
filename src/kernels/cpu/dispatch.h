// Runtime CPU dispatch for the SIMD kernels: one binary carries an AVX2 and an AVX-512 build of
// every kernel (each compiled in its own file with its own -m flags, see src/CMakeLists.txt) and
// picks the best the CPU supports once, at the first product. AArch64 has a NEON + dot-product
// build (arm_neon.cpp); other architectures get the reference kernels.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "base/thread_pool.h"
#include "kernels/ref/matmul.h"
#include "tensor/tensor_view.h"

namespace hearth::cpu {

enum class CpuLevel {
  kRef,     // scalar reference kernels (kernels/ref)
  kAvx2,    // AVX2 + FMA + F16C
  kAvx512,  // AVX-512 F/BW/VL + VNNI (Ice Lake, Zen 4 and later)
  kNeon,    // AArch64 NEON + dot product (ARMv8.2-A sdot: Apple M1+, Graviton 2+, Ampere, Cortex-A76+)
};

const char* cpu_level_name(CpuLevel level);

// The best level this CPU runs (HEARTH_CPU_LEVEL does not exist on purpose: tests pick a level
// through matmul_at instead).
CpuLevel detected_cpu_level();

// The level kernels::matmul uses: detected_cpu_level() unless use_cpu_level changed it.
CpuLevel active_cpu_level();
// Makes kernels::matmul use `level` from now on (CHECKs cpu_supports(level)); for benchmarks
// (hearth bench --cpu) that compare the builds. Not thread-safe against running products.
void use_cpu_level(CpuLevel level);
// "ref", "avx2", "avx512" or "neon"; nullopt otherwise.
std::optional<CpuLevel> cpu_level_from_name(std::string_view name);

// True when this CPU can run `level`.
bool cpu_supports(CpuLevel level);

// True when `level` has a SIMD kernel for `weight_type` (kRef: every ref::has_vec_dot type).
bool has_kernel(CpuLevel level, DType weight_type);

// kernels::matmul at a given level (CHECKs cpu_supports(level)); types without a kernel at that
// level use the reference product.
void matmul_at(CpuLevel level, const TensorView& w, const float* x, int64_t n_tokens, float* y,
               ThreadPool& pool, ref::MatmulScratch& scratch, ref::KSums sums = ref::KSums::kPairs);

}  // namespace hearth::cpu
