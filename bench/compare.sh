#!/usr/bin/env bash
# Speed of hearth against llama.cpp and ik_llama.cpp built natively for this CPU
# (scripts/build-native-peers.sh), each through its own llama-bench, on the same `hearth mkmodel`
# files. The tools alternate model by model and round by round (the order rotates each round),
# so all see the same machine load. Per tool and test: the best and the median of the rounds'
# means (other processes only ever slow a run down, so best is the figure to compare; median says
# how steady it was), and each process's peak RSS. Prints a markdown table; with --write it also
# replaces the "CPU speed against llama.cpp" section of bench/RESULTS.md.
#
#   bench/compare.sh [-t 2] [-r 3] [-p 512] [-n 128] [--rounds 3] [--models DIR] [--write]
#                    [--raw FILE] [--no-ik] [MODEL_SPEC ...]
#     MODEL_SPEC = preset:type (a `hearth mkmodel` file, made once), e.g. qwen2.5-0.5b:q8_0, or
#     the path of a model file
#     LLAMA_BIN     bin folder of native llama.cpp (default: built by scripts/build-native-peers.sh)
#     IK_LLAMA_BIN  bin folder of native ik_llama.cpp, run with run-time repacking (-rtr 1);
#                   default: built by the script when IK_LLAMA_GIT is set, else left out
# --raw appends every run's JSON line to FILE and builds the table from all of FILE (so a long
# comparison can be done in parts); --rounds 0 with --raw only rebuilds the table.
#
# The prebuilt libllama of node-llama-cpp (tests/peers) stays for the numerics tests: through a
# harness it gets two-thirds to four-fifths of a native build's prefill and would flatter hearth.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
threads=2 reps=3 n_prompt=512 n_gen=128 rounds=3 write=0 use_ik=1
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
    --no-ik) use_ik=0; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) specs+=("$1"); shift ;;
  esac
done
if [ ${#specs[@]} -eq 0 ]; then
  # #21's rows: the six it was filed with, then the types it added.
  specs=(qwen2.5-0.5b:q8_0 qwen2.5-0.5b:q4_0 qwen2.5-0.5b:q4_k_m qwen2.5-0.5b:f16
         llama-3.2-1b:q8_0 llama-3.2-1b:q4_k_m qwen2.5-0.5b:q5_k_m qwen2.5-0.5b:q6_k
         qwen2.5-0.5b:q3_k_m qwen2.5-0.5b:iq4_xs)
fi
hearth="${HEARTH_BIN:-$root/build/src/hearth}"
tools=(hearth llama)
if [ "$rounds" -gt 0 ]; then
  llama_bin="${LLAMA_BIN:-$("$root/scripts/build-native-peers.sh" llama | cut -d' ' -f2-)}"
  ik_bin="${IK_LLAMA_BIN:-}"
  if [ -z "$ik_bin" ] && [ -n "${IK_LLAMA_GIT:-}" ]; then
    ik_bin="$("$root/scripts/build-native-peers.sh" ik_llama | cut -d' ' -f2-)"
  fi
  [ "$use_ik" = 1 ] && [ -n "$ik_bin" ] && tools+=(ik_llama)
  [ "${#tools[@]}" -eq 3 ] || echo "compare: ik_llama.cpp left out (set IK_LLAMA_BIN or IK_LLAMA_GIT)" >&2
fi
mkdir -p "$models_dir"
time_file="$(mktemp)"
own_raw=""
if [ -z "$raw" ]; then
  raw="$(mktemp)"
  own_raw="$raw"
fi
trap 'rm -f "$time_file" $own_raw' EXIT

# Runs one tool on one file; prints its JSON lines in hearth bench's shape plus the process's
# peak RSS (kB, from /usr/bin/time).
run_tool() {
  local tool=$1 file=$2
  case "$tool" in
    hearth) /usr/bin/time -f '%M' -o "$time_file" \
              "$hearth" bench -m "$file" -p "$n_prompt" -n "$n_gen" -t "$threads" -r "$reps" -o jsonl ;;
    llama) /usr/bin/time -f '%M' -o "$time_file" \
             "$llama_bin/llama-bench" -m "$file" -p "$n_prompt" -n "$n_gen" -t "$threads" -r "$reps" \
             -o jsonl 2>/dev/null ;;
    ik_llama) /usr/bin/time -f '%M' -o "$time_file" \
                "$ik_bin/llama-bench" -m "$file" -p "$n_prompt" -n "$n_gen" -t "$threads" -r "$reps" \
                -rtr 1 -o json 2>/dev/null ;;  # its llama-bench has no jsonl
  esac | python3 -c '
import json, sys
text = sys.stdin.read().strip()
rows = json.loads(text) if text.startswith("[") else [json.loads(l) for l in text.splitlines() if l.startswith("{")]
for r in rows:
    if "avg_ts" in r:  # llama-bench: one line per test
        test = "pp%d" % r["n_prompt"] if r["n_prompt"] else "tg%d" % r["n_gen"]
        r = {"test": test, "tokens_per_second": r["avg_ts"], "stddev": r["stddev_ts"]}
    print(json.dumps(r))'
  echo "{\"test\": \"rss\", \"peak_rss_kb\": $(tail -1 "$time_file")}"
}

for spec in "${specs[@]}"; do
  [ "$rounds" -gt 0 ] || break
  label="$spec"
  if [ -f "$spec" ]; then  # a model file as it is (a type mkmodel cannot write, a real model)
    file="$spec" label="$(basename "$spec" .gguf)"
  else
    preset="${spec%%:*}" type="${spec##*:}"
    file="$models_dir/$preset-$type.gguf"
    [ -f "$file" ] || "$hearth" mkmodel --preset "$preset" --type "$type" -o "$file" >&2
  fi
  for ((round = 1; round <= rounds; round++)); do
    # Rotate the order so no tool always runs first (a cold page cache) or last.
    order=("${tools[@]:$(((round - 1) % ${#tools[@]}))}" "${tools[@]:0:$(((round - 1) % ${#tools[@]}))}")
    for tool in "${order[@]}"; do
      echo "compare: $label round $round: $tool" >&2
      run_tool "$tool" "$file" |
        sed "s|^{|{\"tool\": \"$tool\", \"spec\": \"$label\", \"round\": $round, |" >> "$raw"
    done
  done
done

python3 - "$raw" "$write" "$root/bench/RESULTS.md" "$threads" "$reps" "$rounds" "$n_prompt" "$n_gen" \
  "${llama_bin:-}" "${ik_bin:-}" <<'PY'
import json, sys, datetime, platform, re, subprocess, statistics
raw, write, results, threads, reps, rounds, n_prompt, n_gen, llama_bin, ik_bin = sys.argv[1:11]
runs, rss, roof = {}, {}, {}
for line in open(raw):
    r = json.loads(line)
    if r["test"] == "rss":
        key = (r["spec"], r["tool"])
        rss[key] = max(rss.get(key, 0), r["peak_rss_kb"])
        continue
    runs.setdefault((r["spec"], r["test"], r["tool"]), []).append(r["tokens_per_second"])
    if "roofline_pct" in r:
        best_tg = max(runs[(r["spec"], r["test"], r["tool"])])
        if r["tokens_per_second"] == best_tg:
            roof[(r["spec"], r["test"])] = (r["roofline_pct"], r["read_bandwidth_gbs"])
specs = list(dict.fromkeys(k[0] for k in runs))
tools = [t for t in ("hearth", "llama", "ik_llama") if any(k[2] == t for k in runs)]
names = {"hearth": "hearth", "llama": "llama.cpp", "ik_llama": "ik_llama.cpp -rtr 1"}
tests = [f"pp{n_prompt}", f"tg{n_gen}"]

def cell(xs):
    return f"{max(xs):.1f} / {statistics.median(xs):.1f}" if xs else "-"

def ratio(h, p):
    if not h or not p:
        return "-"
    return f"{max(h) / max(p):.2f}x / {statistics.median(h) / statistics.median(p):.2f}x"

head = ["model", "test", "rounds"] + [f"{names[t]} best / median t/s" for t in tools]
head += [f"hearth / {names[t]} (best / median)" for t in tools[1:]] + ["hearth decode roofline"]
rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * 2 + " ---: |" * (len(head) - 2)]
for s in specs:
    for t in tests:
        xs = {tool: runs.get((s, t, tool), []) for tool in tools}
        if not xs["hearth"]:
            continue
        rf = roof.get((s, t))
        cells = [s, t, str(min(len(v) for v in xs.values()))] + [cell(xs[tool]) for tool in tools]
        cells += [ratio(xs["hearth"], xs[tool]) for tool in tools[1:]]
        cells.append(f"{rf[0]:.0f}% of {rf[1]:.1f} GB/s" if rf else "")
        rows.append("| " + " | ".join(cells) + " |")
rows += ["", "| model | " + " | ".join(f"{names[t]} peak RSS" for t in tools) + " |",
         "| --- |" + " ---: |" * len(tools)]
for s in specs:
    rows.append(f"| {s} | " + " | ".join(f"{rss[(s, t)] / 1024:.0f} MB" if (s, t) in rss else "-"
                                         for t in tools) + " |")
table = "\n".join(rows)
print(table)
if write == "1":
    def sh(cmd):
        return subprocess.run(["sh", "-c", cmd], capture_output=True, text=True).stdout.strip()
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2")
    commit = sh("git rev-parse --short HEAD")
    peers = "; ".join(f"{names[t]} from `{b}`" for t, b in (("llama", llama_bin), ("ik_llama", ik_bin)) if b)
    section = f"""<!-- compare.sh begin -->
## CPU speed against llama.cpp and ik_llama.cpp built for this CPU ({datetime.date.today()})

`bench/compare.sh -t {threads} -r {reps} --rounds {rounds} -p {n_prompt} -n {n_gen}` at hearth
{commit}: `hearth bench` and each peer's own `llama-bench` (built by
`scripts/build-native-peers.sh`: Release, `-DGGML_NATIVE=ON`, its default flash attention;
ik_llama.cpp with run-time repacking `-rtr 1`) alternate on the same `hearth mkmodel` files,
{threads} threads each, the order rotating every round. Per tool: best / median over the rounds of
each run's {reps}-rep mean. {peers}. CPU: {cpu}, {platform.machine()}. The roofline column is hearth's
decode tokens/s x bytes read per token over the read bandwidth `hearth bench` measured in the same
run (the run with the best decode).

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
