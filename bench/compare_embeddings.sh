#!/usr/bin/env bash
# /v1/embeddings throughput of `hearth serve` against natively built llama.cpp's
# `llama-server --embeddings` (../shared/PEERS.md) on one embedding model, 2 threads each,
# alternating round by round; peak RSS of each server beside it. Prints the raw figures
# (bench/RESULTS.md says how they were used).
#   LLAMA_BIN=/path/to/llama.cpp/build/bin bench/compare_embeddings.sh MODEL.gguf [ROUNDS] [INPUT_LEN]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
llama_bin=${LLAMA_BIN:?set LLAMA_BIN to the bin folder of a native llama.cpp build}
model=$1
rounds=${2:-3}
len=${3:-128}
port=18777

wait_ready() {
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "server did not start" >&2
  return 1
}

measure() {  # name, then the server command
  local name=$1
  shift
  /usr/bin/time -v "$@" >/tmp/emb-server.log 2>/tmp/emb-server.time &
  local pid=$!
  wait_ready
  node "$root/bench/embeddings.mjs" --base-url "http://127.0.0.1:$port" --batch 1,32 --input-len "$len" --inputs 32 |
    sed "s/^/$name /"
  kill -INT "$(pgrep -P $pid)" 2>/dev/null || true
  wait $pid || true
  echo "$name $(grep -E 'Maximum resident' /tmp/emb-server.time | sed 's/^\s*//')"
}

for r in $(seq 1 "$rounds"); do
  echo "== round $r"
  # 32 slots of 1024 tokens, so a 32-input request runs as one batch, as hearth runs it.
  measure llama.cpp "$llama_bin/llama-server" -m "$model" --embeddings -t 2 -tb 2 -np 32 -c 32768 \
    --host 127.0.0.1 --port $port --no-webui
  measure hearth "$root/build/src/hearth" serve -m "$model" -t 2 --host 127.0.0.1 --port $port
done
