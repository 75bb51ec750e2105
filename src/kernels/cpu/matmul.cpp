// kernels::matmul and its dispatch: pick the instruction-set build once, convert the
// activations with it, then split the weight rows between the threads in groups of 4 (a
// multiple of the tiles' height; a tile never changes any result, see kernels/matmul.h).
#include "kernels/matmul.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>

#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#include "base/result.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/packed.h"
#include "kernels/ref/vec_dot.h"
#include "tensor/quant.h"

namespace hearth::cpu {
namespace {

struct LevelKernels {
  GemmFn (*gemm)(DType, ref::KSums);
  QuantizeFn (*quantize)(DType);
};

LevelKernels kernels_at(CpuLevel level) {
#if defined(__x86_64__)
  if (level == CpuLevel::kAvx2) return {avx2_gemm, avx2_quantize};
  if (level == CpuLevel::kAvx512) return {avx512_gemm, avx512_quantize};
#endif
#if defined(__aarch64__)
  if (level == CpuLevel::kNeon) return {neon_gemm, neon_quantize};
#endif
  (void)level;
  return {nullptr, nullptr};
}

// Bytes of one converted activation row. F16 (BF16) weights take their F16- (BF16-) rounded activations as f32
// (exact), widened once here instead of once per weight row in the kernel.
uint64_t act_row_bytes(DType weight_type, int64_t k) {
  if (weight_type == DType::F16 || weight_type == DType::BF16) return 4 * static_cast<uint64_t>(k);
  return *row_bytes(ref::vec_dot_type(weight_type), static_cast<uint64_t>(k));
}

}  // namespace

const char* cpu_level_name(CpuLevel level) {
  switch (level) {
    case CpuLevel::kRef: return "ref";
    case CpuLevel::kAvx2: return "avx2";
    case CpuLevel::kAvx512: return "avx512";
    case CpuLevel::kNeon: return "neon";
  }
  return "?";
}

bool cpu_supports(CpuLevel level) {
  switch (level) {
    case CpuLevel::kRef: return true;
#if defined(__x86_64__)
    case CpuLevel::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
    case CpuLevel::kAvx512:
      return cpu_supports(CpuLevel::kAvx2) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512vnni");
#endif
#if defined(__aarch64__)
    case CpuLevel::kNeon: return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
    default: return false;
  }
}

CpuLevel detected_cpu_level() {
  static const CpuLevel level = [] {
    if (cpu_supports(CpuLevel::kAvx512)) return CpuLevel::kAvx512;
    if (cpu_supports(CpuLevel::kAvx2)) return CpuLevel::kAvx2;
    if (cpu_supports(CpuLevel::kNeon)) return CpuLevel::kNeon;
    return CpuLevel::kRef;
  }();
  return level;
}

namespace {
std::atomic<int> g_active_level{-1};  // -1: not chosen yet
}  // namespace

CpuLevel active_cpu_level() {
  const int level = g_active_level.load(std::memory_order_relaxed);
  return level < 0 ? detected_cpu_level() : static_cast<CpuLevel>(level);
}

void use_cpu_level(CpuLevel level) {
  HEARTH_CHECK(cpu_supports(level), std::string("CPU lacks ") + cpu_level_name(level));
  g_active_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

std::optional<CpuLevel> cpu_level_from_name(std::string_view name) {
  for (CpuLevel level : {CpuLevel::kRef, CpuLevel::kAvx2, CpuLevel::kAvx512, CpuLevel::kNeon})
    if (name == cpu_level_name(level)) return level;
  return std::nullopt;
}

bool has_kernel(CpuLevel level, DType weight_type) {
  if (level == CpuLevel::kRef) return ref::has_vec_dot(weight_type);
  const LevelKernels k = kernels_at(level);
  return k.gemm != nullptr && k.gemm(weight_type, ref::KSums::kPairs) != nullptr;
}

void matmul_at(CpuLevel level, const TensorView& w, const float* x, int64_t n_tokens, float* y,
               ThreadPool& pool, ref::MatmulScratch& scratch, ref::KSums sums) {
  HEARTH_CHECK(cpu_supports(level), std::string("CPU lacks ") + cpu_level_name(level));
  const LevelKernels k = kernels_at(level);
  // The unpacked tiles sum the 32-element types in ggml's lanes only; kBlocks is the packed
  // kernels' order, which ref reproduces.
  const bool unpacked_order =
      (sums != ref::KSums::kBlocks && sums != ref::KSums::kExact) || !ref::has_blocks_order(w.type);
  const GemmFn gemm = k.gemm != nullptr && unpacked_order ? k.gemm(w.type, sums) : nullptr;
  if (gemm == nullptr) return ref::matmul(w, x, n_tokens, y, pool, scratch, sums);
  const QuantizeFn quantize = k.quantize(ref::vec_dot_type(w.type));
  HEARTH_CHECK(quantize != nullptr, "no activation conversion");

  const int64_t ne0 = w.ne[0];
  const int64_t n_out = w.ne[1];
  const uint64_t a_row_bytes = act_row_bytes(w.type, ne0);
  scratch.converted.resize(a_row_bytes * static_cast<uint64_t>(n_tokens));
  uint8_t* converted = scratch.converted.data();
  pool.parallel_for(n_tokens, [&](int64_t begin, int64_t end, int) {
    for (int64_t t = begin; t < end; ++t) quantize(x + t * ne0, converted + t * a_row_bytes, ne0);
  });
  const GemmArgs args{static_cast<const uint8_t*>(w.data),
                      *row_bytes(w.type, static_cast<uint64_t>(ne0)),
                      converted,
                      a_row_bytes,
                      ne0,
                      n_tokens,
                      y,
                      n_out};
  // Threads take whole groups of 4 rows (a multiple of every build's tile height).
  const int64_t n_groups = (n_out + 3) / 4;
  pool.parallel_for(n_groups, [&](int64_t begin, int64_t end, int) {
    gemm(args, 4 * begin, std::min(n_out, 4 * end));
  });
}

}  // namespace hearth::cpu

namespace hearth::kernels {

void matmul(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            MatmulScratch& scratch) {
  cpu::matmul_at(cpu::active_cpu_level(), w, x, n_tokens, y, pool, scratch);
}

ref::KSums dense_sums(DType type) {
  static const std::string mode = [] {
    const char* v = std::getenv("HEARTH_SUMS");
    const std::string value = v == nullptr ? "blocks" : v;
    HEARTH_CHECK(value == "blocks" || value == "ggml" || value == "exact",
                 "HEARTH_SUMS is \"" + value + "\": use blocks (the default), ggml or exact");
    return value;
  }();
  if (!ref::has_blocks_order(type) || mode == "ggml") return ref::KSums::kPairs;
  if (mode == "exact") return ref::KSums::kExact;
  return cpu::active_cpu_level() == cpu::CpuLevel::kAvx512 ? ref::KSums::kBlocks : ref::KSums::kPairs;
}

Matrix Matrix::prepare(const TensorView& view, ThreadPool& pool, ref::KSums sums) {
  Matrix m(view, sums);
  m.packed_ = cpu::pack_at(cpu::active_cpu_level(), view, pool, sums);
  return m;
}

void matmul(const Matrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            MatmulScratch& scratch) {
  const cpu::CpuLevel level = cpu::active_cpu_level();
  if (w.packed() != nullptr && w.packed()->level == level)
    return cpu::matmul_packed(*w.packed(), x, n_tokens, y, pool, scratch.converted);
  cpu::matmul_at(level, w.view(), x, n_tokens, y, pool, scratch, w.sums());
}

void matmul_pair(const Matrix& a, const Matrix& b, const float* x, int64_t n_tokens, float* ya, float* yb,
                 ThreadPool& pool, MatmulScratch& scratch) {
  const cpu::CpuLevel level = cpu::active_cpu_level();
  if (a.packed() != nullptr && b.packed() != nullptr && a.packed()->level == level &&
      cpu::can_pair(*a.packed(), *b.packed()))
    return cpu::matmul_packed_pair(*a.packed(), *b.packed(), x, n_tokens, ya, yb, pool, scratch.converted);
  matmul(a, x, n_tokens, ya, pool, scratch);
  matmul(b, x, n_tokens, yb, pool, scratch);
}

}  // namespace hearth::kernels
