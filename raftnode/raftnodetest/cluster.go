// Package raftnodetest provides test helpers for raftnode and the packages
// above it: an in-memory StateMachine and a harness that runs a cluster of
// real Nodes on loopback TCP, with Kill and Restart.
package raftnodetest

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raftnode"
)

// Option adjusts a node's Config before it starts.
type Option func(*raftnode.Config)

// Config returns a Config for tests: the given identity, fast timeouts
// (100ms heartbeat and election: the transport is real TCP and the log
// store fsyncs, so raft's in-memory 50ms would flap under -race), and
// logging to t's output.
func Config(t testing.TB, id raftnode.NodeID, bindAddr, dataDir string) raftnode.Config {
	cfg := raftnode.DefaultConfig()
	cfg.ID = id
	cfg.RaftBindAddr = bindAddr
	cfg.DataDir = dataDir
	cfg.HeartbeatTimeout = 100 * time.Millisecond
	cfg.ElectionTimeout = 100 * time.Millisecond
	cfg.LeaderLeaseTimeout = 50 * time.Millisecond
	cfg.CommitTimeout = 5 * time.Millisecond
	cfg.DefaultTimeout = 5 * time.Second
	cfg.Logger = Logger(t)
	return cfg
}

// Logger returns a debug-level logger writing to t's output, so logs show
// only when a test fails (or with -v). Writes after t's cleanups have run
// are dropped: stray transport goroutines may log late, and writing to a
// finished test's output panics. Call it before registering cleanups that
// stop the nodes using it.
func Logger(t testing.TB) *slog.Logger {
	return LoggerAt(t, slog.LevelDebug-4)
}

// LoggerAt is Logger with a minimum level, for tests whose nodes would
// otherwise log too much to read.
func LoggerAt(t testing.TB, level slog.Level) *slog.Logger {
	w := &guardedWriter{w: t.Output()}
	t.Cleanup(w.close)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type guardedWriter struct {
	mu     sync.Mutex // guards closed and serialises writes
	w      io.Writer
	closed bool
}

func (g *guardedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return len(p), nil
	}
	return g.w.Write(p)
}

func (g *guardedWriter) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
}

// WaitFor polls cond every few milliseconds until it is true, failing t with
// what if timeout passes first. Call it from the test goroutine only.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// Member is one node of a Cluster.
type Member struct {
	// Config is used by Restart; tests may change it while the node is down.
	Config raftnode.Config
	// SM is the node's state machine. It survives Kill and Restart, like a
	// store on disk.
	SM *StateMachine
	// Node is the running node, or nil while killed.
	Node *raftnode.Node
}

// Cluster is a set of Nodes on loopback TCP, each with its own data
// directory. Nodes still running when the test ends are closed.
type Cluster struct {
	t       testing.TB
	Members []*Member
}

// StartCluster bootstraps a cluster of n voters and returns once every node
// has started (not once a leader is elected; see WaitLeader).
func StartCluster(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	addrs := FreeAddrs(t, n)
	initial := make([]raftnode.Server, n)
	for i := range n {
		initial[i] = raftnode.Server{ID: raftnode.NodeID(fmt.Sprintf("n%d", i+1)), RaftAddr: addrs[i]}
	}
	for i := range n {
		cfg := Config(t, initial[i].ID, addrs[i], filepath.Join(t.TempDir(), string(initial[i].ID)))
		cfg.Bootstrap = true
		cfg.InitialCluster = initial
		for _, o := range opts {
			o(&cfg)
		}
		c.Members = append(c.Members, &Member{Config: cfg, SM: NewStateMachine()})
	}
	t.Cleanup(c.closeAll)
	for i := range c.Members {
		c.Restart(i)
	}
	return c
}

// AddNode starts a node that joins no cluster by itself (no bootstrap), on
// a port-0 loopback address, and adds it to c. The caller makes it a
// member, for example with AddVoter on the leader. It returns its index.
func (c *Cluster) AddNode(opts ...Option) int {
	c.t.Helper()
	id := raftnode.NodeID(fmt.Sprintf("n%d", len(c.Members)+1))
	cfg := Config(c.t, id, "127.0.0.1:0", filepath.Join(c.t.TempDir(), string(id)))
	for _, o := range opts {
		o(&cfg)
	}
	c.Members = append(c.Members, &Member{Config: cfg, SM: NewStateMachine()})
	i := len(c.Members) - 1
	c.Restart(i)
	return i
}

// Node returns member i's running node (nil while killed).
func (c *Cluster) Node(i int) *raftnode.Node { return c.Members[i].Node }

// Kill closes member i's node. Its data directory and state machine are
// kept for Restart.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	m := c.Members[i]
	if m.Node == nil {
		c.t.Fatalf("kill %s: not running", m.Config.ID)
	}
	if err := m.Node.Close(); err != nil {
		c.t.Errorf("close %s: %v", m.Config.ID, err)
	}
	m.Node = nil
}

// Restart starts member i's node again from its Config, data directory and
// state machine.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	m := c.Members[i]
	if m.Node != nil {
		c.t.Fatalf("restart %s: already running", m.Config.ID)
	}
	n, err := raftnode.New(m.Config, m.SM)
	if err != nil {
		c.t.Fatalf("start %s: %v", m.Config.ID, err)
	}
	m.Node = n
}

// WaitLeader waits until one running node leads and every running node
// agrees on it, and returns its index.
func (c *Cluster) WaitLeader(timeout time.Duration) int {
	c.t.Helper()
	leader := -1
	WaitFor(c.t, timeout, "a leader all running nodes agree on", func() bool {
		leader = -1
		var id raftnode.NodeID
		for i, m := range c.Members {
			if m.Node != nil && m.Node.IsLeader() {
				leader, id = i, m.Node.ID()
			}
		}
		if leader < 0 {
			return false
		}
		for _, m := range c.Members {
			if m.Node == nil {
				continue
			}
			if got, _ := m.Node.Leader(); got != id {
				return false
			}
		}
		return true
	})
	return leader
}

// Followers returns the indexes of running nodes other than leader.
func (c *Cluster) Followers(leader int) []int {
	var out []int
	for i, m := range c.Members {
		if i != leader && m.Node != nil {
			out = append(out, i)
		}
	}
	return out
}

func (c *Cluster) closeAll() {
	for _, m := range c.Members {
		if m.Node != nil {
			if err := m.Node.Close(); err != nil {
				c.t.Errorf("close %s: %v", m.Config.ID, err)
			}
			m.Node = nil
		}
	}
}
