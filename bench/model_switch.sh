#!/usr/bin/env bash
# What a model switch costs under --memory-budget: two models served together with room for one,
# asked for alternately, so that every other request unloads one and loads the other. Prints, per
# round, the time of a one-token completion on the loaded model (warm) and on the other one
# (switch: unload + load + answer), and the server's resident memory after each (it should stay
# at about one model, not grow with every switch). Best and median over the rounds.
#   bench/model_switch.sh MODEL_A MODEL_B [ROUNDS=5] [KV_MB=64]
set -euo pipefail
a=$1
b=$2
rounds=${3:-5}
kv=${4:-64}
here="$(cd "$(dirname "$0")" && pwd)"
bin="${HEARTH_BIN:-$here/../build/src/hearth}"
work="$(mktemp -d)"
trap 'kill $pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
mib() { echo $(( ($(stat -c %s "$1") + 1048575) / 1048576 )); }
budget=$(( ($(mib "$a") > $(mib "$b") ? $(mib "$a") : $(mib "$b")) + kv + 1 ))
"$bin" serve -m "$a" -m "$b" --served-model-name a --served-model-name b --port 8491 -t 2 \
  --kv-cache-mb "$kv" --memory-budget "$budget" 2>"$work/log" & pid=$!
for _ in $(seq 1200); do curl -sf http://127.0.0.1:8491/health >/dev/null && break; sleep 0.1; done
ask() {  # model -> seconds
  curl -sf -o /dev/null -w '%{time_total}' http://127.0.0.1:8491/v1/completions -H 'content-type: application/json' \
    -d "{\"model\":\"$1\",\"prompt\":\"Hello\",\"max_tokens\":1,\"temperature\":0}"
}
rss() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status"; }
echo "budget ${budget} MiB (room for one); a = $a, b = $b"
: >"$work/rows"
for r in $(seq "$rounds"); do
  for m in a b; do
    warm_other=$([ "$m" = a ] && echo b || echo a)
    ask "$warm_other" >/dev/null   # the other model is loaded now
    w=$(ask "$warm_other")
    s=$(ask "$m")
    echo "round $r: warm $warm_other ${w}s, switch to $m ${s}s, RSS $(rss) MiB"
    echo "$w $s $(rss)" >>"$work/rows"
  done
done
node - "$work/rows" <<'JS'
const rows = require("node:fs").readFileSync(process.argv[2], "utf8").trim().split("\n").map((l) => l.split(" ").map(Number));
const col = (i) => rows.map((r) => r[i]).sort((x, y) => x - y);
const med = (xs) => xs[Math.floor((xs.length - 1) / 2)];
console.log(`warm request: best ${(col(0)[0] * 1000).toFixed(1)} ms, median ${(med(col(0)) * 1000).toFixed(1)} ms; ` +
            `switch: best ${(col(1)[0] * 1000).toFixed(1)} ms, median ${(med(col(1)) * 1000).toFixed(1)} ms; ` +
            `RSS after switches: ${col(2)[0]}..${col(2)[col(2).length - 1]} MiB`);
JS
grep -c "unloading" "$work/log" | sed 's/^/unloads: /'
