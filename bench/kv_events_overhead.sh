#!/usr/bin/env bash
# What publishing KV-cache events costs a request: the same model served twice, once plain and
# once with --kv-events-endpoint and a subscriber reading every message (tests/peers/
# kv_events_sub.py), loaded alternately by bench/serve.mjs at one concurrency with prompts that
# fill and evict cache blocks. Prints each round's mean end-to-end latency and output throughput,
# the ratio (with events / without, best and median), and how many batches the subscriber got.
#   bench/kv_events_overhead.sh MODEL [ROUNDS=3] [CONCURRENCY=64] [PROMPTS=256] [INPUT=128] [OUTPUT=64]
set -euo pipefail
model=$1
rounds=${2:-3}
conc=${3:-64}
prompts=${4:-256}
input=${5:-128}
output=${6:-64}
here="$(cd "$(dirname "$0")" && pwd)"
bin="${HEARTH_BIN:-$here/../build/src/hearth}"
work="$(mktemp -d)"
trap 'kill $pa $pb $ps 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin" serve -m "$model" --port 8481 -t 2 2>"$work/a.log" & pa=$!
"$bin" serve -m "$model" --port 8482 -t 2 --kv-events-endpoint "tcp://*:8483" 2>"$work/b.log" & pb=$!
/usr/bin/python3 "$here/../tests/peers/kv_events_sub.py" tcp://127.0.0.1:8483 100000 >"$work/events.jsonl" & ps=$!
for port in 8481 8482; do
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
done
run() {  # port jsonl
  node "$here/serve.mjs" --base-url "http://127.0.0.1:$1" --concurrency "$conc" \
    --num-prompts "$prompts" --input-len "$input" --output-len "$output" --jsonl "$2" >/dev/null
}
for r in $(seq "$rounds"); do
  run 8481 "$work/plain.jsonl"
  run 8482 "$work/events.jsonl.bench"
done
node - "$work/plain.jsonl" "$work/events.jsonl.bench" <<'JS'
const fs = require("node:fs");
const read = (f) => fs.readFileSync(f, "utf8").trim().split("\n").map((l) => JSON.parse(l));
const [plain, events] = [read(process.argv[2]), read(process.argv[3])];
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
for (const [name, rows] of [["plain", plain], ["--kv-events-endpoint", events]])
  console.log(`${name}: e2e mean ms ${rows.map((r) => r.e2e_ms.mean.toFixed(1)).join(", ")}; out tok/s ` +
              `${rows.map((r) => r.output_token_throughput.toFixed(1)).join(", ")}`);
const e = (rows) => rows.map((r) => r.e2e_ms.mean);
console.log(`e2e latency ratio (events / plain): best ${(Math.min(...e(events)) / Math.min(...e(plain))).toFixed(4)}, ` +
            `median ${(med(e(events)) / med(e(plain))).toFixed(4)}`);
JS
echo "subscriber received $(grep -c '"frames": 3' "$work/events.jsonl" || true) event batches"
