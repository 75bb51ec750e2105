#!/usr/bin/env bash
# hearth bench against llama.cpp's own llama-bench (built natively, ../shared/PEERS.md) on one
# model file, alternating round by round so both see the same machine load; peak RSS of each
# process beside its speed. Prints the raw figures (bench/RESULTS.md says how they were used).
#   LLAMA_BIN=/path/to/llama.cpp/build/bin bench/compare_moe.sh MODEL.gguf [ROUNDS]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
llama_bin=${LLAMA_BIN:?set LLAMA_BIN to the bin folder of a native llama.cpp build}
model=$1
rounds=${2:-3}
for r in $(seq 1 "$rounds"); do
  echo "== round $r llama.cpp"
  /usr/bin/time -v "$llama_bin/llama-bench" -m "$model" -p 512 -n 128 -t 2 -r 2 -o jsonl 2>/tmp/lb.time |
    node -e 'require("readline").createInterface({input: process.stdin}).on("line", (l) => {
      const d = JSON.parse(l); console.log("llama", d.n_prompt ? `pp${d.n_prompt}` : `tg${d.n_gen}`, d.avg_ts.toFixed(2)); })'
  grep -E "Maximum resident" /tmp/lb.time
  echo "== round $r hearth"
  /usr/bin/time -v "$root/build/src/hearth" bench -m "$model" -p 512 -n 128 -t 2 -r 2 2>/tmp/hb.time | grep -E "pp512|tg128"
  grep -E "Maximum resident" /tmp/hb.time
done
