// CPU feature checks the compilers' __builtin_cpu_supports does not cover everywhere.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace hearth::cpu {

// F16C (f16 <-> f32 conversions): clang 14 rejects "f16c" in __builtin_cpu_supports, so read
// CPUID leaf 1, ECX bit 29, directly.
inline bool has_f16c() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
#else
  return false;
#endif
}

}  // namespace hearth::cpu
