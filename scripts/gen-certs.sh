#!/usr/bin/env bash
# gen-certs.sh - create a development CA and certificates for the local cluster.
#
#   scripts/gen-certs.sh [dir]     default dir: $CERT_DIR, else $CLUSTER_DIR/certs
#                                  (CLUSTER_DIR defaults to .cluster/)
#
# Writes ca.pem/ca-key.pem, n1..n3.pem with their -key.pem (SANs 127.0.0.1,
# ::1, localhost and the node name; serverAuth and clientAuth) and
# client.pem/client-key.pem. Existing files are kept, so it is idempotent.
# It runs `kvctl certs create` (from BIN_DIR, default bin/, or `go run`),
# so it needs no openssl. The CA key is a plain file: development only.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLUSTER_DIR=${CLUSTER_DIR:-$root/.cluster}
BIN_DIR=${BIN_DIR:-$root/bin}
CERT_DIR=${1:-${CERT_DIR:-$CLUSTER_DIR/certs}}
NODES=${NODES:-n1,n2,n3}

if [[ -x $BIN_DIR/kvctl ]]; then
  "$BIN_DIR/kvctl" certs create --dir "$CERT_DIR" --nodes "$NODES"
else
  (cd "$root" && go run ./cmd/kvctl certs create --dir "$CERT_DIR" --nodes "$NODES")
fi
