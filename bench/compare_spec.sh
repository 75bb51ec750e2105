#!/usr/bin/env bash
# Speculative decoding against llama.cpp's llama-speculative (built natively, ../shared/PEERS.md)
# on one target/draft pair, greedy, alternating round by round: plain decode speed of each engine
# (hearth bench / llama-bench tg), then each one's speculative run on the same prompt, with its
# acceptance. Peak RSS of each process beside its speed. Prints the raw figures.
#   LLAMA_BIN=/path/to/llama.cpp/build/bin bench/compare_spec.sh TARGET.gguf DRAFT.gguf [ROUNDS] [N_MAX]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
llama_bin=${LLAMA_BIN:?set LLAMA_BIN to the bin folder of a native llama.cpp build}
target=$1
draft=$2
rounds=${3:-3}
n_max=${4:-8}
prompt="Speculative decoding drafts several tokens with a small model and checks them with the large one in a single pass, so that a memory-bound decoder reads its weights once for several tokens."
for r in $(seq 1 "$rounds"); do
  echo "== round $r llama.cpp"
  /usr/bin/time -v "$llama_bin/llama-bench" -m "$target" -p 0 -n 128 -t 2 -r 2 -o jsonl 2>/tmp/ls.time |
    node -e 'require("readline").createInterface({input: process.stdin}).on("line", (l) => {
      const d = JSON.parse(l); console.log("llama plain tg128", d.avg_ts.toFixed(2)); })'
  grep -E "Maximum resident" /tmp/ls.time
  /usr/bin/time -v "$llama_bin/llama-speculative" -m "$target" -md "$draft" -p "$prompt" -n 128 --temp 0 -t 2 \
    --spec-draft-n-max "$n_max" --spec-draft-p-min 0 -c 1024 --ignore-eos >/dev/null 2>/tmp/ls.out || true
  grep -E "decoded|accept  " /tmp/ls.out | sed 's/^[0-9.]* I /llama spec /'
  grep -E "Maximum resident" /tmp/ls.out
  echo "== round $r hearth"
  /usr/bin/time -v "$root/build/src/hearth" bench -m "$target" -p 0 -n 128 -t 2 -r 2 2>/tmp/hs.time | grep -E "tg128" | sed 's/^/hearth plain /'
  grep -E "Maximum resident" /tmp/hs.time
  /usr/bin/time -v "$root/build/src/hearth" run -m "$target" --draft "$draft" -p "$prompt" -n 128 --temp 0 -t 2 \
    --draft-max "$n_max" --draft-p-min 0 -c 1024 --ignore-eos >/dev/null 2>/tmp/hs.out
  grep -E "generated|speculative" /tmp/hs.out | sed 's/^/hearth spec /'
  grep -E "Maximum resident" /tmp/hs.out
done
