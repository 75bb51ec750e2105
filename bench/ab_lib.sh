# Shared by the A/B serving benches (tenants_overhead.sh, kv_events_overhead.sh): the same model
# served two ways and loaded alternately by bench/serve.mjs. Sourced; expects $here, $conc,
# $prompts, $input and $output to be set.

# Waits until each port's /health answers.
ab_wait() {
  for port in "$@"; do
    for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
  done
}

# One round of load on a port: ab_load PORT JSONL [API_KEY]
ab_load() {
  node "$here/serve.mjs" --base-url "http://127.0.0.1:$1" ${3:+--api-key "$3"} --concurrency "$conc" \
    --num-prompts "$prompts" --input-len "$input" --output-len "$output" --jsonl "$2" >/dev/null
}

# Each side's rounds, then the ratio of mean end-to-end latency (B / A), best and median:
# ab_report NAME_A A.jsonl NAME_B B.jsonl
ab_report() {
  node - "$@" <<'JS'
const fs = require("node:fs");
const [nameA, fileA, nameB, fileB] = process.argv.slice(2);
const read = (f) => fs.readFileSync(f, "utf8").trim().split("\n").map((l) => JSON.parse(l));
const [a, b] = [read(fileA), read(fileB)];
const med = (xs) => { const s = [...xs].sort((x, y) => x - y); return s[Math.floor((s.length - 1) / 2)]; };
for (const [name, rows] of [[nameA, a], [nameB, b]])
  console.log(`${name}: e2e mean ms ${rows.map((r) => r.e2e_ms.mean.toFixed(1)).join(", ")}; TTFT p50 ms ` +
              `${rows.map((r) => r.ttft_ms.p50.toFixed(1)).join(", ")}; out tok/s ${rows.map((r) => r.output_token_throughput.toFixed(1)).join(", ")}`);
const e = (rows) => rows.map((r) => r.e2e_ms.mean);
console.log(`e2e latency ratio (${nameB} / ${nameA}): best ${(Math.min(...e(b)) / Math.min(...e(a))).toFixed(4)}, ` +
            `median ${(med(e(b)) / med(e(a))).toFixed(4)}`);
JS
}
