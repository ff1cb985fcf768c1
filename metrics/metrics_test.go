package metrics

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/raftnode/raftnodetest"
)

// fakeNode is a StatusSource and LeaderSource whose state tests set.
type fakeNode struct {
	mu      sync.Mutex
	st      raftnode.Status
	members []raftnode.Member
	ch      chan struct{}
}

func newFakeNode(st raftnode.Status) *fakeNode {
	return &fakeNode{st: st, ch: make(chan struct{})}
}

func (f *fakeNode) Status() raftnode.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeNode) Members(context.Context) ([]raftnode.Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.members, nil
}

func (f *fakeNode) LeaderChanged() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ch
}

// setLeader changes the leader and wakes LeaderChanged waiters.
func (f *fakeNode) setLeader(id string, term uint64) {
	f.mu.Lock()
	f.st.LeaderID = raftnode.NodeID(id)
	f.st.Term = term
	close(f.ch)
	f.ch = make(chan struct{})
	f.mu.Unlock()
}

func TestNodeCollector_Gauges(t *testing.T) {
	dir := t.TempDir()
	storePath := filepath.Join(dir, "store.db")
	if err := os.WriteFile(storePath, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	snapDir := filepath.Join(dir, "raft", "snapshots")
	for _, s := range []struct{ name, meta string }{
		{"2-10-1700000000000", `{"ID":"2-10-1700000000000","Index":10,"Term":2,"Size":111}`},
		{"3-42-1700000005000", `{"ID":"3-42-1700000005000","Index":42,"Term":3,"Size":222}`},
		{"3-50-1700000009000.tmp", `{"ID":"x","Index":50,"Term":3,"Size":333}`},
	} {
		if err := os.MkdirAll(filepath.Join(snapDir, s.name), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(snapDir, s.name, "meta.json"), []byte(s.meta), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	node := newFakeNode(raftnode.Status{
		ID: "n2", RaftAddr: "127.0.0.1:7102", Role: "follower", Voter: true, Term: 7,
		LastLogIndex: 120, CommitIndex: 110, AppliedIndex: 100, LastContact: 1500 * time.Millisecond,
		LeaderID: "n1", Degraded: false,
	})
	node.members = []raftnode.Member{{ID: "n1", Voter: true}, {ID: "n2", Voter: true}, {ID: "n3"}}
	c := NewNodeCollector(node, Files{StorePath: storePath, RaftLogPath: filepath.Join(dir, "missing.db"), SnapshotDir: filepath.Join(dir, "raft")})

	want := `
# HELP raftkv_raft_apply_lag_entries Committed entries not yet applied here (commit index minus applied index).
# TYPE raftkv_raft_apply_lag_entries gauge
raftkv_raft_apply_lag_entries 10
# HELP raftkv_raft_is_leader 1 if this node is the raft leader.
# TYPE raftkv_raft_is_leader gauge
raftkv_raft_is_leader 0
# HELP raftkv_raft_leader_last_contact_seconds Seconds since this node last heard from the leader: 0 on the leader, -1 if never.
# TYPE raftkv_raft_leader_last_contact_seconds gauge
raftkv_raft_leader_last_contact_seconds 1.5
# HELP raftkv_raft_role 1 for the node's current raft role, 0 for the others.
# TYPE raftkv_raft_role gauge
raftkv_raft_role{role="candidate"} 0
raftkv_raft_role{role="follower"} 1
raftkv_raft_role{role="leader"} 0
raftkv_raft_role{role="shutdown"} 0
# HELP raftkv_raft_voters Voters in this node's latest configuration.
# TYPE raftkv_raft_voters gauge
raftkv_raft_voters 2
# HELP raftkv_snapshot_last_index Raft index of the newest local snapshot, 0 if none.
# TYPE raftkv_snapshot_last_index gauge
raftkv_snapshot_last_index 42
# HELP raftkv_snapshot_last_timestamp_seconds Unix time the newest local snapshot was taken, 0 if none.
# TYPE raftkv_snapshot_last_timestamp_seconds gauge
raftkv_snapshot_last_timestamp_seconds 1.700000005e+09
# HELP raftkv_snapshots_retained Snapshots kept on disk.
# TYPE raftkv_snapshots_retained gauge
raftkv_snapshots_retained 2
# HELP raftkv_store_db_size_bytes Size of the bbolt state machine file (store.db).
# TYPE raftkv_store_db_size_bytes gauge
raftkv_store_db_size_bytes 4096
`
	names := []string{"raftkv_raft_apply_lag_entries", "raftkv_raft_is_leader", "raftkv_raft_leader_last_contact_seconds",
		"raftkv_raft_role", "raftkv_raft_voters", "raftkv_snapshot_last_index", "raftkv_snapshot_last_timestamp_seconds",
		"raftkv_snapshots_retained", "raftkv_store_db_size_bytes", "raftkv_raft_log_db_size_bytes"}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	lint(t, c)
}

func TestNodeCollector_DegradedWithoutLeader(t *testing.T) {
	since := time.Unix(1700000000, 0)
	node := newFakeNode(raftnode.Status{ID: "n3", Role: "candidate", LastContact: -1, Degraded: true, DegradedSince: since})
	c := NewNodeCollector(node, Files{})
	for name, want := range map[string]float64{
		"raftkv_raft_degraded":                         1,
		"raftkv_raft_degraded_since_timestamp_seconds": 1700000000,
		"raftkv_raft_has_leader":                       0,
		"raftkv_raft_leader_last_contact_seconds":      -1,
	} {
		if got := gaugeValue(t, c, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// gaugeValue collects c and returns the value of the unlabelled gauge name.
func gaugeValue(t *testing.T, c prometheus.Collector, name string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not collected", name)
	return 0
}

func TestLeaderTracker_CountsNewLeaders(t *testing.T) {
	node := newFakeNode(raftnode.Status{})
	lt := NewLeaderTracker(node)
	lt.Start()
	defer lt.Close()

	node.setLeader("n1", 1)
	waitCount(t, lt, 1)
	node.setLeader("", 1) // lost: not counted
	node.setLeader("n2", 2)
	waitCount(t, lt, 2)

	var got []string
	for _, c := range lt.Recent() {
		got = append(got, c.LeaderID)
	}
	// The loss of n1 may be coalesced with n2's election; the ends are fixed.
	if len(got) < 2 || got[0] != "n1" || got[len(got)-1] != "n2" {
		t.Fatalf("recent leaders = %q, want n1 first and n2 last", got)
	}
}

func waitCount(t *testing.T, lt *LeaderTracker, want float64) {
	t.Helper()
	raftnodetest.WaitFor(t, 5*time.Second, fmt.Sprintf("%v leader changes", want), func() bool {
		return testutil.ToFloat64(lt) == want
	})
}

func TestGRPC_RecordsCodesAfterTranslation(t *testing.T) {
	g := NewGRPC()
	info := &grpc.UnaryServerInfo{FullMethod: "/kv.v1.KV/Put"}
	ok := func(context.Context, any) (any, error) { return "ok", nil }
	unavailable := func(context.Context, any) (any, error) { return nil, status.Error(codes.Unavailable, "no leader") }
	plain := func(context.Context, any) (any, error) { return nil, errors.New("boom") }
	for _, h := range []grpc.UnaryHandler{ok, ok, unavailable, plain} {
		_, _ = g.unary(context.Background(), nil, info, h)
	}
	for code, want := range map[string]float64{"OK": 2, "Unavailable": 1, "Unknown": 1} {
		if got := testutil.ToFloat64(g.handled.WithLabelValues("kv.v1.KV", "Put", code)); got != want {
			t.Errorf("handled{code=%s} = %v, want %v", code, got, want)
		}
	}
	if n := testutil.CollectAndCount(g, "raftkv_grpc_server_handling_seconds"); n != 1 {
		t.Errorf("latency series = %d, want 1", n)
	}
	lint(t, g)
}

func TestSplitMethod(t *testing.T) {
	for in, want := range map[string][2]string{
		"/kv.v1.KV/Get":                {"kv.v1.KV", "Get"},
		"/grpc.health.v1.Health/Check": {"grpc.health.v1.Health", "Check"},
		"bogus":                        {"unknown", "bogus"},
	} {
		if s, m := splitMethod(in); s != want[0] || m != want[1] {
			t.Errorf("splitMethod(%q) = %q, %q; want %q", in, s, m, want)
		}
	}
}

func TestRaftSink_BridgesRaftTelemetry(t *testing.T) {
	s := NewRaftSink()
	s.AddSample([]string{"raft", "fsm", "applyBatch"}, 2.5) // milliseconds
	s.AddSample([]string{"raft", "boltdb", "storeLogs"}, 12)
	s.AddSampleWithLabels([]string{"raft", "replication", "appendEntries", "rpc"}, 1, []gometricsLabel{{Name: "peer_id", Value: "n2"}})
	s.AddSample([]string{"raft", "unknown"}, 1) // dropped
	s.IncrCounter([]string{"raft", "state", "candidate"}, 1)
	s.IncrCounter([]string{"raft", "apply"}, 3)

	if got := histCount(t, s, "raftkv_raft_fsm_apply_seconds"); got != 1 {
		t.Errorf("apply samples = %d, want 1", got)
	}
	if got := histSum(t, s, "raftkv_raft_fsm_apply_seconds"); got != 0.0025 {
		t.Errorf("apply sum = %v s, want 0.0025", got)
	}
	if got := testutil.ToFloat64(s.transitions.WithLabelValues("candidate")); got != 1 {
		t.Errorf("candidate transitions = %v, want 1", got)
	}
	if got := testutil.ToFloat64(s.applies); got != 3 {
		t.Errorf("applies = %v, want 3", got)
	}
	if n := testutil.CollectAndCount(s, "raftkv_raft_replication_append_entries_seconds"); n != 1 {
		t.Errorf("replication series = %d, want 1", n)
	}
	lint(t, s)
}

func histCount(t *testing.T, c prometheus.Collector, name string) uint64 {
	t.Helper()
	return histogram(t, c, name).GetSampleCount()
}

func histSum(t *testing.T, c prometheus.Collector, name string) float64 {
	t.Helper()
	return histogram(t, c, name).GetSampleSum()
}

func TestGRPC_ReadsByConsistencyAndRefusalsByReason(t *testing.T) {
	g := NewGRPC()
	get := &grpc.UnaryServerInfo{FullMethod: "/kv.v1.KV/Get"}
	put := &grpc.UnaryServerInfo{FullMethod: "/kv.v1.KV/Put"}
	ok := func(context.Context, any) (any, error) { return "ok", nil }
	notFound := func(context.Context, any) (any, error) { return nil, status.Error(codes.NotFound, "missing") }
	noQuorum := func(context.Context, any) (any, error) {
		st, _ := status.New(codes.Unavailable, "no quorum").WithDetails(&errdetails.ErrorInfo{Reason: "NO_QUORUM", Domain: "raftkv.io"})
		return nil, st.Err()
	}
	stale := &kvpb.GetRequest{Read: &kvpb.ReadOptions{Consistency: kvpb.Consistency_STALE}}
	_, _ = g.unary(context.Background(), &kvpb.GetRequest{}, get, ok)
	_, _ = g.unary(context.Background(), stale, get, ok)
	_, _ = g.unary(context.Background(), stale, get, notFound)
	_, _ = g.unary(context.Background(), &kvpb.PutRequest{}, put, noQuorum)
	_, _ = g.unary(context.Background(), &kvpb.PutRequest{}, put, func(context.Context, any) (any, error) {
		return nil, status.Error(codes.DeadlineExceeded, "slow")
	})
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"linearizable", "OK"}, 1},
		{[]string{"stale", "OK"}, 1},
		{[]string{"stale", "NotFound"}, 1},
	} {
		if got := testutil.ToFloat64(g.reads.WithLabelValues(c.labels...)); got != c.want {
			t.Errorf("reads%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if got := testutil.ToFloat64(g.refused.WithLabelValues("Put", "NO_QUORUM")); got != 1 {
		t.Errorf("refused{Put,NO_QUORUM} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(g.refused.WithLabelValues("Put", "DeadlineExceeded")); got != 1 {
		t.Errorf("refused{Put,DeadlineExceeded} = %v, want 1", got)
	}
	if n := testutil.CollectAndCount(g, "raftkv_requests_refused_total"); n != 2 {
		t.Errorf("refused series = %d, want 2 (NotFound is not a refusal)", n)
	}
	lint(t, g)
}
