// The x86 kernels built for AVX-512 F/BW/VL + VNNI (Ice Lake, Sapphire Rapids, Zen 4 and
// later): the integer dot products use vpdpbusd/vpdpwssd on 256-bit vectors (same lanes as the
// AVX2 build, so the same bits) and F16 uses 512-bit vectors. Compiled with those -m flags
// (src/CMakeLists.txt) and only entered after the dispatcher checked the CPU.
#if defined(__x86_64__)
#define HEARTH_AVX512 1
// GCC 12 warns about the undefined-vector idiom inside its own avx512fintrin.h.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "kernels/cpu/x86_kernels.inc"

namespace hearth::cpu {
GemmFn avx512_gemm(DType weight_type, ref::KSums sums) { return gemm_for(weight_type, sums); }
QuantizeFn avx512_quantize(DType act_type) { return quantize_for(act_type); }
}  // namespace hearth::cpu
#endif
