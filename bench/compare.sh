#!/usr/bin/env bash
# Speed of hearth against llama.cpp on the same random-weight model files, llama-bench style:
# `hearth bench` and `llama-harness bench` (tests/peers/llama_harness.cpp, the prebuilt
# libllama of node-llama-cpp, flash attention off) alternate, model by model and round by round,
# so both see the same machine load. Per tool and test the best round's mean tokens/s is kept
# (load from other processes only ever slows a run down). Prints a markdown table; with --write
# it also replaces the "CPU speed against llama.cpp" section of bench/RESULTS.md.
#
#   bench/compare.sh [-t 2] [-r 3] [-p 512] [-n 128] [--rounds 2] [--models DIR] [--write]
#                    [--raw FILE] [MODEL_SPEC ...]   MODEL_SPEC = preset:type, e.g. qwen2.5-0.5b:q8_0
# --raw appends every run's JSON line to FILE and builds the table from all of FILE (so a long
# comparison can be done in parts).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
threads=2 reps=3 n_prompt=512 n_gen=128 rounds=2 write=0
models_dir="$root/build/bench-models"
raw=""
specs=()
while [ $# -gt 0 ]; do
  case "$1" in
    -t) threads="$2"; shift 2 ;;
    -r) reps="$2"; shift 2 ;;
    -p) n_prompt="$2"; shift 2 ;;
    -n) n_gen="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --models) models_dir="$2"; shift 2 ;;
    --write) write=1; shift ;;
    --raw) raw="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) specs+=("$1"); shift ;;
  esac
done
if [ ${#specs[@]} -eq 0 ]; then
  specs=(qwen2.5-0.5b:q8_0 qwen2.5-0.5b:q4_0 qwen2.5-0.5b:q4_k_m qwen2.5-0.5b:f16
         llama-3.2-1b:q8_0 llama-3.2-1b:q4_k_m)
fi
hearth="${HEARTH_BIN:-$root/build/src/hearth}"
harness="$("$root/tests/peers/build-harness.sh")"
mkdir -p "$models_dir"
if [ -z "$raw" ]; then
  raw="$(mktemp)"
  trap 'rm -f "$raw"' EXIT
fi

for spec in "${specs[@]}"; do
  preset="${spec%%:*}" type="${spec##*:}"
  file="$models_dir/$preset-$type.gguf"
  [ -f "$file" ] || "$hearth" mkmodel --preset "$preset" --type "$type" -o "$file" >&2
  for ((round = 1; round <= rounds; round++)); do
    order=(hearth llama)
    [ $((round % 2)) -eq 0 ] && order=(llama hearth)
    for tool in "${order[@]}"; do
      echo "compare: $spec round $round: $tool" >&2
      if [ "$tool" = hearth ]; then
        "$hearth" bench -m "$file" -p "$n_prompt" -n "$n_gen" -t "$threads" -r "$reps" -o jsonl
      else
        "$harness" bench "$file" -p "$n_prompt" -n "$n_gen" -t "$threads" -r "$reps"
      fi | sed "s/^{/{\"tool\": \"$tool\", \"spec\": \"$spec\", \"round\": $round, /" >> "$raw"
    done
  done
done

python3 - "$raw" "$write" "$root/bench/RESULTS.md" "$threads" "$reps" "$rounds" "$n_prompt" "$n_gen" "$*" <<'PY'
import json, sys, datetime, platform, re, subprocess
raw, write, results, threads, reps, rounds, n_prompt, n_gen = sys.argv[1:9]
best, roof, rounds_seen = {}, {}, {}
for line in open(raw):
    r = json.loads(line)
    key = (r["spec"], r["test"], r["tool"])
    rounds_seen.setdefault(key, set()).add(r["round"])
    if key not in best or r["tokens_per_second"] > best[key][0]:
        best[key] = (r["tokens_per_second"], r["stddev"])
        if "roofline_pct" in r:
            roof[(r["spec"], r["test"])] = (r["roofline_pct"], r["read_bandwidth_gbs"])
specs = list(dict.fromkeys(k[0] for k in best))
tests = [f"pp{n_prompt}", f"tg{n_gen}"]
rows = ["| model | test | rounds | hearth t/s | llama.cpp t/s | hearth / llama.cpp | decode roofline (hearth) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
for s in specs:
    for t in tests:
        h, l = best.get((s, t, "hearth")), best.get((s, t, "llama"))
        if not h or not l:
            continue
        rf = roof.get((s, t))
        n_rounds = min(len(rounds_seen[(s, t, "hearth")]), len(rounds_seen[(s, t, "llama")]))
        rows.append(f"| {s} | {t} | {n_rounds} | {h[0]:.2f} ± {h[1]:.2f} | {l[0]:.2f} ± {l[1]:.2f} | "
                    f"{h[0] / l[0]:.2f}x | {f'{rf[0]:.0f}% of {rf[1]:.1f} GB/s' if rf else ''} |")
table = "\n".join(rows)
print(table)
if write == "1":
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                         capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    section = f"""<!-- compare.sh begin -->
## CPU speed against llama.cpp ({datetime.date.today()})

`bench/compare.sh -t {threads} -r {reps} --rounds {rounds} -p {n_prompt} -n {n_gen}` at hearth
{commit}: `hearth bench` and llama.cpp (`llama-harness bench`: llama-bench's pp/tg through the
prebuilt libllama, flash attention off, f16 KV cache) alternate on the same `hearth mkmodel`
files, {threads} threads each; per tool the best round's {reps}-rep mean (rounds column; other
processes share this machine's 2 cores and only slow runs down). CPU: {cpu}, {platform.machine()}.
The roofline column is hearth's decode tokens/s x bytes read per token over the read bandwidth
`hearth bench` measured in the same run.

{table}
<!-- compare.sh end -->
"""
    text = open(results).read()
    if "<!-- compare.sh begin -->" in text:
        text = re.sub(r"<!-- compare.sh begin -->.*?<!-- compare.sh end -->\n", lambda m: section,
                      text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    open(results, "w").write(text)
PY
