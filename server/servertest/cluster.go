// Package servertest starts in-process raftkv clusters for tests: real
// stores, real raft over TCP and real gRPC on 127.0.0.1, with fast raft
// timeouts and helpers to kill, restart and wait for nodes.
package servertest

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/raftnode/raftnodetest"
	"github.com/raftkv/raftkv/server"
)

// Cluster is a set of in-process nodes that share an initial configuration.
type Cluster struct {
	t     testing.TB
	dir   string
	cfgs  []server.Config
	mu    sync.Mutex // guards nodes
	nodes []*server.Server
}

// FastRaft returns raft settings for loopback tests: elections in well
// under a second so failover tests stay quick, yet loose enough that a
// leader on a loaded 2-core machine running -race does not lose its lease
// while it replicates a 1 MiB entry (100ms did, once).
func FastRaft() raftnode.Config {
	rc := raftnode.DefaultConfig()
	rc.HeartbeatTimeout = 250 * time.Millisecond
	rc.ElectionTimeout = 250 * time.Millisecond
	rc.LeaderLeaseTimeout = 250 * time.Millisecond
	rc.CommitTimeout = 5 * time.Millisecond
	return rc
}

// StartCluster starts n bootstrapped nodes named n1..nN on free loopback
// ports and stops them all when the test ends. tweak, if not nil, may adjust
// each node's configuration before it starts.
func StartCluster(t testing.TB, n int, tweak func(*server.Config)) *Cluster {
	t.Helper()
	c := &Cluster{t: t, dir: t.TempDir()}
	// Raft and gRPC ports, each reserved until the test ends (FreeAddrs).
	addrs := FreeAddrs(t, 2*n)
	raftAddrs, grpcAddrs := addrs[:n], addrs[n:]
	var initial []raftnode.Server
	for i := range n {
		initial = append(initial, raftnode.Server{ID: raftnode.NodeID(fmt.Sprintf("n%d", i+1)), RaftAddr: raftAddrs[i]})
	}
	for i := range n {
		cfg := server.DefaultConfig()
		cfg.NodeID = fmt.Sprintf("n%d", i+1)
		cfg.DataDir = filepath.Join(c.dir, cfg.NodeID)
		cfg.GRPCAddr = grpcAddrs[i]
		cfg.Raft = FastRaft()
		cfg.Raft.RaftBindAddr = raftAddrs[i]
		cfg.Raft.Bootstrap = true
		cfg.Raft.InitialCluster = initial
		cfg.Logger = raftnodetest.LoggerAt(t, slog.LevelInfo).With("node", cfg.NodeID)
		if tweak != nil {
			tweak(&cfg)
		}
		c.cfgs = append(c.cfgs, cfg)
	}
	c.nodes = make([]*server.Server, n)
	for i := range n {
		c.Start(i)
	}
	t.Cleanup(c.Close)
	c.WaitRegistered(10 * time.Second)
	return c
}

// Join starts one more node, n<Size()+1>, that joins the cluster through
// the client addresses of the running nodes (as kvd --join does), and
// returns its index. tweak, if not nil, may adjust its configuration, for
// example to make it a non-voter. Join does not wait for the node to be
// added; see WaitRegistered.
func (c *Cluster) Join(tweak func(*server.Config)) int {
	c.t.Helper()
	addrs := FreeAddrs(c.t, 2)
	cfg := server.DefaultConfig()
	cfg.NodeID = fmt.Sprintf("n%d", len(c.cfgs)+1)
	cfg.DataDir = filepath.Join(c.dir, cfg.NodeID)
	cfg.GRPCAddr = addrs[0]
	cfg.Raft = FastRaft()
	cfg.Raft.RaftBindAddr = addrs[1]
	for i := range c.cfgs {
		if c.Node(i) != nil {
			cfg.JoinAddrs = append(cfg.JoinAddrs, c.cfgs[i].GRPCAddr)
		}
	}
	cfg.Logger = raftnodetest.LoggerAt(c.t, slog.LevelInfo).With("node", cfg.NodeID)
	if tweak != nil {
		tweak(&cfg)
	}
	c.mu.Lock()
	c.cfgs = append(c.cfgs, cfg)
	c.nodes = append(c.nodes, nil)
	c.mu.Unlock()
	i := len(c.cfgs) - 1
	c.Start(i)
	return i
}

// Config returns node i's configuration (a copy).
func (c *Cluster) Config(i int) server.Config { return c.cfgs[i] }

// WaitRegistered waits until a leader is agreed on and every running node's
// client address is replicated to every running node, so that clients can
// find any member from any other.
func (c *Cluster) WaitRegistered(timeout time.Duration) {
	c.t.Helper()
	c.Leader(timeout)
	WaitFor(c.t, timeout, "every node's address replicated", func() bool {
		for i := range c.cfgs {
			s := c.Node(i)
			if s == nil {
				continue
			}
			for j := range c.cfgs {
				if c.Node(j) == nil {
					continue
				}
				if meta, ok := s.Store().NodeMeta(c.cfgs[j].NodeID); !ok || meta.GRPCAddr != c.cfgs[j].GRPCAddr {
					return false
				}
			}
		}
		return true
	})
}

// Start starts node i (0-based) on its existing data; it fails the test on error.
func (c *Cluster) Start(i int) *server.Server {
	c.t.Helper()
	s, err := server.Start(c.cfgs[i])
	if err != nil {
		c.t.Fatalf("start %s: %v", c.cfgs[i].NodeID, err)
	}
	c.mu.Lock()
	c.nodes[i] = s
	c.mu.Unlock()
	return s
}

// Stop shuts node i down in order (as SIGTERM would). The in-process
// equivalent of a crash is the same: raft and bbolt have fsynced everything
// they acknowledged, and nothing else survives a process exit.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	s := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if s != nil {
		if err := s.Close(); err != nil {
			c.t.Logf("close %s: %v", c.cfgs[i].NodeID, err)
		}
	}
}

// Crash stops node i the way a crash looks from outside: raft stops first,
// so writes the node is committing lose their leader mid-commit and their
// callers cannot learn whether they were applied (OUTCOME_UNKNOWN), though
// a majority may have stored them. Then the rest of the node shuts down as
// in Stop. What a real crash also loses, data not yet fsynced, raft and
// bbolt never acknowledged.
func (c *Cluster) Crash(i int) {
	if s := c.Node(i); s != nil {
		if err := s.Node().Close(); err != nil {
			c.t.Logf("crash %s: close raft: %v", c.cfgs[i].NodeID, err)
		}
	}
	c.Stop(i)
}

// Node returns node i, or nil while it is stopped.
func (c *Cluster) Node(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// Size is the number of nodes, running or not.
func (c *Cluster) Size() int { return len(c.cfgs) }

// Endpoints are every node's client gRPC address.
func (c *Cluster) Endpoints() []string {
	out := make([]string, len(c.cfgs))
	for i, cfg := range c.cfgs {
		out[i] = cfg.GRPCAddr
	}
	return out
}

// Leader waits until exactly one running node leads and every running node
// agrees on it, and returns its index.
func (c *Cluster) Leader(timeout time.Duration) int {
	c.t.Helper()
	idx := -1
	WaitFor(c.t, timeout, "a leader all running nodes agree on", func() bool {
		idx = -1
		var leaderID raftnode.NodeID
		for i := range c.cfgs {
			s := c.Node(i)
			if s == nil {
				continue
			}
			st := s.Node().Status()
			if st.LeaderID == "" || (leaderID != "" && st.LeaderID != leaderID) {
				return false
			}
			leaderID = st.LeaderID
			if st.Role == "leader" {
				idx = i
			}
		}
		return idx >= 0
	})
	return idx
}

// Close stops every node.
func (c *Cluster) Close() {
	for i := range c.cfgs {
		c.Stop(i)
	}
}

// WaitFor polls cond until it is true or timeout passes, then fails the
// test naming what it waited for (raftnodetest.WaitFor).
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	raftnodetest.WaitFor(t, timeout, what, cond)
}

// FreeAddrs returns n distinct loopback addresses that were free a moment
// ago (raftnodetest.FreeAddrs).
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	return raftnodetest.FreeAddrs(t, n)
}
