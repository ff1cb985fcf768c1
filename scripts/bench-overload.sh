#!/usr/bin/env bash
# bench-overload.sh - write goodput at 4x the rate a 3-node cluster sustains.
#
#   scripts/bench-overload.sh                               default admission limits
#   scripts/bench-overload.sh --max-inflight-writes -1      admission off (compare)
#
# The arguments are extra kvd flags. The three kvd processes are pinned to
# CPU 0 and the load generator to CPU 1 (taskset), so that the generator's
# own CPU does not decide the result. The script first measures the rate
# the cluster sustains (kvctl bench put, 64 closed-loop clients, 10 s), then
# offers 4x that rate open loop (4096 clients paced by --rate, each write
# with a 1 s deadline) for 15 s and prints kvctl's JSON report: "ops_per_second"
# is the goodput (writes acknowledged within their deadline), errors_by_kind
# says how the rest failed (unavailable = refused OVERLOADED, outcome_unknown
# and deadline_exceeded = too late). Needs 2 cores; stops what it starts.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CLUSTER_DIR=${CLUSTER_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/bench-overload.XXXXXX")}
export PORT_BASE=${PORT_BASE:-18800}
export BIN_DIR=${BIN_DIR:-$root/bin}
export KVD_FLAGS="$*"
command -v taskset >/dev/null || { echo "bench-overload.sh: taskset not found (util-linux)" >&2; exit 1; }
(cd "$root" && make -s build)
"$root/scripts/cluster.sh" up >/dev/null
trap '"$root/scripts/cluster.sh" down >/dev/null 2>&1 || true; rm -rf "$CLUSTER_DIR"' EXIT
for f in "$CLUSTER_DIR"/*.pid; do taskset -a -p -c 0 "$(cat "$f")" >/dev/null; done
eps="127.0.0.1:$((PORT_BASE + 1)),127.0.0.1:$((PORT_BASE + 2)),127.0.0.1:$((PORT_BASE + 3))"
kvctl() { taskset -c 1 "$BIN_DIR/kvctl" --endpoints "$eps" "$@"; }

capacity=$(kvctl -w json bench put --clients 64 --conns 8 --duration 10s |
  sed -n 's/.*"ops_per_second": *\([0-9.]*\).*/\1/p')
rate=$(awk -v c="$capacity" 'BEGIN { printf "%d", 4 * c }')
echo "kvd flags: [${KVD_FLAGS}]  sustained: ${capacity%.*} writes/s  offering: $rate writes/s for 15s" >&2
kvctl --command-timeout 1s -w json bench put --clients 4096 --conns 16 --rate "$rate" --duration 15s || true
