// Overflow-safe arithmetic for sizes read from untrusted files. Every product or sum of values that
// came from outside goes through these; they return false instead of wrapping.
#pragma once

#include <cstdint>

namespace hearth {

inline bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}

inline bool checked_add(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_add_overflow(a, b, out);
}

// Rounds `value` up to a multiple of `alignment` (> 0); false on overflow.
inline bool checked_align_up(uint64_t value, uint64_t alignment, uint64_t* out) {
  uint64_t rem = value % alignment;
  if (rem == 0) {
    *out = value;
    return true;
  }
  return checked_add(value, alignment - rem, out);
}

}  // namespace hearth
