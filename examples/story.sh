#!/usr/bin/env bash
# Greedy vs sampled continuations of one prompt with the shipped model.
set -euo pipefail
cd "$(dirname "$0")/.."
model=models/kjv-fortunes-3M-f32.gguf
prompt=${1:-"In the beginning"}
echo "== greedy"
build/lingua generate -m "$model" -p "$prompt" -n 48 --temp 0 2>/dev/null
for seed in 1 2; do
  echo "== sampled, seed $seed"
  build/lingua generate -m "$model" -p "$prompt" -n 48 --temp 0.8 --top-k 40 --top-p 0.95 --seed "$seed" 2>/dev/null
done
