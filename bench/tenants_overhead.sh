#!/usr/bin/env bash
# What named keys, quotas and metering cost a request: the same model served twice, once with a
# plain --api-key (no store) and once with --db and a named key whose limits are generous enough
# never to refuse (so every check and every metered token runs), loaded alternately by
# bench/serve.mjs at one concurrency. Prints each round's mean end-to-end latency and TTFT p50,
# then the ratio (with store / without), best and median over the rounds.
#   bench/tenants_overhead.sh MODEL [ROUNDS=3] [CONCURRENCY=64] [PROMPTS=256] [INPUT=128] [OUTPUT=64]
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
trap 'kill $pa $pb 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

key=$("$bin" keys --db "$work/keys.db" create --name bench --rpm 100000000 --tpm 1000000000 \
        --tokens-per-day 1000000000000 --max-concurrent 100000 2>/dev/null)
"$bin" serve -m "$model" --port 8471 -t 2 --api-key plain-key 2>"$work/a.log" & pa=$!
"$bin" serve -m "$model" --port 8472 -t 2 --db "$work/keys.db" 2>"$work/b.log" & pb=$!
for port in 8471 8472; do
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
done
run() {  # port key jsonl
  node "$here/serve.mjs" --base-url "http://127.0.0.1:$1" --api-key "$2" --concurrency "$conc" \
    --num-prompts "$prompts" --input-len "$input" --output-len "$output" --jsonl "$3" >/dev/null
}
for r in $(seq "$rounds"); do
  run 8471 plain-key "$work/plain.jsonl"
  run 8472 "$key" "$work/keyed.jsonl"
done
node - "$work/plain.jsonl" "$work/keyed.jsonl" <<'JS'
const fs = require("node:fs");
const read = (f) => fs.readFileSync(f, "utf8").trim().split("\n").map((l) => JSON.parse(l));
const [plain, keyed] = [read(process.argv[2]), read(process.argv[3])];
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
for (const [name, rows] of [["--api-key", plain], ["--db + named key", keyed]])
  console.log(`${name}: e2e mean ms ${rows.map((r) => r.e2e_ms.mean.toFixed(1)).join(", ")}; TTFT p50 ms ` +
              `${rows.map((r) => r.ttft_ms.p50.toFixed(1)).join(", ")}; out tok/s ${rows.map((r) => r.output_token_throughput.toFixed(1)).join(", ")}`);
const e = (rows) => rows.map((r) => r.e2e_ms.mean);
console.log(`e2e latency ratio (keyed / plain): best ${(Math.min(...e(keyed)) / Math.min(...e(plain))).toFixed(4)}, ` +
            `median ${(med(e(keyed)) / med(e(plain))).toFixed(4)}`);
JS
grep -h "metering\|keys and usage" "$work/b.log" || true
