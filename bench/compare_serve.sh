#!/usr/bin/env bash
# Server throughput: total tokens/s of 1 and of N concurrent streams (64 tokens each, greedy,
# ignore_eos) through `lingua serve`, and through llama.cpp's llama-server on the same file when
# LLAMA_SERVER points at one you built yourself (this script builds nothing), alternating rounds.
# usage: bench/compare_serve.sh [BUILD_DIR] MODEL.gguf
# Env: STREAMS (default 8), TOKENS (64), THREADS (2), ROUNDS (3), LOCAL_DEVICES (0: one device),
#      LLAMA_SERVER (path; unset: lingua only), PORT (8190).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
model=${2:?model file}
streams=${STREAMS:-8} tokens=${TOKENS:-64} threads=${THREADS:-2} rounds=${ROUNDS:-3} port=${PORT:-8190}
local_devices=${LOCAL_DEVICES:-0}
ctx=$((tokens + 64))
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
wait_up() { for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$1/health" >/dev/null && return 0; sleep 0.2; done; echo "no server on $1" >&2; exit 1; }
lingua_args=(serve -m "$model" -t "$threads" --parallel "$streams" -c "$ctx" --port "$port")
[ "$local_devices" -gt 0 ] && lingua_args+=(--local-devices "$local_devices")
"$build/lingua" "${lingua_args[@]}" 2>/dev/null & pids+=($!)
wait_up "$port"
if [ -n "${LLAMA_SERVER:-}" ]; then
  "$LLAMA_SERVER" -m "$model" -t "$threads" -np "$streams" -c $((ctx * streams)) --port $((port + 1)) >/dev/null 2>&1 & pids+=($!)
  wait_up $((port + 1))
fi
echo "| server | streams | tokens/s (median of $rounds) |"
echo "|---|---:|---:|"
for n in 1 "$streams"; do
  for ((r = 0; r < rounds; r++)); do
    bench/serve_load.py "http://127.0.0.1:$port" "$n" "$tokens" 1 | python3 -c "import json,sys; print('lingua', $n, json.load(sys.stdin)['tokens_per_s'])"
    if [ -n "${LLAMA_SERVER:-}" ]; then
      bench/serve_load.py "http://127.0.0.1:$((port + 1))" "$n" "$tokens" 1 |
        python3 -c "import json,sys; print('llama-server', $n, json.load(sys.stdin)['tokens_per_s'])"
    fi
  done
done | python3 -c "
import sys, statistics, collections
d = collections.defaultdict(list)
for line in sys.stdin:
    who, n, v = line.split(); d[(who, int(n))].append(float(v))
for (who, n), v in d.items(): print(f'| {who} | {n} | {statistics.median(v):.2f} |')
"
