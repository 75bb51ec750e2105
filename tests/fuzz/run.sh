#!/usr/bin/env bash
# Runs each libFuzzer target for a bounded time from a seed corpus of real files (small GGUF
# files from shared/testdata, generated safetensors). Fails if a fuzzer finds a crash.
# usage: tests/fuzz/run.sh BUILD_DIR SECONDS
set -euo pipefail
build=$1
seconds=${2:-60}
here="$(cd "$(dirname "$0")" && pwd)"
shared="${HEARTH_SHARED_DIR:-$here/../../../shared}"
work="$build/fuzz-work"
mkdir -p "$work"

run() {
  local name=$1 seeds=$2
  local bin="$build/tests/fuzz/$name"
  [ -x "$bin" ] || { echo "fuzz: $bin missing" >&2; exit 1; }
  mkdir -p "$work/$name-corpus"
  echo "fuzz: $name for ${seconds}s"
  # -max_len keeps inputs small enough to explore headers; -rss_limit_mb catches big allocations.
  "$bin" "$work/$name-corpus" $seeds -max_total_time="$seconds" -max_len=65536 \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$work/$name-" 2>&1 | tail -n 12
}

gguf_seeds="$work/gguf-seeds"
mkdir -p "$gguf_seeds"
# Seed with the headers of real llama.cpp files (truncated: the fuzzer mutates the header).
for f in "$shared"/testdata/quants/Q4_K.gguf "$shared"/testdata/quants/MXFP4.gguf; do
  head -c 65536 "$f" > "$gguf_seeds/$(basename "$f")"
done
run fuzz_gguf "$gguf_seeds"

if [ -x "$build/tests/fuzz/fuzz_safetensors" ]; then
  st_seeds="$here/corpus/safetensors"
  run fuzz_safetensors "$( [ -d "$st_seeds" ] && echo "$st_seeds" )"
fi

run fuzz_openai "$here/corpus/openai"
