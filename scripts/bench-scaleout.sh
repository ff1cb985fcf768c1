#!/usr/bin/env bash
# bench-scaleout.sh - stale against linearizable reads with every member on
# its own CPU budget.
#
#   sudo scripts/bench-scaleout.sh                      ROUNDS=3, MEMBER_CPU=0.3
#   sudo ROUNDS=5 MEMBER_CPU=0.5 N=200000 scripts/bench-scaleout.sh
#
# On one machine the three members and the load generator share the same
# cores, so a read served by a follower instead of the leader costs the same
# CPU and stale reads can outrun linearizable ones only by the ratio of their
# CPU per read (docs/benchmarks.md, "What limits us now"). In a deployment
# every member has a machine of its own: stale reads are served by all
# three, linearizable ones by the leader alone. This script gives each kvd a
# CPU budget of its own, as separate machines would, and measures both read
# workloads under it:
#
#   * each member runs in its own cgroup limited to MEMBER_CPU cores
#     (CFS quota: cgroup v2 cpu.max, or v1 cpu.cfs_quota_us); the load
#     generator (kvctl bench, outside them) keeps the rest of the machine;
#   * each round starts a fresh 3-node cluster (scripts/cluster.sh, default
#     flags), puts the members in their cgroups and runs, in turn,
#     `kvctl bench get --consistency stale|linearizable --clients 64
#     --conns 8 --key-space 1` (the workloads of bench-vs-etcd.sh; rounds
#     alternate which goes first);
#   * it reports per workload the median ops/s and p99 over the rounds, the
#     cores each member used (utime + stime from /proc/<pid>/stat over the
#     run), and the stale / linearizable ratio of the medians.
#
# Needs root (cgroups). Everything it starts, cgroups included, is removed
# on exit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-3}
MEMBER_CPU=${MEMBER_CPU:-0.3}
N=${N:-100000}
PORT_BASE=${PORT_BASE:-17500}
BIN_DIR=${BIN_DIR:-$root/bin}
PERIOD_US=10000 # a short CFS period: a throttled member waits at most ~7 ms, not ~70

BENCH_NAME=bench-scaleout
# shellcheck source=benchlib.sh
. "$root/scripts/benchlib.sh"

((EUID == 0)) || die "needs root to create cgroups"
QUOTA_US=$(awk -v c="$MEMBER_CPU" -v p="$PERIOD_US" 'BEGIN {q = int(c * p); if (q < 1000) exit 1; print q}') ||
  die "MEMBER_CPU=$MEMBER_CPU: want a number of cores of at least 0.1"
if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
  CG_ROOT=/sys/fs/cgroup
  grep -qw cpu "$CG_ROOT/cgroup.controllers" || die "cgroup v2 without the cpu controller"
  grep -qw cpu "$CG_ROOT/cgroup.subtree_control" || echo +cpu >"$CG_ROOT/cgroup.subtree_control"
  cg_limit() { echo "$QUOTA_US $PERIOD_US" >"$1/cpu.max"; }
elif [[ -d /sys/fs/cgroup/cpu ]]; then
  CG_ROOT=/sys/fs/cgroup/cpu
  cg_limit() { echo "$PERIOD_US" >"$1/cpu.cfs_period_us" && echo "$QUOTA_US" >"$1/cpu.cfs_quota_us"; }
else
  die "no cgroup cpu controller found under /sys/fs/cgroup"
fi
(cd "$root" && make -s build) || die "make build failed"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-scaleout.XXXXXX")
RAW=$WORK/raw.tsv # round workload ops_per_sec p99_ms errors cores_n1 cores_n2 cores_n3 leader
: >"$RAW"
CGROUPS=()
bench_cleanup_extra() {
  local cg
  for cg in "${CGROUPS[@]}"; do rmdir "$cg" 2>/dev/null || true; done
}
bench_traps

# cpu_ticks PID: the process's utime + stime in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# workload ROUND NAME CONSISTENCY: one read workload, with each member's CPU.
workload() {
  local round=$1 name=$2 consistency=$3 out i start end before=() after=() cores=()
  out=$WORK/$round-$name.json
  for i in 1 2 3; do before[i]=$(cpu_ticks "${PIDS[i]}"); done
  start=$(date +%s.%N)
  "$BIN_DIR/kvctl" --endpoints "$EPS" -w json bench get --consistency "$consistency" \
    --clients 64 --conns 8 --total "$N" --key-size 8 --val-size 256 --key-space 1 \
    >"$out" 2>"$WORK/$round-$name.stderr" || die "workload $name failed; see $WORK/$round-$name.stderr"
  end=$(date +%s.%N)
  for i in 1 2 3; do
    after[i]=$(cpu_ticks "${PIDS[i]}")
    cores[i]=$(awk -v a="${before[i]}" -v b="${after[i]}" -v s="$start" -v e="$end" -v hz="$(getconf CLK_TCK)" \
      'BEGIN {printf "%.2f", (b - a) / hz / (e - s)}')
  done
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$name" "$(json_num "$out" ops_per_second)" \
    "$(json_num "$out" p99)" "$(json_num "$out" errors)" "${cores[1]}" "${cores[2]}" "${cores[3]}" "$LEADER" >>"$RAW"
  log "round $round $name: $(printf '%.0f' "$(json_num "$out" ops_per_second)") ops/s, p99 $(json_num "$out" p99) ms, cores n1 ${cores[1]} n2 ${cores[2]} n3 ${cores[3]} (leader $LEADER)"
}

for ((r = 1; r <= ROUNDS; r++)); do
  dir=$WORK/cluster-$r
  EPS="127.0.0.1:$((PORT_BASE + 1)),127.0.0.1:$((PORT_BASE + 2)),127.0.0.1:$((PORT_BASE + 3))"
  log "round $r: starting 3 nodes (ports $PORT_BASE+), each limited to $MEMBER_CPU cores"
  CLUSTER_UP=$dir
  CLUSTER_DIR=$dir BIN_DIR=$BIN_DIR PORT_BASE=$PORT_BASE "$root/scripts/cluster.sh" up >"$WORK/$r-up.log" 2>&1 ||
    die "cluster did not start; see $WORK/$r-up.log"
  PIDS=()
  for i in 1 2 3; do
    PIDS[i]=$(<"$dir/n$i.pid")
    cg=$CG_ROOT/raftkv-scaleout-$$-n$i
    [[ -d $cg ]] || { mkdir "$cg" && CGROUPS+=("$cg"); }
    cg_limit "$cg" || die "cannot set the CPU limit of $cg"
    echo "${PIDS[i]}" >"$cg/cgroup.procs" || die "cannot move n$i (pid ${PIDS[i]}) into $cg"
  done
  LEADER=$(CLUSTER_DIR=$dir BIN_DIR=$BIN_DIR PORT_BASE=$PORT_BASE "$root/scripts/cluster.sh" leader)
  if ((r % 2 == 1)); then
    workload "$r" stale stale
    workload "$r" linearizable linearizable
  else
    workload "$r" linearizable linearizable
    workload "$r" stale stale
  fi
  CLUSTER_DIR=$dir BIN_DIR=$BIN_DIR PORT_BASE=$PORT_BASE "$root/scripts/cluster.sh" down >/dev/null 2>&1
  CLUSTER_UP=""
  rm -rf "$dir"
done

# median WORKLOAD COLUMN: the median of a column over the rounds.
median() {
  awk -F'\t' -v w="$1" -v c="$2" '$2 == w {print $c}' "$RAW" | sort -g |
    awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
  echo "Produced by \`ROUNDS=$ROUNDS MEMBER_CPU=$MEMBER_CPU N=$N scripts/bench-scaleout.sh\` on $(date -u +%F) at commit $commit,"
  echo "$(nproc) cores, each of the 3 members limited to $MEMBER_CPU cores by its own cgroup; the load generator unlimited."
  echo "\`kvctl bench get --consistency stale|linearizable --clients 64 --conns 8 --total $N --key-size 8 --key-space 1\`."
  echo
  echo "| workload | ops/s (median) | ops/s per round | p99 ms (median) | cores used by each member per round (n1/n2/n3, leader) |"
  echo "|---|---|---|---|---|"
  for w in stale linearizable; do
    per=$(awk -F'\t' -v w="$w" '$2 == w {printf "%s%.0f", sep, $3; sep = ", "}' "$RAW")
    cores=$(awk -F'\t' -v w="$w" '$2 == w {printf "%s%s/%s/%s (%s)", sep, $6, $7, $8, $9; sep = "; "}' "$RAW")
    printf '| %s | %.0f | %s | %.1f | %s |\n' "$w" "$(median "$w" 3)" "$per" "$(median "$w" 4)" "$cores"
  done
  echo
  awk -v s="$(median stale 3)" -v l="$(median linearizable 3)" 'BEGIN {printf "stale / linearizable reads: %.2f×\n", s / l}'
  errs=$(awk -F'\t' '{e += $5} END {print e + 0}' "$RAW")
  ((errs == 0)) || echo "errors: $errs (see $WORK)"
}
