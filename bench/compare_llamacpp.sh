#!/usr/bin/env bash
# Decode/prefill speed of lingua against llama.cpp's llama-bench on the same synth models, run
# alternately in one session so machine noise hits both. llama.cpp is NOT built by this script:
# point LLAMA_BENCH at a llama-bench you built yourself (default: ../peers/llama.cpp/build/bin).
# usage: bench/compare_llamacpp.sh [BUILD_DIR] [MODEL_DIR]
# Env: PRESETS (synth presets, default tinyllama-1.1b), TYPES (default "q8_0 q4_0"), THREADS
# (default "1 2"), TESTS (default "pp64 tg64"; ppN and tgN), ROUNDS (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
models=${2:-${TMPDIR:-/tmp}/lingua-bench-models}
llama_bench=${LLAMA_BENCH:-../peers/llama.cpp/build/bin/llama-bench}
rounds=${ROUNDS:-3}
presets=${PRESETS:-tinyllama-1.1b}
types=${TYPES:-q8_0 q4_0}
threads=${THREADS:-1 2}
tests=${TESTS:-pp64 tg64}
[ -x "$llama_bench" ] || { echo "no llama-bench at $llama_bench (set LLAMA_BENCH)" >&2; exit 1; }
mkdir -p "$models"
for preset in $presets; do
  for type in $types; do
    f=$models/$preset-$type.gguf
    [ -s "$f" ] || "$build/lingua" synth --preset "$preset" --type $type --seed 1 -o "$f"
  done
done
ours() { "$build/lingua" bench -m "$1" -p "$2" -n "$3" -t "$4" -r 2 --json | python3 -c \
  "import json,sys; d=json.load(sys.stdin); print(d['pp_tokens_per_s'] if $2 else d['tg_tokens_per_s'])"; }
theirs() { "$llama_bench" -m "$1" -p "$2" -n "$3" -t "$4" -r 2 -o json 2>/dev/null | python3 -c \
  "import json,sys; print(json.load(sys.stdin)[0]['avg_ts'])"; }
echo "| model | type | threads | test | lingua tok/s | llama.cpp tok/s | ratio (median of $rounds) |"
echo "|---|---|---:|---|---:|---:|---:|"
for preset in $presets; do
 for type in $types; do
  f=$models/$preset-$type.gguf
  for t in $threads; do
    for test in $tests; do
      p=0; n=0
      case $test in pp*) p=${test#pp} ;; tg*) n=${test#tg} ;; *) echo "unknown test $test" >&2; exit 1 ;; esac
      ratios=(); a=(); b=()
      for ((r = 0; r < rounds; r++)); do
        x=$(ours "$f" $p $n $t); y=$(theirs "$f" $p $n $t)
        a+=("$x"); b+=("$y"); ratios+=("$(python3 -c "print($x/$y)")")
      done
      python3 - "$preset" "$type" "$t" "$test" "${a[*]}" "${b[*]}" "${ratios[*]}" <<'PY'
import statistics, sys
preset, typ, t, test, a, b, r = sys.argv[1:]
med = lambda s: statistics.median(float(x) for x in s.split())
print(f"| {preset} | {typ} | {t} | {test} | {med(a):.2f} | {med(b):.2f} | {med(r):.2f} |")
PY
    done
  done
done
 done
