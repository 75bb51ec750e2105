#!/usr/bin/env bash
# Builds tests/peers/build/llama-harness against the prebuilt llama.cpp libraries that ship in
# @node-llama-cpp/linux-x64 (installed by scripts/install-peers.sh). The headers come from the
# llama.cpp source bundle inside node-llama-cpp, cloned locally (no network) into build/;
# nothing from llama.cpp is committed. Idempotent: rebuilds only when the source changed.
# Prints the harness path on success.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# LLAMA_HARNESS_BUILD_DIR builds elsewhere (a worktree beside another checkout's build).
build="${LLAMA_HARNESS_BUILD_DIR:-$here/build}"
libdir="$here/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64"
bundle="$here/node_modules/node-llama-cpp/llama/gitRelease.bundle"
src="$build/llama.cpp"
out="$build/llama-harness"

if [ ! -d "$libdir" ] || [ ! -f "$bundle" ]; then
  "$here/../../scripts/install-peers.sh" >&2
fi
[ -d "$libdir" ] || { echo "build-harness: missing $libdir (run scripts/install-peers.sh)" >&2; exit 1; }
mkdir -p "$build"

# Headers at exactly the commit the prebuilt libraries were built from.
if [ ! -f "$src/include/llama.h" ]; then
  rm -rf "$src"
  git -c advice.detachedHead=false clone -q "$bundle" "$src" >&2
fi

libllama="$(cd "$libdir" && ls libllama.v*.so 2>/dev/null | head -n1)"
libggml="$(cd "$libdir" && ls libggml.v*.so 2>/dev/null | head -n1)"
[ -n "$libllama" ] && [ -n "$libggml" ] || { echo "build-harness: no libllama/libggml in $libdir" >&2; exit 1; }

if [ ! -x "$out" ] || [ "$here/llama_harness.cpp" -nt "$out" ] || [ "$0" -nt "$out" ]; then
  ${CXX:-g++} -std=c++17 -O1 -g -Wall -Wextra \
    -I"$src/include" -I"$src/ggml/include" \
    -DHARNESS_LIBDIR="\"$libdir\"" \
    "$here/llama_harness.cpp" -o "$out.tmp" \
    -L"$libdir" -l:"$libllama" -l:"$libggml" -l:libggml-base.so \
    -Wl,-rpath,"$libdir"
  mv "$out.tmp" "$out"
fi
echo "$out"
