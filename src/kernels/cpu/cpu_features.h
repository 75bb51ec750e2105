// CPU feature checks the compilers' __builtin_cpu_supports does not cover everywhere.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace hearth::cpu {

// F16C (f16 <-> f32 conversions): clang 14 rejects "f16c" in __builtin_cpu_supports, so read
// CPUID leaf 1, ECX bit 29, directly, once: under a hypervisor every CPUID is a VM exit, and the
// element-wise kernels ask on every call (uncached, it was 18% of an EmbeddingGemma batch).
inline bool has_f16c() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool ok = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
  }();
  return ok;
#else
  return false;
#endif
}

#if defined(__x86_64__) || defined(__i386__)
// AVX2 with FMA, and AVX-512 F and DQ: what the element-wise kernels' builds need.
inline bool has_avx2_fma() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}
inline bool has_avx512_dq() {
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
  return ok;
}
#endif

}  // namespace hearth::cpu
