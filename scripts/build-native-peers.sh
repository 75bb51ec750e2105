#!/usr/bin/env bash
# Builds the speed anchors of bench/compare.sh once, outside the repo, for this CPU
# (-DGGML_NATIVE=ON, Release): llama.cpp from the git bundle that npm node-llama-cpp ships
# (the same release as the prebuilt library of the numerics tests), and ik_llama.cpp from a git
# directory you give it (this machine has no internet; the `fetch` tool or a clone brings one).
# Each build lives in a folder named by its commit, so a second call only prints where it is.
#
#   scripts/build-native-peers.sh [llama] [ik_llama]      (default: llama)
#     HEARTH_PEER_CACHE  where the builds go (default ${XDG_CACHE_HOME:-~/.cache}/hearth/peers)
#     IK_LLAMA_GIT       git directory of ik_llama.cpp (a bare mirror is fine)
#     PEER_NO_AMX=1      build llama.cpp without its AMX kernels (-mno-amx-*), into a folder
#                        suffixed -noamx: on the twentieth session's AMX Xeon VM the native build's
#                        AMX matmul died on its first tile load (SIGILL, the tile configuration
#                        lost between ggml's once-per-thread ldtilecfg and its use) in llama-bench
#                        at every thread count, while the prebuilt library's ran. ik_llama.cpp has
#                        no AMX kernels.
# Prints one line per peer: NAME BIN_DIR (the folder holding its llama-bench).
#
# Why a script: the prebuilt library through a harness gets two-thirds to four-fifths of a native
# build's prefill (../shared/PEERS.md), so speed claims against it flatter hearth.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${HEARTH_PEER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hearth/peers}"
jobs="${JOBS:-$(nproc)}"
peers=("$@")
[ ${#peers[@]} -eq 0 ] && peers=(llama)

# Writes the tree of git directory $1 at HEAD into $2, blob by blob: a partial snapshot (the
# `fetch` tool leaves out a repository's largest files: web pages, vocab GGUFs) still extracts,
# and a missing blob that the build needs fails the build with its name, not here.
extract_tree() {
  local git_dir=$1 out=$2 mode type obj path
  mkdir -p "$out"
  git --git-dir="$git_dir" ls-tree -r --full-tree HEAD | while read -r mode type obj path; do
    [ "$type" = blob ] || continue
    mkdir -p "$out/$(dirname "$path")"
    if ! git --git-dir="$git_dir" cat-file blob "$obj" > "$out/$path" 2>/dev/null; then
      rm -f "$out/$path"
      echo "build-native-peers: $path is absent from $git_dir; skipped" >&2
      continue
    fi
    if [ "$mode" = 100755 ]; then chmod +x "$out/$path"; fi
  done
}

# configure_and_build SRC BUILD TARGET...
configure_and_build() {
  local src=$1 build=$2
  shift 2
  local no_amx=()
  if [ "${PEER_NO_AMX:-0}" = 1 ]; then
    # After ggml's -march=native on every compile line (flags given to CMake come before it).
    local launcher="$build-no-amx-cc"
    mkdir -p "$(dirname "$launcher")"
    printf '#!/bin/sh\nexec "$@" -mno-amx-tile -mno-amx-int8 -mno-amx-bf16\n' > "$launcher"
    chmod +x "$launcher"
    no_amx=("-DCMAKE_C_COMPILER_LAUNCHER=$launcher" "-DCMAKE_CXX_COMPILER_LAUNCHER=$launcher")
  fi
  cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON "${no_amx[@]}" \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF >&2
  cmake --build "$build" -j "$jobs" --target "$@" >&2
}

build_llama() {
  local bundle="$root/tests/peers/node_modules/node-llama-cpp/llama/gitRelease.bundle"
  [ -f "$bundle" ] || { echo "build-native-peers: $bundle missing; run scripts/install-peers.sh" >&2; exit 1; }
  local commit dir
  commit=$(git bundle list-heads "$bundle" | head -1 | cut -c1-10)
  dir="$cache/llama.cpp-$commit"
  if [ "${PEER_NO_AMX:-0}" = 1 ]; then dir="$dir-noamx"; fi
  if [ ! -x "$dir/build/bin/llama-bench" ]; then
    rm -rf "$dir/src"
    git clone -q "$bundle" "$dir/src"
    configure_and_build "$dir/src" "$dir/build" llama-bench llama-server llama-perplexity \
      llama-simple llama-speculative llama-embedding
  fi
  echo "llama $dir/build/bin"
}

build_ik_llama() {
  local git_dir=${IK_LLAMA_GIT:?set IK_LLAMA_GIT to a git directory of ik_llama.cpp}
  [ -d "$git_dir/.git" ] && git_dir="$git_dir/.git"
  local commit dir
  commit=$(git --git-dir="$git_dir" rev-parse --short=10 HEAD)
  dir="$cache/ik_llama.cpp-$commit"
  if [ ! -x "$dir/build/bin/llama-bench" ]; then
    rm -rf "$dir/src"
    extract_tree "$git_dir" "$dir/src"
    configure_and_build "$dir/src" "$dir/build" llama-bench
  fi
  echo "ik_llama $dir/build/bin"
}

for peer in "${peers[@]}"; do
  case "$peer" in
    llama) build_llama ;;
    ik_llama) build_ik_llama ;;
    *) echo "build-native-peers: unknown peer '$peer' (llama, ik_llama)" >&2; exit 2 ;;
  esac
done
