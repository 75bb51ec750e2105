#!/usr/bin/env bash
# The kernels' AVX2 builds on a machine with AVX-512: the element-wise, attention and Gated
# DeltaNet kernels pick their build from the CPU (kernels/cpu/cpu_features.h), so on an AVX-512
# host their AVX2 paths would go untested. qemu-user emulating a Haswell (AVX2 + FMA, no AVX-512)
# runs the kernel and backend tests against ref. Usage: tests/avx2/run.sh BUILD_DIR
set -euo pipefail
build=${1:?build directory}
if [ "$(uname -m)" != x86_64 ]; then
  echo "avx2-test: not an x86-64 host, nothing to emulate"
  exit 0
fi
for t in test_kernels test_backend; do
  qemu-x86_64 -cpu Haswell "$build/tests/$t" 2> >(grep -v "TCG doesn't support requested feature" >&2)
done
