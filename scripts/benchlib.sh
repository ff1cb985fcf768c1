# benchlib.sh - what the bench-*.sh scripts share. Source it after setting
# BENCH_NAME (the log prefix), root, BIN_DIR and PORT_BASE; then set WORK
# (the run's temp dir) and call bench_traps. A script that has more to undo
# on exit defines bench_cleanup_extra.

log() { printf '[%s %s] %s\n' "$BENCH_NAME" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# json_num FILE FIELD: the first number after "FIELD": in a one-line JSON file.
json_num() { sed -n "s/.*\"$2\": *\([0-9.eE+-]*\).*/\1/p" "$1" | head -n1; }

# CLUSTER_UP is the directory of the raftkv cluster running now, if any.
CLUSTER_UP=""

# bench_cleanup stops the cluster in CLUSTER_UP, undoes bench_cleanup_extra,
# removes the clusters' data and keeps WORK's logs when the run failed.
bench_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $CLUSTER_UP ]]; then
    CLUSTER_DIR=$CLUSTER_UP BIN_DIR=$BIN_DIR PORT_BASE=$PORT_BASE "$root/scripts/cluster.sh" down >/dev/null 2>&1 || true
  fi
  if declare -F bench_cleanup_extra >/dev/null; then bench_cleanup_extra; fi
  rm -rf "$WORK"/cluster-*
  ((rc == 0)) || log "failed (exit $rc); logs in $WORK"
  exit "$rc"
}

# bench_traps makes every exit, interrupted or not, go through bench_cleanup.
bench_traps() {
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
