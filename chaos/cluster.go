package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// Ports every node listens on inside its own namespace.
const (
	grpcPort = 7001
	raftPort = 7101
)

// ClusterConfig describes a cluster of kvd processes.
type ClusterConfig struct {
	// Nodes is the cluster size, 3 or 5. Required.
	Nodes int
	// KVD is the path of the kvd binary. Required.
	KVD string
	// Dir holds each node's data directory and log (n1/, n1.log, ...).
	// Required; the caller removes it.
	Dir string
	// ExtraFlags are appended to every kvd command line.
	ExtraFlags []string
	// Logf, if not nil, receives one line per lifecycle event.
	Logf func(format string, args ...any)
}

// NodeState is what the harness last did to a node's process.
type NodeState int

// Node states.
const (
	NodeRunning NodeState = iota + 1
	NodePaused            // SIGSTOPped
	NodeDead              // SIGKILLed or exited
)

// Cluster is a set of kvd processes, one per namespace of a Network. Its
// methods may be called from several goroutines.
type Cluster struct {
	cfg   ClusterConfig
	net   *Network
	conns []*grpc.ClientConn // harness connections for Status and STALE List

	mu    sync.Mutex // guards procs
	procs []*proc
}

// proc is one running (or paused) kvd process.
type proc struct {
	cmd   *exec.Cmd
	state NodeState
	done  chan struct{} // closed once the process has been reaped
}

// StartCluster starts cfg.Nodes bootstrapped kvd processes in the
// namespaces of nw. It does not wait for a leader (see WaitLeader).
func StartCluster(ctx context.Context, nw *Network, cfg ClusterConfig) (*Cluster, error) {
	if cfg.Nodes != nw.Size() {
		return nil, fmt.Errorf("cluster of %d nodes on a network of %d", cfg.Nodes, nw.Size())
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	c := &Cluster{cfg: cfg, net: nw, procs: make([]*proc, cfg.Nodes)}
	for i := range cfg.Nodes {
		conn, err := grpc.NewClient(c.GRPCAddr(i),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithConnectParams(grpc.ConnectParams{
				// Reconnect promptly to a restarted node.
				Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 500 * time.Millisecond},
				MinConnectTimeout: time.Second,
			}))
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("dial %s: %w", c.GRPCAddr(i), err)
		}
		c.conns = append(c.conns, conn)
	}
	for i := range cfg.Nodes {
		if err := c.Start(i); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// Size is the number of nodes.
func (c *Cluster) Size() int { return c.cfg.Nodes }

// NodeID is node i's id: n1, n2, ...
func (c *Cluster) NodeID(i int) string { return fmt.Sprintf("n%d", i+1) }

// GRPCAddr is node i's client address as the harness reaches it.
func (c *Cluster) GRPCAddr(i int) string { return fmt.Sprintf("%s:%d", c.net.IP(i), grpcPort) }

// Endpoints are every node's client address.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for i := range c.cfg.Nodes {
		eps = append(eps, c.GRPCAddr(i))
	}
	return eps
}

// LogPath is node i's log file; each start appends to it.
func (c *Cluster) LogPath(i int) string {
	return filepath.Join(c.cfg.Dir, c.NodeID(i)+".log")
}

// State is what the harness last did to node i.
func (c *Cluster) State(i int) NodeState {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.procs[i]; p != nil {
		return p.state
	}
	return NodeDead
}

// Start starts node i on its existing data; it fails if it runs already.
func (c *Cluster) Start(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.procs[i]; p != nil && p.state != NodeDead {
		return fmt.Errorf("%s already running", c.NodeID(i))
	}
	var peers []string
	for j := range c.cfg.Nodes {
		peers = append(peers, fmt.Sprintf("%s=%s:%d", c.NodeID(j), c.net.IP(j), raftPort))
	}
	dataDir := filepath.Join(c.cfg.Dir, c.NodeID(i))
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(c.LogPath(i), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child holds its own descriptor
	args := []string{"netns", "exec", c.net.Namespace(i), c.cfg.KVD,
		"--node-id", c.NodeID(i), "--data-dir", dataDir,
		"--grpc-addr", c.GRPCAddr(i),
		"--raft-addr", fmt.Sprintf("%s:%d", c.net.IP(i), raftPort),
		"--bootstrap", "--initial-cluster", strings.Join(peers, ","),
	}
	args = append(args, c.cfg.ExtraFlags...)
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// ip netns exec execs kvd in place, so the PID is kvd's. Pdeathsig makes
	// the kernel kill it if the harness dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	fmt.Fprintf(logf, "=== chaos: starting %s at %s ===\n", c.NodeID(i), time.Now().Format(time.RFC3339Nano))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", c.NodeID(i), err)
	}
	p := &proc{cmd: cmd, state: NodeRunning, done: make(chan struct{})}
	c.procs[i] = p
	go func() { // owned by p: ends when the process is reaped
		_ = cmd.Wait()
		c.mu.Lock()
		p.state = NodeDead
		c.mu.Unlock()
		close(p.done)
	}()
	c.cfg.Logf("%s started (pid %d)", c.NodeID(i), cmd.Process.Pid)
	return nil
}

// Kill SIGKILLs node i and waits until the process is gone.
func (c *Cluster) Kill(i int) error {
	return c.signalAndWait(i, syscall.SIGKILL)
}

// signalAndWait sends sig to node i and waits for its exit.
func (c *Cluster) signalAndWait(i int, sig syscall.Signal) error {
	c.mu.Lock()
	p := c.procs[i]
	c.mu.Unlock()
	if p == nil {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", c.NodeID(i), err)
	}
	select {
	case <-p.done:
		c.cfg.Logf("%s %s", c.NodeID(i), sig)
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s did not exit within 10s of %s", c.NodeID(i), sig)
	}
}

// Pause SIGSTOPs node i.
func (c *Cluster) Pause(i int) error { return c.setPaused(i, true) }

// Resume SIGCONTs node i if it is paused.
func (c *Cluster) Resume(i int) error { return c.setPaused(i, false) }

func (c *Cluster) setPaused(i int, pause bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.procs[i]
	if p == nil || p.state == NodeDead || (p.state == NodePaused) == pause {
		return nil
	}
	sig, st := syscall.SIGCONT, NodeRunning
	if pause {
		sig, st = syscall.SIGSTOP, NodePaused
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %s: %w", c.NodeID(i), err)
	}
	p.state = st
	c.cfg.Logf("%s %s", c.NodeID(i), sig)
	return nil
}

// Status asks node i for its own raft state.
func (c *Cluster) Status(ctx context.Context, i int) (*kvpb.StatusResponse, error) {
	return kvpb.NewClusterClient(c.conns[i]).Status(ctx, &kvpb.StatusRequest{})
}

// StaleList reads every key from node i's local data (a STALE List), so
// that replicas can be compared without going through the leader.
func (c *Cluster) StaleList(ctx context.Context, i int) (*kvpb.ListResponse, error) {
	return kvpb.NewKVClient(c.conns[i]).List(ctx, &kvpb.ListRequest{
		Read: &kvpb.ReadOptions{Consistency: kvpb.Consistency_STALE},
	})
}

// StaleGet reads key from node i's local data (a STALE Get).
func (c *Cluster) StaleGet(ctx context.Context, i int, key string) (*kvpb.GetResponse, error) {
	return kvpb.NewKVClient(c.conns[i]).Get(ctx, &kvpb.GetRequest{
		Key: []byte(key), Read: &kvpb.ReadOptions{Consistency: kvpb.Consistency_STALE},
	})
}

// Leader returns the node that reports itself leader with the highest term
// among the running nodes that answer within timeout, or -1.
func (c *Cluster) Leader(ctx context.Context, timeout time.Duration) int {
	type answer struct {
		i    int
		term uint64
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ch := make(chan answer, c.cfg.Nodes)
	for i := range c.cfg.Nodes {
		go func() {
			st, err := c.Status(ctx, i)
			if err != nil || st.GetRole() != "leader" || c.State(i) != NodeRunning {
				ch <- answer{-1, 0}
				return
			}
			ch <- answer{i, st.GetTerm()}
		}()
	}
	best := answer{-1, 0}
	for range c.cfg.Nodes {
		if a := <-ch; a.i >= 0 && a.term >= best.term {
			best = a
		}
	}
	return best.i
}

// WaitLeader polls until a running node reports itself leader, for at most
// timeout, and returns it.
func (c *Cluster) WaitLeader(ctx context.Context, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if l := c.Leader(ctx, 500*time.Millisecond); l >= 0 {
			return l, nil
		}
		if err := pause(ctx, 50*time.Millisecond); err != nil {
			return -1, err
		}
	}
	return -1, fmt.Errorf("no leader within %v", timeout)
}

// Close SIGKILLs every process, waits for them and closes the harness's
// connections. The Network and Dir stay for the caller to remove.
func (c *Cluster) Close() {
	for i := range c.cfg.Nodes {
		if c.State(i) != NodeDead {
			if err := c.Kill(i); err != nil {
				c.cfg.Logf("close: %v", err)
			}
		}
	}
	for _, conn := range c.conns {
		_ = conn.Close()
	}
	c.conns = nil
}

// pause waits for d or until ctx ends. It is the one timer used between
// polls and between scheduled faults.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
