#!/usr/bin/env bash
# bench-vs-etcd.sh - raftkv and etcd side by side on this machine.
#
#   scripts/bench-vs-etcd.sh              ROUNDS=3 interleaved rounds, table to stdout
#                                         and to docs/benchmarks.md
#   ROUNDS=5 OUT=/tmp/b.md scripts/bench-vs-etcd.sh
#
# Each round runs the same four workloads on a fresh 3-node raftkv cluster
# (scripts/cluster.sh, default flags, fsync on) and on a fresh 3-member etcd
# cluster (../shared/peers/etcd-bench.sh, etcd's own benchmark tool, default
# flags, fsync on). Rounds alternate which system goes first, so that drift in
# the machine's speed falls on both. The report gives, per workload, the
# median ops/s and p99 of each system over the rounds, their min-max, and the
# ratio of the medians (raftkv / etcd).
#
# Workloads (key 8 B, value 256 B, as etcd-bench.sh defines them):
#   put_seq     put, 1 client, 1 connection, N_SEQ (2000) requests, key space 100k
#   put_par     put, 64 clients, 8 connections, N_PAR (20000) requests, key space 100k
#   get_linear  linearizable get of one key, 64 clients, 8 connections, N_PAR requests
#   get_serial  etcd: serializable range; raftkv: STALE get (local read on any
#               member); 64 clients, 8 connections, N_PAR requests
#
# The load generators run on the same cores as the servers; a quiet machine
# matters more than anything else here. Nothing this script starts outlives it.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-$root/docs/benchmarks.md}
ETCD_BENCH=${ETCD_BENCH:-$root/../shared/peers/etcd-bench.sh}
N_SEQ=${N_SEQ:-2000}
N_PAR=${N_PAR:-20000}
PORT_BASE=${PORT_BASE:-17000}
BIN_DIR=${BIN_DIR:-$root/bin}

BENCH_NAME=bench-vs-etcd
# shellcheck source=benchlib.sh
. "$root/scripts/benchlib.sh"

[[ -f $ETCD_BENCH ]] || die "etcd benchmark script not found at $ETCD_BENCH (set ETCD_BENCH)"
command -v awk >/dev/null || die "awk not found"
(cd "$root" && make -s build) || die "make build failed"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-vs-etcd.XXXXXX")
RAW=$WORK/raw.tsv # system round workload ops_per_sec p50_ms p99_ms errors
: >"$RAW"
bench_traps

# ours_workload ROUND NAME KVCTL-BENCH-ARGS...
ours_workload() {
  local round=$1 name=$2 out
  shift 2
  out=$WORK/raftkv-$round-$name.json
  "$BIN_DIR/kvctl" --endpoints "$EPS" -w json bench "$@" >"$out" 2>"$WORK/raftkv-$round-$name.stderr" ||
    die "raftkv workload $name failed; see $WORK/raftkv-$round-$name.stderr"
  # latency_ms is the only nested object; its p50/p99 are the only such keys.
  printf 'raftkv\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$name" "$(json_num "$out" ops_per_second)" \
    "$(json_num "$out" p50)" "$(json_num "$out" p99)" "$(json_num "$out" errors)" >>"$RAW"
  log "raftkv round $round $name: $(json_num "$out" ops_per_second) ops/s, p99 $(json_num "$out" p99) ms"
}

run_ours() {
  local round=$1 dir=$WORK/cluster-$1
  EPS="127.0.0.1:$((PORT_BASE + 1)),127.0.0.1:$((PORT_BASE + 2)),127.0.0.1:$((PORT_BASE + 3))"
  log "raftkv round $round: starting 3 nodes (ports $PORT_BASE+), data in $dir"
  CLUSTER_UP=$dir
  CLUSTER_DIR=$dir BIN_DIR=$BIN_DIR PORT_BASE=$PORT_BASE "$root/scripts/cluster.sh" up >"$WORK/raftkv-$round-up.log" 2>&1 ||
    die "cluster did not start; see $WORK/raftkv-$round-up.log"
  ours_workload "$round" put_seq put --clients 1 --conns 1 --total "$N_SEQ" --key-size 8 --val-size 256 --key-space 100000
  ours_workload "$round" put_par put --clients 64 --conns 8 --total "$N_PAR" --key-size 8 --val-size 256 --key-space 100000
  ours_workload "$round" get_linear get --consistency linearizable --clients 64 --conns 8 --total "$N_PAR" --key-size 8 --val-size 256 --key-space 1
  ours_workload "$round" get_serial get --consistency stale --clients 64 --conns 8 --total "$N_PAR" --key-size 8 --val-size 256 --key-space 1
  CLUSTER_DIR=$dir BIN_DIR=$BIN_DIR PORT_BASE=$PORT_BASE "$root/scripts/cluster.sh" down >/dev/null 2>&1
  CLUSTER_UP=""
  rm -rf "$dir"
}

run_etcd() {
  local round=$1 logf=$WORK/etcd-$1.log res
  log "etcd round $round: running $ETCD_BENCH"
  SKIP_DISK=1 N_SEQ=$N_SEQ N_PAR=$N_PAR bash "$ETCD_BENCH" >"$logf" 2>&1 || die "etcd benchmark failed; see $logf"
  res=$(awk '/^results: /{print $2}' "$logf" | tail -n1)
  [[ -f $res/results.jsonl ]] || die "no results.jsonl named in $logf"
  grep '"kind":"workload"' "$res/results.jsonl" | while IFS= read -r line; do
    local f=$WORK/etcd-line.json name
    printf '%s\n' "$line" >"$f"
    name=$(sed -n 's/.*"name":"\([a-z_]*\)".*/\1/p' "$f")
    printf 'etcd\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$name" "$(json_num "$f" ops_per_sec)" \
      "$(json_num "$f" p50_ms)" "$(json_num "$f" p99_ms)" "$(json_num "$f" errors)" >>"$RAW"
    log "etcd round $round $name: $(json_num "$f" ops_per_sec) ops/s, p99 $(json_num "$f" p99_ms) ms"
  done
}

for ((r = 1; r <= ROUNDS; r++)); do
  if ((r % 2 == 1)); then
    run_ours "$r"
    run_etcd "$r"
  else
    run_etcd "$r"
    run_ours "$r"
  fi
done

# stats SYSTEM WORKLOAD COLUMN: "median min max" of a column over the rounds.
stats() {
  awk -F'\t' -v s="$1" -v w="$2" -v c="$3" '$1 == s && $3 == w {print $c}' "$RAW" | sort -g |
    awk '{v[NR] = $1} END {if (NR == 0) {print "- - -"; exit}
      m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR]}'
}

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
etcd_version=$(grep -ho '"etcd_version":"[^"]*"' "$WORK"/etcd-*.log 2>/dev/null | head -n1 | cut -d'"' -f4)
{
  echo "# raftkv vs etcd on one machine"
  echo
  echo "Produced by \`scripts/bench-vs-etcd.sh\` (ROUNDS=$ROUNDS) on $(date -u +%F) at commit $commit."
  echo "Machine: $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM,"
  echo "kernel $(uname -r), $(go env GOVERSION), disk $(findmnt -no FSTYPE -T "$WORK" 2>/dev/null || echo '?')."
  echo "Both systems: 3 members on 127.0.0.1, default flags: every write is fsynced to the raft log (etcd: WAL) on a majority before it is acknowledged, and neither fsyncs its state machine (bbolt) per write; the load generator shares the cores."
  echo "etcd ${etcd_version:-?} with etcd's benchmark tool (\`../shared/peers/etcd-bench.sh\`); raftkv with \`kvctl bench\` and its default client, which batches concurrent calls to a member on one stream (\`--batch\`); as in etcd's tool, connection i reads from endpoint i mod 3 (\`--pin-conns\`), and writes and linearizable reads go to the leader."
  echo "Rounds alternate which system runs first. Key 8 B, value 256 B; puts over 100k keys; gets read one key."
  echo "raftkv's get_serial is a STALE read (served locally by any member), etcd's a serializable range."
  echo
  echo "| workload | raftkv ops/s (median, min-max) | etcd ops/s (median, min-max) | ratio | raftkv p99 ms | etcd p99 ms |"
  echo "|---|---|---|---|---|---|"
  for w in put_seq put_par get_linear get_serial; do
    read -r om omin omax < <(stats raftkv "$w" 4)
    read -r em emin emax < <(stats etcd "$w" 4)
    read -r op99 _ _ < <(stats raftkv "$w" 6)
    read -r ep99 _ _ < <(stats etcd "$w" 6)
    ratio=$(awk -v a="$om" -v b="$em" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "-" }')
    printf '| %s | %.0f (%.0f-%.0f) | %.0f (%.0f-%.0f) | %s× | %.1f | %.1f |\n' \
      "$w" "$om" "$omin" "$omax" "$em" "$emin" "$emax" "$ratio" "$op99" "$ep99"
  done
  read -r sl _ _ < <(stats raftkv get_serial 4)
  read -r ll _ _ < <(stats raftkv get_linear 4)
  echo
  awk -v s="$sl" -v l="$ll" 'BEGIN{ printf "raftkv stale / linearizable reads: %.2f×\n", s / l }'
  echo
  echo "<details><summary>Every run (system, round, workload, ops/s, p50 ms, p99 ms, errors)</summary>"
  echo
  echo '```'
  cat "$RAW"
  echo '```'
  echo "</details>"
} >"$WORK/table.md"

cat "$WORK/table.md"
if [[ -f $OUT && $OUT == "$root/docs/benchmarks.md" ]] && grep -q '^<!-- bench-vs-etcd:end -->' "$OUT"; then
  # Replace only the generated section of the hand-written document.
  awk -v f="$WORK/table.md" '
    /^<!-- bench-vs-etcd:begin -->/ {print; while ((getline l < f) > 0) if (l !~ /^# raftkv vs etcd/) print l; skip = 1; next}
    /^<!-- bench-vs-etcd:end -->/ {skip = 0}
    !skip {print}' "$OUT" >"$WORK/out.md" && mv "$WORK/out.md" "$OUT"
else
  cp "$WORK/table.md" "$OUT"
fi
log "wrote $OUT; raw results in $RAW"
