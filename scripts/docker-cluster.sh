#!/usr/bin/env bash
# docker-cluster.sh - run the three-node raftkv cluster of
# deploy/docker-compose.yml in containers.
#
#   scripts/docker-cluster.sh image             build static kvd + kvctl with the local Go
#                                               toolchain and the FROM-scratch image (no pull)
#   scripts/docker-cluster.sh up                image, then compose up -d, wait for a leader
#   scripts/docker-cluster.sh down [-v]         compose down (-v also deletes the data volumes)
#   scripts/docker-cluster.sh status            containers, then `kvctl cluster status`
#   scripts/docker-cluster.sh leader            print the leader's node id
#   scripts/docker-cluster.sh kill <node>       docker kill one node's container (SIGKILL)
#   scripts/docker-cluster.sh start <node>      start a stopped node's container again
#   scripts/docker-cluster.sh isolate <node>    disconnect it from the peers network (raft)
#   scripts/docker-cluster.sh heal <node>       connect it again, with its fixed IP
#   scripts/docker-cluster.sh compose ARGS...   run compose with this project and file
#
# Environment: PROJECT (compose project, default raftkv), IMAGE (raftkv:dev),
# BUILD_DIR (where binaries go, relative to the repo, default bin/docker),
# WAIT_SECONDS (60), COMPOSE (the compose command; default `docker compose`
# when it works, else `docker-compose`), GO (go). The RAFTKV_* variables of
# deploy/docker-compose.yml (subnets, host ports) are passed through.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROJECT=${PROJECT:-raftkv}
IMAGE=${IMAGE:-raftkv:dev}
BUILD_DIR=${BUILD_DIR:-bin/docker}
WAIT_SECONDS=${WAIT_SECONDS:-60}
GO=${GO:-go}
COMPOSE_FILE_PATH=$root/deploy/docker-compose.yml
NODES=(n1 n2 n3)
export RAFTKV_IMAGE=$IMAGE

die() { echo "docker-cluster.sh: $*" >&2; exit 1; }

node_index() {
  case "$1" in
    n1) echo 1 ;; n2) echo 2 ;; n3) echo 3 ;;
    *) die "unknown node '$1' (want n1, n2 or n3)" ;;
  esac
}
host_ip() { echo "${RAFTKV_HOST_IP:-127.0.0.1}"; }
grpc_port() { local v="RAFTKV_N$(node_index "$1")_GRPC_PORT"; echo "${!v:-$((7000 + $(node_index "$1")))}"; }
http_port() { local v="RAFTKV_N$(node_index "$1")_HTTP_PORT"; echo "${!v:-$((7200 + $(node_index "$1")))}"; }
peer_ip() { echo "${RAFTKV_PEER_NET:-172.31.213}.$((10 + $(node_index "$1")))"; }
endpoints() {
  local out="" n
  for n in "${NODES[@]}"; do out+="${out:+,}$(host_ip):$(grpc_port "$n")"; done
  echo "$out"
}

compose() {
  if [[ -z ${COMPOSE:-} ]]; then
    if docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"
    elif command -v docker-compose >/dev/null 2>&1; then COMPOSE=docker-compose
    else die "neither 'docker compose' nor 'docker-compose' is installed"
    fi
  fi
  # shellcheck disable=SC2086 # COMPOSE may be two words
  $COMPOSE -p "$PROJECT" -f "$COMPOSE_FILE_PATH" "$@"
}

# container <node>: the node's container id (running or not).
container() {
  local id
  id=$(compose ps -a -q "$1" 2>/dev/null | head -n1)
  [[ -n $id ]] || die "no container for $1 in project $PROJECT (is it up?)"
  echo "$id"
}

# http_get <port> <path>: print the response (headers and body); bash
# /dev/tcp, so no curl is needed.
http_get() {
  { exec 3<>"/dev/tcp/$(host_ip)/$1"; } 2>/dev/null || return 1
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$2" "$(host_ip)" >&3
  timeout 3 cat <&3 || true
  exec 3<&- 3>&-
}
http_ok() { http_get "$1" "$2" | head -n1 | grep -q ' 200 '; }

cmd_image() {
  local out=$root/$BUILD_DIR
  command -v "$GO" >/dev/null || die "the Go toolchain ($GO) is needed to build the binaries"
  mkdir -p "$out/rootfs/data" "$out/rootfs/tmp"
  chmod 1777 "$out/rootfs/tmp"
  echo "building static kvd and kvctl into $BUILD_DIR/"
  for cmd in kvd kvctl; do
    (cd "$root" && CGO_ENABLED=0 GOOS=linux "$GO" build -trimpath -ldflags '-s -w' -o "$out/$cmd" "./cmd/$cmd")
  done
  echo "building image $IMAGE (FROM scratch, nothing pulled)"
  old_image=$(docker images -q "$IMAGE" 2>/dev/null || true)
  docker build -q -t "$IMAGE" --build-arg "BIN=$BUILD_DIR" -f "$root/Dockerfile" "$root" >/dev/null
  echo "image $IMAGE built"
  remove_old_image
}

# remove_old_image removes the image $IMAGE pointed to before the build, if
# the build replaced it and no container uses it any more.
old_image=""
remove_old_image() {
  if [[ -n $old_image && $old_image != "$(docker images -q "$IMAGE")" ]]; then
    docker rmi "$old_image" >/dev/null 2>&1 || true
  fi
}

leader() {
  local n
  for n in "${NODES[@]}"; do
    if http_get "$(http_port "$n")" /status 2>/dev/null | grep -q '"role":"leader"'; then
      echo "$n"
      return 0
    fi
  done
  return 1
}

cmd_up() {
  compose up -d
  remove_old_image # the containers that used it were just recreated
  local deadline=$((SECONDS + WAIT_SECONDS)) l=""
  while ((SECONDS < deadline)); do
    if l=$(leader); then break; fi
    sleep 0.2
  done
  if [[ -z $l ]]; then
    echo "no leader after ${WAIT_SECONDS}s; last log lines:" >&2
    compose logs --tail 10 >&2 || true
    exit 1
  fi
  # The leader is elected; give the followers the rest of the deadline to
  # catch up, then say how each one is.
  local n ready
  for n in "${NODES[@]}"; do
    while ((SECONDS < deadline)) && ! http_ok "$(http_port "$n")" /readyz; do sleep 0.2; done
  done
  local kvctl="$BUILD_DIR/kvctl"
  cat <<MSG

raftkv is up in containers (compose project $PROJECT, image $IMAGE). Leader: $l
MSG
  for n in "${NODES[@]}"; do
    ready="not ready"
    http_ok "$(http_port "$n")" /readyz && ready=ready
    printf '  %s  gRPC %s:%s  admin http://%s:%s/  raft %s:7101  (%s)\n' \
      "$n" "$(host_ip)" "$(grpc_port "$n")" "$(host_ip)" "$(http_port "$n")" "$(peer_ip "$n")" "$ready"
  done
  cat <<MSG
  Try:  $kvctl --endpoints $(endpoints) put hello world
        $kvctl --endpoints $(endpoints) -w table cluster status
  Failover: scripts/docker-cluster.sh kill \$(scripts/docker-cluster.sh leader)
  Partition: scripts/docker-cluster.sh isolate n3 / heal n3
  Stop:  make docker-cluster-stop   (DOCKER_PURGE=1 also deletes the data volumes)
MSG
}

cmd_status() {
  compose ps
  echo
  local kvctl=$root/$BUILD_DIR/kvctl
  if [[ -x $kvctl ]]; then
    "$kvctl" --endpoints "$(endpoints)" -w table cluster status || true
  fi
}

main() {
  local cmd=${1:-up}
  shift || true
  case "$cmd" in
    image) cmd_image ;;
    up) cmd_image; cmd_up ;;
    down) compose down --remove-orphans "$@" ;;
    status) cmd_status ;;
    leader) leader || die "no leader found" ;;
    endpoints) endpoints ;;
    kill) [[ $# -eq 1 ]] || die "usage: docker-cluster.sh kill <node>"; docker kill "$(container "$1")" >/dev/null; echo "$1 killed" ;;
    start) [[ $# -eq 1 ]] || die "usage: docker-cluster.sh start <node>"; docker start "$(container "$1")" >/dev/null; echo "$1 started" ;;
    isolate) [[ $# -eq 1 ]] || die "usage: docker-cluster.sh isolate <node>"
      docker network disconnect "${PROJECT}_peers" "$(container "$1")"; echo "$1 cut off from its peers" ;;
    heal) [[ $# -eq 1 ]] || die "usage: docker-cluster.sh heal <node>"
      docker network connect --ip "$(peer_ip "$1")" "${PROJECT}_peers" "$(container "$1")"; echo "$1 reconnected" ;;
    compose) compose "$@" ;;
    -h | --help | help) sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$cmd' (try: image, up, down, status, leader, kill, start, isolate, heal, compose)" ;;
  esac
}

main "$@"
