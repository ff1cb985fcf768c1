#!/usr/bin/env bash
# bench-ab.sh OLD_BIN NEW_BIN [kvctl bench args...]
#
# Compares two builds of kvd and kvctl (directories holding both, e.g. from
# `git worktree add /tmp/old <rev> && make -C /tmp/old build`, then
# /tmp/old/bin) on one workload, the way a change is judged on a noisy
# machine: ROUNDS rounds, each running both builds one after the other on a
# fresh three-node cluster, alternating which goes first. Each run reports
# ops/s, p99 and the nodes' CPU per operation (utime + stime of the three
# kvd processes from /proc/<pid>/stat around the run); the summary gives
# the medians and the median of the per-round new/old ratios.
#
# Default workload: put --clients 64 --conns 8 --total 40000 --key-size 8
# --val-size 256 --key-space 100000. ROUNDS (5), PORT_BASE (7400).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
BENCH_NAME=bench-ab
PORT_BASE=${PORT_BASE:-7400}
ROUNDS=${ROUNDS:-5}
# shellcheck source=scripts/benchlib.sh
source "$root/scripts/benchlib.sh"

(($# >= 2)) || die "usage: $0 OLD_BIN NEW_BIN [kvctl bench args...]"
OLD=$(cd "$1" && pwd)
NEW=$(cd "$2" && pwd)
shift 2
args=("$@")
((${#args[@]})) || args=(put --clients 64 --conns 8 --total 40000 --key-size 8 --val-size 256 --key-space 100000)
for d in "$OLD" "$NEW"; do
  [[ -x $d/kvd && -x $d/kvctl ]] || die "$d must hold kvd and kvctl"
done

WORK=$(mktemp -d /tmp/bench-ab.XXXXXX)
BIN_DIR=$OLD
bench_traps
eps=127.0.0.1:$((PORT_BASE + 1)),127.0.0.1:$((PORT_BASE + 2)),127.0.0.1:$((PORT_BASE + 3))
ticks=$(getconf CLK_TCK)

# cpu_ticks DIR: utime + stime of the cluster's kvd processes, in clock ticks.
cpu_ticks() {
  local sum=0 f st
  for f in "$1"/n[1-3].pid; do
    read -ra st <"/proc/$(cat "$f")/stat"
    sum=$((sum + st[13] + st[14]))
  done
  echo "$sum"
}

# run NAME BIN: one run on a fresh cluster; appends "NAME ops p99 cpu_us_per_op"
# to $WORK/results.
run() {
  local name=$1 bin=$2 dir=$WORK/cluster-$1 out=$WORK/$1-$round.json c0 c1
  BIN_DIR=$bin
  CLUSTER_UP=$dir
  CLUSTER_DIR=$dir BIN_DIR=$bin PORT_BASE=$PORT_BASE "$root/scripts/cluster.sh" up >"$WORK/$name-$round.up.log" 2>&1 ||
    die "$name: cluster did not start (see $WORK/$name-$round.up.log)"
  c0=$(cpu_ticks "$dir")
  "$bin/kvctl" --endpoints "$eps" -w json bench "${args[@]}" >"$out" 2>"$WORK/$name-$round.stderr" ||
    die "$name: kvctl bench failed (see $WORK/$name-$round.stderr)"
  c1=$(cpu_ticks "$dir")
  CLUSTER_DIR=$dir BIN_DIR=$bin PORT_BASE=$PORT_BASE "$root/scripts/cluster.sh" down >/dev/null 2>&1
  CLUSTER_UP=""
  rm -rf "$dir"
  local ops n p99 errs
  ops=$(tr -d '\n ' <"$out" | json_num /dev/stdin ops_per_second)
  n=$(tr -d '\n ' <"$out" | json_num /dev/stdin ops)
  p99=$(tr -d '\n ' <"$out" | json_num /dev/stdin p99)
  errs=$(tr -d '\n ' <"$out" | json_num /dev/stdin errors)
  ((errs == 0)) || log "$name round $round: $errs errors"
  local us
  us=$(awk -v c=$((c1 - c0)) -v t="$ticks" -v n="$n" 'BEGIN {printf "%.1f", c / t * 1e6 / n}')
  log "round $round $name: $(printf '%.0f' "$ops") ops/s, p99 $p99 ms, nodes $us us CPU/op"
  echo "$round $name $ops $p99 $us" >>"$WORK/results"
}

log "old=$OLD new=$NEW, $ROUNDS rounds of: kvctl bench ${args[*]}"
for ((round = 1; round <= ROUNDS; round++)); do
  if ((round % 2)); then run old "$OLD"; run new "$NEW"; else run new "$NEW"; run old "$OLD"; fi
done

awk '
  function median(a, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { ops[$2, $1] = $3; p99[$2, $1] = $4; cpu[$2, $1] = $5; rounds = $1 > rounds ? $1 : rounds }
  END {
    for (v = 0; v < 2; v++) {
      name = v ? "new" : "old"
      for (r = 1; r <= rounds; r++) { o[r] = ops[name, r]; p[r] = p99[name, r]; c[r] = cpu[name, r] }
      printf "%s: %.0f ops/s, p99 %.2f ms, nodes %.1f us CPU/op (medians of %d)\n", name, median(o, rounds), median(p, rounds), median(c, rounds), rounds
    }
    faster = 0
    for (r = 1; r <= rounds; r++) { q[r] = ops["new", r] / ops["old", r]; if (q[r] > 1) faster++ }
    printf "new/old ops/s: %.3fx (median of %d rounds; new faster in %d)\n", median(q, rounds), rounds, faster
  }' "$WORK/results"
rm -rf "$WORK"
