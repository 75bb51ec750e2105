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
. "$here/ab_lib.sh"
ab_wait 8471 8472
for r in $(seq "$rounds"); do
  ab_load 8471 "$work/plain.jsonl" plain-key
  ab_load 8472 "$work/keyed.jsonl" "$key"
done
ab_report "--api-key" "$work/plain.jsonl" "--db + named key" "$work/keyed.jsonl"
grep -h "metering\|keys and usage" "$work/b.log" || true
