#!/usr/bin/env bash
# Emulated hosts with kernel limits: every device of a devices file becomes a network namespace
# with a bandwidth cap (tc tbf), a CPU quota and a memory limit (cgroups) and a latency relay, so
# a heterogeneous cluster is measured the same way for Lingua and any other system. docs/emulated-hosts.md.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: emulated_hosts.sh up FILE          create one emulated host per device of the devices file
       emulated_hosts.sh exec NAME CMD... run CMD inside host NAME (its namespace and cgroups)
       emulated_hosts.sh env              print LINGUA_H_DEVICES=PATH (the file with the hosts' endpoints)
       emulated_hosts.sh stats            one JSON line per host: memory peak, failcnt, CPU time
       emulated_hosts.sh down             remove every host, cgroup, bridge and process made here
       emulated_hosts.sh run FILE [--host-cmd CMD] [--no-wait] [--ready-timeout S] -- HEAD_CMD...
           up; CMD (a sh command line) in every host; once each host's service port listens,
           HEAD_CMD on this machine with LINGUA_H_DEVICES set; always down at the end.
Inside a host: LINGUA_H_NAME, LINGUA_H_ADDR, LINGUA_H_PORT and LINGUA_H_LISTEN
(tcp://127.0.0.1:PORT, where the host's service must listen; the relay owns ADDR:PORT).
Environment: LINGUA_H_PORT (7700), LINGUA_H_SUBNET (10.77.0), LINGUA_H_STATE_DIR (/run/lingua-hosts),
LINGUA_H_RELAY and LINGUA_H_SPEC (build/lingua-delay-relay, build/lingua-hosts-spec). Runs as root.
EOF
}

PREFIX=lingua-h-
BRIDGE=${PREFIX}br
PORT=${LINGUA_H_PORT:-7700}
SUBNET=${LINGUA_H_SUBNET:-10.77.0}
HEAD_ADDR=$SUBNET.1
STATE_DIR=${LINGUA_H_STATE_DIR:-/run/lingua-hosts}
STATE=$STATE_DIR/state
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RELAY=${LINGUA_H_RELAY:-$HERE/../build/lingua-delay-relay}
SPEC=${LINGUA_H_SPEC:-$HERE/../build/lingua-hosts-spec}
CFS_PERIOD_US=10000  # short periods keep a fractional quota's throttling smooth

die() {
  echo "emulated_hosts.sh: $*" >&2
  exit 1
}
note() { echo "emulated_hosts.sh: $*" >&2; }

require_root() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces and cgroups)"
}

# --- cgroups: v1 (one hierarchy per controller, possibly shared) or v2 (unified) -----------------

# Mount point of the v1 hierarchy that has controller $1, or nothing.
v1_mount() {
  awk -v c="$1" '$3 == "cgroup" { n = split($4, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) { print $2; exit } }' /proc/mounts
}

CG_MODE=""
CG_CPU="" CG_CPUACCT="" CG_MEM="" CG_V2=""
detect_cgroups() {
  CG_CPU=$(v1_mount cpu)
  CG_CPUACCT=$(v1_mount cpuacct)
  CG_MEM=$(v1_mount memory)
  if [ -n "$CG_CPU" ] && [ -n "$CG_MEM" ]; then
    CG_MODE=v1
    [ -n "$CG_CPUACCT" ] || CG_CPUACCT=$CG_CPU
  elif [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
    CG_MODE=v2
    CG_V2=/sys/fs/cgroup
  else
    die "no cgroup cpu and memory controllers found (neither v1 mounts in /proc/mounts nor cgroup v2 at /sys/fs/cgroup)"
  fi
}

# Every cgroup folder of host $1 (one per distinct hierarchy).
cg_dirs() {
  if [ "$CG_MODE" = v2 ]; then
    echo "$CG_V2/$PREFIX$1"
  else
    printf '%s\n' "$CG_CPU/$PREFIX$1" "$CG_CPUACCT/$PREFIX$1" "$CG_MEM/$PREFIX$1" | awk '!seen[$0]++'
  fi
}

# Every existing lingua-h-* cgroup folder, whatever made it.
all_cg_dirs() {
  local roots=()
  if [ "$CG_MODE" = v2 ]; then roots=("$CG_V2"); else roots=("$CG_CPU" "$CG_CPUACCT" "$CG_MEM"); fi
  for r in "${roots[@]}"; do
    for d in "$r/$PREFIX"*; do [ -d "$d" ] && echo "$d"; done
  done | awk '!seen[$0]++'
}

# make_cgroups NAME CPU_CORES MEMORY_BYTES
make_cgroups() {
  local name=$1 cpu=$2 mem=$3 d period quota
  for d in $(cg_dirs "$name"); do mkdir -p "$d"; done
  # The kernel's smallest quota is 1 ms: tiny fractions get a longer period instead.
  read -r period quota < <(awk -v c="$cpu" -v p="$CFS_PERIOD_US" 'BEGIN {
    if (c <= 0) { print p, -1; exit }
    if (c * p < 1000) p = int(1000 / c + 0.5); if (p > 1000000) p = 1000000
    q = int(c * p + 0.5); if (q < 1000) q = 1000; print p, q }')
  if [ "$CG_MODE" = v2 ]; then
    d=$CG_V2/$PREFIX$name
    for c in cpu memory; do
      grep -qw "$c" "$CG_V2/cgroup.subtree_control" || echo "+$c" >"$CG_V2/cgroup.subtree_control" 2>/dev/null ||
        die "cgroup v2: cannot enable the $c controller for child groups of $CG_V2 (is it delegated?)"
    done
    if [ "$quota" -gt 0 ]; then echo "$quota $period" >"$d/cpu.max"; fi
    echo "$mem" >"$d/memory.max"
    [ ! -e "$d/memory.swap.max" ] || echo 0 >"$d/memory.swap.max"
  else
    echo "$period" >"$CG_CPU/$PREFIX$name/cpu.cfs_period_us"
    echo "$quota" >"$CG_CPU/$PREFIX$name/cpu.cfs_quota_us"
    echo "$mem" >"$CG_MEM/$PREFIX$name/memory.limit_in_bytes"
    # With swap accounting, swap must not be a way around the limit.
    [ ! -e "$CG_MEM/$PREFIX$name/memory.memsw.limit_in_bytes" ] ||
      echo "$mem" >"$CG_MEM/$PREFIX$name/memory.memsw.limit_in_bytes"
  fi
}

# Moves process $2 into host $1's cgroups.
join_cgroups() {
  local d
  for d in $(cg_dirs "$1"); do echo "$2" >"$d/cgroup.procs"; done
}

# --- state: what `up` made, for exec/env/stats --------------------------------------------------
# $STATE lines: "status up|starting", "owner PID|none", "file PATH", "port N", "host NAME INDEX ADDR".

state_field() { awk -v k="$1" '$1 == k { print $2; exit }' "$STATE" 2>/dev/null || true; }

host_addr() {
  [ -f "$STATE" ] || die "no emulated hosts are up (no $STATE): run 'emulated_hosts.sh up FILE' first"
  local a
  a=$(awk -v n="$1" '$1 == "host" && $2 == n { print $4 }' "$STATE")
  [ -n "$a" ] || die "no emulated host '$1' (hosts: $(awk '$1 == "host" { printf "%s ", $2 }' "$STATE"))"
  echo "$a"
}

host_names() { awk '$1 == "host" { print $2 }' "$STATE"; }

# --- down -----------------------------------------------------------------------------------------

our_netns() { ip netns list 2>/dev/null | awk '{ print $1 }' | grep "^$PREFIX" || true; }
our_links() { ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | grep "^$PREFIX" || true; }

# Pids of every process in our namespaces and cgroups, and relays the state file recorded.
our_pids() {
  local ns d p
  for ns in $(our_netns); do ip netns pids "$ns" 2>/dev/null || true; done
  for d in $(all_cg_dirs); do cat "$d/cgroup.procs" 2>/dev/null || true; done
  if [ -f "$STATE" ]; then
    for p in $(awk '$1 == "relay" { print $2 }' "$STATE"); do
      # Only if that pid is still a relay: pids are reused.
      [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$(readlink -f "$RELAY")" ] && echo "$p"
    done
  fi
  return 0
}

down_all() {
  local pids n=0 i d link ns
  detect_cgroups
  pids=$(our_pids | sort -u)
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086 # a list of pids, split on purpose
    kill -TERM $pids 2>/dev/null || true
    for i in $(seq 30); do
      pids=$(our_pids | sort -u)
      [ -n "$pids" ] || break
      # shellcheck disable=SC2086
      [ "$i" -lt 20 ] || kill -KILL $pids 2>/dev/null || true
      sleep 0.1
    done
    [ -z "$(our_pids)" ] || note "warning: processes still running in the hosts: $(our_pids | sort -u | tr '\n' ' ')"
  fi
  for ns in $(our_netns); do
    ip netns del "$ns" 2>/dev/null || note "warning: cannot delete network namespace $ns"
    n=$((n + 1))
  done
  for link in $(our_links); do ip link del "$link" 2>/dev/null || true; done
  for d in $(all_cg_dirs); do
    for i in $(seq 20); do rmdir "$d" 2>/dev/null && break; sleep 0.1; done
    [ ! -d "$d" ] || note "warning: cannot remove cgroup $d"
  done
  rm -rf "$STATE_DIR"
  [ "$n" -eq 0 ] || note "removed $n emulated hosts"
}

# --- up -------------------------------------------------------------------------------------------

check_tools() {
  local t
  for t in "$RELAY" "$SPEC"; do
    [ -x "$t" ] || die "$t is missing: build it (cmake --build build --target lingua-delay-relay lingua-hosts-spec) or set LINGUA_H_RELAY / LINGUA_H_SPEC"
  done
  command -v ip >/dev/null || die "'ip' (iproute2) is not installed"
  command -v tc >/dev/null || die "'tc' (iproute2) is not installed"
  command -v ss >/dev/null || die "'ss' (iproute2) is not installed"
}

# An earlier `up` still in use is refused; leftovers of a killed one are removed.
clear_leftovers() {
  if [ -f "$STATE" ] && [ "$(state_field status)" = up ]; then
    local owner
    owner=$(state_field owner)
    if [ "$owner" = none ] || kill -0 "$owner" 2>/dev/null; then
      die "emulated hosts are already up (from $(state_field file)); run 'emulated_hosts.sh down' first"
    fi
  fi
  if [ -n "$(our_netns)$(our_links)$(all_cg_dirs)" ] || [ -e "$STATE_DIR" ]; then
    note "removing what an earlier run left behind"
    down_all
  fi
}

# Waits until something listens on TCP ADDR:PORT inside namespace $1 (ss's filter syntax).
listening() { [ -n "$(ip netns exec "$1" ss -Hltn "src $2 and sport = :$3" 2>/dev/null)" ]; }

# up_hosts FILE OWNER
up_hosts() {
  local file=$1 owner=$2 spec
  [ -f "$file" ] || die "devices file '$file' does not exist"
  check_tools
  spec=$("$SPEC" list "$file") || die "cannot use devices file '$file' (see above)"
  detect_cgroups
  clear_leftovers
  UP_STARTED=1
  [ -z "$(ip -o route show "$SUBNET.0/24" 2>/dev/null)" ] ||
    die "$SUBNET.0/24 is already routed on this machine; set LINGUA_H_SUBNET to a free one (e.g. 10.78.0)"
  mkdir -p "$STATE_DIR"
  {
    echo "status starting"
    echo "owner $owner"
    echo "file $(readlink -f "$file")"
    echo "port $PORT"
  } >"$STATE"

  ip link add "$BRIDGE" type bridge
  ip addr add "$HEAD_ADDR/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up

  local kind idx name cpu mem bw lat count
  count=$(awk '$1 == "host"' <<<"$spec" | wc -l)
  [ "$count" -le 244 ] || die "at most 244 emulated hosts (one /24), the file has $count devices"
  local endpoints=()
  while read -r kind idx name cpu mem bw lat; do
    [ "$kind" = host ] || continue
    local ns=$PREFIX$name addr=$SUBNET.$((10 + idx)) veth=${PREFIX}v$idx peer=${PREFIX}p$idx
    echo "host $name $idx $addr" >>"$STATE"
    ip netns add "$ns"
    ip link add "$veth" type veth peer name "$peer"
    ip link set "$peer" netns "$ns"
    ip -n "$ns" link set "$peer" name eth0
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    ip link set "$veth" master "$BRIDGE" up
    # tbf on both ends: the host's egress and (on the bridge side) its ingress. Burst: 10 ms of
    # traffic, at least 16 KiB; a queue of 50 ms before packets drop.
    local burst
    burst=$(awk -v b="$bw" 'BEGIN { x = int(b / 8 / 100); if (x < 16384) x = 16384; print x }')
    tc qdisc add dev "$veth" root tbf rate "${bw}bit" burst "$burst" latency 50ms
    tc -n "$ns" qdisc add dev eth0 root tbf rate "${bw}bit" burst "$burst" latency 50ms
    make_cgroups "$name" "$cpu" "$mem"
    endpoints+=("$name=tcp://$addr:$PORT")
  done <<<"$spec"

  # One relay per host in front of its service port; pair links get their own latency.
  while read -r kind idx name cpu mem bw lat; do
    [ "$kind" = host ] || continue
    local ns=$PREFIX$name addr=$SUBNET.$((10 + idx)) extra=() a b l
    while read -r a b l; do
      if [ "$a" = "$idx" ]; then extra+=(--delay-from "$SUBNET.$((10 + b))=${l}ns"); fi
      if [ "$b" = "$idx" ]; then extra+=(--delay-from "$SUBNET.$((10 + a))=${l}ns"); fi
    done < <(awk '$1 == "pair" { print $2, $3, $4 }' <<<"$spec")
    ip netns exec "$ns" setsid "$RELAY" --listen "$addr:$PORT" --to "127.0.0.1:$PORT" --delay "${lat}ns" \
      "${extra[@]}" </dev/null >>"$STATE_DIR/relay-$name.log" 2>&1 &
    echo "relay $!" >>"$STATE"
    local i
    for i in $(seq 100); do
      listening "$ns" "$addr" "$PORT" && break
      kill -0 $! 2>/dev/null || die "the relay of host $name stopped: $(cat "$STATE_DIR/relay-$name.log")"
      sleep 0.05
    done
    listening "$ns" "$addr" "$PORT" || die "the relay of host $name does not listen on $addr:$PORT"
  done <<<"$spec"

  "$SPEC" endpoints "$file" "${endpoints[@]}" >"$STATE_DIR/devices.yaml"
  sed -i 's/^status starting$/status up/' "$STATE"
  note "$count hosts up on $SUBNET.0/24 (this machine is $HEAD_ADDR); devices file for the head: $STATE_DIR/devices.yaml"
}

# --- exec / stats -----------------------------------------------------------------------------

# exec_in NAME CMD...: becomes CMD inside host NAME: joins its cgroups, then enters its network
# namespace with nsenter (`ip netns exec` would mount a fresh /sys over /sys/fs/cgroup, and a
# worker inside could not read its own CPU quota and memory limit).
exec_in() {
  local name=$1 addr
  shift
  addr=$(host_addr "$name")
  [ $# -gt 0 ] || die "exec needs a command to run in host $name"
  detect_cgroups
  join_cgroups "$name" "$BASHPID"
  exec nsenter --net="/run/netns/$PREFIX$name" env LINGUA_H_NAME="$name" LINGUA_H_ADDR="$addr" LINGUA_H_PORT="$PORT" \
    LINGUA_H_LISTEN="tcp://127.0.0.1:$PORT" "$@"
}

read_num() { cat "$1" 2>/dev/null || echo 0; }

stats() {
  [ -f "$STATE" ] || die "no emulated hosts are up (no $STATE)"
  detect_cgroups
  local name addr peak limit failcnt ooms usage throttled quota period d
  for name in $(host_names); do
    addr=$(host_addr "$name")
    if [ "$CG_MODE" = v2 ]; then
      d=$CG_V2/$PREFIX$name
      peak=$(read_num "$d/memory.peak")
      limit=$(read_num "$d/memory.max")
      [ "$limit" != max ] || limit=null
      failcnt=$(awk '$1 == "max" { print $2 }' "$d/memory.events" 2>/dev/null || echo 0)
      ooms=$(awk '$1 == "oom_kill" { print $2 }' "$d/memory.events" 2>/dev/null || echo 0)
      usage=$(awk '$1 == "usage_usec" { print $2 * 1000 }' "$d/cpu.stat" 2>/dev/null || echo 0)
      throttled=$(awk '$1 == "throttled_usec" { print $2 * 1000 }' "$d/cpu.stat" 2>/dev/null || echo 0)
      read -r quota period <"$d/cpu.max"
    else
      peak=$(read_num "$CG_MEM/$PREFIX$name/memory.max_usage_in_bytes")
      limit=$(read_num "$CG_MEM/$PREFIX$name/memory.limit_in_bytes")
      failcnt=$(read_num "$CG_MEM/$PREFIX$name/memory.failcnt")
      ooms=$(awk '$1 == "oom_kill" { print $2 }' "$CG_MEM/$PREFIX$name/memory.oom_control" 2>/dev/null || echo 0)
      usage=$(read_num "$CG_CPUACCT/$PREFIX$name/cpuacct.usage")
      throttled=$(awk '$1 == "throttled_time" { print $2 }' "$CG_CPU/$PREFIX$name/cpu.stat" 2>/dev/null || echo 0)
      quota=$(read_num "$CG_CPU/$PREFIX$name/cpu.cfs_quota_us")
      period=$(read_num "$CG_CPU/$PREFIX$name/cpu.cfs_period_us")
    fi
    local cores
    cores=$(awk -v q="$quota" -v p="$period" 'BEGIN { if (q == "max" || q < 0 || p <= 0) print "null"; else printf "%.6g", q / p }')
    printf '{"name":"%s","address":"%s","memory_peak_bytes":%s,"memory_limit_bytes":%s,"memory_failcnt":%s,"memory_oom_kills":%s,"cpu_usage_ns":%s,"cpu_throttled_ns":%s,"cpu_quota_cores":%s}\n' \
      "$name" "$addr" "${peak:-0}" "${limit:-0}" "${failcnt:-0}" "${ooms:-0}" "${usage:-0}" "${throttled:-0}" "$cores"
  done
}

# --- run ------------------------------------------------------------------------------------------

RUN_HEAD_PID=""
UP_STARTED=0  # set once `up` begins to make things: only then does a failure take them down
up_cleanup() { if [ "$UP_STARTED" = 1 ]; then down_all; fi; }
run_cleanup() {
  trap '' INT TERM
  if [ -n "$RUN_HEAD_PID" ]; then
    kill -TERM -- "-$RUN_HEAD_PID" 2>/dev/null || kill -TERM "$RUN_HEAD_PID" 2>/dev/null || true
    local i
    for i in $(seq 30); do kill -0 "$RUN_HEAD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$RUN_HEAD_PID" 2>/dev/null || true
  fi
  up_cleanup
}

run() {
  [ $# -ge 1 ] || die "run needs a devices file: run FILE [--host-cmd CMD] -- HEAD_CMD..."
  local file=$1 host_cmd="" wait_ready=1 timeout=60
  shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    case $1 in
      --host-cmd) [ $# -ge 2 ] || die "--host-cmd needs a command line"; host_cmd=$2; shift 2 ;;
      --no-wait) wait_ready=0; shift ;;
      --ready-timeout)
        [[ ${2:-} =~ ^[0-9]+$ ]] || die "--ready-timeout needs whole seconds, got '${2:-}'"
        timeout=$2; shift 2 ;;
      *) die "run: unknown option '$1' (expected --host-cmd CMD, --no-wait, --ready-timeout S, then -- HEAD_CMD...)" ;;
    esac
  done
  [ "${1:-}" = -- ] && [ $# -ge 2 ] || die "run needs a head command after --: run FILE [--host-cmd CMD] -- HEAD_CMD..."
  shift
  trap run_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  up_hosts "$file" "$$"
  local name pids=() names=()
  if [ -n "$host_cmd" ]; then
    for name in $(host_names); do
      # Host output goes to stderr: stdout belongs to the head (e.g. its --json).
      (exec_in "$name" sh -c "$host_cmd") </dev/null >&2 &
      pids+=("$!")
      names+=("$name")
    done
    if [ "$wait_ready" = 1 ]; then
      local i deadline=$((SECONDS + timeout))
      for i in "${!names[@]}"; do
        until listening "$PREFIX${names[$i]}" 127.0.0.1 "$PORT"; do
          kill -0 "${pids[$i]}" 2>/dev/null || die "the command in host ${names[$i]} ended before listening on 127.0.0.1:$PORT"
          [ "$SECONDS" -lt "$deadline" ] || die "host ${names[$i]}: nothing listens on 127.0.0.1:$PORT after ${timeout}s"
          sleep 0.1
        done
      done
    fi
  fi
  # The head gets its own process group, so everything it starts is stopped with it.
  LINGUA_H_DEVICES=$STATE_DIR/devices.yaml LINGUA_H_HEAD_ADDR=$HEAD_ADDR setsid "$@" &
  RUN_HEAD_PID=$!
  local rc=0
  wait "$RUN_HEAD_PID" || rc=$?
  RUN_HEAD_PID=""
  exit "$rc"
}

# --- main -----------------------------------------------------------------------------------------

[ $# -gt 0 ] || {
  usage >&2
  exit 1
}
case $1 in
  -h | --help | help) usage; exit 0 ;;
  up | exec | env | stats | down | run) ;;
  *) die "unknown command '$1' (up, exec, env, stats, down, run; --help for more)" ;;
esac
require_root
cmd=$1
shift
case $cmd in
  up)
    [ $# -eq 1 ] || die "up takes one devices file"
    # A failed or interrupted `up` takes back what it made.
    trap up_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    up_hosts "$1" none
    trap - EXIT INT TERM ;;
  exec)
    [ $# -ge 1 ] || die "exec needs a host name and a command"
    exec_in "$@" ;;
  env)
    [ -f "$STATE" ] && [ "$(state_field status)" = up ] || die "no emulated hosts are up: run 'emulated_hosts.sh up FILE' first"
    echo "LINGUA_H_DEVICES=$STATE_DIR/devices.yaml"
    echo "LINGUA_H_HEAD_ADDR=$HEAD_ADDR" ;;
  stats) stats ;;
  down) down_all ;;
  run) run "$@" ;;
esac
