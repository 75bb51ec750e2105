#!/usr/bin/env bash
# Peak RSS and time until ready of `hearth serve` or llama-server on one model: start with
# -c 4096 -t 2, wait for /health, one 16-token completion, SIGINT.
#   LLAMA_BIN=/path/to/llama.cpp/build/bin bench/serve_rss.sh MODEL.gguf hearth|llama
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
model=$1 which=$2 port=18090
start=$(date +%s.%N)
if [ "$which" = hearth ]; then
  /usr/bin/time -v "$root/build/src/hearth" serve -m "$model" -c 4096 -t 2 --port $port 2>/tmp/srv.time >/dev/null &
else
  /usr/bin/time -v "${LLAMA_BIN:?}/llama-server" -m "$model" -c 4096 -t 2 --port $port -fa off 2>/tmp/srv.time >/dev/null &
fi
pid=$!
until curl -sf http://127.0.0.1:$port/health >/dev/null 2>&1; do sleep 0.1; done
ready=$(date +%s.%N)
curl -s http://127.0.0.1:$port/v1/completions -H 'Content-Type: application/json' \
  -d '{"prompt":"Hello world","max_tokens":16}' >/dev/null
kill -INT "$(pgrep -P $pid)" 2>/dev/null || true
wait $pid || true
echo "$which ready after $(echo "$ready - $start" | bc) s; $(grep 'Maximum resident' /tmp/srv.time)"
