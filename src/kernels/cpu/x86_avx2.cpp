// The x86 kernels built for AVX2 + FMA + F16C (Haswell, Zen 1 and later); compiled with those
// -m flags (src/CMakeLists.txt) and only entered after the dispatcher checked the CPU.
#if defined(__x86_64__)
#include "kernels/cpu/x86_kernels.inc"

namespace hearth::cpu {
GemmFn avx2_gemm(DType weight_type, ref::KSums sums) { return gemm_for(weight_type, sums); }
QuantizeFn avx2_quantize(DType act_type) { return quantize_for(act_type); }
}  // namespace hearth::cpu
#endif
