// Package e2e holds multi-process tests: they build kvd and kvctl, start a
// real three-node cluster with scripts/cluster.sh on free loopback ports,
// crash nodes with SIGKILL and drive the cluster through the Go client and
// the kvctl binary. They run with `go test -tags e2e ./e2e/` (make test-e2e).
package e2e
