package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/raftkv/raftkv/proto/kvpb"
)

func TestClient_FollowsNotLeaderHint(t *testing.T) {
	leader := startFake(t, "n2")
	follower := startFake(t, "n1")
	// The follower still believes it leads, so discovery sends the write to
	// it; it answers NOT_LEADER with a hint.
	follower.script("Put", always(notLeader(leader)))
	c := newTestClient(t, follower.addr)

	resp, err := c.Put(testCtx(t), "k", []byte("v"))
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if resp.Header.NodeID != "n2" || resp.Index != 8 {
		t.Errorf("Put response = %+v, want served by n2 at index 8", resp)
	}
	if got := follower.count("Put"); got != 1 {
		t.Errorf("follower got %d Puts, want 1", got)
	}
	if got := leader.count("Put"); got != 1 {
		t.Errorf("leader got %d Puts, want 1", got)
	}
	if got := c.Leader(); got != leader.addr {
		t.Errorf("Leader() = %q, want %q", got, leader.addr)
	}
}

func TestClient_RetriesNoLeader(t *testing.T) {
	n := startFake(t, "n1")
	n.script("Put", failFirst(2, raftkvErr(codes.Unavailable, reasonNoLeader, nil)))
	c := newTestClient(t, n.addr)

	if _, err := c.Put(testCtx(t), "k", []byte("v")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if got := n.count("Put"); got != 3 {
		t.Errorf("got %d Put attempts, want 3", got)
	}
}

func TestClient_RetriesNotProposedAndShuttingDown(t *testing.T) {
	for _, reason := range []string{reasonNotProposed, reasonShuttingDown} {
		t.Run(reason, func(t *testing.T) {
			n := startFake(t, "n1")
			n.script("Delete", failFirst(1, raftkvErr(codes.Unavailable, reason, nil)))
			c := newTestClient(t, n.addr)
			resp, err := c.Delete(testCtx(t), "k")
			if err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if !resp.Deleted || n.count("Delete") != 2 {
				t.Errorf("Deleted=%v after %d attempts, want true after 2", resp.Deleted, n.count("Delete"))
			}
		})
	}
}

func TestClient_ReadOutcomeUnknownRetried(t *testing.T) {
	n := startFake(t, "n1")
	n.script("Get", failFirst(1, raftkvErr(codes.Unavailable, reasonOutcomeUnknown, nil)))
	n.script("List", failFirst(1, raftkvErr(codes.Unavailable, reasonOutcomeUnknown, nil)))
	c := newTestClient(t, n.addr)

	got, err := c.Get(testCtx(t), "k")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.KV.Key != "k" || string(got.KV.Value) != "v-n1" || got.KV.ModIndex != 5 {
		t.Errorf("Get = %+v", got.KV)
	}
	if _, err := c.List(testCtx(t), "p/"); err != nil {
		t.Fatalf("List: %v", err)
	}
	if n.count("Get") != 2 || n.count("List") != 2 {
		t.Errorf("got %d Gets and %d Lists, want 2 each", n.count("Get"), n.count("List"))
	}
}

func TestClient_WriteSkipsRefusedEndpoint(t *testing.T) {
	live := startFake(t, "n2")
	c := newTestClient(t, deadAddr(t), live.addr)

	if _, err := c.Put(testCtx(t), "k", []byte("v")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if got := live.count("Put"); got != 1 {
		t.Errorf("live node got %d Puts, want 1", got)
	}
}

func TestClient_WriteRetriedWhenLeaderRefusesConnection(t *testing.T) {
	n := startFake(t, "n1")
	dead := deadAddr(t)
	// First the node points at a leader that is gone; later at itself.
	n.script("Members", func(_ context.Context, call int) error {
		if call == 1 {
			n.setLeader(dead)
		} else {
			n.setLeader(n.addr)
		}
		return nil
	})
	c := newTestClient(t, n.addr)

	if _, err := c.Put(testCtx(t), "k", []byte("v")); err != nil {
		t.Fatalf("Put: %v (the refused connection never carried the write, so it must be retried)", err)
	}
	if got := n.count("Put"); got != 1 {
		t.Errorf("got %d Puts, want 1", got)
	}
}

func TestClient_FailsOverToLearnedMember(t *testing.T) {
	a := startFake(t, "a")
	b := startFake(t, "b")
	members := []*kvpb.Member{
		{Id: "a", GrpcAddr: a.addr, Voter: true, Leader: true},
		{Id: "b", GrpcAddr: b.addr, Voter: true},
	}
	a.setMembers(members...)
	b.setMembers(members...)
	b.setLeader(a.addr)
	c := newTestClient(t, a.addr) // b is known only through Members

	if _, err := c.Get(testCtx(t), "k"); err != nil {
		t.Fatalf("Get before failover: %v", err)
	}
	if c.Leader() != a.addr {
		t.Fatalf("Leader() = %q, want a at %q", c.Leader(), a.addr)
	}

	a.srv.Stop()
	b.setLeader(b.addr)
	waitFor(t, 5*time.Second, "the connection to a to drop", func() bool {
		cc, err := c.conn(a.addr)
		return err == nil && cc.GetState() != connectivity.Ready
	})

	got, err := c.Get(testCtx(t), "k")
	if err != nil {
		t.Fatalf("Get after failover: %v", err)
	}
	if got.Header.NodeID != "b" {
		t.Errorf("Get served by %q, want b", got.Header.NodeID)
	}
	if _, err := c.Put(testCtx(t), "k", []byte("v")); err != nil {
		t.Fatalf("Put after failover: %v", err)
	}
	if c.Leader() != b.addr || b.count("Put") != 1 {
		t.Errorf("Leader() = %q with %d Puts on b, want %q with 1", c.Leader(), b.count("Put"), b.addr)
	}
}

func TestClient_ContextDeadline(t *testing.T) {
	const budget = 200 * time.Millisecond
	// slack covers scheduling and the race detector, not retries.
	const slack = 300 * time.Millisecond
	tests := []struct {
		name   string
		method string
		script script
		call   func(context.Context, *Client) error
		want   []error
	}{
		{
			name:   "no leader forever",
			method: "Put",
			script: always(raftkvErr(codes.Unavailable, reasonNoLeader, nil)),
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Put(ctx, "k", nil)
				return err
			},
			// If the deadline catches an attempt in flight the error also
			// wraps ErrOutcomeUnknown; either way it says why.
			want: []error{ErrNoLeader, context.DeadlineExceeded},
		},
		{
			name:   "read hangs",
			method: "Get",
			script: hang,
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Get(ctx, "k")
				return err
			},
			want: []error{context.DeadlineExceeded},
		},
		{
			name:   "write hangs",
			method: "Put",
			script: hang,
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Put(ctx, "k", nil)
				return err
			},
			// The write was sent: it may still be applied after the deadline.
			want: []error{ErrOutcomeUnknown, context.DeadlineExceeded},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := startFake(t, "n1")
			n.script(tt.method, tt.script)
			c := newTestClient(t, n.addr)
			ctx, cancel := context.WithTimeout(t.Context(), budget)
			defer cancel()
			start := time.Now()
			err := tt.call(ctx, c)
			if elapsed := time.Since(start); elapsed > budget+slack {
				t.Errorf("returned after %v, want by the %v deadline", elapsed, budget)
			}
			for _, want := range tt.want {
				if !errors.Is(err, want) {
					t.Errorf("error = %v, want it to wrap %v", err, want)
				}
			}
		})
	}
}

func TestClient_DefaultBudget(t *testing.T) {
	n := startFake(t, "n1")
	n.script("Get", always(raftkvErr(codes.Unavailable, reasonNoLeader, nil)))
	c := newTestClientConfig(t, Config{Endpoints: []string{n.addr}, RequestTimeout: 100 * time.Millisecond})

	// The caller's context has no deadline; RequestTimeout bounds the call.
	_, err := c.Get(context.Background(), "k")
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrNoLeader) {
		t.Fatalf("Get error = %v, want no leader and deadline exceeded", err)
	}
}

func TestClient_NotRetried(t *testing.T) {
	tests := []struct {
		name   string
		method string
		err    error
		want   error
	}{
		{"get missing key", "Get", status.Error(codes.NotFound, "key not found"), ErrNotFound},
		{"get bad key", "Get", status.Error(codes.InvalidArgument, "key must be 1..4096 bytes"), ErrInvalidArgument},
		{"put bad key", "Put", status.Error(codes.InvalidArgument, "key must be 1..4096 bytes"), ErrInvalidArgument},
		{"delete bad key", "Delete", status.Error(codes.InvalidArgument, "key must be 1..4096 bytes"), ErrInvalidArgument},
		{"list internal", "List", status.Error(codes.Internal, "boom"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := startFake(t, "n1")
			n.script(tt.method, always(tt.err))
			c := newTestClient(t, n.addr)
			var err error
			switch tt.method {
			case "Get":
				_, err = c.Get(testCtx(t), "k")
			case "Put":
				_, err = c.Put(testCtx(t), "k", nil)
			case "Delete":
				_, err = c.Delete(testCtx(t), "k")
			case "List":
				_, err = c.List(testCtx(t), "k")
			}
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if got := n.count(tt.method); got != 1 {
				t.Errorf("got %d attempts, want 1", got)
			}
		})
	}
}

func TestClient_List(t *testing.T) {
	n := startFake(t, "n1")
	c := newTestClient(t, n.addr)

	resp, err := c.List(testCtx(t), "p/", WithLimit(2))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(resp.KVs) != 2 || resp.KVs[0].Key != "p/a" || !resp.More {
		t.Errorf("List = %+v", resp)
	}
	n.mu.Lock()
	limit := n.lastList.GetLimit()
	n.mu.Unlock()
	if limit != 2 {
		t.Errorf("server saw limit %d, want 2", limit)
	}
	if _, err := c.List(testCtx(t), "p/", WithLimit(-1)); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("List with negative limit: error = %v, want ErrInvalidArgument", err)
	}
}

func TestClient_Members(t *testing.T) {
	a := startFake(t, "a")
	a.setMembers(
		&kvpb.Member{Id: "a", GrpcAddr: a.addr, RaftAddr: "ra", Voter: true, Leader: true},
		&kvpb.Member{Id: "b", GrpcAddr: "127.0.0.1:1", RaftAddr: "rb"},
	)
	c := newTestClient(t, deadAddr(t), a.addr)

	ms, err := c.Members(testCtx(t))
	if err != nil {
		t.Fatalf("Members: %v", err)
	}
	want := []Member{
		{ID: "a", GRPCAddr: a.addr, RaftAddr: "ra", Voter: true, Leader: true},
		{ID: "b", GRPCAddr: "127.0.0.1:1", RaftAddr: "rb"},
	}
	if len(ms) != len(want) || ms[0] != want[0] || ms[1] != want[1] {
		t.Errorf("Members = %+v, want %+v", ms, want)
	}
	if c.Leader() != a.addr {
		t.Errorf("Leader() = %q, want %q", c.Leader(), a.addr)
	}
}

func TestClient_StatusAsksOnlyThatEndpoint(t *testing.T) {
	n := startFake(t, "n1")
	dead := deadAddr(t)
	c := newTestClient(t, dead, n.addr)

	st, err := c.Status(testCtx(t), n.addr)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.ID != "n1" || st.Role != "follower" || st.CommitIndex != 9 || st.LastContact != -1 || st.Header.AppliedIndex != 7 {
		t.Errorf("Status = %+v", st)
	}

	_, err = c.Status(testCtx(t), dead)
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Status of a dead node: error = %v, want ErrUnavailable", err)
	}
	if got := n.count("Status"); got != 1 {
		t.Errorf("live node got %d Status calls, want 1 (no retry elsewhere)", got)
	}
}

func TestClient_Closed(t *testing.T) {
	n := startFake(t, "n1")
	c := newTestClient(t, n.addr)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Get(testCtx(t), "k"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: error = %v, want ErrClosed", err)
	}
	if _, err := c.Status(testCtx(t), n.addr); !errors.Is(err, ErrClosed) {
		t.Errorf("Status after Close: error = %v, want ErrClosed", err)
	}
}

func TestClient_LeaderFromHeaders(t *testing.T) {
	a := startFake(t, "a")
	b := startFake(t, "b")
	c := newTestClient(t, a.addr)
	if c.Leader() != "" {
		t.Fatalf("Leader() before any call = %q, want empty", c.Leader())
	}
	if _, err := c.Get(testCtx(t), "k"); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if c.Leader() != a.addr {
		t.Fatalf("Leader() = %q, want %q", c.Leader(), a.addr)
	}
	// a answers, but reports that b now leads: later calls go to b.
	a.setLeader(b.addr)
	if _, err := c.Get(testCtx(t), "k"); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if c.Leader() != b.addr {
		t.Errorf("Leader() = %q, want %q", c.Leader(), b.addr)
	}
}

func TestNew_InvalidConfig(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Endpoints: []string{""}},
		{Endpoints: []string{"a:1"}, DialTimeout: -1},
		{Endpoints: []string{"a:1"}, BackoffBase: time.Second, BackoffMax: time.Millisecond},
		{Endpoints: []string{"a:1"}, DefaultConsistency: Bounded},
		{Endpoints: []string{"a:1"}, DefaultConsistency: 7},
		{Endpoints: []string{"a:1"}, DefaultMaxStaleness: -time.Second},
		{Endpoints: []string{"a:1"}, EjectBackoff: -1},
		{Endpoints: []string{"a:1"}, EjectBackoff: time.Minute, EjectBackoffMax: time.Second},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("New(%+v) error = %v, want ErrInvalidArgument", cfg, err)
		}
	}
}

func TestConfig_WithDefaults(t *testing.T) {
	got := Config{Endpoints: []string{"a:1"}, BackoffMax: 10 * time.Millisecond}.withDefaults()
	if got.BackoffBase != 10*time.Millisecond || got.DialTimeout != DefaultDialTimeout ||
		got.RequestTimeout != DefaultRequestTimeout || got.Logger == nil {
		t.Errorf("withDefaults = %+v", got)
	}
	got = Config{Endpoints: []string{"a:1"}}.withDefaults()
	if got.BackoffBase != DefaultBackoffBase || got.BackoffMax != DefaultBackoffMax {
		t.Errorf("withDefaults backoff = %v..%v", got.BackoffBase, got.BackoffMax)
	}
	if got.MemberRefresh != DefaultMemberRefresh || got.EjectBackoff != DefaultEjectBackoff ||
		got.EjectBackoffMax != DefaultEjectBackoffMax || got.NoQuorumGrace != DefaultNoQuorumGrace {
		t.Errorf("withDefaults = %+v", got)
	}
	got = Config{Endpoints: []string{"a:1"}, EjectBackoffMax: 500 * time.Millisecond, MemberRefresh: -1, NoQuorumGrace: -1}.withDefaults()
	if got.EjectBackoff != 500*time.Millisecond || got.MemberRefresh != -1 || got.NoQuorumGrace != -1 {
		t.Errorf("withDefaults = %+v", got)
	}
	// Negative MemberRefresh and NoQuorumGrace mean "off" and are valid.
	if err := (Config{Endpoints: []string{"a:1"}, MemberRefresh: -1, NoQuorumGrace: -1}).Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if err := (Config{Endpoints: []string{"a:1"}, DefaultConsistency: Bounded, DefaultMaxStaleness: time.Second}).Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}
