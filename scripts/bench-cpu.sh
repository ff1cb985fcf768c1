#!/usr/bin/env bash
# bench-cpu.sh - ops/s and CPU per operation, batched against unary calls.
#
#   scripts/bench-cpu.sh ROUNDS 'WORKLOAD ARGS' ['WORKLOAD ARGS' ...]
#   scripts/bench-cpu.sh 2 'get --clients 64 --conns 8 --total 100000 --key-space 1 --consistency stale'
#
# Starts one fresh 3-node cluster (scripts/cluster.sh, PORT_BASE 19000 by
# default) and runs each `kvctl bench` workload ROUNDS times with --batch=true
# and --batch=false in turn. For each run it prints ops/s, p99 and the CPU
# time per operation of the three kvd together (utime+stime from
# /proc/PID/stat) and of kvctl itself (/usr/bin/time). Binaries come from
# BIN_DIR (default bin/, built by make build). Stops what it starts.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
(($# >= 2)) || { sed -n '2,12p' "$0"; exit 2; }
rounds=$1
shift
export BIN_DIR=${BIN_DIR:-$root/bin} PORT_BASE=${PORT_BASE:-19000}
export CLUSTER_DIR=${CLUSTER_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/bench-cpu.XXXXXX")}
[[ -x /usr/bin/time ]] || { echo "bench-cpu: /usr/bin/time not found (apt-get install time)" >&2; exit 1; }
[[ $BIN_DIR != "$root/bin" ]] || (cd "$root" && make -s build)

trap '"$root/scripts/cluster.sh" down >/dev/null 2>&1 || true' EXIT
"$root/scripts/cluster.sh" up >/dev/null
read -r -a kflags <<<"$("$root/scripts/cluster.sh" kvctl-flags)"
kvctl() { "$BIN_DIR/kvctl" "${kflags[@]}" "$@"; }
kvctl put bench-cpu-key v >/dev/null

tick=$(getconf CLK_TCK)
node_ticks() {
  local t=0 pid a b
  for n in n1 n2 n3; do
    pid=$(cat "$CLUSTER_DIR/$n.pid")
    read -r a b < <(cut -d' ' -f14,15 "/proc/$pid/stat")
    t=$((t + a + b))
  done
  echo "$t"
}

printf '%-62s %-5s %9s %8s %12s %14s\n' workload batch ops/s p99_ms node_us/op client_us/op
for ((r = 1; r <= rounds; r++)); do
  for w in "$@"; do
    for batch in true false; do
      read -r -a args <<<"$w"
      n0=$(node_ticks)
      out=$({ /usr/bin/time -f 'TIME %U %S' "$BIN_DIR/kvctl" "${kflags[@]}" -w json bench "${args[@]}" --batch="$batch" 2>&1 1>&3; } 3>"$CLUSTER_DIR/run.json")
      n1=$(node_ticks)
      python3 - "$w" "$batch" "$n0" "$n1" "$tick" "$out" "$CLUSTER_DIR/run.json" <<'PY'
import json, sys
w, batch, n0, n1, tick, out, path = sys.argv[1:]
d = json.load(open(path))
u, s = [l for l in out.splitlines() if l.startswith('TIME')][0].split()[1:]
ops = d['ops']
print(f"{w[:62]:62s} {batch:5s} {d['ops_per_second']:9.0f} {d['latency_ms']['p99']:8.2f} "
      f"{(int(n1) - int(n0)) / int(tick) / ops * 1e6:12.1f} {(float(u) + float(s)) / ops * 1e6:14.1f}")
PY
    done
  done
done
