// CPU feature checks the compilers' __builtin_cpu_supports does not cover everywhere.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
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

#if defined(__x86_64__)
// AMX tiles with int8 products (Sapphire Rapids and later), usable by this process: CPUID leaf 7
// EDX bits 24 and 25, and Linux's permission for the 8 KiB tile state (arch_prctl
// ARCH_REQ_XCOMP_PERM, which fails where the kernel or hypervisor does not offer it). Asked once.
inline bool has_amx_int8() {
  static const bool ok = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || (d & (1u << 24)) == 0 || (d & (1u << 25)) == 0) return false;
    constexpr long kReqXcompPerm = 0x1023, kXtiledata = 18;
    return ::syscall(SYS_arch_prctl, kReqXcompPerm, kXtiledata) == 0;
  }();
  return ok;
}
#endif

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
