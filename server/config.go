package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftkv/raftkv/autopilot"
	"github.com/raftkv/raftkv/metrics"
	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/store"
	"github.com/raftkv/raftkv/tlsconfig"
)

// Config describes one node. Zero values are filled from DefaultConfig by
// Start only for the timing fields; identity and addresses are required.
type Config struct {
	// NodeID is the node's stable id (never its address). Required.
	NodeID string
	// DataDir holds store.db (the bbolt state machine) and raft/ (raft log,
	// stable store and snapshots). Required; created if missing.
	DataDir string
	// GRPCAddr is the client gRPC listen address, e.g. "127.0.0.1:7001"
	// (port 0 picks a free port). Required.
	GRPCAddr string
	// AdvertiseGRPCAddr is the client address other nodes and clients use;
	// "" means the listen address.
	AdvertiseGRPCAddr string
	// HTTPAddr is the admin HTTP listen address (/livez, /readyz, /status,
	// /metrics, the status page at /); "" disables it.
	HTTPAddr string
	// ClientTLS secures the client gRPC port: CertFile and KeyFile are the
	// server certificate (TLS is off when they are empty); with
	// ClientCertAuth every client must present a certificate signed by
	// TrustedCAFile. Members also dial each other's client ports
	// (forwarding, joining, the status page): they verify the server
	// against TrustedCAFile (the system roots when empty) and present
	// CertFile, which therefore needs the clientAuth extended key usage
	// when ClientCertAuth is on.
	ClientTLS tlsconfig.Info
	// PeerTLS secures raft traffic with mutual TLS: every member presents
	// CertFile and requires the others' certificates to be signed by
	// TrustedCAFile (ClientCertAuth is implied). All three files are needed;
	// all empty means plaintext raft. Peer certificates need IP SANs for
	// the raft addresses, and both the serverAuth and clientAuth usages.
	PeerTLS tlsconfig.Info
	// Raft configures consensus; its ID, DataDir, Logger and TLS are set by
	// Start.
	Raft raftnode.Config
	// JoinAddrs are client gRPC addresses of existing members to join
	// through when this node is not bootstrapped.
	JoinAddrs []string
	// HandOffLeadership makes Close transfer leadership to another voter
	// before stopping when this node leads, so a planned restart costs one
	// quick election instead of an election timeout. kvd enables it; tests
	// that simulate crashes leave it off.
	HandOffLeadership bool
	// NonVoter makes a joining node (JoinAddrs set) join as a non-voter: a
	// read replica that replicates everything and serves stale and bounded
	// reads, forwards writes and linearizable reads, and neither votes nor
	// counts towards quorum. It cannot be combined with Raft.Bootstrap.
	// Default false.
	NonVoter bool
	// LeaveOnTerminate makes Close, after handing off leadership if this
	// node leads, ask the leader to remove this node from the configuration,
	// so a node shut down for good does not count towards quorum. A node
	// that left must join again to come back. Default false.
	LeaveOnTerminate bool

	// SyncStateMachine fsyncs every state machine commit. By default
	// (false) it does not: every entry is already fsynced in the raft log
	// on a majority before it is applied, and after an OS crash or power
	// loss the state machine is rebuilt from the latest raft snapshot and
	// the log (store.Options.NoSync), as etcd's backend relies on its WAL.
	SyncStateMachine bool

	// StateMachineCommitInterval is how long applied entries may wait in
	// an open bbolt transaction, visible to reads, before it is committed
	// (store.Options.CommitInterval): one commit then writes each touched
	// page once for many batches. Entries not yet committed when the
	// process dies are replayed from the raft log. 0 means
	// DefaultStateMachineCommitInterval; negative commits every batch.
	StateMachineCommitInterval time.Duration
	// StateMachineCommitEntries commits sooner, once this many entries
	// wait (store.Options.CommitEntries). 0 means store.DefaultCommitEntries.
	StateMachineCommitEntries int

	// BootIDPath is the file holding the OS boot id, which tells a reboot
	// (unsynced state machine commits may be lost) from a process restart
	// (they are not). Empty means store.DefaultBootIDPath.
	BootIDPath string
	// Autopilot configures the leader's auto-promotion of non-voters
	// (TargetVoters) and dead-member cleanup (DeadMemberTimeout). Both are
	// off by default; see the autopilot package and docs/runbook.md.
	Autopilot autopilot.Config
	// Logger receives all logs; nil discards them.
	Logger *slog.Logger
	// Registry receives the node's Prometheus metrics, served on /metrics;
	// nil means a fresh registry per node (never the global one). A
	// registry serves one Start: collectors cannot be registered twice.
	Registry *prometheus.Registry
	// RaftMetrics, if not nil, is registered on Registry to export
	// hashicorp/raft's telemetry. The caller installs it as the
	// process-wide go-metrics sink (metrics.InstallRaftSink), which only a
	// process running a single node should do.
	RaftMetrics *metrics.RaftSink
	// MaxInflightWrites bounds the writes (Put, Delete, CompareAndSwap,
	// Join) this node handles at once; more are refused at once with
	// ResourceExhausted/OVERLOADED and a retry hint. 0 means 256
	// (rpc.DefaultMaxInflightWrites); negative means no limit.
	MaxInflightWrites int
	// MaxInflightReads bounds the reads (Get, List) handled at once, as
	// MaxInflightWrites does. 0 means 1024 (rpc.DefaultMaxInflightReads);
	// negative means no limit.
	MaxInflightReads int
	// AdmissionWait is how long a write or read that finds the node at its
	// limit may wait for a slot before it is refused; 0 means 20ms
	// (rpc.DefaultAdmissionWait), negative refuses at once.
	AdmissionWait time.Duration
	// AuthTokenFile, if set, turns on bearer-token auth on the gRPC API
	// with the token file at this path (the gateway's format, package
	// auth); Server.ReloadTokens re-reads it. "" leaves the API open.
	AuthTokenFile string
	// NodeTokenFile holds, in plain text, the token this node sends when
	// it registers itself with the leader (a Join, which needs role admin
	// in every node's token file). Required with AuthTokenFile on a node
	// that must join or register through a peer; ignored without it.
	NodeTokenFile string
	// PprofEnabled serves net/http/pprof under /debug/pprof/ on the admin
	// port. Off by default: profiles expose internals and cost CPU.
	PprofEnabled bool
}

// DefaultStateMachineCommitInterval is Config.StateMachineCommitInterval
// when it is zero.
const DefaultStateMachineCommitInterval = 50 * time.Millisecond

// DefaultConfig returns a Config with raft's LAN defaults and no identity.
func DefaultConfig() Config {
	return Config{Raft: raftnode.DefaultConfig()}
}

// Validate reports the first configuration error, before anything starts.
func (c Config) Validate() error {
	var errs []error
	if c.StateMachineCommitEntries < 0 {
		errs = append(errs, fmt.Errorf("state machine commit entries must not be negative; got %d", c.StateMachineCommitEntries))
	}
	if c.NodeID == "" {
		errs = append(errs, errors.New("node id is required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is required"))
	}
	if err := checkHostPort("grpc address", c.GRPCAddr); err != nil {
		errs = append(errs, err)
	}
	if c.HTTPAddr != "" {
		if err := checkHostPort("http address", c.HTTPAddr); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Raft.Bootstrap && len(c.JoinAddrs) > 0 {
		errs = append(errs, errors.New("bootstrap and join are exclusive: bootstrap forms a new cluster, join enters an existing one"))
	}
	if c.NonVoter && c.Raft.Bootstrap {
		errs = append(errs, errors.New("nonvoter and bootstrap are exclusive: a bootstrapped node is a voter; join a non-voter to an existing cluster"))
	}
	if c.NonVoter && len(c.JoinAddrs) == 0 {
		errs = append(errs, errors.New("nonvoter needs join addresses: a non-voter joins an existing cluster"))
	}
	if err := c.Autopilot.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("autopilot: %w", err))
	}
	errs = append(errs, c.validateTLS()...)
	if c.NodeTokenFile != "" && c.AuthTokenFile == "" {
		errs = append(errs, errors.New("a node token file needs a token file: the node token is only checked when auth is on"))
	}
	rc := c.raftConfig()
	if err := rc.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("raft: %w", err))
	}
	return errors.Join(errs...)
}

// raftConfig is the raft configuration with the node's identity filled in.
func (c Config) raftConfig() raftnode.Config {
	rc := c.Raft
	rc.ID = raftnode.NodeID(c.NodeID)
	if rc.DataDir == "" && c.DataDir != "" {
		rc.DataDir = c.DataDir + "/raft"
	}
	rc.Logger = c.logger()
	return rc
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c.Logger
}

// ParseInitialCluster parses "n1=127.0.0.1:7101,n2=127.0.0.1:7102" into
// raft servers, rejecting empty, duplicate or malformed entries.
func ParseInitialCluster(s string) ([]raftnode.Server, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []raftnode.Server
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		id, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || id == "" || addr == "" {
			return nil, fmt.Errorf("initial cluster entry %q: want id=host:port", part)
		}
		if err := checkHostPort("initial cluster entry "+id, addr); err != nil {
			return nil, err
		}
		if seen[id] {
			return nil, fmt.Errorf("initial cluster lists node %q twice", id)
		}
		seen[id] = true
		out = append(out, raftnode.Server{ID: raftnode.NodeID(id), RaftAddr: addr})
	}
	return out, nil
}

func checkHostPort(what, addr string) error {
	if addr == "" {
		return fmt.Errorf("%s is required", what)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%s %q: want host:port: %w", what, addr, err)
	}
	return nil
}

// storeOptions returns the options the node's state machine store opens
// with.
func (c Config) storeOptions(log *slog.Logger) *store.Options {
	interval := c.StateMachineCommitInterval
	switch {
	case interval == 0:
		interval = DefaultStateMachineCommitInterval
	case interval < 0:
		interval = 0
	}
	return &store.Options{
		Logger: log, NoSync: !c.SyncStateMachine, BootIDPath: c.BootIDPath,
		CommitInterval: interval, CommitEntries: c.StateMachineCommitEntries,
	}
}
