#!/usr/bin/env bash
# cluster.sh - run a local three-node raftkv cluster on 127.0.0.1.
#
#   scripts/cluster.sh up                 start n1..n3 (idempotent), wait for a leader
#   scripts/cluster.sh down               stop every node this script started (by recorded PID);
#                                         `stop` and `start` without a node mean down and up
#   scripts/cluster.sh status             which nodes run, then `kvctl cluster status`
#   scripts/cluster.sh kill <node>        SIGKILL one node (crash)
#   scripts/cluster.sh stop <node>        SIGTERM one node and wait for it to exit
#   scripts/cluster.sh start <node>       start one node on its existing data
#   scripts/cluster.sh restart <node>     stop then start one node
#   scripts/cluster.sh leader             print the leader's node id
#   scripts/cluster.sh replica <node>     start n4..n9 as a read replica (non-voter) that
#                                         joins the running cluster; down stops it too
#   scripts/cluster.sh kvctl-flags        print the kvctl flags that reach this cluster
#
# Ports for node i (1..9): gRPC PORT_BASE+i, raft PORT_BASE+100+i,
# HTTP admin PORT_BASE+200+i. Defaults: PORT_BASE=7000, so 7001-7003,
# 7101-7103 and 7201-7203. Data, logs and PID files live in CLUSTER_DIR
# (default .cluster/). Binaries come from BIN_DIR (default bin/).
# Extra kvd flags can be passed in KVD_FLAGS.
#
# TLS=1 secures the cluster with development certificates from
# scripts/gen-certs.sh (created on first use in CERT_DIR, default
# CLUSTER_DIR/certs): TLS with client certificate authentication on the
# gRPC ports, mutual TLS between raft peers. The admin HTTP port stays
# plain HTTP. Every command of this script must then run with TLS=1 too.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLUSTER_DIR=${CLUSTER_DIR:-$root/.cluster}
BIN_DIR=${BIN_DIR:-$root/bin}
PORT_BASE=${PORT_BASE:-7000}
KVD_FLAGS=${KVD_FLAGS:-}
NODES=(n1 n2 n3)
WAIT_SECONDS=${WAIT_SECONDS:-30}
TLS=${TLS:-}
CERT_DIR=${CERT_DIR:-$CLUSTER_DIR/certs}

die() { echo "cluster.sh: $*" >&2; exit 1; }

node_index() {
  case "$1" in
    n[1-9]) echo "${1#n}" ;;
    *) die "unknown node '$1' (want n1, n2 or n3, or n4..n9 for replicas)" ;;
  esac
}

# is_replica <node>: n4..n9 are read replicas joining n1..n3.
is_replica() { (($(node_index "$1") > 3)); }

# known_nodes: n1..n3 and every replica this script has started.
known_nodes() {
  local f
  echo "${NODES[@]}"
  for f in "$CLUSTER_DIR"/n[4-9].pid; do
    [[ -e $f ]] && basename "$f" .pid
  done
  return 0
}
grpc_port() { echo $((PORT_BASE + $(node_index "$1"))); }
raft_port() { echo $((PORT_BASE + 100 + $(node_index "$1"))); }
http_port() { echo $((PORT_BASE + 200 + $(node_index "$1"))); }

endpoints() {
  local out="" n
  for n in "${NODES[@]}"; do out+="${out:+,}127.0.0.1:$(grpc_port "$n")"; done
  echo "$out"
}
initial_cluster() {
  local out="" n
  for n in "${NODES[@]}"; do out+="${out:+,}$n=127.0.0.1:$(raft_port "$n")"; done
  echo "$out"
}

pid_file() { echo "$CLUSTER_DIR/$1.pid"; }

tls_on() { [[ -n $TLS && $TLS != 0 ]]; }

# tls_flags <node>: kvd's TLS flags for one node (none without TLS=1).
tls_flags() {
  tls_on || return 0
  local c="$CERT_DIR/$1.pem" k="$CERT_DIR/$1-key.pem" ca="$CERT_DIR/ca.pem"
  echo "--cert-file $c --key-file $k --trusted-ca-file $ca --client-cert-auth" \
    "--peer-cert-file $c --peer-key-file $k --peer-trusted-ca-file $ca"
}

# kvctl_flags: what kvctl needs to reach this cluster.
kvctl_flags() {
  local out="--endpoints $(endpoints)"
  if tls_on; then
    out+=" --cacert $CERT_DIR/ca.pem --cert $CERT_DIR/client.pem --key $CERT_DIR/client-key.pem"
  fi
  echo "$out"
}

ensure_certs() { # ensure_certs <node>
  tls_on || return 0
  NODES="n1,n2,n3,$1" CERT_DIR=$CERT_DIR BIN_DIR=$BIN_DIR "$root/scripts/gen-certs.sh" "$CERT_DIR" >/dev/null
}

# alive <pid>: the process exists and is not a zombie. An exited kvd whose
# parent (this script's shell, long gone) was replaced by an init that reaps
# lazily stays a zombie for a while, and kill -0 would still succeed.
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}

# running <node>: true when the recorded PID is alive and is a kvd.
running() {
  local f pid
  f=$(pid_file "$1")
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ -n $pid ]] && alive "$pid" || return 1
  grep -q kvd "/proc/$pid/cmdline" 2>/dev/null
}

# http_ok <port> <path>: true when GET returns 200 (bash /dev/tcp: no curl needed).
http_ok() {
  local line=""
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
  IFS= read -r -t 2 line <&3 || true
  exec 3<&- 3>&-
  [[ $line == *" 200 "* ]]
}

start_node() {
  local n=$1
  [[ -x $BIN_DIR/kvd ]] || die "$BIN_DIR/kvd not found: run 'make build' first"
  if running "$n"; then
    echo "$n already running (pid $(<"$(pid_file "$n")"))"
    return 0
  fi
  mkdir -p "$CLUSTER_DIR/$n"
  ensure_certs "$n"
  local membership="--bootstrap --initial-cluster $(initial_cluster)"
  if is_replica "$n"; then
    membership="--join $(endpoints) --nonvoter"
  fi
  # shellcheck disable=SC2046,SC2086 # KVD_FLAGS, membership and tls_flags are lists of flags
  nohup "$BIN_DIR/kvd" \
    --node-id "$n" --data-dir "$CLUSTER_DIR/$n" \
    --grpc-addr "127.0.0.1:$(grpc_port "$n")" \
    --raft-addr "127.0.0.1:$(raft_port "$n")" \
    --http-addr "127.0.0.1:$(http_port "$n")" \
    $membership $(tls_flags "$n") $KVD_FLAGS >>"$CLUSTER_DIR/$n.log" 2>&1 </dev/null &
  echo $! >"$(pid_file "$n")"
  echo "$n started (pid $!, log $CLUSTER_DIR/$n.log)"
}

signal_node() { # signal_node <node> <signal>
  local n=$1 sig=$2
  if ! running "$n"; then
    echo "$n is not running"
    rm -f "$(pid_file "$n")"
    return 0
  fi
  kill "-$sig" "$(<"$(pid_file "$n")")"
}

stop_node() {
  local n=$1 pid i
  running "$n" || { echo "$n is not running"; rm -f "$(pid_file "$n")"; return 0; }
  pid=$(<"$(pid_file "$n")")
  kill -TERM "$pid"
  for ((i = 0; i < 200; i++)); do
    alive "$pid" || break
    sleep 0.05
  done
  if alive "$pid"; then
    echo "$n did not stop within 10s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$(pid_file "$n")"
  echo "$n stopped"
}

kill_node() {
  local n=$1
  running "$n" || { echo "$n is not running"; return 0; }
  signal_node "$n" KILL
  rm -f "$(pid_file "$n")"
  echo "$n killed (SIGKILL)"
}

# wait_ready: until one running node reports /readyz (a leader is known), or time out.
wait_ready() {
  local deadline=$((SECONDS + WAIT_SECONDS)) n
  while ((SECONDS < deadline)); do
    for n in "${NODES[@]}"; do
      if running "$n" && http_ok "$(http_port "$n")" /readyz; then return 0; fi
    done
    sleep 0.2
  done
  return 1
}

leader() {
  local n
  for n in "${NODES[@]}"; do
    running "$n" || continue
    # /status is JSON with "role":"leader" on the leader.
    if { exec 3<>"/dev/tcp/127.0.0.1/$(http_port "$n")"; } 2>/dev/null; then
      printf 'GET /status HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
      if grep -q '"role":"leader"' <&3; then exec 3<&- 3>&-; echo "$n"; return 0; fi
      exec 3<&- 3>&-
    fi
  done
  return 1
}

cmd_up() {
  local all=1 n
  for n in "${NODES[@]}"; do running "$n" || all=0; done
  if ((all)); then
    echo "cluster already running in $CLUSTER_DIR"
  else
    mkdir -p "$CLUSTER_DIR"
    for n in "${NODES[@]}"; do start_node "$n"; done
  fi
  if ! wait_ready; then
    echo "no leader after ${WAIT_SECONDS}s; last log lines:" >&2
    for n in "${NODES[@]}"; do tail -n 5 "$CLUSTER_DIR/$n.log" >&2 2>/dev/null || true; done
    exit 1
  fi
  cat <<MSG

raftkv is up. Leader: $(leader || echo unknown)
  gRPC endpoints: $(endpoints)$(if tls_on; then echo " (TLS, client certificates required; certificates in $CERT_DIR)"; fi)
  HTTP admin:     http://127.0.0.1:$(http_port n1)/status (and $(http_port n2), $(http_port n3); plain HTTP)
  Try:  $BIN_DIR/kvctl $(kvctl_flags) put hello world
        $BIN_DIR/kvctl $(kvctl_flags) get hello
        $BIN_DIR/kvctl $(kvctl_flags) cluster status
  Failover by hand: scripts/cluster.sh kill \$(scripts/cluster.sh leader)
  Stop:  make cluster-stop
MSG
}

cmd_down() {
  local n
  # Replicas first: they would only wait for the voters to come back.
  for n in $(known_nodes | tr ' ' '\n' | sort -r); do stop_node "$n"; done
}

# cmd_replica <node>: start a read replica and wait until it has caught up.
cmd_replica() {
  local n=$1 deadline=$((SECONDS + WAIT_SECONDS)) pid
  is_replica "$n" || die "replica: $n is a voter; replicas are n4..n9"
  start_node "$n"
  pid=$(<"$(pid_file "$n")")
  until http_ok "$(http_port "$n")" /readyz; do
    # alive, not running: until the started shell has exec'd kvd its
    # command line does not name kvd yet.
    if ! alive "$pid"; then
      tail -n 5 "$CLUSTER_DIR/$n.log" >&2 2>/dev/null || true
      die "replica $n exited (log $CLUSTER_DIR/$n.log)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 5 "$CLUSTER_DIR/$n.log" >&2 2>/dev/null || true
      die "replica $n did not join and catch up within ${WAIT_SECONDS}s"
    fi
    sleep 0.2
  done
  echo "$n is a read replica: stale reads at 127.0.0.1:$(grpc_port "$n"), e.g."
  echo "  $BIN_DIR/kvctl $(kvctl_flags) get hello --consistency stale"
}

cmd_status() {
  local n
  for n in $(known_nodes); do
    if running "$n"; then
      echo "$n running (pid $(<"$(pid_file "$n")"), grpc 127.0.0.1:$(grpc_port "$n"))"
    else
      echo "$n not running"
    fi
  done
  if [[ -x $BIN_DIR/kvctl ]]; then
    echo
    # shellcheck disable=SC2046 # kvctl_flags is a list of flags
    "$BIN_DIR/kvctl" $(kvctl_flags) -w table cluster status || true
  fi
}


main() {
  local cmd=${1:-up}
  shift || true
  case "$cmd" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    leader) leader || die "no leader found" ;;
    endpoints) endpoints ;;
    kvctl-flags) kvctl_flags ;;
    kill) [[ $# -ge 1 ]] || die "usage: cluster.sh kill <node>"; node_index "$1" >/dev/null; kill_node "$1" ;;
    stop) if [[ $# -eq 0 ]]; then cmd_down; else node_index "$1" >/dev/null; stop_node "$1"; fi ;;
    start) if [[ $# -eq 0 ]]; then cmd_up; else node_index "$1" >/dev/null; start_node "$1"; fi ;;
    replica) [[ $# -ge 1 ]] || die "usage: cluster.sh replica <n4..n9>"; node_index "$1" >/dev/null; cmd_replica "$1" ;;
    restart) [[ $# -ge 1 ]] || die "usage: cluster.sh restart <node>"; node_index "$1" >/dev/null; stop_node "$1"; start_node "$1" ;;
    -h | --help | help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$cmd' (try: up, down, status, leader, kill, stop, start, restart, replica)" ;;
  esac
}

main "$@"
