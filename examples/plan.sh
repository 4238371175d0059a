#!/usr/bin/env bash
# Plans the shipped model on two small emulated devices, writes the optimized plan, and runs it on
# two local worker processes with those limits.
set -euo pipefail
cd "$(dirname "$0")/.."
lingua=${LINGUA:-build/lingua}
model=models/kjv-fortunes-3M-f32.gguf
devices=$(mktemp --suffix=.yaml)
plan=$(mktemp --suffix=.json)
trap 'rm -f "$devices" "$plan"' EXIT
cat >"$devices" <<'YAML'
devices:
  - {name: phone, threads: 1, memory: 24MiB}
  - {name: board, threads: 1, memory: 24MiB, slowdown: 2.0}
links:
  default: {bandwidth: 100Mbit/s, latency: 5ms}
YAML
"$lingua" plan -m "$model" --devices "$devices" --out "$plan"
"$lingua" generate -m "$model" --plan "$plan" --devices "$devices" -p "And God said" -n 32 --temp 0
