// The CPU backend: host memory for buffers and the KV cache, and the kernels of kernels/ (SIMD for
// this CPU, chosen at run time, bit-identical to kernels/ref where their headers say so), run on
// a pool of threads. Matrices are packed at load where this CPU's kernel reads a packed layout
// (kernels/cpu/packed.h); the file's pages of a packed matrix are then released.
#pragma once

#include <memory>

#include "backend/backend.h"

namespace hearth {

std::unique_ptr<Backend> make_cpu_backend(int n_threads);

}  // namespace hearth
