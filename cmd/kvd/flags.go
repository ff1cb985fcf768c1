package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/raftkv/raftkv/cmd/internal/logflags"
	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/rpc"
	"github.com/raftkv/raftkv/server"
	"github.com/raftkv/raftkv/store"
)

// errUsage marks flag and configuration errors (exit code 2).
var errUsage = errors.New("usage error")

// defaultGCPercent is the Go GC target kvd runs with when neither
// --gc-percent nor GOGC says otherwise. A node's live heap is small (the
// data lives in bbolt's memory map, outside the Go heap) while a busy
// leader allocates hundreds of MB/s, mostly bbolt nodes rebuilt from the
// pages each write touches; at Go's default of 100 the collector runs
// every few milliseconds. 300 let a three-node cluster take 27% more
// writes at a quarter less CPU per write (docs/benchmarks.md).
const defaultGCPercent = 300

// process holds what kvd sets for its own process, not for the node.
type process struct {
	logger *slog.Logger
	// gcPercent is the Go GC target to set (debug.SetGCPercent), or 0 to
	// leave the runtime's (GOGC) alone.
	gcPercent int
}

// parseFlags turns the command line into a validated server configuration and
// the process settings. Nothing starts before this returns without error.
func parseFlags(args []string, stderr io.Writer) (server.Config, process, error) {
	var proc process
	cfg := server.DefaultConfig()
	fs := flag.NewFlagSet("kvd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: kvd [flags]\n\nkvd runs one raftkv node.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.NodeID, "node-id", "", "stable node id, e.g. n1 (required)")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "directory for store.db and raft/ (required)")
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", "127.0.0.1:7001", "client gRPC listen address")
	fs.StringVar(&cfg.AdvertiseGRPCAddr, "advertise-grpc-addr", "", "client gRPC address announced to the cluster (default: --grpc-addr)")
	fs.StringVar(&cfg.Raft.RaftBindAddr, "raft-addr", "127.0.0.1:7101", "raft transport listen address")
	fs.StringVar(&cfg.Raft.RaftAdvertiseAddr, "advertise-raft-addr", "", "raft address announced to peers (default: --raft-addr)")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", "", "admin HTTP address for /livez /readyz /status /metrics and the status page (empty: disabled)")
	fs.BoolVar(&cfg.PprofEnabled, "enable-pprof", false, "serve /debug/pprof/ on the admin HTTP address")
	fs.BoolVar(&cfg.HandOffLeadership, "handoff-leadership", true, "on SIGTERM, a leader transfers leadership before stopping")
	fs.BoolVar(&cfg.Raft.Bootstrap, "bootstrap", false, "form a new cluster on first start (ignored when data exists)")
	initial := fs.String("initial-cluster", "", "with --bootstrap: every voter as id=raft-addr,... (default: this node alone)")
	join := fs.String("join", "", "client gRPC addresses of existing members to join through, comma-separated")
	fs.BoolVar(&cfg.NonVoter, "nonvoter", false, "with --join: join as a non-voter (a read replica that neither votes nor counts towards quorum)")
	fs.BoolVar(&cfg.LeaveOnTerminate, "leave-on-terminate", false, "on SIGTERM, hand off leadership, then ask the leader to remove this node from the cluster")
	fs.IntVar(&cfg.Autopilot.TargetVoters, "target-voters", 0, "while leading, promote caught-up non-voters until there are this many voters (0: off)")
	fs.DurationVar(&cfg.Autopilot.DeadMemberTimeout, "dead-member-timeout", 0, "while leading, remove a member not heard from for this long, if quorum stays safe (0: off; see docs/runbook.md)")
	fs.DurationVar(&cfg.Autopilot.StabilizationTime, "stabilization-time", 10*time.Second, "how long a non-voter must stay healthy and caught up before --target-voters promotes it")
	fs.DurationVar(&cfg.Raft.HeartbeatTimeout, "heartbeat-timeout", cfg.Raft.HeartbeatTimeout, "raft heartbeat timeout")
	fs.DurationVar(&cfg.Raft.ElectionTimeout, "election-timeout", cfg.Raft.ElectionTimeout, "raft election timeout")
	fs.Uint64Var(&cfg.Raft.SnapshotThreshold, "snapshot-threshold", cfg.Raft.SnapshotThreshold, "log entries between snapshots")
	fs.DurationVar(&cfg.Raft.SnapshotInterval, "snapshot-interval", cfg.Raft.SnapshotInterval, "how often to check whether to snapshot")
	logStore := fs.String("raft-log-store", "auto", "raft log format of a new data dir: wal (one fsync per append) or boltdb; auto keeps an existing dir's format, else wal")
	fs.BoolVar(&cfg.Raft.SerialLeaderAppend, "raft-serial-append", false, "the leader fsyncs its log before replicating it, so a write waits for two fsyncs in turn (default: in parallel; nothing is applied or acknowledged before the leader's own copy is on disk)")
	fs.BoolVar(&cfg.SyncStateMachine, "sync-state-machine", false, "fsync every state machine commit (default: the raft log is fsynced, and after an OS crash the state machine is rebuilt from the latest snapshot and the log)")
	fs.DurationVar(&cfg.StateMachineCommitInterval, "state-machine-commit-interval", server.DefaultStateMachineCommitInterval, "how long applied entries may wait, already visible to reads, before the state machine commits them in one transaction (negative: commit every batch; uncommitted entries are replayed from the raft log after a crash)")
	fs.IntVar(&cfg.StateMachineCommitEntries, "state-machine-commit-entries", store.DefaultCommitEntries, "commit the state machine sooner, once this many applied entries wait")
	fs.StringVar(&cfg.BootIDPath, "boot-id-file", store.DefaultBootIDPath, "file holding the OS boot id, which tells a reboot from a process restart")
	addTLSFlags(fs, &cfg)
	fs.IntVar(&cfg.MaxInflightWrites, "max-inflight-writes", rpc.DefaultMaxInflightWrites, "writes handled at once before refusing more with OVERLOADED (negative: no limit)")
	fs.IntVar(&cfg.MaxInflightReads, "max-inflight-reads", rpc.DefaultMaxInflightReads, "reads handled at once before refusing more with OVERLOADED (negative: no limit)")
	fs.DurationVar(&cfg.AdmissionWait, "admission-wait", rpc.DefaultAdmissionWait, "how long a request that finds the node at its limit waits for a slot before OVERLOADED (negative: refuse at once)")
	fs.StringVar(&cfg.AuthTokenFile, "auth-token-file", "", "token file (the gateway's format) that turns on bearer-token auth on the gRPC API; re-read on SIGHUP (empty: no auth)")
	fs.StringVar(&cfg.NodeTokenFile, "auth-node-token-file", "", "file holding this node's own token (role admin in the token file), sent when it registers with the leader")
	fs.IntVar(&proc.gcPercent, "gc-percent", 0, fmt.Sprintf("Go GC target, as GOGC: how far the heap may grow over live data between collections, in percent (default: GOGC if set, else %d)", defaultGCPercent))
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, proc, err
		}
		return cfg, proc, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return cfg, proc, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	logger, err := logflags.New(stderr, *logLevel, *logFormat)
	if err != nil {
		return cfg, proc, fmt.Errorf("%w: %w", errUsage, err)
	}
	cfg.Logger = logger
	proc.logger = logger
	switch {
	case proc.gcPercent < 0:
		return cfg, proc, fmt.Errorf("%w: --gc-percent must be positive, got %d", errUsage, proc.gcPercent)
	case proc.gcPercent == 0 && os.Getenv("GOGC") == "":
		proc.gcPercent = defaultGCPercent
	}
	if cfg.Raft.LogStore, err = raftnode.ParseLogStoreKind(*logStore); err != nil {
		return cfg, proc, fmt.Errorf("%w: --raft-log-store: %w", errUsage, err)
	}
	if cfg.Raft.InitialCluster, err = server.ParseInitialCluster(*initial); err != nil {
		return cfg, proc, fmt.Errorf("%w: --initial-cluster: %w", errUsage, err)
	}
	if len(cfg.Raft.InitialCluster) > 0 && !cfg.Raft.Bootstrap {
		return cfg, proc, fmt.Errorf("%w: --initial-cluster needs --bootstrap", errUsage)
	}
	for _, a := range strings.Split(*join, ",") {
		if a = strings.TrimSpace(a); a != "" {
			cfg.JoinAddrs = append(cfg.JoinAddrs, a)
		}
	}
	if err := checkTLSFlags(cfg); err != nil {
		return cfg, proc, fmt.Errorf("%w: %w", errUsage, err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, proc, fmt.Errorf("%w: %w", errUsage, err)
	}
	return cfg, proc, nil
}
