// Package metrics exports a raftkv node's state as Prometheus metrics.
//
// Everything here registers on a per-node *prometheus.Registry handed in by
// the caller, never on the global default registry, so several nodes can
// share one process (in-process cluster tests do). It owns:
//
//   - NodeCollector: gauges read from the raft node, the store file and the
//     snapshot directory at scrape time (role, term, indexes, leader
//     contact, degraded mode, file sizes, last snapshot);
//   - LeaderTracker: leader changes seen, counted and kept for the status
//     page;
//   - GRPC: request counts by method and code, with a latency histogram,
//     from gRPC server interceptors;
//   - RaftSink: a hashicorp/go-metrics sink that turns hashicorp/raft's own
//     telemetry (apply, commit, log store, snapshot and replication
//     timings) into Prometheus histograms. go-metrics is process-global, so
//     only cmd/kvd installs it (InstallRaftSink), once.
//
// Every metric name starts with raftkv_ and ends with its unit. metrics
// imports raftnode only for its Status type; it never imports rpc, store or
// hashicorp/raft.
package metrics
