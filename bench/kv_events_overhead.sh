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
. "$here/ab_lib.sh"
ab_wait 8481 8482
for r in $(seq "$rounds"); do
  ab_load 8481 "$work/plain.jsonl"
  ab_load 8482 "$work/with-events.jsonl"
done
ab_report plain "$work/plain.jsonl" --kv-events-endpoint "$work/with-events.jsonl"
echo "subscriber received $(grep -c '"frames": 3' "$work/events.jsonl" || true) event batches"
