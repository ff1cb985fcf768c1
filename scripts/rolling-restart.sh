#!/usr/bin/env bash
# rolling-restart.sh - restart every node of the local cluster in turn, the
# leader last, waiting for each to rejoin and catch up before the next.
# Each stop is a SIGTERM: a leader hands leadership off first and every node
# drains in-flight calls, so clients see no failed call.
#
#   scripts/rolling-restart.sh            (uses the same CLUSTER_DIR, BIN_DIR,
#                                          PORT_BASE as scripts/cluster.sh)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cluster="$here/cluster.sh"
BIN_DIR=${BIN_DIR:-$here/../bin}
WAIT_SECONDS=${WAIT_SECONDS:-30}
endpoints=$("$cluster" endpoints)

leader=$("$cluster" leader) || { echo "rolling-restart: no leader; is the cluster up? (make cluster)" >&2; exit 1; }
order=()
for n in n1 n2 n3; do [[ $n == "$leader" ]] || order+=("$n"); done
order+=("$leader")
echo "rolling restart: ${order[*]} (leader $leader last)"

step=0
for n in "${order[@]}"; do
  step=$((step + 1))
  echo "[$step/${#order[@]}] restarting $n"
  start=$SECONDS
  "$cluster" restart "$n" | sed 's/^/    /'
  deadline=$((SECONDS + WAIT_SECONDS))
  until "$BIN_DIR/kvctl" --endpoints "$endpoints" --command-timeout 2s cluster health >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "rolling-restart: cluster not healthy ${WAIT_SECONDS}s after restarting $n:" >&2
      "$BIN_DIR/kvctl" --endpoints "$endpoints" cluster health >&2 || true
      exit 1
    fi
    sleep 0.2
  done
  echo "    $n is back and the cluster is healthy ($((SECONDS - start))s)"
done
"$BIN_DIR/kvctl" --endpoints "$endpoints" cluster health
echo "rolling restart done; leader now: $("$cluster" leader)"
