package client

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkv/raftkv/internal/h2frames"
	"github.com/raftkv/raftkv/proto/kvpb"
)

// script decides the outcome of the call-th call (1-based) of one method on a
// fakeNode: a non-nil error fails the call, nil lets it succeed.
type script func(ctx context.Context, call int) error

// fakeNode is a scripted raftkv server (KV and Cluster services) on a real
// loopback TCP listener, so connection refusal and loss are real too.
type fakeNode struct {
	kvpb.UnimplementedKVServer
	kvpb.UnimplementedClusterServer

	id   string
	addr string
	srv  *grpc.Server
	// down makes every call fail as an unreachable node's would (Unavailable
	// without a raftkv reason), without closing the listener.
	down atomic.Bool
	// noBatch makes Batch Unimplemented, as on a server from before it.
	noBatch atomic.Bool
	// batched counts the calls received on Batch streams.
	batched atomic.Int64

	mu sync.Mutex
	// The fields below are guarded by mu.
	leaderAddr string            // leader_addr in headers
	applied    uint64            // applied_index in headers
	degraded   bool              // degraded in headers
	members    []*kvpb.Member    // Members answer; nil means only this node
	scripts    map[string]script // per method; missing means success
	calls      map[string]int    // calls per method
	lastList   *kvpb.ListRequest // last List request received
	lastGet    *kvpb.GetRequest  // last Get request received
	lastPut    *kvpb.PutRequest  // last Put request received
	lastDelete *kvpb.DeleteRequest
	lastCAS    *kvpb.CompareAndSwapRequest
	// ids are the request ids of the writes received, per method.
	ids map[string][]*kvpb.RequestID
	// lis counts the HTTP/2 PINGs on the node's connections.
	lis *h2frames.Listener
	// condFailed makes conditional writes and compare-and-swaps fail their
	// condition, reporting current (nil: the key does not exist).
	condFailed bool
	current    *kvpb.KeyValue
}

// startFake starts a fakeNode that believes itself the leader.
func startFake(t testing.TB, id string) *fakeNode {
	t.Helper()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	lis := h2frames.Wrap(tcp)
	n := &fakeNode{
		id:      id,
		lis:     lis,
		addr:    lis.Addr().String(),
		srv:     grpc.NewServer(),
		scripts: make(map[string]script),
		calls:   make(map[string]int),
		ids:     make(map[string][]*kvpb.RequestID),
	}
	n.leaderAddr = n.addr
	n.applied = 7
	kvpb.RegisterKVServer(n.srv, n)
	kvpb.RegisterClusterServer(n.srv, n)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = n.srv.Serve(lis)
	}()
	t.Cleanup(func() {
		n.srv.Stop()
		<-done
	})
	return n
}

// deadAddr returns a loopback address on which connections are refused.
func deadAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := lis.Addr().String()
	if err := lis.Close(); err != nil {
		t.Fatalf("close listener: %v", err)
	}
	return addr
}

// script sets the script of method ("Put", "Get", "Members", …).
func (n *fakeNode) script(method string, s script) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.scripts[method] = s
}

// setLeader sets the leader address the node reports.
func (n *fakeNode) setLeader(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.leaderAddr = addr
}

// setMembers sets the Members answer.
func (n *fakeNode) setMembers(ms ...*kvpb.Member) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.members = ms
}

// setApplied sets the applied index the node reports.
func (n *fakeNode) setApplied(i uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.applied = i
}

// setDegraded sets the degraded flag the node reports.
func (n *fakeNode) setDegraded(d bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.degraded = d
}

// lastRead returns the read options of the last Get.
func (n *fakeNode) lastRead() *kvpb.ReadOptions {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lastGet.GetRead()
}

// count returns how many calls of method the node received.
func (n *fakeNode) count(method string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.calls[method]
}

// enter records a call of method and runs its script.
func (n *fakeNode) enter(ctx context.Context, method string) error {
	n.mu.Lock()
	n.calls[method]++
	call, s := n.calls[method], n.scripts[method]
	n.mu.Unlock()
	if n.down.Load() {
		return status.Error(codes.Unavailable, "fake node is down")
	}
	if s == nil {
		return nil
	}
	return s(ctx, call)
}

// header is the node's current response header.
func (n *fakeNode) header() *kvpb.ResponseHeader {
	n.mu.Lock()
	defer n.mu.Unlock()
	lc := int64(40)
	if n.leaderAddr == n.addr {
		lc = 0
	}
	return &kvpb.ResponseHeader{NodeId: n.id, LeaderAddr: n.leaderAddr, Term: 1, AppliedIndex: n.applied,
		LeaderKnown: n.leaderAddr != "" && !n.degraded, LastContactMs: lc, Degraded: n.degraded}
}

// readHeader is the header of a read served at the consistency ro asks for.
func (n *fakeNode) readHeader(ro *kvpb.ReadOptions) *kvpb.ResponseHeader {
	h := n.header()
	h.Consistency = ro.GetConsistency()
	if h.Consistency == kvpb.Consistency_CONSISTENCY_UNSPECIFIED {
		h.Consistency = kvpb.Consistency_LINEARIZABLE
	}
	return h
}

// requestIDs returns the request ids of the writes of method received.
func (n *fakeNode) requestIDs(method string) []*kvpb.RequestID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ids[method]
}

// failConditions makes conditional writes fail, reporting current.
func (n *fakeNode) failConditions(current *kvpb.KeyValue) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.condFailed, n.current = true, current
}

// condition returns whether a conditional write succeeds, and the current
// state it reports otherwise.
func (n *fakeNode) condition(conditional bool) (bool, *kvpb.KeyValue) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !conditional || !n.condFailed {
		return true, nil
	}
	return false, n.current
}

// Put implements kvpb.KVServer.
func (n *fakeNode) Put(ctx context.Context, req *kvpb.PutRequest) (*kvpb.PutResponse, error) {
	n.mu.Lock()
	n.lastPut = req
	n.ids["Put"] = append(n.ids["Put"], req.GetRequestId())
	n.mu.Unlock()
	if err := n.enter(ctx, "Put"); err != nil {
		return nil, err
	}
	ok, cur := n.condition(req.ExpectedModIndex != nil)
	return &kvpb.PutResponse{Header: n.header(), Index: 8, Succeeded: ok, Current: cur}, nil
}

// CompareAndSwap implements kvpb.KVServer.
func (n *fakeNode) CompareAndSwap(ctx context.Context, req *kvpb.CompareAndSwapRequest) (*kvpb.CompareAndSwapResponse, error) {
	n.mu.Lock()
	n.lastCAS = req
	n.ids["CompareAndSwap"] = append(n.ids["CompareAndSwap"], req.GetRequestId())
	n.mu.Unlock()
	if err := n.enter(ctx, "CompareAndSwap"); err != nil {
		return nil, err
	}
	ok, cur := n.condition(true)
	return &kvpb.CompareAndSwapResponse{Header: n.header(), Index: 10, Succeeded: ok, Current: cur}, nil
}

// Get implements kvpb.KVServer.
func (n *fakeNode) Get(ctx context.Context, req *kvpb.GetRequest) (*kvpb.GetResponse, error) {
	n.mu.Lock()
	n.lastGet = req
	n.mu.Unlock()
	if err := n.enter(ctx, "Get"); err != nil {
		return nil, err
	}
	kv := &kvpb.KeyValue{Key: req.GetKey(), Value: []byte("v-" + n.id), CreateIndex: 3, ModIndex: 5}
	return &kvpb.GetResponse{Header: n.readHeader(req.GetRead()), Kv: kv}, nil
}

// Delete implements kvpb.KVServer.
func (n *fakeNode) Delete(ctx context.Context, req *kvpb.DeleteRequest) (*kvpb.DeleteResponse, error) {
	n.mu.Lock()
	n.lastDelete = req
	n.ids["Delete"] = append(n.ids["Delete"], req.GetRequestId())
	n.mu.Unlock()
	if err := n.enter(ctx, "Delete"); err != nil {
		return nil, err
	}
	ok, cur := n.condition(req.ExpectedModIndex != nil)
	return &kvpb.DeleteResponse{Header: n.header(), Index: 9, Deleted: ok, Succeeded: ok, Current: cur}, nil
}

// List implements kvpb.KVServer.
func (n *fakeNode) List(ctx context.Context, req *kvpb.ListRequest) (*kvpb.ListResponse, error) {
	n.mu.Lock()
	n.lastList = req
	n.mu.Unlock()
	if err := n.enter(ctx, "List"); err != nil {
		return nil, err
	}
	kvs := []*kvpb.KeyValue{
		{Key: []byte(string(req.GetPrefix()) + "a"), Value: []byte("1")},
		{Key: []byte(string(req.GetPrefix()) + "b"), Value: []byte("2")},
	}
	return &kvpb.ListResponse{Header: n.readHeader(req.GetRead()), Kvs: kvs, More: true}, nil
}

// Members implements kvpb.ClusterServer.
func (n *fakeNode) Members(ctx context.Context, _ *kvpb.MembersRequest) (*kvpb.MembersResponse, error) {
	if err := n.enter(ctx, "Members"); err != nil {
		return nil, err
	}
	h := n.header()
	n.mu.Lock()
	ms := n.members
	n.mu.Unlock()
	if ms == nil {
		ms = []*kvpb.Member{{Id: n.id, GrpcAddr: n.addr, RaftAddr: "raft-" + n.id, Voter: true, Leader: h.GetLeaderAddr() == n.addr}}
	}
	return &kvpb.MembersResponse{Header: h, Members: ms}, nil
}

// Status implements kvpb.ClusterServer.
func (n *fakeNode) Status(ctx context.Context, _ *kvpb.StatusRequest) (*kvpb.StatusResponse, error) {
	if err := n.enter(ctx, "Status"); err != nil {
		return nil, err
	}
	return &kvpb.StatusResponse{
		Header: n.header(), Id: n.id, GrpcAddr: n.addr, RaftAddr: "raft-" + n.id, Role: "follower",
		Voter: true, Term: 1, LastLogIndex: 10, CommitIndex: 9, AppliedIndex: 8, LastContactMs: -1,
	}, nil
}

// raftkvErr builds a status error carrying a raftkv ErrorInfo, as the rpc
// package sends it.
func raftkvErr(code codes.Code, reason string, md map[string]string) error {
	st, err := status.New(code, strings.ToLower(strings.ReplaceAll(reason, "_", " "))).
		WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: errorDomain, Metadata: md})
	if err != nil {
		panic(err) // a bug in the test itself
	}
	return st.Err()
}

// notLeader is the NOT_LEADER status pointing at leader.
func notLeader(leader *fakeNode) error {
	return raftkvErr(codes.FailedPrecondition, reasonNotLeader,
		map[string]string{"leader_id": leader.id, "leader_addr": leader.addr})
}

// failFirst fails the first n calls with err, then succeeds.
func failFirst(n int, err error) script {
	return func(_ context.Context, call int) error {
		if call <= n {
			return err
		}
		return nil
	}
}

// always fails every call with err.
func always(err error) script {
	return func(context.Context, int) error { return err }
}

// hang blocks until the call's context ends.
func hang(ctx context.Context, _ int) error {
	<-ctx.Done()
	return status.FromContextError(ctx.Err()).Err()
}

// noQuorum is the NO_QUORUM status of node n, which last saw a leader at
// since (omitted when zero).
func noQuorum(n *fakeNode, since time.Time) error {
	md := map[string]string{"node_id": n.id}
	if !since.IsZero() {
		md["since"] = since.UTC().Format(time.RFC3339Nano)
	}
	return raftkvErr(codes.Unavailable, reasonNoQuorum, md)
}

// staleRefusal is the STALE status of node n.
func staleRefusal(n *fakeNode) error {
	return raftkvErr(codes.Unavailable, reasonStale,
		map[string]string{"node_id": n.id, "applied_index": "7", "last_contact_ms": "3000"})
}

// startCluster starts n fake nodes named n1…, which all list each other as
// members and name the first as leader.
func startCluster(t *testing.T, n int) []*fakeNode {
	t.Helper()
	nodes := make([]*fakeNode, n)
	var ms []*kvpb.Member
	for i := range nodes {
		nodes[i] = startFake(t, fmt.Sprintf("n%d", i+1))
		ms = append(ms, &kvpb.Member{Id: nodes[i].id, GrpcAddr: nodes[i].addr, Voter: true, Leader: i == 0})
	}
	for _, node := range nodes {
		node.setMembers(ms...)
		node.setLeader(nodes[0].addr)
	}
	return nodes
}

// addrs returns the nodes' addresses.
func addrs(nodes ...*fakeNode) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.addr
	}
	return out
}

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newTestClient returns a Client with fast timeouts, logging to the test.
func newTestClient(t *testing.T, endpoints ...string) *Client {
	t.Helper()
	return newTestClientConfig(t, Config{Endpoints: endpoints})
}

// newTestClientConfig fills in fast test timeouts where cfg has none.
func newTestClientConfig(t *testing.T, cfg Config) *Client {
	t.Helper()
	return newTestClientClock(t, cfg, time.Now)
}

// newTestClientClock is newTestClientConfig with the balancer's clock.
func newTestClientClock(t *testing.T, cfg Config, now func() time.Time) *Client {
	t.Helper()
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 500 * time.Millisecond
	}
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase = time.Millisecond
	}
	if cfg.BackoffMax == 0 {
		cfg.BackoffMax = 10 * time.Millisecond
	}
	cfg.Logger = testLogger(t)
	c, err := newClient(cfg, now)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testLogger sends Debug logs to the test output, shown only on failure.
func testLogger(t *testing.T) *slog.Logger {
	var w io.Writer = t.Output()
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
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

// testCtx returns a context bounded well below the test timeout.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
