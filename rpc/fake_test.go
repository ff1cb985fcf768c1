package rpc

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/raftkv/raftkv/internal/h2frames"
	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/store"
)

// fakeNode is a single-node Consensus that always leads. Apply applies to a
// real store, but first waits while gate is closed, so a test can hold
// writes in flight.
type fakeNode struct {
	st *store.Store

	mu      sync.Mutex // guards the fields below
	index   uint64     // last index handed out
	waiting int        // Apply calls blocked on the gate
	gate    chan struct{}
}

func (f *fakeNode) ID() raftnode.NodeID { return "n1" }

func (f *fakeNode) Apply(ctx context.Context, cmd []byte) (raftnode.ApplyResult, error) {
	f.mu.Lock()
	gate := f.gate
	f.waiting++
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return raftnode.ApplyResult{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waiting--
	f.index++
	res, err := f.st.Apply(f.index, cmd)
	if err != nil {
		return raftnode.ApplyResult{}, err
	}
	return raftnode.ApplyResult{Index: f.index, Response: res}, nil
}

// blocked is the number of Apply calls waiting on the gate.
func (f *fakeNode) blocked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.waiting
}

// lastIndex is the last index applied: the fake's raft log.
func (f *fakeNode) lastIndex() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.index
}

func (f *fakeNode) LinearizableRead(context.Context) error { return nil }
func (f *fakeNode) Leader() (raftnode.NodeID, string)      { return "n1", "raft:1" }
func (f *fakeNode) Status() raftnode.Status {
	return raftnode.Status{ID: "n1", RaftAddr: "raft:1", Role: "leader", Voter: true, Term: 1, LeaderID: "n1", LastLogIndex: f.lastIndex()}
}
func (f *fakeNode) Contact() raftnode.Contact {
	return raftnode.Contact{LeaderID: "n1", Term: 1}
}
func (f *fakeNode) Members(context.Context) ([]raftnode.Member, error) {
	return []raftnode.Member{{ID: "n1", RaftAddr: "raft:1", Voter: true}}, nil
}
func (f *fakeNode) AddVoter(context.Context, raftnode.NodeID, string) error    { return nil }
func (f *fakeNode) AddNonvoter(context.Context, raftnode.NodeID, string) error { return nil }
func (f *fakeNode) PromoteToVoter(context.Context, raftnode.NodeID) error      { return nil }
func (f *fakeNode) RemoveServer(context.Context, raftnode.NodeID) error        { return nil }
func (f *fakeNode) TransferLeadershipTo(context.Context, raftnode.NodeID) error {
	return nil
}
func (f *fakeNode) LeaderChanged() <-chan struct{}            { return make(chan struct{}) }
func (f *fakeNode) WaitApplied(context.Context, uint64) error { return nil }
func (f *fakeNode) AppliedIndex() uint64                      { return f.lastIndex() }

// startFake serves a Server over a fakeNode on bufconn and returns the
// connection to it. gate, if not nil, holds every Apply until closed.
func startFake(t testing.TB, cfg Config, gate chan struct{}) (*fakeNode, *grpc.ClientConn) {
	t.Helper()
	node, cc, _ := serveFake(t, cfg, gate)
	return node, cc
}

// serveFake is startFake that also returns the server's listener, which
// counts the HTTP/2 PINGs on its connections.
func serveFake(t testing.TB, cfg Config, gate chan struct{}) (*fakeNode, *grpc.ClientConn, *h2frames.Listener) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "store.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	node := &fakeNode{st: st, gate: gate}
	if cfg.GRPCAddr == "" {
		cfg.GRPCAddr = "passthrough:///bufnet"
	}
	s, err := NewServer(cfg, node, st)
	if err != nil {
		t.Fatal(err)
	}
	conns := bufconn.Listen(1 << 20)
	lis := h2frames.Wrap(conns)
	gs := NewGRPCServer(s)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(func() { gs.Stop(); _ = s.Close() })
	cc, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return conns.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return node, cc, lis
}
