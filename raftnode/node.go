package raftnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Node is one member of a raft cluster. It owns the hashicorp/raft
// instance, its TCP transport, the raft log and stable store (raft-wal or
// raft-boltdb/v2, see LogStoreKind), the
// snapshot store and the leadership observer, and drives a StateMachine.
// All methods are safe for concurrent use.
type Node struct {
	id   NodeID
	addr string // advertised raft address
	cfg  Config
	log  *slog.Logger

	raft  *raft.Raft
	trans *raft.NetworkTransport
	store *openedLogStore
	// plog queues the leader's entries so it writes them in parallel with
	// replicating them; nil with Config.SerialLeaderAppend.
	plog *parallelLog
	fsm  *fsm
	// nextCommand is the index of the last log entry advanceOverSkipped
	// found to be one the state machine sees (0 before any).
	nextCommand atomic.Uint64
	observer    *raft.Observer

	hbObserver *raft.Observer        // heartbeat failures and resumptions; see peers.go
	hbCh       chan raft.Observation // size 16, like obsCh

	obsCh chan raft.Observation
	kick  chan struct{} // size 1: coalesced wake-ups for the readiness loop

	startedAt time.Time // when New began; the origin of "no leader contact yet"

	started  chan struct{} // closed when New has finished wiring the node
	stopping chan struct{} // closed when raft shutdown begins; wakes every waiter
	done     chan struct{} // closed by Close to stop the node's goroutines
	wg       sync.WaitGroup

	stopOnce  sync.Once
	stopErr   error
	closeOnce sync.Once
	closeErr  error

	rounds readRounds // linearizable reads' shared leadership checks

	mu           sync.Mutex    // guards the fields below
	leaderID     NodeID        // last leader observed
	leaderAddr   string        // its raft address
	leaderCh     chan struct{} // closed (and replaced) when the observed leader changes
	readyTerm    uint64        // term whose leader barrier completed on this node
	readyCh      chan struct{} // closed (and replaced) when readyTerm changes
	leaderLostAt time.Time     // when a known leader (possibly this node) was last lost
	// failing maps peers whose heartbeats from this leader fail to their
	// last successful contact; see peers.go.
	failing map[NodeID]time.Time
}

// New starts a node with cfg, driving sm. It opens or creates the raft
// state in cfg.DataDir, binds the raft transport, bootstraps a new cluster
// if asked to and there is no existing state, and returns once raft is
// running; it does not wait for a leader. Close releases everything.
func New(cfg Config, sm StateMachine) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid raftnode config: %w", err)
	}
	if sm == nil {
		return nil, errors.New("nil state machine")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "raftnode", "node_id", string(cfg.ID))
	hcl := newHCLogger(logger)

	n := &Node{
		startedAt: time.Now(),
		id:        cfg.ID,
		cfg:       cfg,
		log:       logger,
		obsCh:     make(chan raft.Observation, 16), // absorbs bursts; see startLeadership
		hbCh:      make(chan raft.Observation, 16), // likewise; see startPeerHealth
		failing:   make(map[NodeID]time.Time),
		kick:      make(chan struct{}, 1),
		started:   make(chan struct{}),
		stopping:  make(chan struct{}),
		done:      make(chan struct{}),
		leaderCh:  make(chan struct{}),
		readyCh:   make(chan struct{}),
	}

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	store, err := openLogStore(cfg.DataDir, cfg.LogStore, hcl.Named("wal"))
	if err != nil {
		return nil, err
	}
	n.store = store
	started := false
	defer func() { // undo on any failure below
		if started {
			return
		}
		if n.trans != nil {
			_ = n.trans.Close()
		}
		if n.plog != nil {
			_ = n.plog.Close()
		}
		_ = store.Close()
	}()
	var logStore raft.LogStore = store
	if !cfg.SerialLeaderAppend {
		n.plog = newParallelLog(store)
		logStore = n.plog
	}
	// Keep recent entries in memory so replication rarely reads the disk.
	logs, err := raft.NewLogCache(512, logStore)
	if err != nil {
		return nil, fmt.Errorf("create raft log cache: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, cfg.SnapshotRetain, hcl.Named("snapshot"))
	if err != nil {
		return nil, fmt.Errorf("open snapshot store: %w", err)
	}

	n.fsm = newFSM(sm, logger, n.fatal)
	if n.plog != nil {
		n.fsm.waitDurable = n.plog.WaitDurable
	}
	hasState, err := raft.HasExistingState(logs, store, snaps)
	if err != nil {
		return nil, fmt.Errorf("check raft state: %w", err)
	}
	if err := n.reconcileStateMachine(hasState, snaps); err != nil {
		return nil, err
	}

	trans, err := newTransport(cfg, hcl.Named("transport"))
	if err != nil {
		return nil, err
	}
	n.trans = trans
	n.addr = string(trans.LocalAddr())

	rc := n.raftConfig(hcl)
	if cfg.Bootstrap && !hasState {
		if err := n.bootstrap(rc, logs, store, snaps, trans); err != nil {
			return nil, err
		}
	}

	r, err := raft.NewRaft(rc, n.fsm, logs, store, snaps, nodeTransport{trans, n.plog})
	if err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	n.raft = r
	if n.plog != nil {
		n.plog.setLeading(func() bool { return r.State() == raft.Leader })
	}
	hcl.setPosition(func() (uint64, uint64) { return r.CurrentTerm(), r.CommitIndex() })
	started = true
	n.startLeadership()
	n.startPeerHealth()
	close(n.started)
	logger.Info("raft node started", "raft_addr", n.addr, "existing_state", hasState, "log_store", store.kind,
		"index", n.fsm.applied.load())
	return n, nil
}

// raftConfig translates Config into raft's.
func (n *Node) raftConfig(hcl *hclogAdapter) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.cfg.ID)
	rc.HeartbeatTimeout = n.cfg.HeartbeatTimeout
	rc.ElectionTimeout = n.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = n.cfg.LeaderLeaseTimeout
	rc.CommitTimeout = n.cfg.CommitTimeout
	rc.SnapshotInterval = n.cfg.SnapshotInterval
	rc.SnapshotThreshold = n.cfg.SnapshotThreshold
	rc.TrailingLogs = n.cfg.TrailingLogs
	rc.Logger = hcl.Named("raft")
	// The state machine is persistent: it stores its applied index in the
	// same transaction as the data and ignores entries at or below it, so
	// its on-disk state is already at least as new as any local snapshot.
	// Restoring the latest snapshot on every start would needlessly rewrite
	// the whole database, and roll it back to the snapshot's index only for
	// the log to be replayed on top. Raft still uses the snapshot's metadata
	// (index, term, configuration). The rare case where the state machine is
	// behind the snapshot (its file was lost) is handled before raft starts,
	// in reconcileStateMachine.
	rc.NoSnapshotRestoreOnStart = true
	// A node removed from the configuration shuts itself down rather than
	// lingering as a one-node cluster that could elect itself.
	rc.ShutdownOnRemove = true
	return rc
}

// reconcileStateMachine brings sm up to the latest local snapshot if it is
// behind it (raft will only replay entries after the snapshot), and refuses
// to start a state machine holding data that raft knows nothing about.
func (n *Node) reconcileStateMachine(hasState bool, snaps raft.SnapshotStore) error {
	applied := n.fsm.applied.load()
	if !hasState {
		if applied > 0 {
			return fmt.Errorf("state machine has applied index %d but %s has no raft state; "+
				"refusing to start a node whose data raft cannot account for", applied, n.cfg.DataDir)
		}
		return nil
	}
	list, err := snaps.List()
	if err != nil {
		return fmt.Errorf("list snapshots: %w", err)
	}
	if len(list) == 0 {
		return nil
	}
	latest := list[0]
	if applied >= latest.Index {
		return nil
	}
	n.log.Warn("state machine is behind the latest snapshot; restoring it",
		"index", applied, "snapshot_index", latest.Index)
	_, rc, err := snaps.Open(latest.ID)
	if err != nil {
		return fmt.Errorf("open snapshot %s: %w", latest.ID, err)
	}
	defer rc.Close()
	if err := n.fsm.Restore(rc); err != nil {
		return fmt.Errorf("restore snapshot %s: %w", latest.ID, err)
	}
	// Raft resumes after the snapshot's index, so everything up to it,
	// including entries that never reach the state machine, is accounted for.
	n.fsm.applied.advance(latest.Index)
	return nil
}

// bootstrap writes the initial configuration. Its absence of existing state
// was checked by the caller; raft.ErrCantBootstrap is still tolerated.
func (n *Node) bootstrap(rc *raft.Config, logs raft.LogStore, stable raft.StableStore,
	snaps raft.SnapshotStore, trans raft.Transport,
) error {
	members := n.cfg.InitialCluster
	if len(members) == 0 {
		members = []Server{{ID: n.id, RaftAddr: n.addr}}
	}
	var conf raft.Configuration
	for _, m := range members {
		addr := m.RaftAddr
		if m.ID == n.id && addr != n.addr {
			return fmt.Errorf("bootstrap: initial cluster lists %s at %s but it advertises %s", m.ID, addr, n.addr)
		}
		conf.Servers = append(conf.Servers, raft.Server{
			Suffrage: raft.Voter,
			ID:       raft.ServerID(m.ID),
			Address:  raft.ServerAddress(addr),
		})
	}
	err := raft.BootstrapCluster(rc, logs, stable, snaps, trans, conf)
	switch {
	case errors.Is(err, raft.ErrCantBootstrap):
		n.log.Info("existing raft state found; skipping bootstrap")
	case err != nil:
		return fmt.Errorf("bootstrap cluster: %w", err)
	default:
		n.log.Info("bootstrapped new cluster", "voters", len(conf.Servers))
	}
	return nil
}

// Close shuts the node down in a fixed order: raft (waiting for its
// goroutines), then the node's own goroutines, then the transport, then the
// log store. It does not leave the cluster; use RemoveServer for that. It
// is safe to call more than once and returns the first call's result.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { n.closeErr = n.close() })
	return n.closeErr
}

func (n *Node) close() error {
	var errs []error
	if err := n.stopRaft(); err != nil {
		errs = append(errs, fmt.Errorf("shut down raft: %w", err))
	}
	// Only after raft has stopped: the observer is blocking, so the observe
	// loop must keep draining until nothing can send to it any more.
	n.raft.DeregisterObserver(n.observer)
	n.raft.DeregisterObserver(n.hbObserver)
	close(n.done)
	n.wg.Wait()
	// Close pooled outgoing connections too, so peers' handlers see EOF.
	n.trans.CloseStreams()
	if err := n.trans.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close raft transport: %w", err))
	}
	if n.plog != nil {
		if err := n.plog.Close(); err != nil {
			errs = append(errs, fmt.Errorf("write queued raft log entries: %w", err))
		}
	}
	if err := n.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close raft log store: %w", err))
	}
	n.log.Info("raft node closed")
	return errors.Join(errs...)
}

// stopRaft shuts raft down exactly once, from Close or after a fatal state
// machine error, and waits for raft's goroutines. Concurrent callers wait
// for the first one to finish.
func (n *Node) stopRaft() error {
	n.stopOnce.Do(func() {
		close(n.stopping)
		n.stopErr = n.raft.Shutdown().Error()
	})
	return n.stopErr
}

// fatal is called by the FSM adapter, on raft's FSM goroutine, when the
// state machine fails to apply an entry. Shutting raft down from there
// would deadlock (Shutdown waits for that very goroutine), so it is done
// from a node-owned goroutine that Close waits for.
func (n *Node) fatal(index uint64, err error) {
	n.log.Error("state machine failed to apply entry; shutting down raft", "index", index, "err", err)
	n.wg.Go(func() {
		<-n.started
		if err := n.stopRaft(); err != nil {
			n.log.Error("shut down raft after fatal apply error", "err", err)
		}
	})
}

// ID returns the node's stable ID.
func (n *Node) ID() NodeID { return n.id }

// RaftAddr returns the raft address this node advertises to its peers; with
// a port-0 RaftBindAddr it holds the port actually bound.
func (n *Node) RaftAddr() string { return n.addr }

// ApplyResult is the outcome of a committed and applied command.
type ApplyResult struct {
	// Index is the log index the command was committed at.
	Index uint64
	// Response is the value StateMachine.Apply returned for it.
	Response any
}

// Apply proposes cmd, waits until it is committed and applied to this
// node's state machine, and returns the state machine's response. It must
// run on the leader.
//
// Errors: *NotLeaderError or ErrNoLeader if this node is not the leader
// (nothing proposed); ErrNotProposed if raft did not accept the command in
// time; ErrShutdown if the node is shut down. Once the command has been
// handed to raft, any failure to learn its fate (ctx ended, leadership lost,
// shutdown, fatal state machine error) is reported as ErrOutcomeUnknown,
// joined with the cause (for example ctx.Err() or ErrShutdown), so check
// ErrOutcomeUnknown first.
func (n *Node) Apply(ctx context.Context, cmd []byte) (ApplyResult, error) {
	if err := ctx.Err(); err != nil {
		return ApplyResult{}, fmt.Errorf("apply: %w", err)
	}
	if n.raft.State() != raft.Leader {
		return ApplyResult{}, n.notLeader()
	}
	f := n.raft.Apply(cmd, n.raftTimeout(ctx))
	resolved, err := n.await(ctx, f)
	if !resolved {
		return ApplyResult{}, fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
	if err != nil {
		return ApplyResult{}, n.fromRaft(err, f)
	}
	if fr, ok := f.Response().(fatalResponse); ok {
		return ApplyResult{}, fmt.Errorf("%w: %w: entry %d: %w", ErrOutcomeUnknown, ErrShutdown, fr.index, fr.err)
	}
	return ApplyResult{Index: f.Index(), Response: f.Response()}, nil
}

// raftTimeout derives raft's enqueue timeout from ctx: the time left until
// its deadline, or Config.DefaultTimeout if it has none.
func (n *Node) raftTimeout(ctx context.Context) time.Duration {
	d, ok := ctx.Deadline()
	if !ok {
		return n.cfg.DefaultTimeout
	}
	// raft treats 0 as "no timeout"; an expired deadline must not mean that.
	return max(time.Until(d), time.Millisecond)
}

// await waits for f, bridging raft's uncancellable Future.Error to ctx.
// resolved reports whether f itself finished, in which case err is raft's
// own error; otherwise err is ctx's error or ErrShutdown. The helper
// goroutine ends when f resolves; raft resolves every future it accepts,
// except ones still queued when it shuts down, which are abandoned with it.
func (n *Node) await(ctx context.Context, f raft.Future) (resolved bool, err error) {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return true, err
	case <-ctx.Done():
		err = ctx.Err()
	case <-n.stopping:
		err = ErrShutdown
	}
	select {
	case ferr := <-done: // finished in the same instant: prefer the real outcome
		return true, ferr
	default:
		return false, err
	}
}
