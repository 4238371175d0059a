#!/usr/bin/env bash
# Lingua beside llama.cpp RPC on the same emulated hosts (tools/emulated_hosts.sh: network
# namespaces, tc tbf, CPU and memory cgroups, the delay relay), rounds alternating so machine noise
# hits everyone. Lingua plans from measurements alone: its head gets a devices file with names and
# endpoints only. Prints one JSON document on stdout; progress and the hosts' logs go to stderr.
#
# usage (root): bench/compare_cluster.sh hetero3-hosts [LLAMA_BIN]
#               bench/compare_cluster.sh hetero3-plans
#               bench/compare_cluster.sh big-model
#   hetero3-hosts  examples/hetero3-hosts.yaml, a TinyLlama-1.1B-shape q4_0 synth model: Lingua
#                  optimized/even/balanced (1 stream) and optimized/even (4 streams, throughput),
#                  llama.cpp rpc-server with an even --tensor-split and a sweep of splits, and the
#                  plans from measurements against examples/hetero3-hosts-hand.yaml's (the hosts'
#                  true figures stated by hand).
#   hetero3-plans  that plan comparison alone.
#   big-model      a Llama-3-8B-shape q4_0 synth model over examples/big-model.yaml (3 x 2 GiB)
#                  against examples/big-model-single.yaml (1 x 8 GiB), Lingua optimized.
# LLAMA_BIN: llama.cpp's build/bin (rpc-server, llama-bench), built by you outside this repository
# (default ../peers/llama.cpp/build/bin). Environment: ROUNDS (2), N (tokens, 64), SPLITS (the
# sweep, space-separated), MODELS (where synth models are kept, build/bench-models), BUILD (build).
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:?usage: bench/compare_cluster.sh hetero3-hosts [LLAMA_BIN] | hetero3-plans | big-model}
peer=${2:-../peers/llama.cpp/build/bin}
build=${BUILD:-build}
rounds=${ROUNDS:-2}
n=${N:-64}
models=${MODELS:-$build/bench-models}
lingua=$(realpath "$build/lingua")
hosts=tools/emulated_hosts.sh
[ "$(id -u)" = 0 ] || { echo "compare_cluster.sh: must run as root (tools/emulated_hosts.sh)" >&2; exit 1; }
[ -x "$lingua" ] || { echo "compare_cluster.sh: no $build/lingua (build first)" >&2; exit 1; }
work=$(mktemp -d /tmp/lingua-compare-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$models"
log() { echo "compare_cluster: $*" >&2; }

synth() {  # synth NAME ARGS...: a random-weight model of a real shape, made once
  local path="$models/$1.gguf"
  shift
  [ -f "$path" ] || "$lingua" synth "$@" -o "$path" >&2
  realpath "$path"
}

# The head's devices file: names and endpoints only (what a user with real devices would write).
cat >"$work/bare.sh" <<'EOF'
#!/bin/sh
# bare.sh IN OUT: keep `devices:`, each `- name:` and its `endpoint:`.
awk '/^devices:/ {print; next} /^[^ #]/ {exit} /^ *- name:/ {print; next} /^ *endpoint:/ {print}' "$1" >"$2"
EOF
chmod +x "$work/bare.sh"

# The hosts share this machine's cores: their workers measure themselves one at a time (flock),
# or each would measure while the others do and cache a third of its speed. The worker then reads
# the profile its host just cached (the cache is keyed by threads and CPU quota).
worker_cmd="flock $work/profile.lock $lingua profile --cached >/dev/null; exec $lingua worker --listen \"\$LINGUA_H_LISTEN\" --name \"\$LINGUA_H_NAME\" --insecure --allow-insecure-network"

# lingua_round FILE OUT ARGS...: workers in every host, `lingua bench cluster ARGS` as the head,
# then each host's memory peak. OUT: {"bench": ..., "hosts": [stats lines]}.
lingua_round() {
  local file=$1 out=$2
  shift 2
  cat >"$work/head.sh" <<EOF
#!/bin/sh
set -e
"$work/bare.sh" "\$LINGUA_H_DEVICES" "$work/bare.yaml"
"$lingua" bench cluster --devices "$work/bare.yaml" --insecure --allow-insecure-network --json $* >"$work/bench.json"
"$(realpath $hosts)" stats >"$work/stats.jsonl"
EOF
  chmod +x "$work/head.sh"
  bash "$hosts" run "$file" --ready-timeout 900 --host-cmd "$worker_cmd" -- "$work/head.sh" >&2
  python3 - "$work/bench.json" "$work/stats.jsonl" >"$out" <<'EOF'
import json, sys
print(json.dumps({"bench": json.load(open(sys.argv[1])), "hosts": [json.loads(l) for l in open(sys.argv[2]) if l.strip()]}))
EOF
}

# llama_round FILE MODEL OUT SPLIT...: an rpc-server in every host, llama-bench over them per split.
llama_round() {
  local file=$1 model=$2 out=$3
  shift 3
  cat >"$work/llama.sh" <<EOF
#!/bin/sh
eps=\$(grep '^ *endpoint:' "\$LINGUA_H_DEVICES" | sed 's|.*tcp://||' | paste -sd, -)
for ts in $*; do
  t=\$("$peer/llama-bench" -m "$model" -p 0 -n $n -r 1 -o json --rpc "\$eps" -ngl 99 -ts "\$ts" -t 1 2>>"$work/llama.err" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["avg_ts"])' 2>/dev/null || echo 0)
  echo "\$ts \$t"
done
"$(realpath $hosts)" stats >"$work/llama-stats.jsonl"
EOF
  chmod +x "$work/llama.sh"
  bash "$hosts" run "$file" --ready-timeout 120 \
    --host-cmd "exec $(realpath "$peer")/rpc-server -H 127.0.0.1 -p \"\$LINGUA_H_PORT\" >/dev/null 2>&1" -- "$work/llama.sh" >"$out"
}

# plans_vs_hand MODEL: the plans made from measurements on the hosts against those made from
# examples/hetero3-hosts-hand.yaml (the true speeds stated by hand), each priced by the other's figures
# (`lingua plan --evaluate`), for both objectives. Writes $work/plans-OBJECTIVE-{meas,hand}.json.
plans_vs_hand() {
  local model=$1 o
  for o in latency throughput; do
    "$lingua" plan -m "$model" --devices examples/hetero3-hosts-hand.yaml -c 512 --objective $o --out "$work/hand-$o.plan.json" >/dev/null
  done
  cat >"$work/plans.sh" <<EOF
#!/bin/sh
set -e
"$work/bare.sh" "\$LINGUA_H_DEVICES" "$work/bare.yaml"
for o in latency throughput; do
  "$lingua" plan -m "$model" --devices "$work/bare.yaml" --insecure --allow-insecure-network -c 512 --objective \$o \\
    --out "$work/meas-\$o.plan.json" --evaluate "$work/hand-\$o.plan.json" --json >"$work/plans-\$o-meas.json"
done
EOF
  chmod +x "$work/plans.sh"
  bash "$hosts" run examples/hetero3-hosts.yaml --ready-timeout 900 --host-cmd "$worker_cmd" -- "$work/plans.sh" >&2
  for o in latency throughput; do
    "$lingua" plan -m "$model" --devices examples/hetero3-hosts-hand.yaml -c 512 --objective $o --evaluate "$work/meas-$o.plan.json" \
      --json >"$work/plans-$o-hand.json"
  done
}

case "$scenario" in
hetero3-hosts)
  [ -x "$peer/rpc-server" ] && [ -x "$peer/llama-bench" ] || { echo "no rpc-server/llama-bench in $peer" >&2; exit 1; }
  model=$(synth tinyllama-1.1b-q4_0 --preset tinyllama-1.1b --type q4_0)
  file=examples/hetero3-hosts.yaml
  splits=${SPLITS:-"1/1/1 2/1/0.5 2/1/1 3/2/1 4/2/1 1/1/0 2/1/0 3/2/0"}
  for r in $(seq "$rounds"); do
    log "round $r: Lingua, 1 stream"
    lingua_round "$file" "$work/l1-$r.json" -m "$model" --plans optimized,even,balanced -n "$n" --streams 1
    log "round $r: llama.cpp RPC, splits $splits"
    llama_round "$file" "$model" "$work/rpc-$r.txt" $splits
    log "round $r: Lingua, 4 streams (throughput)"
    lingua_round "$file" "$work/l4-$r.json" -m "$model" --plans optimized,even -n "$n" --streams 4 --objective throughput
  done
  log "plans from measurements against examples/hetero3-hosts-hand.yaml (true speeds by hand)"
  plans_vs_hand "$model"
  ;;
hetero3-plans)
  model=$(synth tinyllama-1.1b-q4_0 --preset tinyllama-1.1b --type q4_0)
  plans_vs_hand "$model"
  ;;
big-model)
  model=$(synth llama-3-8b-shape-q4_0 --arch llama --dim 4096 --layers 32 --heads 32 --kv-heads 8 --ffn 14336 \
    --vocab 128256 --ctx 8192 --type q4_0)
  for r in $(seq "$rounds"); do
    log "round $r: 3 hosts x 2 GiB"
    lingua_round examples/big-model.yaml "$work/b3-$r.json" -m "$model" --plans optimized -n "$n" -c 512
    log "round $r: 1 host x 8 GiB"
    lingua_round examples/big-model-single.yaml "$work/b1-$r.json" -m "$model" --plans optimized -n "$n" -c 512
  done
  ;;
*) echo "unknown scenario '$scenario' (hetero3-hosts, hetero3-plans, big-model)" >&2; exit 1 ;;
esac

python3 - "$scenario" "$model" "$work" "$rounds" <<'EOF'
import glob, json, os, statistics, sys
scenario, model, work, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
results, sweep, hosts = [], [], []
def lingua(prefix, streams, label=None):
    by_plan = {}
    for r in range(1, rounds + 1):
        path = os.path.join(work, f"{prefix}-{r}.json")
        if not os.path.exists(path): continue
        doc = json.load(open(path))
        hosts.append({"run": f"{prefix}-{r}", "hosts": doc["hosts"]})
        for row in doc["bench"]["results"]:
            by_plan.setdefault(row["plan"], []).append(row)
    for plan, rows in by_plan.items():
        results.append({"system": "lingua", "plan": plan, "streams": streams, **({"devices_file": label} if label else {}),
                        "tensor_split": "", "tokens_per_s": statistics.median(x["tokens_per_s"] for x in rows),
                        "predicted_tokens_per_s": statistics.median(x["predicted_tokens_per_s"] for x in rows),
                        "rounds": [x["tokens_per_s"] for x in rows], "devices": rows[-1]["devices"],
                        "final_plan": rows[-1].get("final_plan", ""), "failovers": rows[-1].get("failovers", []),
                        "migrations": len(rows[-1].get("migrations", [])), "priced_links": rows[-1].get("priced_links", []),
                        "device_figures": rows[-1].get("device_figures", [])})
if scenario == "hetero3-plans":
    pass
elif scenario == "hetero3-hosts":
    lingua("l1", 1)
    lingua("l4", 4)
    splits = {}
    for r in range(1, rounds + 1):
        path = os.path.join(work, f"rpc-{r}.txt")
        if not os.path.exists(path): continue
        for line in open(path):
            ts, t = line.split()
            splits.setdefault(ts, []).append(float(t))
    sweep = [{"tensor_split": ts, "tokens_per_s": statistics.median(v), "rounds": v} for ts, v in splits.items()]
    if sweep:
        even = next((s for s in sweep if s["tensor_split"] == "1/1/1"), sweep[0])
        best = max(sweep, key=lambda s: s["tokens_per_s"])
        results.append({"system": "llama.cpp-rpc", "plan": "even", "streams": 1, "tensor_split": even["tensor_split"],
                        "tokens_per_s": even["tokens_per_s"], "rounds": even["rounds"]})
        results.append({"system": "llama.cpp-rpc", "plan": "best-split", "streams": 1, "tensor_split": best["tensor_split"],
                        "tokens_per_s": best["tokens_per_s"], "rounds": best["rounds"]})
else:
    lingua("b3", 1, "examples/big-model.yaml")
    lingua("b1", 1, "examples/big-model-single.yaml")
# Each objective: the optimized plan from measurements and from the hand-written file, and each
# priced by the other's figures (predicted tokens/s; within 5% = as good a plan).
plans_vs_hand = []
for o in ("latency", "throughput"):
    def load(side):
        path = os.path.join(work, f"plans-{o}-{side}.json")
        if not os.path.exists(path): return None
        return {p["name"]: p for p in json.load(open(path))["plans"]}
    meas, hand = load("meas"), load("hand")
    if not meas or not hand: continue
    plan = lambda p: " ".join(f"{a['device']}[{a['first_op']}..{a['last_op']}]" for a in p["assignments"])
    row = {"objective": o, "measured_plan": plan(meas["optimized"]), "hand_plan": plan(hand["optimized"])}
    for side, doc in (("by_measurements", meas), ("by_hand", hand)):
        best, other = doc["optimized"]["predicted_tokens_per_s"], doc["evaluated"]["predicted_tokens_per_s"]
        row[f"priced_{side}"] = {"own_optimized": best, "other_plan": other, "ratio": other / best if best else 0}
    plans_vs_hand.append(row)
print(json.dumps({"scenario": scenario, "model": model, "results": results, "sweep": sweep, "host_memory": hosts,
                  "plans_vs_hand": plans_vs_hand}, indent=1))
EOF
