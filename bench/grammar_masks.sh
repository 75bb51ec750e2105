#!/usr/bin/env bash
# Token-mask cost of constrained decoding: `hearth grammar bench` against llama.cpp's grammar
# sampler (llama_sampler_apply over the whole vocabulary, through tests/peers/llama_harness.cpp
# built against a native llama.cpp), on the same GBNF, vocabulary and token walk; alternating
# rounds. Beside it, a decode step of qwen2.5-0.5b Q8_0 (hearth bench tg128) for scale.
#   LLAMA_SRC=/path/to/llama.cpp bench/grammar_masks.sh [ROUNDS]   (LLAMA_SRC built: build/bin)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src=${LLAMA_SRC:?set LLAMA_SRC to a llama.cpp source tree built natively (build/bin)}
rounds=${1:-3}
shared="${HEARTH_SHARED_DIR:-$root/../shared}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
harness="$work/llama-harness"
g++ -std=c++17 -O2 -I"$src/include" -I"$src/ggml/include" -DHARNESS_LIBDIR="\"$src/build/bin\"" \
  "$root/tests/peers/llama_harness.cpp" -o "$harness" -L"$src/build/bin" -lllama -lggml -lggml-base \
  -Wl,-rpath,"$src/build/bin"
hearth="$root/build/src/hearth"
schema="$root/bench/schemas/nested.json"
for vocab in qwen2 llama-bpe; do
  v="$shared/testdata/vocab/ggml-vocab-$vocab.gguf"
  for r in $(seq 1 "$rounds"); do
    echo "== $vocab round $r hearth (cold: a new schema; warm: the same schema again)"
    "$hearth" grammar bench -m "$v" --schema "$schema" --tokens 1000 --seed "$r" \
      --write-walk "$work/walk" --write-gbnf "$work/g.gbnf" |
      node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);
        console.log("hearth cold mean_us", r.cold.mean_us.toFixed(2), "p99_us", r.cold.p99_us.toFixed(1),
          "| warm mean_us", r.warm.mean_us.toFixed(2), "p99_us", r.warm.p99_us.toFixed(1), "| steps", r.cold.tokens)})'
    echo "== $vocab round $r llama.cpp"
    "$harness" grammar-masks "$v" "$work/g.gbnf" "$work/walk" "$work/theirs" 2>/dev/null
  done
done
model="${BENCH_MODEL:-$work/qwen2.5-0.5b-q8_0.gguf}"
[ -f "$model" ] || "$hearth" mkmodel --preset qwen2.5-0.5b --type q8_0 -o "$model" >/dev/null
echo "== decode step for scale"
"$hearth" bench -m "$model" -p 0 -n 128 -t 2 -r 3 | grep tg128
