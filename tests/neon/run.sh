#!/usr/bin/env bash
# Cross-builds the kernels for AArch64 and runs their matmul tests under qemu-user (see
# tests/neon/CMakeLists.txt). Usage: tests/neon/run.sh [BUILD_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build-neon}"
cmake -S "$root/tests/neon" -B "$build" -G Ninja \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" >/dev/null
cmake --build "$build" -j "$(nproc)"
# The NEON level and the dispatch (the emulated CPU is the AArch64 host here); the ref level's
# copy of these tests already runs natively.
log="$build/test.log"
qemu-aarch64 -cpu max "$build/test_kernels_neon" \
  --gtest_filter='Levels/MatmulLevel.*/neon:MatmulDispatch.*' | tee "$log"
# A skipped NEON test (a CPU model without the dot product) would prove nothing.
if grep -q '^\[  SKIPPED \]' "$log"; then
  echo "neon-test: tests were skipped; the emulated CPU must have the dot-product extension" >&2
  exit 1
fi
