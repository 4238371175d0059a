#!/usr/bin/env bash
# Decode speed split across 2 local devices against one device, for Lingua (generate
# --local-devices 2) and for llama.cpp (llama-bench --rpc over two local rpc-servers), the runs
# alternating in each round so machine noise hits all of them. One device: -t 2 (both cores).
# Two devices: Lingua with 1 thread each (2 in all, busy one device at a time) and with 2 threads
# each (a single stream keeps one device busy at a time, so each may use both cores: this is
# the split's own overhead); llama.cpp's rpc-server has a fixed 4 threads per server.
# llama.cpp is NOT built here: point PEER at a build you made yourself (default ../peers/llama.cpp/build/bin).
# usage: bench/compare_rpc.sh [BUILD_DIR] MODEL.gguf
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
model=$2
peer=${PEER:-../peers/llama.cpp/build/bin}
rounds=${ROUNDS:-3}
n=${N:-64}
[ -x "$peer/rpc-server" ] && [ -x "$peer/llama-bench" ] || { echo "no rpc-server/llama-bench in $peer (set PEER)" >&2; exit 1; }
port_a=$((30000 + RANDOM % 10000)); port_b=$((port_a + 1))
"$peer/rpc-server" -p $port_a >/dev/null 2>&1 & pid_a=$!
"$peer/rpc-server" -p $port_b >/dev/null 2>&1 & pid_b=$!
trap 'kill $pid_a $pid_b 2>/dev/null; wait 2>/dev/null' EXIT
sleep 1
ours() { "$build/lingua" generate -m "$model" -p "Once upon a time" -n "$n" --temp 0 --ignore-eos -c 256 --json "$@" 2>/dev/null |
  python3 -c "import json,sys; print(json.load(sys.stdin)['timings']['gen_tokens_per_s'])"; }
theirs() { "$peer/llama-bench" -m "$model" -p 0 -n "$n" -r 1 -o json "$@" 2>/dev/null |
  python3 -c "import json,sys; print(json.load(sys.stdin)[0]['avg_ts'])"; }
echo "| round | lingua 1 dev | 2 dev x 1 thread | ratio | 2 dev x 2 threads | ratio | llama.cpp 1 dev | llama.cpp 2 rpc | ratio |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for r in $(seq "$rounds"); do
  a=$(ours -t 2); b=$(ours -t 2 --local-devices 2); c=$(ours -t 4 --local-devices 2)
  d=$(theirs -t 2); e=$(theirs -t 2 --rpc 127.0.0.1:$port_a,127.0.0.1:$port_b -ngl 99)
  python3 -c "print('| $r | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |' % ($a, $b, $b/$a, $c, $c/$a, $d, $e, $e/$d))"
done
